"""Sweep files: a base experiment, axes over its dotted keys, seeds; expansion to points."""

from __future__ import annotations

import copy
import hashlib
import itertools
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import Field, ValidationError, field_validator

from odma_sim.config.loader import LoadedExperiment, build_experiment
from odma_sim.config.presets import read_yaml
from odma_sim.config.validation import to_input_error
from odma_sim.errors import InputError
from odma_sim.strict import StrictModel


class SweepSpec(StrictModel):
    """``base`` (a path, relative to the sweep file, or an inline experiment) swept over
    ``axes`` (dotted keys of the experiment config -> list of values, or {range: [start,
    stop, step]} with stop included) as a ``grid`` or ``zip``ped, times ``seeds``."""

    name: str = Field(description="sweep name (default output folder runs/sweep-<name>)")
    description: str = ""
    base: str | dict[str, Any] = Field(description="experiment config path or mapping")
    mode: Literal["grid", "zip"] = Field("grid", description="cartesian product or zip")
    axes: dict[str, list[Any] | dict[str, Any]] = Field(
        min_length=1, description="dotted key -> values")
    seeds: list[int] = Field([0], min_length=1, description="every point runs once per seed")

    @field_validator("axes")
    @classmethod
    def _values(cls, axes: dict[str, Any]) -> dict[str, list[Any]]:
        out: dict[str, list[Any]] = {}
        for key, vals in axes.items():
            if isinstance(vals, dict):
                if set(vals) != {"range"} or len(vals["range"]) != 3:
                    raise ValueError(f"axis '{key}': a mapping must be {{range: [start, stop, "
                                     "step]}}")
                start, stop, step = vals["range"]
                if step <= 0 or stop < start:
                    raise ValueError(f"axis '{key}': range needs start <= stop and step > 0")
                n = int(np.floor((stop - start) / step + 1e-9)) + 1
                seq = [start + i * step for i in range(n)]
                vals = [int(v) if all(isinstance(x, int) for x in (start, step)) else
                        round(float(v), 12) for v in seq]
            if not vals:
                raise ValueError(f"axis '{key}' has no values")
            out[key] = list(vals)
        return out


@dataclass(frozen=True)
class Point:
    """One experiment of a sweep: axis values, seed, the resolved config and its id."""

    index: int
    values: dict[str, Any]
    seed: int
    config: dict[str, Any]
    point_id: str
    base_dir: str | None


def point_id(config: dict[str, Any]) -> str:
    """A hash of the resolved config (seed included): same config, same id."""
    text = json.dumps(config, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def _set(raw: dict[str, Any], dotted: str, value: Any) -> None:
    """Set ``dotted`` in ``raw``, creating mappings and turning a preset name found on
    the way into {preset: name} so that a single preset field can be overridden."""
    parts = dotted.split(".")
    node = raw
    for i, part in enumerate(parts[:-1]):
        if part == "device" and i == 0 and "devices" in node and "device" not in node:
            raise InputError("this base lists 'devices'; sweep 'devices' as a whole instead",
                             key=dotted, expected="an axis over 'devices'")
        child = node.get(part)
        if isinstance(child, str):
            child = {"preset": child}
        elif child is None:
            child = {}
        elif not isinstance(child, dict):
            raise InputError(f"'{'.'.join(parts[: i + 1])}' is not a mapping here",
                             key=dotted, value=child, expected="a key inside a mapping")
        node[part] = child
        node = child
    node[parts[-1]] = value


def load_sweep(path: Path) -> tuple[SweepSpec, dict[str, Any], Path]:
    """The sweep spec, its base experiment as a raw mapping, and the base's folder."""
    raw = read_yaml(path)
    if not isinstance(raw, dict):
        raise InputError("a sweep file must be a YAML mapping", source=str(path),
                         value=type(raw).__name__, expected="keys name, base, axes, seeds")
    try:
        spec = SweepSpec.model_validate(raw)
    except ValidationError as exc:
        raise to_input_error(exc, SweepSpec, source=str(path)) from None
    if isinstance(spec.base, str):
        base_path = (path.parent / spec.base).resolve()
        if not base_path.is_file():
            raise InputError("the base experiment file is not found", source=str(path),
                             key="base", value=spec.base,
                             expected="a path relative to the sweep file")
        base = read_yaml(base_path)
        if not isinstance(base, dict):
            raise InputError("the base experiment must be a YAML mapping",
                             source=str(base_path), expected="an experiment config")
        return spec, base, base_path.parent
    return spec, dict(spec.base), path.parent


def expand(spec: SweepSpec, base: dict[str, Any], base_dir: Path, source: str) -> list[Point]:
    """Every point, validated now: a bad key or value stops the sweep before it runs."""
    axes = {k: v for k, v in spec.axes.items() if isinstance(v, list)}  # normalised
    keys = list(axes)
    if spec.mode == "zip":
        lengths = {len(v) for v in axes.values()}
        if len(lengths) != 1:
            raise InputError("zipped axes must have equal lengths", source=source, key="axes",
                             value={k: len(v) for k, v in axes.items()},
                             expected="the same number of values on every axis")
        combos = list(zip(*axes.values(), strict=True))
    else:  # the first axis varies slowest
        combos = list(itertools.product(*axes.values()))
    points: list[Point] = []
    for combo in combos:
        for seed in spec.seeds:
            raw = copy.deepcopy(base)
            values = dict(zip(keys, combo, strict=True))
            where = ", ".join(f"{k}={v!r}" for k, v in values.items())
            try:
                for k, v in values.items():
                    _set(raw, k, v)
                loaded: LoadedExperiment = build_experiment(
                    raw, path=base_dir / "<sweep point>", seed=seed)
            except InputError as exc:
                raise InputError(f"{exc.problem} (at the point {where})",
                                 source=source, key=f"axes: {exc.key}" if exc.key else "axes",
                                 value=exc.value, expected=exc.expected) from None
            config = loaded.spec.to_config()
            points.append(Point(len(points), values, seed, config, point_id(config),
                                str(base_dir)))
    ids = [p.point_id for p in points]
    if len(set(ids)) != len(ids):
        raise InputError("two points resolve to the same config", source=source, key="axes",
                         expected="axis values that change the experiment")
    return points

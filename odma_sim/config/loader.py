"""Reading an experiment YAML: presets by name, inline overrides, plugins, strict checks."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

import odma_sim.allocators  # noqa: F401  (registers the built-in allocators)
from odma_sim.allocators.base import AllocatorContext, allocators
from odma_sim.config.experiment import AllocatorSpec, ExperimentSpec
from odma_sim.config.presets import deep_merge, load_preset, read_yaml
from odma_sim.config.validation import to_input_error
from odma_sim.errors import InputError
from odma_sim.hardware.cost import CostModel


@dataclass(frozen=True)
class LoadedExperiment:
    """A validated experiment plus where it came from (for relative paths and errors)."""

    spec: ExperimentSpec
    path: Path | None
    base_dir: Path | None

    @property
    def source(self) -> str:
        return str(self.path) if self.path else "config"


def _resolve_preset(kind: str, value: Any, *, base_dir: Path | None, source: str,
                    key: str, used: dict[str, Path] | None = None) -> Any:
    """A preset name/path, or a mapping with 'preset' plus overrides, becomes a mapping.
    ``used`` collects key -> preset file, so that errors can name the file."""
    if isinstance(value, str):
        data, path = load_preset(kind, value, base_dir=base_dir, source=source, key=key)
        if used is not None:
            used[key] = path
        return data
    if isinstance(value, dict) and "preset" in value:
        ref = value["preset"]
        if not isinstance(ref, str):
            raise InputError("'preset' must be a preset name or a file path", source=source,
                             key=f"{key}.preset", value=ref, expected="a string")
        data, path = load_preset(kind, ref, base_dir=base_dir, source=source,
                                 key=f"{key}.preset")
        if used is not None:
            used[key] = path
        overrides = {k: v for k, v in value.items() if k != "preset"}
        return deep_merge(data, overrides)
    return value


def _allocator_specs(raw: Any, source: str) -> list[AllocatorSpec]:
    if not isinstance(raw, list) or not raw:
        raise InputError(
            "'allocators' must be a non-empty list", source=source, key="allocators",
            value=raw, expected="a list of mappings such as [{kind: static}, {kind: paged}]",
        )
    out: list[AllocatorSpec] = []
    for i, entry in enumerate(raw):
        key = f"allocators[{i}]"
        if isinstance(entry, str):
            entry = {"kind": entry}
        if not isinstance(entry, dict) or "kind" not in entry:
            raise InputError(
                "each allocator needs a 'kind'", source=source, key=key, value=entry,
                expected=f"a mapping with kind one of: {', '.join(allocators.names())}",
            )
        entry = dict(entry)
        kind = entry.pop("kind")
        name = entry.pop("name", kind)
        cls = allocators.get(str(kind), source=source, key=f"{key}.kind")
        if not isinstance(name, str) or not name:
            raise InputError("'name' must be a non-empty string", source=source,
                             key=f"{key}.name", value=name, expected="a string")
        try:
            params = cls.Params.model_validate(entry)
        except ValidationError as exc:
            raise to_input_error(exc, cls.Params, source=source, prefix=key) from None
        if name in {a.name for a in out}:
            raise InputError(
                f"allocator name '{name}' is used twice", source=source, key=f"{key}.name",
                value=name, expected="a unique 'name' for each entry (it names the result row)",
            )
        out.append(AllocatorSpec(name=name, kind=str(kind), params=params))
    return out


def build_experiment(
    raw: Any, *, path: Path | None = None, seed: int | None = None
) -> LoadedExperiment:
    """Validate an already-parsed config mapping (``path`` only names it in errors)."""
    source = str(path) if path else "config"
    base_dir = path.parent if path else None
    if not isinstance(raw, dict):
        raise InputError(
            "an experiment config must be a YAML mapping", source=source,
            value=type(raw).__name__, expected="keys such as name, device, model, workload",
        )
    raw = dict(raw)
    rename: dict[str, str] = {}
    if "device" in raw and "devices" in raw:
        raise InputError("give 'device' or 'devices', not both", source=source, key="devices",
                         expected="one of the two keys")
    if "device" in raw:
        raw["devices"] = [raw.pop("device")]
        rename["devices[0]"] = "device"
    devices = raw.get("devices")
    used: dict[str, Path] = {}
    if isinstance(devices, list):
        raw["devices"] = [
            _resolve_preset("hardware", d, base_dir=base_dir, source=source,
                            key="device" if rename else f"devices[{i}]", used=used)
            for i, d in enumerate(devices)
        ]
    if "model" in raw:
        raw["model"] = _resolve_preset("models", raw["model"], base_dir=base_dir, source=source,
                                       key="model", used=used)
    if "workload" in raw:
        raw["workload"] = _resolve_preset("workloads", raw["workload"], base_dir=base_dir,
                                          source=source, key="workload", used=used)
    if "allocators" in raw:
        raw["allocators"] = _allocator_specs(raw["allocators"], source)
    if seed is not None:
        raw["seed"] = seed
    try:
        spec = ExperimentSpec.model_validate(raw)
    except ValidationError as exc:
        err = to_input_error(exc, ExperimentSpec, source=source, rename=rename)
        for key, path in used.items():
            if err.key and (err.key == key or err.key.startswith((key + ".", key + "["))):
                err = InputError(f"{err.problem} (the value comes from the preset {path})",
                                 source=err.source, key=err.key, value=err.value,
                                 expected=err.expected)
        raise err from None
    _check_fits(spec, source, rename)
    return LoadedExperiment(spec, path, base_dir)


def _check_fits(spec: ExperimentSpec, source: str, rename: dict[str, str]) -> None:
    """Every device must hold the weights and at least one max_seq_len request."""
    eng = spec.engine
    for i, dev in enumerate(spec.devices):
        dkey = "device" if rename else f"devices[{i}]"
        try:
            cost = CostModel(dev, spec.model, eng.tensor_parallel)
        except ValueError as exc:
            raise InputError(str(exc), source=source, key="engine.tensor_parallel",
                             value=eng.tensor_parallel,
                             expected=f"a divisor of {spec.model.heads}") from None
        if cost.weight_bytes >= cost.usable_bytes:
            raise InputError(
                f"the weights of {spec.model.name} ({cost.weight_bytes / 1e9:.2f} GB per device "
                f"at tensor_parallel {eng.tensor_parallel}) do not fit in the usable memory of "
                f"{dev.name} ({cost.usable_bytes / 1e9:.2f} GB)",
                source=source, key=f"{dkey}.memory.capacity_bytes",
                value=dev.memory.capacity_bytes,
                expected="a larger device, a smaller model or more tensor parallelism",
            )
        if cost.kv_capacity_tokens < eng.max_seq_len:
            raise InputError(
                f"{dev.name} has room for only {cost.kv_capacity_tokens} KV tokens of "
                f"{spec.model.name}, less than one request of max_seq_len",
                source=source, key="engine.max_seq_len", value=eng.max_seq_len,
                expected=f"at most {cost.kv_capacity_tokens}",
            )
        ctx = AllocatorContext(cost.kv_capacity_tokens, eng.max_seq_len,
                               eng.effective_max_new_tokens)
        for j, a in enumerate(spec.allocators):
            usable = allocators.get(a.kind)(a.params, ctx).capacity_tokens
            if usable < eng.max_seq_len:
                raise InputError(
                    f"allocator '{a.name}' can use only {usable} of the {ctx.arena_tokens} "
                    f"KV slots on {dev.name}, less than one request of max_seq_len "
                    f"({eng.max_seq_len})", source=source, key=f"allocators[{j}]",
                    value=a.params.model_dump(), expected="smaller blocks or a larger device",
                )


def load_experiment(path: str | Path, *, seed: int | None = None) -> LoadedExperiment:
    """Read and validate the experiment YAML at ``path``."""
    p = Path(path)
    if not p.is_file():
        raise InputError("config file not found", source=str(p),
                         expected="a path to an experiment YAML file")
    return build_experiment(read_yaml(p), path=p, seed=seed)

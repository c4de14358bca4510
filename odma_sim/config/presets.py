"""Finding preset YAML files (configs/hardware, configs/models) by name or path."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml

from odma_sim.errors import InputError, did_you_mean

_PKG = Path(__file__).resolve().parent.parent


def preset_dirs(kind: str) -> list[Path]:
    """Where presets of ``kind`` ('hardware' or 'models') are looked up, in order:
    $ODMA_SIM_PRESETS/<kind>, the repository's configs/<kind> (editable installs), and
    the copy packed into a wheel."""
    dirs = []
    env = os.environ.get("ODMA_SIM_PRESETS")
    if env:
        dirs.append(Path(env) / kind)
    dirs.append(_PKG.parent / "configs" / kind)
    dirs.append(_PKG / "_configs" / kind)
    return [d for d in dirs if d.is_dir()]


def list_presets(kind: str) -> list[str]:
    names: set[str] = set()
    for d in preset_dirs(kind):
        names.update(p.stem for p in d.glob("*.yaml"))
    return sorted(names)


class _UniqueKeyLoader(yaml.SafeLoader):
    """YAML's safe loader, except that a repeated key is an error, not a silent win of
    the last value."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"the key '{key}' appears twice in one mapping",
                    key_node.start_mark)
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def read_yaml(path: Path, source_key: str | None = None) -> Any:
    """Parse a YAML file; unreadable or malformed files are InputErrors naming the line."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(
            f"cannot read the file ({exc.__class__.__name__}: {exc.strerror or exc})"
            if isinstance(exc, OSError) else f"the file is not UTF-8 text ({exc.reason})",
            source=str(path), key=source_key, expected="a readable YAML file",
        ) from None
    try:
        return yaml.load(text, Loader=_UniqueKeyLoader)  # a SafeLoader subclass
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise InputError(
            f"the file is not valid YAML{where}: {problem}",
            source=str(path), expected="well-formed YAML (check indentation and quoting)",
        ) from None


def load_preset(kind: str, ref: str, *, base_dir: Path | None, source: str, key: str) -> tuple[
    dict[str, Any], Path
]:
    """A preset by name (``mlu370-x4``) or by path (``./my-device.yaml``)."""
    looks_like_path = ref.endswith((".yaml", ".yml")) or "/" in ref
    if looks_like_path:
        path = Path(ref).expanduser()
        if not path.is_absolute() and base_dir is not None:
            path = base_dir / path
        if not path.is_file():
            raise InputError(
                f"preset file not found: {path}", source=source, key=key, value=ref,
                expected="a path to a YAML file (relative to the config's folder)",
            )
    else:
        found = [d / f"{ref}.yaml" for d in preset_dirs(kind) if (d / f"{ref}.yaml").is_file()]
        if not found:
            names = list_presets(kind)
            raise InputError(
                f"unknown {kind} preset '{ref}'{did_you_mean(ref, names)}",
                source=source, key=key, value=ref,
                expected=f"one of: {', '.join(names)}, or a path to a YAML file",
            )
        path = found[0]
    data = read_yaml(path)
    if not isinstance(data, dict):
        raise InputError(
            "a preset must be a YAML mapping", source=str(path), value=type(data).__name__,
            expected="key: value pairs at the top level",
        )
    return data, path


def deep_merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """``override`` wins; nested mappings merge, everything else is replaced. A mapping
    with another ``kind`` (an arrival process, a length source) replaces the old one
    whole, since their keys differ."""
    out = dict(base)
    for k, v in override.items():
        old = out.get(k)
        if isinstance(v, dict) and isinstance(old, dict) and v.get("kind", old.get(
                "kind")) == old.get("kind"):
            out[k] = deep_merge(out[k], v)
        else:
            out[k] = v
    return out

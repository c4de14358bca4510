"""Pydantic validation errors rewritten as one-paragraph InputErrors with dotted keys."""

from __future__ import annotations

import types
import typing
from typing import Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel, ValidationError

from odma_sim.errors import MISSING, InputError, did_you_mean


def _unwrap(ann: Any) -> Any:
    """Strip Annotated[...] and Optional[...] down to the interesting type."""
    while True:
        origin = get_origin(ann)
        if origin is typing.Annotated:
            ann = get_args(ann)[0]
            continue
        if origin in (Union, types.UnionType):
            args = [a for a in get_args(ann) if a is not type(None)]
            if len(args) == 1:
                ann = args[0]
                continue
        return ann


def _tagged_variants(ann: Any) -> dict[str, type[BaseModel]]:
    """{kind: model} when ``ann`` is a union of models told apart by a 'kind' literal."""
    if get_origin(ann) not in (Union, types.UnionType):
        return {}
    out: dict[str, type[BaseModel]] = {}
    for arg in get_args(ann):
        if isinstance(arg, type) and issubclass(arg, BaseModel) and "kind" in arg.model_fields:
            kind_ann = arg.model_fields["kind"].annotation
            if get_origin(kind_ann) is Literal:
                for tag in get_args(kind_ann):
                    out[str(tag)] = arg
    return out


def walk(root: type[BaseModel], loc: tuple[Any, ...]) -> tuple[list[str], Any]:
    """Dotted key parts for a pydantic ``loc`` (union tags dropped) and the type there."""
    parts: list[str] = []
    cur: Any = root
    for item in loc:
        ann = _unwrap(cur)
        if isinstance(item, int):
            parts.append(f"[{item}]")
            args = get_args(ann)
            cur = args[0] if args else None
            continue
        variants = _tagged_variants(ann)
        if variants and item in variants:
            cur = variants[item]
            continue
        if isinstance(ann, type) and issubclass(ann, BaseModel) and item in ann.model_fields:
            parts.append(str(item))
            cur = ann.model_fields[item].annotation
            continue
        if isinstance(item, str) and ("[" in item or item.startswith("function-")):
            continue  # pydantic's internal validator names
        parts.append(str(item))
        cur = None
    return parts, cur


def dotted(parts: list[str]) -> str:
    out = ""
    for p in parts:
        out += p if p.startswith("[") or not out else "." + p
    return out


_PLAIN = {float: "a number", int: "an integer", str: "a string", bool: "true or false"}


def _expected_for(ann: Any) -> str | None:
    ann = _unwrap(ann)
    if ann in _PLAIN:
        return _PLAIN[ann]
    if get_origin(ann) is Literal:
        return "one of: " + ", ".join(repr(a) for a in get_args(ann))
    variants = _tagged_variants(ann)
    if variants:
        return "a mapping with 'kind' one of: " + ", ".join(variants)
    if isinstance(ann, type) and issubclass(ann, BaseModel):
        req = [k for k, f in ann.model_fields.items() if f.is_required()]
        return "a mapping" + (f" with keys {', '.join(req)}" if req else "")
    return None


def to_input_error(
    exc: ValidationError,
    root: type[BaseModel],
    *,
    source: str,
    prefix: str = "",
    rename: dict[str, str] | None = None,
) -> InputError:
    """The first problem in ``exc`` as an InputError; the rest are listed by key."""
    errors = exc.errors()

    def key_of(err: Any) -> tuple[str, list[str], Any]:
        parts, ann = walk(root, tuple(err["loc"]))
        key = dotted(([prefix] if prefix else []) + parts)
        for old, new in (rename or {}).items():
            if key == old or key.startswith(old + ".") or key.startswith(old + "["):
                key = new + key[len(old):]
        return key, parts, ann

    err = errors[0]
    key, _, ann = key_of(err)
    etype = err["type"]
    value: Any = err.get("input")
    expected: str | None = None
    if etype == "extra_forbidden":
        _, parent = walk(root, tuple(err["loc"])[:-1])
        parent = _unwrap(parent)
        valid = sorted(parent.model_fields) if isinstance(parent, type) and issubclass(
            parent, BaseModel) else []
        name = str(err["loc"][-1])
        problem = f"unknown key '{name}'{did_you_mean(name, valid)}"
        expected = f"one of the keys: {', '.join(valid)}" if valid else None
        value = MISSING  # do not echo the value
    elif etype == "missing":
        problem = "a required key is missing"
        expected = _expected_for(ann) or "a value"
        value = MISSING
    elif etype == "union_tag_invalid":
        ctx = err.get("ctx", {})
        problem = f"unknown kind {ctx.get('tag')!r}"
        expected = f"'kind' one of: {ctx.get('expected_tags')}"
        value = ctx.get("tag")
        key = key + ".kind" if key else "kind"
    elif etype == "union_tag_not_found":
        problem = "the mapping has no 'kind'"
        expected = _expected_for(ann) or "a 'kind' key"
    else:
        problem = err["msg"]
        if problem.startswith("Value error, "):
            problem = problem[len("Value error, "):]
            if isinstance(value, dict):
                value = MISSING
        typed = etype.endswith("_type") or etype == "literal_error"
        expected = _expected_for(ann) if typed else None
        if etype == "literal_error":
            problem = "not an allowed value"
    if len(errors) > 1:
        others = sorted({key_of(e)[0] or "(top level)" for e in errors[1:]} - {key})
        if others:
            problem += f" (also check: {', '.join(others[:5])}" + (
                ", ..." if len(others) > 5 else "") + ")"
    return InputError(problem, source=source, key=key or None, value=value, expected=expected)

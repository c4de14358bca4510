"""Drawing token lengths from a length source, each source on its own named stream."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from odma_sim.errors import InputError
from odma_sim.rng import stream
from odma_sim.workload.spec import (
    DriftLength,
    EmpiricalLength,
    FixedLength,
    LengthSource,
    LognormalLength,
    TraceSpec,
    UniformLength,
)
from odma_sim.workload.traces import Trace, load_trace, resolve_path

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class DrawContext:
    """What drawing needs besides the source: seed, trace, and where errors point."""

    seed: int
    trace: Trace | None
    base_dir: Path | None
    source: str
    trace_offset: int = 0  # first trace row (history tables read rows after the run's)


def draw(src: LengthSource, key: str, role: str, arrival_s: FloatArray,
         ctx: DrawContext) -> IntArray:
    """Lengths for requests arriving at ``arrival_s``. ``key`` (the dotted config key)
    names the random stream; ``role`` is 'prompt' or 'output' (which trace column)."""
    n = len(arrival_s)
    rng = stream(ctx.seed, key)
    if isinstance(src, FixedLength):
        return np.full(n, src.value_tokens, dtype=np.int64)
    if isinstance(src, UniformLength):
        return rng.integers(src.low_tokens, src.high_tokens + 1, n).astype(np.int64)
    if isinstance(src, LognormalLength):
        x = np.rint(np.exp(rng.normal(np.log(src.median_tokens), src.sigma, n)))
        hi = np.inf if src.max_tokens is None else src.max_tokens
        return np.clip(x, src.min_tokens, hi).astype(np.int64)
    if isinstance(src, EmpiricalLength):
        samples = _empirical_samples(src, key, ctx)
        return rng.choice(samples, size=n, replace=True).astype(np.int64)
    if isinstance(src, DriftLength):
        return _drift(src, key, role, arrival_s, ctx)
    return _trace_column(key, role, n, ctx)


def _drift(src: DriftLength, key: str, role: str, arrival_s: FloatArray,
           ctx: DrawContext) -> IntArray:
    starts = np.array([p.start_s for p in src.phases])
    drawn = np.stack([draw(p.source, f"{key}.phases[{i}].source", role, arrival_s, ctx)
                      for i, p in enumerate(src.phases)])
    phase = np.searchsorted(starts, arrival_s, side="right") - 1
    if src.mode == "linear" and len(starts) > 1:
        nxt = np.minimum(phase + 1, len(starts) - 1)
        span = np.where(nxt > phase, starts[nxt] - starts[phase], 1.0)
        share = np.where(nxt > phase, (arrival_s - starts[phase]) / span, 0.0)
        u = stream(ctx.seed, f"{key}.blend").random(len(arrival_s))
        phase = np.where(u < share, nxt, phase)
    return drawn[phase, np.arange(len(arrival_s))]


def _trace_column(key: str, role: str, n: int, ctx: DrawContext) -> IntArray:
    trace = ctx.trace
    assert trace is not None  # WorkloadSpec requires a trace for 'trace' sources
    col = trace.input_tokens if role == "prompt" else trace.output_tokens
    column = "input_tokens" if role == "prompt" else "output_tokens"
    if col is None:
        raise InputError(
            f"the length source is 'trace' but workload.trace.columns.{column} is null",
            source=ctx.source, key=f"{key}.kind", value="trace",
            expected=f"a column name in workload.trace.columns.{column}",
        )
    start = ctx.trace_offset
    if start + n > len(col):
        if start:
            raise InputError(
                f"predictors train on {n} history rows after the run's {start}, but the "
                f"trace has only {len(col)} rows",
                source=ctx.source, key="workload.history_requests", value=n,
                expected=f"at most {max(0, len(col) - start)} (or fewer run rows, "
                "workload.trace.max_rows)",
            )
        raise InputError(
            f"{n} requests asked for but the trace has only {len(col)} rows",
            source=ctx.source, key="workload.num_requests", value=n,
            expected=f"at most {len(col)}",
        )
    return col[start:start + n].astype(np.int64)


def _empirical_samples(src: EmpiricalLength, key: str, ctx: DrawContext) -> IntArray:
    if src.samples is not None:
        return np.asarray(src.samples, dtype=np.int64)
    assert src.path is not None and src.column is not None
    spec = TraceSpec(
        path=str(resolve_path(src.path, ctx.base_dir)),
        columns={"timestamp": None, "input_tokens": src.column, "output_tokens": None},
    )
    try:
        col = load_trace(spec, None, ctx.source).input_tokens
    except InputError as exc:
        raise InputError(
            exc.problem, source=exc.source, key=f"{key}.column" if exc.key else f"{key}.path",
            value=exc.value, expected=exc.expected,
        ) from None
    assert col is not None
    return col

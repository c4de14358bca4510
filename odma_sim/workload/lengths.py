"""Drawing token lengths from a length source, each source on its own named stream."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from odma_sim.errors import InputError
from odma_sim.rng import stream
from odma_sim.workload.datasets import Dataset
from odma_sim.workload.spec import (
    DatasetLength,
    DriftLength,
    EmpiricalLength,
    FixedLength,
    HistogramLength,
    LengthSource,
    LognormalLength,
    TextRulesLength,
    TraceSpec,
    UniformLength,
)
from odma_sim.workload.traces import Trace, load_trace, resolve_path

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class DrawContext:
    """What drawing needs besides the source: seed, trace or data set, and where
    errors point. ``rows`` are the data-set prompts the requests drew."""

    seed: int
    trace: Trace | None
    base_dir: Path | None
    source: str
    trace_offset: int = 0  # first trace row (history tables read rows after the run's)
    dataset: Dataset | None = None
    rows: IntArray | None = None


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
    if isinstance(src, DatasetLength):
        return _dataset(src, key, role, rng, ctx)
    if isinstance(src, TextRulesLength):
        return _text_rules(src, key, rng, ctx)
    if isinstance(src, HistogramLength):
        return _histogram(src, key, n, rng, ctx)
    return _trace_column(key, role, n, ctx)


def _dataset(src: DatasetLength, key: str, role: str, rng: np.random.Generator,
             ctx: DrawContext) -> IntArray:
    ds, rows = ctx.dataset, ctx.rows
    assert ds is not None and rows is not None  # WorkloadSpec requires a dataset
    if role == "prompt":
        if ds.prompt_tokens is None:
            raise InputError(
                f"the data set {ds.name} has no prompt lengths", source=ctx.source,
                key=f"{key}.kind", value="dataset",
                expected="another prompt length source (for example a histogram)")
        return ds.prompt_tokens[rows]
    if not ds.measured:
        raise InputError(
            f"the data set {ds.name} has no measured output lengths", source=ctx.source,
            key=f"{key}.kind", value="dataset",
            expected="an explicit length model such as kind: text_rules (labelled modelled)")
    samples, n = ds.samples[rows], ds.n_samples[rows]
    if src.sample == "first":
        return samples[:, 0].copy()
    if src.sample == "mean":
        masked = np.where(samples > 0, samples, 0)
        return np.rint(masked.sum(axis=1) / np.maximum(n, 1)).astype(np.int64)
    pick = np.floor(rng.random(len(rows)) * n).astype(np.int64)
    return samples[np.arange(len(rows)), pick]


def _text_rules(src: TextRulesLength, key: str, rng: np.random.Generator,
                ctx: DrawContext) -> IntArray:
    ds, rows = ctx.dataset, ctx.rows
    assert ds is not None and rows is not None
    if ds.text is None:
        raise InputError(f"the data set {ds.name} has no prompt text", source=ctx.source,
                         key=f"{key}.kind", value="text_rules",
                         expected="a data set with text, or a length model without rules")
    n = len(rows)
    median = np.full(n, float(src.median_tokens))
    sigma = np.full(n, float(src.sigma))
    patterns = [re.compile(r.pattern, re.IGNORECASE) for r in src.rules]
    for i, r in enumerate(rows.tolist()):
        text = ds.text[r]
        for rule, pat in zip(src.rules, patterns, strict=True):
            if pat.match(text):
                median[i] = rule.median_tokens
                sigma[i] = rule.sigma if rule.sigma is not None else src.sigma
                break
    z = rng.standard_normal(n)
    x = np.log(median * src.scale) + sigma * z
    if src.tail is not None:
        in_tail = rng.random(n) < src.tail.share
        x = np.where(in_tail, np.log(src.tail.median_tokens * src.scale) + src.tail.sigma * z,
                     x)
    hi = np.inf if src.max_tokens is None else src.max_tokens
    return np.clip(np.rint(np.exp(x)), src.min_tokens, hi).astype(np.int64)


def _histogram(src: HistogramLength, key: str, n: int, rng: np.random.Generator,
               ctx: DrawContext) -> IntArray:
    if src.path is not None:
        path = resolve_path(src.path, ctx.base_dir)
        try:
            table = np.loadtxt(path, delimiter=",", skiprows=1, ndmin=2)
        except (OSError, ValueError) as exc:
            raise InputError(f"cannot read the histogram ({exc})", source=ctx.source,
                             key=f"{key}.path", value=str(path),
                             expected="a CSV with a header and columns lo, hi, count") from None
        lo, hi, counts = table[:, 0], table[:, 1], table[:, 2]
    else:
        assert src.edges is not None and src.counts is not None
        lo = np.asarray(src.edges[:-1], dtype=float)
        hi = np.asarray(src.edges[1:], dtype=float)
        counts = np.asarray(src.counts, dtype=float)
    p = counts / counts.sum()
    b = rng.choice(len(p), size=n, p=p)
    x = lo[b] + 1 + np.floor(rng.random(n) * np.maximum(hi[b] - lo[b], 1))
    return np.maximum(x, 1).astype(np.int64)


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

"""Turns a workload spec into a fixed table of requests (arrival, prompt, output, status)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from odma_sim.errors import InputError
from odma_sim.rng import stream
from odma_sim.workload.spec import (
    BatchArrivals,
    EmpiricalLength,
    FixedLength,
    GammaArrivals,
    LengthSource,
    LognormalLength,
    PoissonArrivals,
    TraceArrivals,
    TraceSpec,
    UniformLength,
    WorkloadSpec,
)
from odma_sim.workload.traces import Trace, load_trace, resolve_path

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]

OK, TRUNCATED, REJECTED = 0, 1, 2
STATUS_NAMES = {OK: "ok", TRUNCATED: "truncated", REJECTED: "rejected"}


@dataclass(frozen=True)
class RequestTable:
    """Every generated request, in arrival order. Rejected rows never reach an engine."""

    arrival_s: FloatArray
    prompt_tokens: IntArray
    output_tokens: IntArray
    status: npt.NDArray[np.int8]
    requested_prompt_tokens: IntArray
    requested_output_tokens: IntArray

    def __len__(self) -> int:
        return len(self.arrival_s)

    @property
    def n_rejected(self) -> int:
        return int((self.status == REJECTED).sum())

    @property
    def n_truncated(self) -> int:
        return int((self.status == TRUNCATED).sum())


def _renewal_times(
    draw: Callable[[int], FloatArray], n: int | None, duration_s: float | None
) -> FloatArray:
    """Cumulative sums of gaps drawn by ``draw(k)`` until n arrivals or the duration."""
    if n is not None:
        times = np.cumsum(draw(n))
        return times if duration_s is None else times[times < duration_s]
    assert duration_s is not None
    out: list[FloatArray] = []
    t = 0.0
    while True:
        chunk = t + np.cumsum(draw(1024))
        out.append(chunk)
        t = float(chunk[-1])
        if t >= duration_s:
            times = np.concatenate(out)
            return times[times < duration_s]


def _arrivals(spec: WorkloadSpec, trace: Trace | None, seed: int) -> FloatArray:
    arr = spec.arrivals
    rng = stream(seed, "workload.arrivals")
    n, dur = spec.num_requests, spec.duration_s
    if n is None and dur is None:
        assert trace is not None  # WorkloadSpec allows an open end only with a trace
        n = len(trace)
    if isinstance(arr, PoissonArrivals):
        rate = arr.rate_rps
        return _renewal_times(lambda k: rng.exponential(1.0 / rate, k), n, dur)
    if isinstance(arr, GammaArrivals):
        shape = 1.0 / arr.cv**2
        scale = 1.0 / (arr.rate_rps * shape)
        return _renewal_times(lambda k: rng.gamma(shape, scale, k), n, dur)
    if isinstance(arr, BatchArrivals):
        return np.zeros(n if n is not None else 0, dtype=np.float64)
    assert isinstance(arr, TraceArrivals)
    assert trace is not None
    if trace.arrival_s is None:
        raise InputError(
            "trace arrivals need a timestamp column, but workload.trace.columns.timestamp is null",
            source=trace.path, key="workload.arrivals.kind", value="trace",
            expected="a trace with a timestamp column, or another arrival kind",
        )
    times = trace.arrival_s * arr.time_scale
    if dur is not None:
        times = times[times < dur]
    return times[:n] if n is not None else times


def _lengths(
    src: LengthSource, n: int, seed: int, field: str, trace: Trace | None, base_dir: Path | None,
    source: str,
) -> IntArray:
    rng = stream(seed, f"workload.{field}")
    key = f"workload.{field}"
    if isinstance(src, FixedLength):
        return np.full(n, src.value_tokens, dtype=np.int64)
    if isinstance(src, UniformLength):
        return rng.integers(src.low_tokens, src.high_tokens + 1, n).astype(np.int64)
    if isinstance(src, LognormalLength):
        x = np.rint(np.exp(rng.normal(np.log(src.median_tokens), src.sigma, n)))
        hi = np.inf if src.max_tokens is None else src.max_tokens
        return np.clip(x, src.min_tokens, hi).astype(np.int64)
    if isinstance(src, EmpiricalLength):
        samples = _empirical_samples(src, base_dir, source, key)
        return rng.choice(samples, size=n, replace=True).astype(np.int64)
    # trace column
    assert trace is not None
    col = trace.input_tokens if field == "prompt_tokens" else trace.output_tokens
    role = "input_tokens" if field == "prompt_tokens" else "output_tokens"
    if col is None:
        raise InputError(
            f"the length source is 'trace' but workload.trace.columns.{role} is null",
            source=source, key=f"{key}.kind", value="trace",
            expected=f"a column name in workload.trace.columns.{role}",
        )
    if n > len(col):
        raise InputError(
            f"{n} requests asked for but the trace has only {len(col)} rows",
            source=source, key="workload.num_requests", value=n,
            expected=f"at most {len(col)}",
        )
    return col[:n].astype(np.int64)


def _empirical_samples(
    src: EmpiricalLength, base_dir: Path | None, source: str, key: str
) -> IntArray:
    if src.samples is not None:
        return np.asarray(src.samples, dtype=np.int64)
    assert src.path is not None and src.column is not None
    spec = TraceSpec(
        path=str(resolve_path(src.path, base_dir)),
        columns={"timestamp": None, "input_tokens": src.column, "output_tokens": None},
    )
    try:
        col = load_trace(spec, None, source).input_tokens
    except InputError as exc:
        raise InputError(
            exc.problem, source=exc.source, key=f"{key}.column" if exc.key else f"{key}.path",
            value=exc.value, expected=exc.expected,
        ) from None
    assert col is not None
    return col


def build_requests(
    spec: WorkloadSpec,
    *,
    seed: int,
    max_seq_len: int,
    max_new_tokens: int | None,
    base_dir: Path | None = None,
    source: str = "config",
) -> RequestTable:
    """Draw the request table. The same spec and seed always give the same table."""
    trace = load_trace(spec.trace, base_dir, source) if spec.trace is not None else None
    arrival = _arrivals(spec, trace, seed)
    n = len(arrival)
    prompt = _lengths(spec.prompt_tokens, n, seed, "prompt_tokens", trace, base_dir, source)
    output = _lengths(spec.output_tokens, n, seed, "output_tokens", trace, base_dir, source)
    cap_new = max_new_tokens if max_new_tokens is not None else max_seq_len
    fit_prompt = np.minimum(prompt, max_seq_len - 1)
    fit_output = np.minimum(output, np.minimum(cap_new, max_seq_len - fit_prompt))
    over = (fit_prompt != prompt) | (fit_output != output)
    status = np.zeros(n, dtype=np.int8)
    if spec.over_length == "reject":
        status[over] = REJECTED
    else:
        status[over] = TRUNCATED
    return RequestTable(
        arrival_s=arrival.astype(np.float64),
        prompt_tokens=np.where(status == TRUNCATED, fit_prompt, prompt).astype(np.int64),
        output_tokens=np.where(status == TRUNCATED, fit_output, output).astype(np.int64),
        status=status,
        requested_prompt_tokens=prompt.astype(np.int64),
        requested_output_tokens=output.astype(np.int64),
    )

"""Turns a workload spec into a fixed table of requests (arrival, prompt, output, status)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import numpy.typing as npt

from odma_sim.errors import InputError
from odma_sim.rng import stream
from odma_sim.workload.datasets import load_dataset
from odma_sim.workload.lengths import DrawContext, draw
from odma_sim.workload.spec import (
    BatchArrivals,
    GammaArrivals,
    PoissonArrivals,
    TraceArrivals,
    WorkloadSpec,
)
from odma_sim.workload.traces import Trace, load_trace

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
    task: IntArray | None = None
    task_names: list[str] = field(default_factory=list)
    prompt_text: list[str] | None = None
    prompt_id: list[str] | None = None
    output_lengths: str = "synthetic"  # measured | modelled | synthetic

    def __len__(self) -> int:
        return len(self.arrival_s)

    def select(self, mask: npt.NDArray[np.bool_]) -> RequestTable:
        """The rows where ``mask`` is true (for example, the ones not rejected)."""
        idx = np.flatnonzero(mask)

        def pick(xs: list[str] | None) -> list[str] | None:
            return None if xs is None else [xs[i] for i in idx.tolist()]

        return RequestTable(
            self.arrival_s[idx], self.prompt_tokens[idx], self.output_tokens[idx],
            self.status[idx], self.requested_prompt_tokens[idx],
            self.requested_output_tokens[idx],
            None if self.task is None else self.task[idx], list(self.task_names),
            pick(self.prompt_text), pick(self.prompt_id), self.output_lengths)

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


def _class_lengths(spec: WorkloadSpec, arrival: FloatArray, ctx: DrawContext) -> tuple[
        IntArray, IntArray, IntArray | None]:
    """Prompt and output lengths, and each request's class index (or None)."""
    if spec.classes is None:
        assert spec.prompt_tokens is not None and spec.output_tokens is not None
        prompt = draw(spec.prompt_tokens, "workload.prompt_tokens", "prompt", arrival, ctx)
        output = draw(spec.output_tokens, "workload.output_tokens", "output", arrival, ctx)
        return prompt, output, None
    weights = np.array([c.weight for c in spec.classes])
    task = stream(ctx.seed, "workload.classes").choice(
        len(weights), size=len(arrival), p=weights / weights.sum()).astype(np.int64)
    prompt = np.zeros(len(arrival), dtype=np.int64)
    output = np.zeros(len(arrival), dtype=np.int64)
    for i, cls in enumerate(spec.classes):
        rows = task == i
        key = f"workload.classes[{i}]"
        prompt[rows] = draw(cls.prompt_tokens, f"{key}.prompt_tokens", "prompt", arrival,
                            ctx)[rows]
        output[rows] = draw(cls.output_tokens, f"{key}.output_tokens", "output", arrival,
                            ctx)[rows]
    return prompt, output, task


def build_requests(
    spec: WorkloadSpec,
    *,
    seed: int,
    max_seq_len: int,
    max_new_tokens: int | None,
    base_dir: Path | None = None,
    source: str = "config",
    trace_offset: int = 0,
    history: bool = False,
) -> RequestTable:
    """Draw the request table. The same spec and seed always give the same table.
    ``history`` draws data-set prompts from the history split instead of the run's."""
    trace = load_trace(spec.trace, base_dir, source) if spec.trace is not None else None
    arrival = _arrivals(spec, trace, seed)
    n = len(arrival)
    ds = rows = None
    if spec.dataset is not None:
        ds = load_dataset(spec.dataset, base_dir, source)
        pool = ds.rows(spec.dataset.train_split if history else spec.dataset.run_split)
        rows = pool[stream(seed, "workload.dataset.rows").integers(0, len(pool), n)]
    ctx = DrawContext(seed, trace, base_dir, source, trace_offset, ds, rows)
    prompt, output, task = _class_lengths(spec, arrival, ctx)
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
        task=task,
        task_names=[c.name for c in spec.classes] if spec.classes else [],
        prompt_text=None if ds is None or ds.text is None or rows is None
        else [ds.text[r] for r in rows.tolist()],
        prompt_id=None if ds is None or rows is None
        else [ds.prompt_id[r] for r in rows.tolist()],
        output_lengths=spec.output_provenance(),
    )


def build_history(
    spec: WorkloadSpec,
    *,
    seed: int,
    run_rows: int,
    max_seq_len: int,
    max_new_tokens: int | None,
    base_dir: Path | None = None,
    source: str = "config",
) -> RequestTable:
    """``spec.history_requests`` labelled requests for training predictors offline.

    They come from the same workload on a separate random stream, all at time 0 (so a
    drifting workload's history is its starting distribution), from trace rows after
    the run's ``run_rows`` when lengths come from a trace, and from the data set's
    history split: never the run's own requests or prompts."""
    hist = spec.model_copy(update={
        "arrivals": BatchArrivals(kind="batch"),
        "num_requests": spec.history_requests,
        "duration_s": None,
    })
    hist_seed = int(stream(seed, "workload.history").integers(2**62))
    return build_requests(hist, seed=hist_seed, max_seq_len=max_seq_len,
                          max_new_tokens=max_new_tokens, base_dir=base_dir, source=source,
                          trace_offset=run_rows, history=True)

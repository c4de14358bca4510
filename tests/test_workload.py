"""Workload generation: arrival statistics, length sources, trace formats and units."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from odma_sim.errors import InputError
from odma_sim.workload.generate import build_requests
from odma_sim.workload.spec import TraceSpec, WorkloadSpec
from odma_sim.workload.traces import load_trace


def table(seed: int = 3, **spec: Any) -> Any:
    base: dict[str, Any] = {
        "arrivals": {"kind": "poisson", "rate_rps": 5.0},
        "prompt_tokens": {"kind": "fixed", "value_tokens": 10},
        "output_tokens": {"kind": "fixed", "value_tokens": 10},
        "num_requests": 20_000,
    }
    base.update(spec)
    return build_requests(WorkloadSpec.model_validate(base), seed=seed, max_seq_len=4096,
                          max_new_tokens=None)


def test_poisson_rate_and_cv() -> None:
    gaps = np.diff(table().arrival_s)
    assert 1 / gaps.mean() == pytest.approx(5.0, rel=0.03)
    assert gaps.std() / gaps.mean() == pytest.approx(1.0, rel=0.05)


def test_gamma_rate_and_cv() -> None:
    gaps = np.diff(table(arrivals={"kind": "gamma", "rate_rps": 2.0, "cv": 3.0}).arrival_s)
    assert 1 / gaps.mean() == pytest.approx(2.0, rel=0.08)
    assert gaps.std() / gaps.mean() == pytest.approx(3.0, rel=0.1)


def test_duration_ends_the_stream() -> None:
    t = table(num_requests=None, duration_s=100.0)
    assert t.arrival_s.max() < 100.0
    assert len(t) == pytest.approx(500, rel=0.15)


def test_length_sources() -> None:
    t = table(prompt_tokens={"kind": "uniform", "low_tokens": 5, "high_tokens": 9},
              output_tokens={"kind": "lognormal", "median_tokens": 200, "sigma": 0.5,
                             "max_tokens": 1000})
    assert set(np.unique(t.prompt_tokens)) == {5, 6, 7, 8, 9}
    assert np.median(t.output_tokens) == pytest.approx(200, rel=0.05)
    assert t.output_tokens.max() <= 1000
    e = table(output_tokens={"kind": "empirical", "samples": [3, 30, 300]})
    assert set(np.unique(e.output_tokens)) == {3, 30, 300}


def test_prompt_and_output_streams_are_independent_of_each_other() -> None:
    """Changing the output source must not change the prompts drawn for the same seed."""
    a = table(prompt_tokens={"kind": "uniform", "low_tokens": 1, "high_tokens": 99})
    b = table(prompt_tokens={"kind": "uniform", "low_tokens": 1, "high_tokens": 99},
              output_tokens={"kind": "uniform", "low_tokens": 1, "high_tokens": 5})
    assert np.array_equal(a.prompt_tokens, b.prompt_tokens)
    assert np.array_equal(a.arrival_s, b.arrival_s)


def test_empirical_samples_from_a_file(tmp_path: Path) -> None:
    (tmp_path / "lens.csv").write_text("len\n7\n70\n")
    spec = WorkloadSpec.model_validate({
        "arrivals": {"kind": "batch"}, "num_requests": 50,
        "prompt_tokens": {"kind": "fixed", "value_tokens": 1},
        "output_tokens": {"kind": "empirical", "path": "lens.csv", "column": "len"},
    })
    t = build_requests(spec, seed=1, max_seq_len=100, max_new_tokens=None, base_dir=tmp_path)
    assert set(np.unique(t.output_tokens)) == {7, 70}


@pytest.mark.parametrize(("unit", "stamps", "expect"), [
    ("s", ["10", "10.5", "12"], [0.0, 0.5, 2.0]),
    ("ms", ["1000", "1500", "3000"], [0.0, 0.5, 2.0]),
    ("us", ["0", "500000", "2000000"], [0.0, 0.5, 2.0]),
    ("datetime", ["2023-11-16 18:17:03.9799600", "2023-11-16 18:17:04.4799600",
                  "2023-11-16 18:17:05.9799600"], [0.0, 0.5, 2.0]),
])
def test_trace_time_units(tmp_path: Path, unit: str, stamps: list[str],
                          expect: list[float]) -> None:
    lines = ["when,inp,out"] + [f"{s},{i + 1},{i + 2}" for i, s in enumerate(stamps)]
    (tmp_path / "t.csv").write_text("\n".join(lines) + "\n")
    spec = TraceSpec(path="t.csv", time_unit=unit,  # type: ignore[arg-type]
                     columns={"timestamp": "when", "input_tokens": "inp", "output_tokens": "out"})
    tr = load_trace(spec, tmp_path)
    assert tr.arrival_s is not None
    assert tr.arrival_s.tolist() == pytest.approx(expect)
    assert tr.input_tokens is not None and tr.input_tokens.tolist() == [1, 2, 3]


def test_jsonl_trace_and_time_scale(tmp_path: Path) -> None:
    (tmp_path / "t.jsonl").write_text(
        '{"ts": 0, "p": 5, "o": 6}\n{"ts": 4, "p": 7, "o": 8}\n')
    spec = WorkloadSpec.model_validate({
        "arrivals": {"kind": "trace", "time_scale": 0.5},
        "prompt_tokens": {"kind": "trace"}, "output_tokens": {"kind": "trace"},
        "trace": {"path": "t.jsonl",
                  "columns": {"timestamp": "ts", "input_tokens": "p", "output_tokens": "o"}},
    })
    t = build_requests(spec, seed=1, max_seq_len=100, max_new_tokens=None, base_dir=tmp_path)
    assert t.arrival_s.tolist() == [0.0, 2.0]
    assert t.prompt_tokens.tolist() == [5, 7] and t.output_tokens.tolist() == [6, 8]


def test_malformed_jsonl_names_the_line(tmp_path: Path) -> None:
    (tmp_path / "t.jsonl").write_text('{"ts": 0}\n{oops\n')
    with pytest.raises(InputError, match="line 2 is not valid JSON"):
        load_trace(TraceSpec(path="t.jsonl"), tmp_path)


def test_truncation_and_rejection_counts() -> None:
    kw: dict[str, Any] = {"output_tokens": {"kind": "uniform", "low_tokens": 1,
                                            "high_tokens": 200}}
    spec = WorkloadSpec.model_validate({
        "arrivals": {"kind": "batch"}, "num_requests": 1000,
        "prompt_tokens": {"kind": "fixed", "value_tokens": 50}, **kw})
    t = build_requests(spec, seed=1, max_seq_len=150, max_new_tokens=None)
    assert t.n_truncated == int((t.requested_output_tokens > 100).sum()) > 0
    assert (t.prompt_tokens + t.output_tokens).max() == 150
    spec_r = spec.model_copy(update={"over_length": "reject"})
    r = build_requests(spec_r, seed=1, max_seq_len=150, max_new_tokens=None)
    assert r.n_rejected == t.n_truncated and r.n_truncated == 0


@pytest.mark.parametrize(("name", "rows", "mean_in", "mean_out", "rate"), [
    ("code", 8819, 2048, 27.9, 2.57),
    ("conv", 19366, 1155, 211.1, 5.53),
])
def test_azure_2023_loads_with_its_named_format(
    shared_data: Path, name: str, rows: int, mean_in: float, mean_out: float, rate: float
) -> None:
    """Row counts and statistics as stated in azure-llm-2023/SOURCE.md."""
    path = shared_data / "azure-llm-2023" / f"AzureLLMInferenceTrace_{name}.csv"
    tr = load_trace(TraceSpec(path=str(path), format="azure-2023"))
    assert tr.arrival_s is not None and tr.input_tokens is not None
    assert tr.output_tokens is not None
    assert len(tr) == rows
    assert tr.input_tokens.mean() == pytest.approx(mean_in, rel=0.01)
    assert tr.output_tokens.mean() == pytest.approx(mean_out, rel=0.01)
    assert len(tr) / tr.arrival_s[-1] == pytest.approx(rate, rel=0.02)


def test_request_classes_carry_their_index_and_lengths() -> None:
    spec = WorkloadSpec.model_validate({
        "arrivals": {"kind": "batch"}, "num_requests": 6000,
        "classes": [
            {"name": "s", "weight": 3, "prompt_tokens": {"kind": "fixed", "value_tokens": 10},
             "output_tokens": {"kind": "fixed", "value_tokens": 20}},
            {"name": "l", "weight": 1, "prompt_tokens": {"kind": "fixed", "value_tokens": 50},
             "output_tokens": {"kind": "fixed", "value_tokens": 500}}]})
    t = build_requests(spec, seed=1, max_seq_len=4096, max_new_tokens=None)
    assert t.task is not None and t.task_names == ["s", "l"]
    assert np.mean(t.task == 0) == pytest.approx(0.75, abs=0.02)
    assert (t.output_tokens[t.task == 1] == 500).all()
    assert (t.prompt_tokens[t.task == 0] == 10).all()


@pytest.mark.parametrize("mode", ["step", "linear"])
def test_drift_switches_or_blends_by_arrival_time(mode: str) -> None:
    spec = WorkloadSpec.model_validate({
        "arrivals": {"kind": "poisson", "rate_rps": 50}, "duration_s": 200,
        "prompt_tokens": {"kind": "fixed", "value_tokens": 10},
        "output_tokens": {"kind": "drift", "mode": mode, "phases": [
            {"start_s": 0, "source": {"kind": "fixed", "value_tokens": 100}},
            {"start_s": 100, "source": {"kind": "fixed", "value_tokens": 900}}]}})
    t = build_requests(spec, seed=1, max_seq_len=4096, max_new_tokens=None)
    late = t.arrival_s >= 100
    assert (t.output_tokens[late] == 900).all()
    early = t.output_tokens[~late]
    if mode == "step":
        assert (early == 100).all()
    else:  # the share of the next phase rises from 0 to 1 over [0, 100)
        first, second = early[t.arrival_s[~late] < 50], early[t.arrival_s[~late] >= 50]
        assert np.mean(first == 900) == pytest.approx(0.25, abs=0.06)
        assert np.mean(second == 900) == pytest.approx(0.75, abs=0.06)


def test_history_is_apart_from_the_run_and_from_time_zero() -> None:
    from odma_sim.workload.generate import build_history

    spec = WorkloadSpec.model_validate({
        "arrivals": {"kind": "poisson", "rate_rps": 5}, "duration_s": 100,
        "history_requests": 300,
        "prompt_tokens": {"kind": "uniform", "low_tokens": 1, "high_tokens": 1000},
        "output_tokens": {"kind": "drift", "phases": [
            {"start_s": 0, "source": {"kind": "fixed", "value_tokens": 7}},
            {"start_s": 50, "source": {"kind": "fixed", "value_tokens": 70}}]}})
    run = build_requests(spec, seed=3, max_seq_len=4096, max_new_tokens=None)
    hist = build_history(spec, seed=3, run_rows=len(run), max_seq_len=4096,
                         max_new_tokens=None)
    assert len(hist) == 300 and (hist.output_tokens == 7).all()
    assert not np.array_equal(hist.prompt_tokens[:50], run.prompt_tokens[:50])


def test_history_rows_of_a_trace_follow_the_run_rows(tmp_path: Path) -> None:
    from odma_sim.workload.generate import build_history

    rows = "\n".join(f"{i},{i + 1},{i + 2}" for i in range(10))
    (tmp_path / "t.csv").write_text("t,p,o\n" + rows + "\n")
    spec = WorkloadSpec.model_validate({
        "arrivals": {"kind": "poisson", "rate_rps": 1}, "num_requests": 6,
        "history_requests": 4, "prompt_tokens": {"kind": "trace"},
        "output_tokens": {"kind": "trace"},
        "trace": {"path": "t.csv", "columns": {"timestamp": "t", "input_tokens": "p",
                                               "output_tokens": "o"}}})
    run = build_requests(spec, seed=1, max_seq_len=100, max_new_tokens=None, base_dir=tmp_path)
    hist = build_history(spec, seed=1, run_rows=6, max_seq_len=100, max_new_tokens=None,
                         base_dir=tmp_path)
    assert run.prompt_tokens.tolist() == [1, 2, 3, 4, 5, 6]
    assert hist.prompt_tokens.tolist() == [7, 8, 9, 10]
    too_many = spec.model_copy(update={"history_requests": 5})
    with pytest.raises(InputError, match="history rows"):
        build_history(too_many, seed=1, run_rows=6, max_seq_len=100, max_new_tokens=None,
                      base_dir=tmp_path)

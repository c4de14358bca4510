"""Real data sets read in place: row counts and statistics against their SOURCE.md,
malformed variants rejected, splits that never leak, presets usable by name."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

from conftest import toy_raw
from odma_sim.cli import _load_workload, main
from odma_sim.config.loader import build_experiment
from odma_sim.errors import InputError
from odma_sim.experiment import history_table, request_table, run_experiment
from odma_sim.workload.datasets import load_alpaca_seqsched, load_castillo, load_nq_open
from odma_sim.workload.generate import build_history, build_requests

QWEN = "Qwen--Qwen2.5-7B-Instruct-1M"


def test_castillo_matches_its_source(shared_data: Path) -> None:
    path = shared_data / "castillo-alpaca" / "castillo_Alpaca_lengths.jsonl"
    ds = load_castillo(path, QWEN, True, "test")
    assert len(ds) == 600
    assert sorted(ds.splits()) == ["test", "validate"]
    assert len(ds.rows("validate")) == 400 and len(ds.rows("test")) == 200
    outs = ds.samples[ds.samples > 0]
    assert len(outs) == 6000  # ten samples per prompt, none capped for this model
    # SOURCE.md: Qwen2.5-7B-Instruct-1M output mean / median / p90 / p99 / max
    assert outs.mean() == pytest.approx(301.6, abs=0.1)
    assert np.median(outs) == 175 and outs.max() == 10633
    assert np.percentile(outs, 90) == pytest.approx(771, abs=1)
    assert np.percentile(outs, 99) == pytest.approx(1397, abs=1)
    assert ds.prompt_tokens is not None
    assert ds.prompt_tokens.mean() == pytest.approx(37.1, abs=0.1)
    assert np.median(ds.prompt_tokens) == 33
    mixtral = load_castillo(path, "mistralai--Mixtral-8x7B-Instruct-v0.1", False, "test")
    assert len(mixtral) == 2000 and len(mixtral.rows("train")) == 1400


def test_alpaca_seqsched_matches_its_source(shared_data: Path) -> None:
    d = shared_data / "alpaca-seqsched-lengths"
    files = (d / "alpaca-train-10k-length.json", d / "alpaca-val-10k-length.json")
    ds = load_alpaca_seqsched(files, "L_gt", "test")
    assert len(ds) == 20_000 and ds.text is None and ds.prompt_tokens is None
    train = ds.samples[ds.rows("train"), 0]
    val = ds.samples[ds.rows("validate"), 0]
    assert len(train) == len(val) == 10_000
    assert train.mean() == pytest.approx(65.5, abs=0.1) and np.median(train) == 48
    assert np.percentile(train, 90) == pytest.approx(138, abs=1) and train.max() == 826
    assert val.mean() == pytest.approx(65.7, abs=0.1) and val.max() == 823
    everything = np.concatenate([train, val])
    assert np.mean(everything < 204.8) == pytest.approx(0.967, abs=0.001)
    vic = load_alpaca_seqsched(files, "vicuna", "test")
    assert (vic.n_samples == 4).all()
    assert vic.samples[vic.rows("train")].mean() == pytest.approx(126, abs=1)


def test_nq_open_matches_its_source(shared_data: Path) -> None:
    d = shared_data / "nq-open"
    ds = load_nq_open((d / "NQ-open.dev.jsonl", d / "NQ-open.efficientqa.dev.1.1.jsonl"),
                      4.27, 0, "test")
    assert len(ds.rows("train")) == 3610 and len(ds.rows("test")) == 1800
    assert ds.text is not None and not ds.measured
    words = np.array([len(t.split()) for t in ds.text])
    assert words[ds.rows("train")].mean() == pytest.approx(9.1, abs=0.05)
    assert ds.prompt_tokens is not None
    assert 10 <= np.median(ds.prompt_tokens) <= 15  # SOURCE.md: about 12 to 15 tokens


@pytest.mark.parametrize("preset", ["alpaca", "alpaca-reference", "nq"])
def test_splits_never_leak(shared_data: Path, preset: str) -> None:
    spec, *_ = _load_workload(preset)
    run = build_requests(spec, seed=1, max_seq_len=8192, max_new_tokens=None)
    hist = build_history(spec, seed=1, run_rows=len(run), max_seq_len=8192,
                         max_new_tokens=None)
    assert run.prompt_id is not None and hist.prompt_id is not None
    assert not set(run.prompt_id) & set(hist.prompt_id)
    assert len(set(run.prompt_id)) > 100


def test_nq_lengths_are_labelled_modelled(shared_data: Path) -> None:
    spec, *_ = _load_workload("nq")
    t = build_requests(spec, seed=1, max_seq_len=8192, max_new_tokens=None)
    assert t.output_lengths == "modelled"
    assert t.prompt_text is not None
    how = np.array([q.lower().startswith(("how", "why")) for q in t.prompt_text])
    who = np.array([q.lower().startswith(("who", "when", "where")) for q in t.prompt_text])
    # the assumed model makes explanations longer than factoid answers
    assert np.median(t.output_tokens[how]) > 2 * np.median(t.output_tokens[who])


def small(workload: Any, n: int = 300) -> dict[str, Any]:
    raw = toy_raw(engine={"max_seq_len": 4096, "max_batch": 256})
    raw["device"], raw["model"] = "mlu370-x4", "deepseek-r1-distill-qwen-7b"
    raw["workload"] = {"preset": workload, "num_requests": n, "history_requests": 800}
    raw["allocators"] = [{"kind": "static"}, {"kind": "odma"}]
    return raw


@pytest.mark.parametrize("preset", ["alpaca", "nq"])
def test_presets_run_by_name(shared_data: Path, preset: str) -> None:
    res = run_experiment(build_experiment(small(preset)), progress=False)
    s = {r["name"]: r for r in res.summaries}
    assert s["odma"]["completed"] == 300
    assert s["odma"]["output_lengths"] == ("modelled" if preset == "nq" else "measured")
    assert s["odma"]["kv_utilization"] > s["static"]["kv_utilization"]


def test_fitted_workload_needs_no_data_files() -> None:
    loaded = build_experiment(small("alpaca-fit"))
    table = request_table(loaded)
    assert table.output_lengths == "synthetic" and len(table) == 300
    assert len(history_table(loaded, len(table))) == 800


def write_jsonl(path: Path, rows: list[dict[str, Any]]) -> None:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))


def castillo_row(**over: Any) -> dict[str, Any]:
    row = {"split": "test", "model": "m", "prompt_id": "p", "input_size": 5,
           "output_sizes": [10, 20], "prompt_text": "hello"}
    row.update(over)
    return row


@pytest.mark.parametrize(("rows", "needle"), [
    ([castillo_row(model="other")], "no records for model 'm'"),
    ([{k: v for k, v in castillo_row().items() if k != "output_sizes"}], "no field 'output_sizes'"),
    ([castillo_row(output_sizes=[10, -4])], "invalid length"),
    ([castillo_row(input_size="x")], "invalid length"),
])
def test_malformed_castillo(tmp_path: Path, rows: list[dict[str, Any]], needle: str) -> None:
    path = tmp_path / "c.jsonl"
    write_jsonl(path, rows)
    with pytest.raises(InputError, match=needle):
        load_castillo(path, "m", True, "test")


def test_malformed_files_through_the_cli(tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "q.jsonl").write_text('{"question": "who"}\n{"answer": ["x"]}\n')
    (tmp_path / "bad.json").write_text("[{]")
    for dataset, needle in [
        ({"format": "nq-open", "path": ["q.jsonl", "q.jsonl"]}, "record 2 has no field"),
        ({"format": "alpaca-seqsched", "path": "bad.json", "split": "bad",
          "history_split": "x"}, "cannot read the data file"),
        ({"format": "castillo", "path": "missing.jsonl"}, "data file not found"),
        ({"format": "castillo", "path": "q.jsonl", "split": "test", "history_split": "test"},
         "split and history_split must differ"),
    ]:
        raw = toy_raw()
        raw["workload"] = {"dataset": dataset, "arrivals": {"kind": "batch"},
                           "prompt_tokens": {"kind": "fixed", "value_tokens": 4},
                           "output_tokens": {"kind": "dataset"}, "num_requests": 5}
        cfg = tmp_path / "w.yaml"
        cfg.write_text(yaml.safe_dump(raw))
        assert main(["validate", str(cfg)]) == 2
        err = capsys.readouterr().err
        assert needle in err and "Traceback" not in err, err


def test_predictors_evaluate_command(shared_data: Path, tmp_path: Path,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "ev"
    args = ["predictors", "evaluate", "--workload", "alpaca-reference", "--predictors",
            "constant,s3,oracle", "--out", str(out)]
    assert main(args) == 0
    text = capsys.readouterr().out
    assert "98.60%" in text and "10 equal buckets over [0, 2048)" in text
    import pandas as pd

    df = pd.read_csv(out / "predictors.csv").set_index("predictor")
    # most reference answers sit in the first of 10 buckets over 2048 tokens: a constant
    # predictor scores about the 96.7 % of SOURCE.md
    assert df.loc["constant", "s3_bucket_accuracy"] == pytest.approx(0.967, abs=0.01)
    assert df.loc["oracle", "s3_bucket_accuracy"] == 1.0
    assert (out / "confusion.png").is_file()
    assert main([*args[:-1], str(tmp_path / "ev2")]) == 0
    again = pd.read_csv(tmp_path / "ev2" / "predictors.csv")
    cols = [c for c in again.columns if "wall" not in c]
    assert again[cols].equals(pd.read_csv(out / "predictors.csv")[cols])


def test_learned_predictors_beat_a_constant_on_real_alpaca(shared_data: Path) -> None:
    from odma_sim.predictors.evaluate import evaluate_one

    spec, *_ = _load_workload("alpaca")
    test = build_requests(spec, seed=2, max_seq_len=1 << 30, max_new_tokens=None)
    hist = build_history(spec, seed=2, run_rows=len(test), max_seq_len=1 << 30,
                         max_new_tokens=None)
    const = evaluate_one("constant", hist, test, seed=2).mae_tokens
    for kind in ("s3", "odma"):
        assert evaluate_one(kind, hist, test, seed=2).mae_tokens < const

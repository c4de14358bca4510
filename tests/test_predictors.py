"""Predictors on their own: exactness of the references, S3's bucket edges, the learned
regressor beating a constant, determinism, and config errors."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

from conftest import toy_raw
from odma_sim.cli import main
from odma_sim.engine.simulation import features, make_requests
from odma_sim.predictors import PredictorContext, predictors, validate_predictor
from odma_sim.workload.generate import RequestTable, build_requests
from odma_sim.workload.spec import WorkloadSpec

MAX = 2048


def table(n: int, seed: int) -> RequestTable:
    spec = WorkloadSpec.model_validate({
        "arrivals": {"kind": "batch"}, "num_requests": n,
        "classes": [
            {"name": "a", "prompt_tokens": {"kind": "uniform", "low_tokens": 5, "high_tokens": 50},
             "output_tokens": {"kind": "lognormal", "median_tokens": 40, "sigma": 0.3}},
            {"name": "b", "prompt_tokens": {"kind": "uniform", "low_tokens": 5, "high_tokens": 50},
             "output_tokens": {"kind": "lognormal", "median_tokens": 300, "sigma": 0.3}},
            {"name": "c", "prompt_tokens": {"kind": "uniform", "low_tokens": 5, "high_tokens": 50},
             "output_tokens": {"kind": "lognormal", "median_tokens": 1200, "sigma": 0.3,
                               "max_tokens": 2000}}]})
    return build_requests(spec, seed=seed, max_seq_len=4096, max_new_tokens=MAX)


def make(kind: str, **params: Any) -> Any:
    p = validate_predictor({"kind": kind, **params})
    return predictors.get(kind)(p, PredictorContext(seed=7, max_output_tokens=MAX, n_tasks=3))


def predict(pred: Any, t: RequestTable) -> tuple[np.ndarray, np.ndarray]:
    out = pred.predict(make_requests(t))
    return (np.array([q.length_tokens for q in out]), np.array([q.uncertainty for q in out]))


def s3_accuracy(pred_len: np.ndarray, true: np.ndarray, buckets: int = 10) -> float:
    width = -(-MAX // buckets)
    return float(np.mean((pred_len - 1) // width == (true - 1) // width))


def test_oracle_is_exact() -> None:
    t = table(500, 1)
    length, unc = predict(make("oracle"), t)
    assert np.array_equal(length, t.output_tokens) and not unc.any()


def test_noisy_with_sigma_zero_is_exact_and_accuracy_falls_with_sigma() -> None:
    t = table(3000, 1)
    length, _ = predict(make("noisy", sigma=0.0), t)
    assert np.array_equal(length, np.minimum(t.output_tokens, MAX))
    acc = [s3_accuracy(predict(make("noisy", sigma=s), t)[0], t.output_tokens)
           for s in (0.0, 0.1, 0.3, 0.6, 1.2)]
    assert acc[0] == 1.0
    assert all(b < a for a, b in itertools.pairwise(acc)), acc


def test_noisy_error_does_not_depend_on_batching() -> None:
    t = table(300, 1)
    reqs = make_requests(t)
    p = make("noisy", sigma=0.5)
    whole = [q.length_tokens for q in p.predict(reqs)]
    pieces = [q.length_tokens for i in range(0, 300, 7) for q in p.predict(reqs[i:i + 7])]
    assert whole == pieces


def test_s3_predicts_bucket_upper_edges_and_learns_classes() -> None:
    hist, test = table(3000, 1), table(1000, 2)
    p = make("s3")
    p.fit(features(hist, labels=True))
    length, unc = predict(p, test)
    width = -(-MAX // 10)
    assert set(np.unique(length)) <= {min(MAX, width * (k + 1)) for k in range(10)}
    assert ((unc >= 0) & (unc <= 1)).all()
    # class-only features bound it: class a always, b about 70 %, c (spread over six
    # buckets) about 25 %, so about 0.65 at best
    assert s3_accuracy(length, test.output_tokens) > 0.6


def test_odma_predictor_beats_a_constant_and_is_deterministic() -> None:
    hist, test = table(3000, 1), table(1000, 2)
    p = make("odma")
    p.fit(features(hist, labels=True))
    length, unc = predict(p, test)
    true = test.output_tokens
    constant = np.median(hist.output_tokens)
    assert np.mean(np.abs(length - true)) < 0.5 * np.mean(np.abs(constant - true))
    # log-space error close to the within-class spread (0.3)
    assert np.std(np.log(length / true)) < 0.4
    assert 0.15 < np.median(unc) < 0.5
    q = make("odma")
    q.fit(features(hist, labels=True))
    assert np.array_equal(predict(q, test)[0], length)


def test_odma_predictor_quantile_raises_the_estimate() -> None:
    hist, test = table(2000, 1), table(500, 2)
    lo, hi = make("odma", quantile=0.5), make("odma", quantile=0.9)
    for p in (lo, hi):
        p.fit(features(hist, labels=True))
    assert (predict(hi, test)[0] >= predict(lo, test)[0]).all()
    assert np.mean(predict(hi, test)[0] >= test.output_tokens) > 0.8


@pytest.mark.parametrize(("predictor", "needles"), [
    ({"kind": "oracel"}, ["allocators[0].predictor", "unknown predictor 'oracel'", "oracle"]),
    ({"kind": "noisy", "sigma": -1}, ["predictor.sigma", "greater than or equal to 0"]),
    ({"kind": "odma", "quantile": 1.5}, ["predictor.quantile", "less than 1"]),
])
def test_bad_predictor_config(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                              predictor: dict[str, Any], needles: list[str]) -> None:
    raw = toy_raw(allocators=[{"kind": "odma", "predictor": predictor}])
    cfg = tmp_path / "p.yaml"
    cfg.write_text(yaml.safe_dump(raw))
    assert main(["validate", str(cfg)]) == 2
    err = capsys.readouterr().err
    for n in needles:
        assert n in err, err

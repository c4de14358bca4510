"""Queueing sanity: single-server configurations against M/D/1 and M/G/1 theory, and
Little's law on every kind of run.

With ``max_batch: 1`` and one output token per request (the prefill produces it), a
replica is a FCFS single server whose service time is one prefill: on the toy device
S = 1.072 + 0.032 * prompt_tokens seconds. Poisson arrivals make it M/G/1, whose mean
wait is the Pollaczek-Khinchine formula W_q = lambda E[S^2] / (2 (1 - rho)).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from conftest import KV_S, WEIGHTS_S, toy
from odma_sim.experiment import run_experiment

SEEDS = [11, 12, 13, 14, 15]
N = 12_000


def mean_wait(prompt: dict[str, Any], rate: float, seed: int) -> float:
    res = run_experiment(toy(
        seed=seed,
        device={"memory": {"capacity_bytes": 1072 + 32 * 256}},
        engine={"max_batch": 1, "max_seq_len": 256},
        workload={"arrivals": {"kind": "poisson", "rate_rps": rate}, "prompt_tokens": prompt,
                  "output_tokens": {"kind": "fixed", "value_tokens": 1}, "num_requests": N},
        output={"timeline": False},
    ), progress=False)
    recs = res.records[0]
    assert (recs.status == "finished").all()
    return float(recs.queue_s.mean())


def test_md1_mean_wait() -> None:
    s = WEIGHTS_S + 100 * KV_S  # 4.272 s, deterministic
    rho = 0.7
    lam = rho / s
    theory = rho * s / (2 * (1 - rho))
    sims = [mean_wait({"kind": "fixed", "value_tokens": 100}, lam, seed) for seed in SEEDS]
    assert np.mean(sims) == pytest.approx(theory, rel=0.08)
    assert all(abs(w / theory - 1) < 0.25 for w in sims)


def test_mg1_mean_wait_pollaczek_khinchine() -> None:
    p = np.arange(1, 201)  # prompt tokens, uniform on 1..200
    s = WEIGHTS_S + p * KV_S
    es, es2 = s.mean(), (s**2).mean()
    rho = 0.7
    lam = rho / es
    theory = lam * es2 / (2 * (1 - rho))
    sims = [mean_wait({"kind": "uniform", "low_tokens": 1, "high_tokens": 200}, lam, seed)
            for seed in SEEDS]
    assert np.mean(sims) == pytest.approx(theory, rel=0.08)
    assert all(abs(w / theory - 1) < 0.25 for w in sims)


@pytest.mark.parametrize("case", [
    {"allocators": [{"kind": "static"}]},
    {"allocators": [{"kind": "paged", "block_tokens": 4}]},
    {"allocators": [{"kind": "paged", "block_tokens": 2, "preemption": "swap"}]},
    {"engine": {"replicas": 3, "router": "least_loaded"}},
])
def test_littles_law_holds(case: dict[str, Any]) -> None:
    """Time-average number in system (integrated by the recorder at every arrival and
    departure) equals throughput x mean time in system (from the request records)."""
    for seed in (1, 2, 3):
        over: dict[str, Any] = {
            "seed": seed,
            "device": {"memory": {"capacity_bytes": 1072 + 32 * 64}},
            "engine": {"max_batch": 4, "max_seq_len": 32},
            "workload": {
                "arrivals": {"kind": "gamma", "rate_rps": 0.6, "cv": 2.0},
                "prompt_tokens": {"kind": "uniform", "low_tokens": 1, "high_tokens": 16},
                "output_tokens": {"kind": "uniform", "low_tokens": 1, "high_tokens": 12},
                "num_requests": 400,
            },
        }
        for k, v in case.items():
            over[k] = {**over.get(k, {}), **v} if isinstance(v, dict) else v
        res = run_experiment(toy(**over), progress=False)
        recs, rec = res.records[0], res.runs[0].recorder
        assert (recs.status == "finished").all()
        horizon = float(recs.finish_s.max())
        time_avg_in_system = rec.in_system_s / horizon
        lam = len(recs) / horizon
        mean_sojourn = float((recs.finish_s - recs.arrival_s).mean())
        assert rec.in_system == 0
        assert time_avg_in_system == pytest.approx(lam * mean_sojourn, rel=1e-9)
        assert time_avg_in_system > 0.5  # a loaded system, not a trivial one

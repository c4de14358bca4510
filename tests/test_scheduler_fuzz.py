"""The scheduler driven directly with random requests, every allocator policy, and its
invariants checked after every iteration (after a harness written in review)."""

from __future__ import annotations

import itertools
import math
import random
from typing import Any

import pytest

from odma_sim.allocators.base import Allocator, AllocatorContext, allocators
from odma_sim.config.presets import load_preset
from odma_sim.engine.request import Request
from odma_sim.engine.scheduler import Scheduler
from odma_sim.engine.spec import EngineSpec
from odma_sim.hardware.cost import CostModel
from odma_sim.hardware.spec import DeviceSpec
from odma_sim.metrics.recorder import Recorder
from odma_sim.models.spec import ModelSpec


def cost_model() -> CostModel:
    d, _ = load_preset("hardware", "mlu370-x4", base_dir=None, source="t", key="d")
    m, _ = load_preset("models", "deepseek-r1-distill-qwen-7b", base_dir=None, source="t",
                       key="m")
    return CostModel(DeviceSpec.model_validate(d), ModelSpec.model_validate(m), 1)


COST = cost_model()
CASES: list[tuple[str, dict[str, Any]]] = [
    ("static", {}),
    ("paged", {"block_tokens": 4}),
    ("paged", {"block_tokens": 4, "preemption": "swap", "kv_layout": "per_head"}),
    ("odma", {"predictor": "oracle", "overflow": {"target": "next_bucket",
                                                  "on_full": "preempt"}}),
    ("odma", {"predictor": "oracle", "overflow": {"target": "next_bucket",
                                                  "on_full": "stall"}}),
    ("odma", {"predictor": "oracle", "overflow": {"target": "pool", "on_full": "stall"}}),
    ("odma", {"predictor": "oracle", "pool": None,
              "overflow": {"target": "pool", "on_full": "stall"}}),
    ("s3", {"predictor": "oracle"}),
]


def check(s: Scheduler, a: Allocator) -> None:
    rs = s.rs
    runs = sorted((st, st + n) for al in a.live.values() for st, n in al.extents)
    for (_, e0), (s1, _) in itertools.pairwise(runs):
        assert e0 <= s1, "extents overlap"
    assert a.reserved_tokens == sum(al.capacity_tokens for al in a.live.values())
    assert a.reserved_tokens <= a.capacity_tokens
    assert len(a.live) == rs.n
    for i in range(rs.n):
        assert rs.row_of[int(rs.seq[i])] == i
        if rs.stalled[i]:
            continue
        assert rs.allocs[i].capacity_tokens == rs.cap[i]
        saved = (float(rs.closed_oh[i]), int(rs.ext_start[i]), int(rs.ext_end[i]))
        s._reprice(i)  # the incremental pricing state equals a fresh computation
        fresh = (float(rs.closed_oh[i]), int(rs.ext_start[i]), int(rs.ext_end[i]))
        assert math.isclose(saved[0], fresh[0], rel_tol=1e-9, abs_tol=1e-15)
        assert saved[1:] == fresh[1:]


@pytest.mark.parametrize(("kind", "params"), CASES, ids=[f"{k}-{i}" for i, (k, _) in
                                                         enumerate(CASES)])
def test_random_workloads_keep_every_invariant(kind: str, params: dict[str, Any]) -> None:
    for seed in range(25):
        rng = random.Random(seed)
        max_seq = rng.choice([16, 32, 64])
        arena = rng.randint(max_seq, 4 * max_seq)
        cls = allocators.get(kind)
        a = cls(cls.Params.model_validate(params), AllocatorContext(arena, max_seq, max_seq))
        spec = EngineSpec(max_seq_len=max_seq, max_batch=rng.choice([2, 4, 64]),
                          token_budget=rng.choice([None, 40]))
        done: list[Request] = []
        s = Scheduler(0, a, COST, spec, Recorder(keep_timeline=False),
                      lambda r, t, out=done: out.append(r))
        reqs = []
        for i in range(rng.randint(1, 30)):
            p = rng.randint(1, max_seq // 2)
            o = rng.randint(1, max_seq - p)
            r = Request(i, 0.0, p, o)
            r.predicted_output_tokens = max(1, int(o * math.exp(rng.gauss(0, 0.5))))
            r.uncertainty = abs(rng.gauss(0, 1))
            reqs.append(r)
            s.submit(r)
        now, iterations = 0.0, 0
        while s.has_work():
            it = s.plan(now)
            check(s, a)
            iterations += 1
            assert iterations < 20_000, "no progress"
            if it is None:
                continue
            now += it.cost.duration_s
            s.commit(it, now)
        assert sorted(r.id for r in done) == list(range(len(reqs)))  # each exactly once
        for r in done:
            assert r.status == "finished" and r.generated == r.output_tokens
        assert a.reserved_tokens == 0 and not a.live


def test_a_stalled_request_is_not_starved() -> None:
    """A long request predicted short stalls at its slot's end; short requests keep
    arriving. Admission waits while it stalls, so it finishes early, not last."""
    cls = allocators.get("odma")
    params = cls.Params.model_validate({
        "predictor": "oracle", "pool": None, "boundaries": [8, 16, 32],
        "overflow": {"target": "pool", "on_full": "stall"}})
    a = cls(params, AllocatorContext(100, 64, 64))
    done: list[Request] = []
    s = Scheduler(0, a, COST, EngineSpec(max_seq_len=64, max_batch=64),
                  Recorder(keep_timeline=False), lambda r, t: done.append(r))
    rng = random.Random(1)
    long = Request(0, 0.0, 4, 50)
    long.predicted_output_tokens, long.uncertainty = 4, 0.0
    s.submit(long)
    for i in range(1, 600):
        r = Request(i, 0.0, 4, rng.randint(1, 8))
        r.predicted_output_tokens, r.uncertainty = 8, 0.0
        s.submit(r)
    now = 0.0
    while s.has_work():
        it = s.plan(now)
        if it is not None:
            now += it.cost.duration_s
            s.commit(it, now)
    assert long.stalls > 0
    assert [r.id for r in done].index(0) < 100

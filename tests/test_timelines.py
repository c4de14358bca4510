"""Tiny timelines worked out by hand on the toy device (see conftest.py).

Toy arithmetic: every iteration streams the weights (1.072 s) plus 0.032 s per KV token
read or written; compute and launches are free. A prefill of T tokens writes T tokens;
a decode step of a request with context c reads c tokens and writes 1.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from conftest import KV_S, WEIGHTS_S, toy
from odma_sim.experiment import run_experiment


def prefill(t: int) -> float:
    return WEIGHTS_S + t * KV_S


def decode(*contexts: int) -> float:
    return WEIGHTS_S + sum(contexts) * KV_S + len(contexts) * KV_S


def run(**overrides: Any) -> pd.DataFrame:
    res = run_experiment(toy(**overrides), progress=False)
    assert len(res.records) == 1
    return res.records[0].set_index("id")


def two_request_trace(tmp_path: Path) -> dict[str, Any]:
    path = tmp_path / "two.csv"
    path.write_text("t,p,o\n0,4,3\n0.5,2,2\n")
    return {
        "arrivals": {"kind": "trace"},
        "prompt_tokens": {"kind": "trace"},
        "output_tokens": {"kind": "trace"},
        "num_requests": None,
        "trace": {"path": str(path),
                  "columns": {"timestamp": "t", "input_tokens": "p", "output_tokens": "o"}},
    }


BIG_ARENA = {"memory": {"capacity_bytes": 1072 + 32 * 20}}  # 20 KV tokens: two static slots


def test_one_request() -> None:
    r = run().loc[0]
    assert prefill(4) == pytest.approx(1.2)
    assert r.first_token_s == pytest.approx(1.2)
    assert r.finish_s == pytest.approx(1.2 + decode(5) + decode(6))
    assert r.finish_s == pytest.approx(3.76)
    assert r.tpot_s == pytest.approx((3.76 - 1.2) / 2)
    assert r.final_kv_tokens == 4 + 3 - 1
    assert r.reserved_tokens == 8  # static: min(max_seq_len 8, 4 + 8)


def test_second_request_joins_the_running_batch(tmp_path: Path) -> None:
    recs = run(workload=two_request_trace(tmp_path), device=BIG_ARENA)
    a, b = recs.loc[0], recs.loc[1]
    # iteration 1 [0, 1.2]: A prefill; B arrives at 0.5 and waits for the next iteration
    # iteration 2: B prefill (2 tokens) + A decode (context 5)
    t2 = 1.2 + WEIGHTS_S + 2 * KV_S + 5 * KV_S + KV_S
    assert t2 == pytest.approx(2.528)
    # iteration 3: A decode (context 6) + B decode (context 3); both finish
    t3 = t2 + decode(6, 3)
    assert t3 == pytest.approx(3.952)
    assert a.first_token_s == pytest.approx(1.2)
    assert b.admit_s == pytest.approx(1.2)
    assert b.first_token_s == pytest.approx(t2)
    assert b.ttft_s == pytest.approx(t2 - 0.5)
    assert a.finish_s == pytest.approx(t3)
    assert b.finish_s == pytest.approx(t3)


@pytest.mark.parametrize("limit", ["max_batch", "static_capacity"])
def test_second_request_waits_when_the_replica_is_full(tmp_path: Path, limit: str) -> None:
    """With max_batch 1, or with static slots of 8 in a 10-token arena, B queues."""
    over: dict[str, Any] = {"workload": two_request_trace(tmp_path)}
    if limit == "max_batch":
        over["engine"] = {"max_batch": 1}
    recs = run(**over)
    a, b = recs.loc[0], recs.loc[1]
    assert a.finish_s == pytest.approx(3.76)
    assert b.admit_s == pytest.approx(3.76)
    assert b.queue_s == pytest.approx(3.26)
    assert b.first_token_s == pytest.approx(3.76 + prefill(2))
    assert b.finish_s == pytest.approx(3.76 + prefill(2) + decode(3))
    assert b.finish_s == pytest.approx(6.096)


def test_paged_fits_both_where_static_cannot(tmp_path: Path) -> None:
    """Blocks of 2 in the 10-token arena: A takes 2 then 3 blocks, B 1 then 2."""
    recs = run(workload=two_request_trace(tmp_path),
               allocators=[{"kind": "paged", "block_tokens": 2, "watermark": 0.0}])
    assert recs.loc[1].admit_s == pytest.approx(1.2)
    assert recs.loc[0].finish_s == pytest.approx(3.952)
    assert recs.loc[1].finish_s == pytest.approx(3.952)
    assert list(recs.reserved_tokens) == [6, 4]


MECHANISTIC = {"memory": {"random_access": {"mode": "mechanistic"}}}


@pytest.mark.parametrize(("allocator", "chunks_per_step"), [
    ({"kind": "static"}, 2),  # one extent -> K and V pieces of the single layer
    ({"kind": "paged", "block_tokens": 2, "watermark": 0.0}, 6),  # 3 blocks -> 6 pieces
])
def test_layout_changes_step_time(allocator: dict[str, Any], chunks_per_step: int) -> None:
    """Mechanistic mode on the toy: 1 channel, so each chunk costs one row switch,
    tRP + tRCD = 10 ms. Decode contexts 5 and 6 both span 3 blocks of 2 tokens."""
    r = run(device=MECHANISTIC, allocators=[allocator]).loc[0]
    assert r.finish_s == pytest.approx(3.76 + 2 * chunks_per_step * 0.010)


def test_paged_preemption_by_recompute() -> None:
    """Two requests P=4, O=4 in 5 blocks of 2. After the joint prefill each needs a third
    block; only one is free, so the newest (B) is preempted and recomputed after A ends."""
    recs = run(
        workload={"num_requests": 2, "output_tokens": {"kind": "fixed", "value_tokens": 4}},
        allocators=[{"kind": "paged", "block_tokens": 2, "watermark": 0.0}],
    )
    a, b = recs.loc[0], recs.loc[1]
    t1 = prefill(8)  # both prompts in one iteration
    t_a = t1 + decode(5) + decode(6) + decode(7)
    assert a.finish_s == pytest.approx(t_a)
    assert b.first_token_s == pytest.approx(t1)
    # B recomputes prompt + 1 generated token (5 tokens), then decodes contexts 6 and 7
    assert b.finish_s == pytest.approx(t_a + prefill(5) + decode(6) + decode(7))
    assert b.preemptions == 1 and b.recompute_tokens == 5
    assert b.overflows == 1 and a.preemptions == 0


def test_paged_preemption_by_swap() -> None:
    """As above, but B's 4 materialised KV tokens (128 B) go to the host at 1000 B/s and
    come back before B rejoins the decode batch: 0.128 s each way."""
    recs = run(
        workload={"num_requests": 2, "output_tokens": {"kind": "fixed", "value_tokens": 4}},
        allocators=[{"kind": "paged", "block_tokens": 2, "watermark": 0.0,
                     "preemption": "swap"}],
    )
    a, b = recs.loc[0], recs.loc[1]
    t1 = prefill(8)
    t_a = t1 + (decode(5) + 0.128) + decode(6) + decode(7)
    assert a.finish_s == pytest.approx(t_a)
    assert b.finish_s == pytest.approx(t_a + (decode(5) + 0.128) + decode(6) + decode(7))
    assert b.swapped_bytes == 256 and b.recompute_tokens == 0


def test_request_that_can_never_fit_is_dropped_with_a_reason() -> None:
    """max_new_tokens 6 with prompt 4 -> static slot of 8 fits; a watermark that keeps
    every block free makes paged unable to ever admit it."""
    recs = run(allocators=[{"kind": "paged", "block_tokens": 2, "watermark": 0.9}])
    r = recs.loc[0]
    assert r.status == "dropped" and r.drop_reason == "does_not_fit"


def test_round_robin_replicas_run_in_parallel() -> None:
    recs = run(workload={"num_requests": 2}, engine={"replicas": 2, "max_batch": 1})
    assert list(recs.replica) == [0, 1]
    assert list(recs.finish_s) == pytest.approx([3.76, 3.76])


def test_least_loaded_router_prefers_the_idle_replica(tmp_path: Path) -> None:
    recs = run(workload=two_request_trace(tmp_path),
               engine={"replicas": 2, "router": "least_loaded"})
    assert list(recs.replica) == [0, 1]
    assert recs.loc[1].first_token_s == pytest.approx(0.5 + prefill(2))


@pytest.mark.parametrize(("budget", "admit_s"), [(3, 1.2), (2, 3.76)])
def test_token_budget_defers_a_prefill(tmp_path: Path, budget: int, admit_s: float) -> None:
    """A's decode uses 1 token of the budget. With 3, B's 2-token prefill fits at 1.2;
    with 2 it waits until A has finished (3.76) and B runs alone."""
    recs = run(workload=two_request_trace(tmp_path), engine={"token_budget": budget},
               device=BIG_ARENA)
    assert recs.loc[1].admit_s == pytest.approx(admit_s)


def test_truncation_to_max_seq_len_is_counted() -> None:
    res = run_experiment(toy(workload={"output_tokens": {"kind": "fixed", "value_tokens": 9}}),
                         progress=False)
    r = res.records[0].loc[0]
    assert r.output_tokens == 4 and bool(r.truncated)  # 4 + 4 = max_seq_len 8
    assert res.summaries[0]["truncated"] == 1


def test_rejection_instead_of_truncation() -> None:
    res = run_experiment(toy(workload={"output_tokens": {"kind": "fixed", "value_tokens": 9},
                                       "over_length": "reject"}), progress=False)
    s = res.summaries[0]
    assert s["rejected"] == 1 and s["completed"] == 0


def test_duration_without_drain_reports_unfinished_requests() -> None:
    """Stop at 2.0 s: the single request is mid-decode and is reported, not lost."""
    res = run_experiment(toy(workload={"num_requests": 1, "duration_s": 2.0},
                             engine={"drain": False}), progress=False)
    r = res.records[0].loc[0]
    assert r.status == "dropped" and r.drop_reason == "unfinished"
    assert r.first_token_s == pytest.approx(1.2) and r.finish_s == pytest.approx(2.0)
    assert res.summaries[0]["dropped"] == 1 and res.summaries[0]["completed"] == 0


def test_tensor_parallel_step_by_hand() -> None:
    """TP 2 needs 2 heads: with 2 heads of 4 and 1 KV head, attention has 8x8 + 2x8x4
    + 8x8 = 192 weights (64 fewer than the toy), so 472 parameters = 944 B, split over
    2 devices (0.472 s each); the single KV head replicates (16 B per token per
    device); each layer adds 2 ring all-reduces of tokens x 8 x 2 B over 1 GB/s."""
    model = {"heads": 2, "kv_heads": 1, "head_dim": 4}
    r = run(model=model, engine={"tensor_parallel": 2}).loc[0]
    half = 0.944 / 2

    def ar(tokens: int) -> float:
        return 2 * 1 * (2 * 1 / 2 * tokens * 8 * 2 / 1e9)

    kv = 2 * 1 * 1 * 4 * 2 / 1000  # 16 B per token per device at 1000 B/s
    t = (half + 4 * kv + ar(4)) + (half + 6 * kv + ar(1)) + (half + 7 * kv + ar(1))
    assert r.finish_s == pytest.approx(t)

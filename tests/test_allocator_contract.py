"""The allocator contract, checked on every registered allocator with random operation
sequences (hypothesis). A new allocator that registers itself is tested here as-is."""

from __future__ import annotations

import itertools
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from odma_sim.allocators import Allocation, Allocator, AllocatorContext, Demand, allocators
from odma_sim.allocators.arena import Arena

ARENA = 600
MAX_SEQ = 128

# Default parameters of every registered allocator, plus variants worth stressing.
VARIANTS: list[tuple[str, dict[str, Any]]] = [(name, {}) for name in allocators.names()] + [
    ("static", {"fit": "best_fit"}),
    ("static", {"reserve": "max_seq_len"}),
    ("paged", {"block_tokens": 1}),
    ("paged", {"block_tokens": 7, "kv_layout": "per_head", "watermark": 0.1}),
]


def make(kind: str, params: dict[str, Any]) -> Allocator:
    cls = allocators.get(kind)
    ctx = AllocatorContext(arena_tokens=ARENA, max_seq_len=MAX_SEQ, max_new_tokens=64)
    return cls(cls.Params.model_validate(params), ctx)


ops = st.lists(
    st.one_of(
        st.tuples(st.just("admit"), st.integers(1, 64), st.integers(0, 40)),
        st.tuples(st.just("grow"), st.integers(0, 10_000), st.integers(1, 40)),
        st.tuples(st.just("free"), st.integers(0, 10_000), st.just(0)),
    ),
    max_size=80,
)


def check_invariants(a: Allocator, live: dict[int, Allocation]) -> None:
    assert 0 <= a.used_tokens <= a.reserved_tokens <= a.capacity_tokens <= ARENA
    assert a.reserved_tokens == sum(x.capacity_tokens for x in live.values())
    assert a.used_tokens == sum(x.used_tokens for x in live.values())
    runs = sorted(run for x in live.values() for run in x.extents)
    for (s0, n0), (s1, _) in itertools.pairwise(runs):
        assert s0 + n0 <= s1, "extents overlap"
    for s, n in runs:
        assert n > 0 and s >= 0 and s + n <= ARENA
    for x in live.values():
        assert x.used_tokens <= x.capacity_tokens == sum(n for _, n in x.extents)
        used = a.extents(x)
        assert sum(n for _, n in used) == x.used_tokens
        assert [s for s, _ in used] == [s for s, _ in x.extents[: len(used)]]
        if a.kind == "paged":
            block = a.params.block_tokens  # type: ignore[attr-defined]
            assert len(used) == -(-x.used_tokens // block)
        if a.kind == "static":
            assert len(x.extents) == 1


@pytest.mark.parametrize(("kind", "params"), VARIANTS, ids=[f"{k}{p}" for k, p in VARIANTS])
@settings(max_examples=120, deadline=None)
@given(seq=ops)
def test_invariants_under_random_operations(kind: str, params: dict[str, Any], seq: list[
        tuple[str, int, int]]) -> None:
    a = make(kind, params)
    live: dict[int, Allocation] = {}
    next_id = 0
    for op, x, y in seq:
        if op == "admit":
            need = min(MAX_SEQ, x + y)
            got = a.admit(Demand(next_id, min(x, need), need))
            if got is not None:
                assert got.capacity_tokens >= need and got.used_tokens == need
                live[next_id] = got
            next_id += 1
        elif live:
            rid = sorted(live)[x % len(live)]
            alloc = live[rid]
            if op == "grow":
                need = min(MAX_SEQ, alloc.used_tokens + y)
                res = a.grow(alloc, need)
                if res.ok:
                    assert alloc.capacity_tokens >= need and alloc.used_tokens == need
            else:
                a.free(live.pop(rid))
        check_invariants(a, live)
    for rid in list(live):
        a.free(live.pop(rid))
    check_invariants(a, live)
    assert a.reserved_tokens == 0 and a.used_tokens == 0
    # freed memory is reusable: the arena takes a full request again, repeatedly
    again = [a.admit(Demand(10_000 + i, MAX_SEQ // 2, MAX_SEQ)) for i in range(3)]
    assert all(x is not None for x in again)


def test_static_fragmentation_is_real() -> None:
    """Free every other slot: plenty of memory is free, none of it in a long enough run."""
    a = make("static", {})
    slots = [a.admit(Demand(i, 8, 8)) for i in range(9)]  # 9 x (8 + 64) = 648 > 600
    assert slots[-1] is None
    got = [s for s in slots if s is not None]
    for s in got[::2]:
        a.free(s)
    free = a.capacity_tokens - a.reserved_tokens
    assert free >= 72 * 4
    assert a.admit(Demand(99, 8, 8)) is not None  # a 72-slot hole fits a 72-slot request
    assert a.unusable_free_tokens(144) == a.capacity_tokens - a.reserved_tokens


@pytest.mark.parametrize(("fit", "expect"), [("first_fit", 0), ("best_fit", 30)])
def test_arena_first_fit_vs_best_fit(fit: str, expect: int) -> None:
    ar = Arena(100, fit)  # type: ignore[arg-type]
    assert [ar.alloc(n) for n in (20, 10, 15, 10)] == [0, 20, 30, 45]
    ar.free(0, 20)
    ar.free(30, 15)
    assert ar.free_runs() == [(0, 20), (30, 15), (55, 45)]
    # first fit: the lowest hole that fits; best fit: the smallest hole that fits
    assert ar.alloc(12) == expect


def test_arena_coalesces_neighbours() -> None:
    ar = Arena(30)
    a, b, c = ar.alloc(10), ar.alloc(10), ar.alloc(10)
    assert (a, b, c) == (0, 10, 20) and ar.alloc(1) is None
    ar.free(0, 10)
    ar.free(20, 10)
    assert ar.largest_free_run() == 10
    ar.free(10, 10)
    assert ar.free_runs() == [(0, 30)]


def test_paged_blocks_scatter_after_churn() -> None:
    """vLLM's FIFO free queue: once every block has been used, freed blocks come back in
    the order they were freed, so a new request's blocks are not adjacent."""
    a = make("paged", {"block_tokens": 10, "watermark": 0.0})
    first = [a.admit(Demand(i, 10, 10)) for i in range(60)]
    assert all(x is not None for x in first) and a.admit(Demand(60, 1, 1)) is None
    for x in first[::2]:
        assert x is not None
        a.free(x)
    big = a.admit(Demand(99, 30, 30))
    assert big is not None
    assert [s for s, _ in big.extents] == [0, 20, 40]

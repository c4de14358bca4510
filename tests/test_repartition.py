"""The repartition planner: the dynamic program against brute force, and the quantile
split never beating it."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from odma_sim.repartition.planner import (
    JointHistogram,
    Planner,
    boundaries_to_ends,
    dp_boundaries,
    ends_to_boundaries,
    quantile_ends,
    range_costs,
    waste_of,
)


def brute_force(cost: np.ndarray, k: int) -> tuple[list[int], float]:
    m = cost.shape[0]
    best: tuple[list[int], float] = ([], np.inf)
    for cut in itertools.combinations(range(m - 1), min(k, m) - 1):
        ends = [*cut, m - 1]
        w = waste_of(ends, cost)
        if w < best[1]:
            best = (ends, w)
    return best


def random_hist(seed: int, bins: int, n: int, noise: float) -> JointHistogram:
    rng = np.random.default_rng(seed)
    h = JointHistogram(max_tokens=bins * 16, bins=bins)
    true = np.clip(np.rint(np.exp(rng.normal(np.log(bins * 3), 0.9, n))), 1, bins * 16)
    pred = np.clip(np.rint(true * np.exp(rng.normal(0, noise, n))), 1, bins * 16)
    h.add(pred, true)
    return h


@pytest.mark.parametrize("overflow", ["max", "next"])
@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10_000), bins=st.integers(2, 9), k=st.integers(1, 5),
       noise=st.sampled_from([0.0, 0.3, 1.0]))
def test_dp_equals_brute_force(overflow: str, seed: int, bins: int, k: int,
                               noise: float) -> None:
    h = random_hist(seed, bins, 300, noise)
    cost = range_costs(h, penalty_tokens=17.0, overflow=overflow)
    ends, waste = dp_boundaries(cost, k)
    _, bf_waste = brute_force(cost, k)
    assert waste == pytest.approx(bf_waste)
    assert waste_of(ends, cost) == pytest.approx(waste)
    assert ends[-1] == bins - 1 and len(ends) == min(k, bins)


@pytest.mark.parametrize("overflow", ["max", "next"])
@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10_000), k=st.integers(1, 10), noise=st.sampled_from([0.0, 0.5]))
def test_dp_never_worse_than_quantile_split(overflow: str, seed: int, k: int,
                                            noise: float) -> None:
    h = random_hist(seed, 48, 2000, noise)
    cost = range_costs(h, overflow=overflow)
    _, dp = dp_boundaries(cost, k)
    q = quantile_ends(h, k)
    assert len(q) <= k
    assert dp <= waste_of(q, cost) + 1e-6


def test_range_cost_by_hand() -> None:
    """Two bins of 10 tokens (T = 20). Requests (pred, true): (5, 4), (5, 15), (15, 12).
    One bucket over both bins (bound 20): waste 16 + 5 + 8 = 29.
    Bucket 'bin 0' (bound 10): under 'max' it holds the two predicted at 5: (10-4) +
    (20-15+3 penalty) = 14; under 'next' it holds only (5, 4): 6, plus the penalty 3
    for the overflowing (5, 15) whose max bin is 1."""
    h = JointHistogram(20, 2)
    h.add([5, 5, 15], [4, 15, 12])
    cmax = range_costs(h, 3.0, "max")
    cnext = range_costs(h, 3.0, "next")
    assert cmax[0, 1] == pytest.approx(29) and cnext[0, 1] == pytest.approx(29)
    assert cmax[0, 0] == pytest.approx(14)
    assert cnext[0, 0] == pytest.approx(6 + 3)
    assert cnext[1, 1] == pytest.approx((20 - 15) + (20 - 12))
    assert cmax[1, 1] == pytest.approx(20 - 12)


def test_perfect_predictor_gives_the_classic_partition() -> None:
    """Three clusters of lengths and three buckets: one boundary at each cluster top."""
    h = JointHistogram(300, 30)
    lengths = [20] * 50 + [110] * 30 + [280] * 10
    h.add(lengths, lengths)
    bounds, waste = Planner(3, overflow="next").best(h)
    assert bounds == [20, 110, 300]
    assert waste == pytest.approx(10 * 20)


def test_hysteresis_keeps_good_enough_boundaries() -> None:
    h = JointHistogram(300, 30)
    lengths = [20] * 50 + [110] * 30 + [280] * 10
    h.add(lengths, lengths)
    near = [30, 110, 300]  # waste 50 x 10 + 10 x 20 = 700; the optimum wastes 200
    assert Planner(3, hysteresis=0.9, overflow="next").plan(h, near).applied is False
    plan = Planner(3, hysteresis=0.05, overflow="next").plan(h, near)
    assert plan.applied and plan.boundaries == [20, 110, 300]
    assert Planner(3, min_samples=1000, overflow="next").plan(h, near).applied is False


def test_decay_and_bin_mapping() -> None:
    h = JointHistogram(64, 4)
    assert h.edges.tolist() == [0, 16, 32, 48, 64]
    assert h.bin_of([1, 16, 17, 64, 999]).tolist() == [0, 0, 1, 3, 3]
    h.add([5], [5])
    h.decay(0.5)
    assert h.mass == pytest.approx(0.5)
    assert ends_to_boundaries(h, [0, 3]) == [16, 64]
    assert boundaries_to_ends(h, [16, 64]) == [0, 3]

"""Choosing bucket boundaries: a decayed joint histogram and an exact 1-D dynamic program.

Buckets are upper bounds b_1 < ... < b_K = T on output tokens; a request predicted at
L_hat is given the smallest b_k >= L_hat. Its waste is what it holds at the end but
does not use. When its true length L fits, that is b_k - L. When it does not (an
overflow), it depends on where overflows go:
- ``max``: into a max-size slot (the safety pool): T - L;
- ``next``: into the next buckets until one fits: b_j - L for the bucket j holding L.
Each overflow also costs ``penalty`` tokens (a copy, or a recompute). Boundaries lie on
the edges of M histogram bins. Under ``max`` a bucket's waste depends only on the
requests *predicted* into it; under ``next`` only on those whose max(predicted, true)
falls in it. Either way the total is a sum over contiguous bin ranges, and the best K
ranges follow from a dynamic program in O(K M^2) after a table of range costs
(O(M^3) arithmetic, vectorised; M = 64 by default). With a perfect predictor both
reduce to the classic optimal 1-D partition of the length histogram.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


class JointHistogram:
    """Exponentially decayed counts of (predicted bin, true bin), with sums of true
    lengths, over M equal-width bins of (0, T] output tokens."""

    def __init__(self, max_tokens: int, bins: int) -> None:
        if bins < 1 or max_tokens < bins:
            raise ValueError("need 1 <= bins <= max_tokens")
        self.max_tokens = max_tokens
        self.edges = np.unique(np.rint(np.linspace(0, max_tokens, bins + 1)).astype(np.int64))
        self.m = len(self.edges) - 1
        self.count = np.zeros((self.m, self.m))
        self.sum = np.zeros((self.m, self.m))
        self.total_added = 0

    def bin_of(self, tokens: npt.ArrayLike) -> IntArray:
        t = np.clip(np.asarray(tokens, dtype=np.int64), 1, self.max_tokens)
        return np.searchsorted(self.edges, t, side="left").astype(np.int64) - 1

    def add(self, predicted: npt.ArrayLike, true: npt.ArrayLike) -> None:
        p, t = self.bin_of(predicted), self.bin_of(true)
        true_len = np.clip(np.asarray(true, dtype=np.float64), 1, self.max_tokens)
        np.add.at(self.count, (p, t), 1.0)
        np.add.at(self.sum, (p, t), true_len)
        self.total_added += len(p)

    def decay(self, factor: float) -> None:
        self.count *= factor
        self.sum *= factor

    @property
    def mass(self) -> float:
        return float(self.count.sum())


def range_costs(hist: JointHistogram, penalty_tokens: float = 0.0,
                overflow: str = "max") -> FloatArray:
    """cost[a, c]: waste of one bucket covering bins a..c with bound b = edges[c+1].

    ``max``: the requests predicted in a..c; those whose true bin j <= c fit (b - L),
    the others overflow (T - L + penalty). ``next``: the requests whose max(predicted
    bin, true bin) is in a..c, each wasting b - L, plus the penalty for those predicted
    in a..c whose true bin is beyond c. Entries with a > c are +inf."""
    m, t = hist.m, float(hist.max_tokens)
    pc = np.vstack([np.zeros(m), np.cumsum(hist.count, axis=0)])  # prefix over predicted
    ps = np.vstack([np.zeros(m), np.cumsum(hist.sum, axis=0)])
    cost = np.full((m, m), np.inf)
    if overflow == "next":
        i, j = np.indices((m, m))
        z = np.maximum(i, j)
        nz = np.bincount(z.ravel(), hist.count.ravel(), minlength=m)
        sz = np.bincount(z.ravel(), hist.sum.ravel(), minlength=m)
        cnz, csz = np.r_[0.0, np.cumsum(nz)], np.r_[0.0, np.cumsum(sz)]
    for c in range(m):
        n = pc[c + 1] - pc[: c + 1]  # rows a = 0..c: counts of predicted bins a..c
        b = float(hist.edges[c + 1])
        over_n = n[:, c + 1:].sum(axis=1)
        if overflow == "next":
            a = np.arange(c + 1)
            cost[: c + 1, c] = (b * (cnz[c + 1] - cnz[a]) - (csz[c + 1] - csz[a])
                                + penalty_tokens * over_n)
            continue
        s = ps[c + 1] - ps[: c + 1]
        fit_n, fit_s = n[:, : c + 1].sum(axis=1), s[:, : c + 1].sum(axis=1)
        over_s = s[:, c + 1:].sum(axis=1)
        cost[: c + 1, c] = b * fit_n - fit_s + (t + penalty_tokens) * over_n - over_s
    return cost


def dp_boundaries(cost: FloatArray, k: int) -> tuple[list[int], float]:
    """The K contiguous ranges covering bins 0..M-1 with the least total cost.

    Returns the last bin index of each range (ascending, the final one is M-1) and the
    total. With fewer than K bins every bin is its own range."""
    m = cost.shape[0]
    k = min(k, m)
    best = np.full((k + 1, m + 1), np.inf)  # best[j, e]: j ranges covering bins 0..e-1
    arg = np.zeros((k + 1, m + 1), dtype=np.int64)
    best[0, 0] = 0.0
    for j in range(1, k + 1):
        for e in range(j, m + 1):  # the j-th range is bins a..e-1
            a = np.arange(j - 1, e)
            cand = best[j - 1, a] + cost[a, e - 1]
            i = int(np.argmin(cand))
            best[j, e], arg[j, e] = cand[i], a[i]
    ends, e = [], m
    for j in range(k, 0, -1):
        ends.append(e - 1)
        e = int(arg[j, e])
    return sorted(ends), float(best[k, m])


def waste_of(ends: list[int], cost: FloatArray) -> float:
    """Total cost of the ranges ending at ``ends`` (ascending, last = M-1)."""
    total, a = 0.0, 0
    for c in ends:
        total += float(cost[a, c])
        a = c + 1
    return total


def quantile_ends(hist: JointHistogram, k: int) -> list[int]:
    """Cheap alternative: split the predicted-length mass at its k-quantiles."""
    mass = hist.count.sum(axis=1)
    cum = np.cumsum(mass)
    if cum[-1] <= 0:
        return sorted({int(x) for x in np.linspace(0, hist.m, k + 1)[1:] - 1})
    ends = {int(np.searchsorted(cum, cum[-1] * q / k, side="left")) for q in range(1, k)}
    ends.add(hist.m - 1)
    return sorted(min(e, hist.m - 1) for e in ends)


def ends_to_boundaries(hist: JointHistogram, ends: list[int]) -> list[int]:
    return [int(hist.edges[c + 1]) for c in ends]


def boundaries_to_ends(hist: JointHistogram, boundaries: list[int]) -> list[int]:
    """Bin indices whose upper edge is the smallest edge >= each boundary."""
    idx = np.searchsorted(hist.edges, np.asarray(boundaries), side="left") - 1
    return sorted({int(min(max(i, 0), hist.m - 1)) for i in idx} | {hist.m - 1})


@dataclass(frozen=True)
class Plan:
    """One repartition decision."""

    boundaries: list[int]
    expected_waste: float
    current_waste: float
    applied: bool
    samples: float


class Planner:
    """Chooses K boundaries from a histogram, with hysteresis against churn."""

    def __init__(self, k: int, method: str = "dp", hysteresis: float = 0.05,
                 penalty_tokens: float = 0.0, min_samples: float = 1.0,
                 overflow: str = "max") -> None:
        if method not in ("dp", "quantile"):
            raise ValueError(f"unknown repartition method {method!r}")
        if overflow not in ("max", "next"):
            raise ValueError(f"unknown overflow model {overflow!r}")
        self.k, self.method, self.overflow = k, method, overflow
        self.hysteresis, self.penalty_tokens = hysteresis, penalty_tokens
        self.min_samples = min_samples

    def best(self, hist: JointHistogram, cost: FloatArray | None = None) -> tuple[
            list[int], float]:
        if cost is None:
            cost = range_costs(hist, self.penalty_tokens, self.overflow)
        if self.method == "dp":
            ends, waste = dp_boundaries(cost, self.k)
        else:
            ends = quantile_ends(hist, self.k)
            waste = waste_of(ends, cost)
        return ends_to_boundaries(hist, ends), waste

    def plan(self, hist: JointHistogram, current: list[int]) -> Plan:
        """New boundaries if they cut expected waste by more than ``hysteresis`` of the
        current boundaries' waste on the same histogram; otherwise keep the current."""
        cost = range_costs(hist, self.penalty_tokens, self.overflow)
        now = waste_of(boundaries_to_ends(hist, current), cost)
        if hist.mass < self.min_samples:
            return Plan(current, now, now, False, hist.mass)
        new, waste = self.best(hist, cost)
        apply = new != current and now - waste > self.hysteresis * max(now, 1e-12)
        return Plan(new if apply else current, waste, now, apply, hist.mass)

"""ODMA: predicted-length buckets carved contiguously, a safety pool, and overflow
migration (arXiv 2512.09427), plus the baselines and ablations that are its settings."""

from __future__ import annotations

import bisect
import itertools
import math
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
from pydantic import Field, field_validator, model_validator

from odma_sim.allocators.arena import Arena, Fit
from odma_sim.allocators.base import (
    Allocation,
    AllocatorContext,
    BucketedAllocator,
    Demand,
    GrowResult,
    allocators,
)
from odma_sim.predictors import PredictorParams, validate_predictor
from odma_sim.repartition.planner import JointHistogram, Planner
from odma_sim.strict import NonNegFloat, NonNegInt, PositiveFloat, PositiveInt, StrictModel

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]


class PoolSpec(StrictModel):
    """The safety pool: a region at the top of the arena for large-bucket slots."""

    fraction: float = Field(0.15, gt=0.0, lt=1.0, description="share of the KV arena")


class OverflowSpec(StrictModel):
    """What happens when a request outgrows its slot.

    ``target``: ``pool`` migrates it into a max-size slot of the safety pool (the main
    arena if the pool is full); ``next_bucket`` into the smallest larger bucket's slot
    (the pool when none is free); ``preempt`` gives up the slot and re-admits the
    request later one bucket larger (S3). ``on_full``: when no slot can be had, the
    request is preempted (recomputed later) or stalls until one frees."""

    target: Literal["pool", "next_bucket", "preempt"] = Field(
        "next_bucket", description="where an overflowing request goes")
    on_full: Literal["preempt", "stall"] = Field(
        "preempt", description="when no larger slot is free")


class PlannerSpec(StrictModel):
    """How boundaries are chosen, offline from the history and online alike."""

    method: Literal["dp", "quantile"] = Field("dp", description="exact DP or quantile split")
    bins: PositiveInt = Field(64, description="histogram bins over [0, max output]")
    overflow_penalty_tokens: NonNegFloat | None = Field(
        None, description="cost charged per overflow, in tokens (null: half the largest "
        "output length; an assumed weight for migrations, transient double slots and the "
        "recomputes that follow when no larger slot is free)")


class RepartitionSpec(StrictModel):
    """Online re-learning of bucket boundaries from completed requests."""

    period_s: PositiveFloat = Field(30.0, description="seconds between re-plans")
    half_life_s: PositiveFloat | None = Field(
        120.0, description="histogram decay half-life (null: no decay)")
    hysteresis: NonNegFloat = Field(
        0.05, description="apply only if expected waste falls by this share")
    min_samples: PositiveFloat = Field(50.0, description="no re-plan on less (decayed) mass")


class OdmaParams(StrictModel):
    predictor: Any = Field("odma", validate_default=True,
                           description="predictor kind or mapping with 'kind'")
    buckets: PositiveInt = Field(8, description="number of buckets K")
    init: Literal["history", "equal_width"] = Field(
        "history", description="initial boundaries: planned on the history's predictions, "
        "or equal widths")
    boundaries: list[PositiveInt] | None = Field(
        None, description="explicit initial boundaries (output tokens, ascending)")
    margin_tokens: NonNegInt = Field(0, description="added to every slot")
    uncertainty_threshold: NonNegFloat | None = Field(
        1.0, description="route requests whose uncertainty exceeds this to the large "
        "bucket (odma predictor: std of ln length; null: no routing)")
    route_share: float | None = Field(
        None, gt=0.0, lt=1.0, description="instead, route this share of the history, "
        "the most uncertain (sets the threshold from the history's uncertainties)")
    pool: PoolSpec | None = Field(PoolSpec(), description="safety pool (null: none)")
    overflow: OverflowSpec = OverflowSpec()
    planner: PlannerSpec = PlannerSpec()
    repartition: RepartitionSpec | None = Field(
        RepartitionSpec(), description="online boundaries (null: fixed)")
    fit: Fit = Field("first_fit", description="free-run choice in both regions")

    @field_validator("predictor", mode="before")
    @classmethod
    def _predictor(cls, v: Any) -> PredictorParams:
        return validate_predictor(v)

    @model_validator(mode="after")
    def _bounds(self) -> OdmaParams:
        b = self.boundaries
        if b is not None and any(y <= x for x, y in itertools.pairwise(b)):
            raise ValueError("boundaries must increase")
        return self


class OdmaAllocator(BucketedAllocator):
    """Buckets over the predicted output length; one contiguous slot per request.

    - A request predicted at L_hat with uncertainty u gets a slot of
      min(max_seq_len, prompt + b_k + margin) for the smallest boundary b_k >= L_hat,
      carved from the main region (first- or best-fit). If u exceeds the threshold, or
      L_hat exceeds b_{K-1}, it takes the large bucket b_K = max output, in the safety
      pool while the pool has room.
    - A request that reaches the end of its slot overflows: it migrates (the engine
      charges a contiguous copy of its KV) or is preempted, per ``overflow``.
    - Boundaries change only for new admissions; live slots keep their size until they
      are freed (lazy re-carving), so slots of old and new sizes share the arena and
      external fragmentation is real.
    """

    kind = "odma"
    Params = OdmaParams

    def __init__(self, params: StrictModel, ctx: AllocatorContext) -> None:
        super().__init__(params, ctx)
        assert isinstance(params, OdmaParams)
        self.p = params
        self.predictor_spec: PredictorParams | None = params.predictor
        self.repartition_spec = params.repartition
        self.max_out = ctx.max_new_tokens
        pool_tokens = 0
        if params.pool is not None:
            pool_tokens = max(ctx.max_seq_len, int(params.pool.fraction * ctx.arena_tokens))
            pool_tokens = min(pool_tokens, ctx.arena_tokens - ctx.max_seq_len)
        self.main = Arena(ctx.arena_tokens - pool_tokens, params.fit)
        self.pool = Arena(pool_tokens, params.fit) if pool_tokens > 0 else None
        self.pool_base = ctx.arena_tokens - pool_tokens
        self.boundaries: list[int] = self.equal_width(params.buckets)
        if params.boundaries is not None:
            self.set_boundaries(params.boundaries)
        self.threshold = params.uncertainty_threshold
        self._floor: dict[int, int] = {}  # request -> smallest bucket after an overflow
        if params.overflow.target == "preempt" or params.overflow.on_full == "preempt":
            self.on_grow_failure = "preempt_self"
        else:
            self.on_grow_failure = "stall"

    # ------------------------------------------------------------------ buckets
    def equal_width(self, k: int) -> list[int]:
        """Edges (i + 1) w, w = ceil(max / k): the same edges as S3's classifier, whose
        prediction is a bucket's upper edge."""
        width = math.ceil(self.max_out / k)
        return sorted({min(self.max_out, width * (i + 1)) for i in range(k)})

    def set_boundaries(self, boundaries: list[int]) -> None:
        """New upper bounds for new admissions; the last is forced to max output."""
        b = sorted({min(int(x), self.max_out) for x in boundaries if x > 0})
        if not b or b[-1] != self.max_out:
            b.append(self.max_out)
        self.boundaries = b

    def learn_from_history(self, predicted: IntArray, uncertainty: FloatArray,
                           true: IntArray) -> float | None:
        """Offline set-up from the history split's predictions: the initial boundaries
        (``init``) and the routing threshold (``route_share``). Returns the planner's
        expected waste in tokens, or None when boundaries are not learned."""
        p = self.p
        if p.route_share is not None and len(uncertainty):
            self.threshold = float(np.quantile(uncertainty, 1.0 - p.route_share))
        if p.boundaries is not None or p.init == "equal_width":
            return None
        hist = self.histogram()
        hist.add(predicted, true)
        bounds, waste = self.planner().best(hist)
        self.set_boundaries(bounds)
        return waste

    def histogram(self) -> JointHistogram:
        return JointHistogram(self.max_out, min(self.p.planner.bins, self.max_out))

    def planner(self, hysteresis: float = 0.0, min_samples: float = 1.0) -> Planner:
        """A planner whose waste model matches where this allocator sends overflows."""
        model = "max" if self.p.overflow.target == "pool" else "next"
        pl = self.p.planner
        penalty = pl.overflow_penalty_tokens
        if penalty is None:
            penalty = self.max_out / 2
        return Planner(self.p.buckets, pl.method, hysteresis, penalty, min_samples, model)

    def bucket_bounds(self, k: int) -> tuple[int, int]:
        return (0 if k == 0 else self.boundaries[k - 1]), self.boundaries[k]

    def _bucket_for(self, demand: Demand) -> int:
        top = len(self.boundaries) - 1
        if demand.predicted_output_tokens is None:
            return top
        u = demand.uncertainty or 0.0
        thr = self.threshold
        if thr is not None and u > thr:
            return top
        k = bisect.bisect_left(self.boundaries, demand.predicted_output_tokens)
        return min(max(k, self._floor.get(demand.request_id, 0)), top)

    def _slot(self, prompt: int, k: int, needed: int) -> int:
        size = min(self.ctx.max_seq_len, prompt + self.boundaries[k] + self.p.margin_tokens)
        return max(size, needed)

    # ------------------------------------------------------------------ placement
    def _place(self, size: int, large: bool) -> tuple[int, bool] | None:
        """(start slot, in pool) for a run of ``size``; large slots prefer the pool."""
        if large and self.pool is not None:
            s = self.pool.alloc(size)
            if s is not None:
                return self.pool_base + s, True
        s = self.main.alloc(size)
        return None if s is None else (s, False)

    def _release(self, start: int, size: int, in_pool: bool) -> None:
        if in_pool:
            assert self.pool is not None
            self.pool.free(start - self.pool_base, size)
        else:
            self.main.free(start, size)

    # ------------------------------------------------------------------ contract
    def admit(self, demand: Demand) -> Allocation | None:
        k = self._bucket_for(demand)
        size = self._slot(demand.prompt_tokens, k, demand.needed_tokens)
        top = k == len(self.boundaries) - 1
        placed = self._place(size, large=top)
        if placed is None:
            return None
        start, in_pool = placed
        alloc = Allocation(demand.request_id, [(start, size)], demand.needed_tokens)
        alloc.bucket, alloc.pool = k, in_pool
        alloc.bucket_bounds = self.bucket_bounds(k)
        alloc.tag = demand.prompt_tokens
        return self._track(alloc)

    def grow(self, alloc: Allocation, needed_tokens: int) -> GrowResult:
        if needed_tokens <= alloc.capacity_tokens:
            self.sync(alloc, needed_tokens)
            return GrowResult(ok=True)
        top = len(self.boundaries) - 1
        bucket = alloc.bucket if alloc.bucket is not None else top
        if self.p.overflow.target == "preempt":
            self._floor[alloc.request_id] = min(bucket + 1, top)
            return GrowResult(ok=False)
        prompt = alloc.tag if isinstance(alloc.tag, int) else 0
        placed = None
        want = top
        if self.p.overflow.target == "next_bucket":
            k = want = min(max(bisect.bisect_left(self.boundaries, needed_tokens - prompt),
                               bucket + 1), top)
            size = self._slot(prompt, k, needed_tokens)
            placed = self._place(size, large=k == top)
        if placed is None:
            k = top
            size = self._slot(prompt, top, needed_tokens)
            placed = self._place(size, large=True)
        if placed is None:
            # whatever happens next (preemption, or a stall that ends in one), the
            # request comes back no smaller than the bucket it failed to get
            self._floor[alloc.request_id] = want
            return GrowResult(ok=False)
        (old_start, old_size), = alloc.extents
        self._release(old_start, old_size, bool(alloc.pool))
        start, in_pool = placed
        self.reserved_tokens += size - old_size
        alloc.extents = [(start, size)]
        alloc.capacity_tokens = size
        alloc.bucket, alloc.pool = k, in_pool
        moved = needed_tokens - 1  # the KV that exists: all positions but the new one
        self.sync(alloc, needed_tokens)
        return GrowResult(ok=True, moved_tokens=moved)

    def free(self, alloc: Allocation) -> None:
        self._untrack(alloc)
        (start, size), = alloc.extents
        self._release(start, size, bool(alloc.pool))
        # _floor survives a free: a preempted request is re-admitted one bucket larger

    def reservation_tokens(self, demand: Demand) -> int:
        return self._slot(demand.prompt_tokens, self._bucket_for(demand), demand.needed_tokens)

    def unusable_free_tokens(self, need_tokens: int) -> int:
        n = self.main.free_tokens_in_runs_shorter_than(need_tokens)
        if self.pool is not None:
            n += self.pool.free_tokens_in_runs_shorter_than(need_tokens)
        return n


# ---------------------------------------------------------------------- variants
# Each is the same allocator with other defaults, registered under its own name.

allocators.register("odma")(OdmaAllocator)


class OdmaStaticParams(OdmaParams):
    repartition: RepartitionSpec | None = Field(None, description="fixed boundaries")


@allocators.register("odma-static")
class OdmaStaticAllocator(OdmaAllocator):
    """Ablation: boundaries learned offline from history, never re-learned."""

    kind = "odma-static"
    Params = OdmaStaticParams


class OdmaNoPoolParams(OdmaParams):
    pool: PoolSpec | None = Field(None, description="no safety pool")


@allocators.register("odma-nopool")
class OdmaNoPoolAllocator(OdmaAllocator):
    """Ablation: no safety pool; large and overflowing requests share the main region."""

    kind = "odma-nopool"
    Params = OdmaNoPoolParams


class OdmaNoRouteParams(OdmaParams):
    uncertainty_threshold: NonNegFloat | None = Field(None, description="no routing")


@allocators.register("odma-noroute")
class OdmaNoRouteAllocator(OdmaAllocator):
    """Ablation: no uncertainty routing; every request goes by its estimate."""

    kind = "odma-noroute"
    Params = OdmaNoRouteParams


class OracleBucketsParams(OdmaParams):
    predictor: Any = Field("oracle", validate_default=True, description="the true length")


@allocators.register("oracle-buckets")
class OracleBucketsAllocator(OdmaAllocator):
    """Upper bound: ODMA with a perfect predictor."""

    kind = "oracle-buckets"
    Params = OracleBucketsParams


class S3AllocParams(OdmaParams):
    predictor: Any = Field("s3", validate_default=True, description="S3's bucket classifier")
    buckets: PositiveInt = Field(10, description="S3's equal-width buckets")
    init: Literal["history", "equal_width"] = "equal_width"
    uncertainty_threshold: NonNegFloat | None = Field(None, description="no routing")
    pool: PoolSpec | None = None
    overflow: OverflowSpec = OverflowSpec(target="preempt")
    repartition: RepartitionSpec | None = None


@allocators.register("s3")
class S3Allocator(OdmaAllocator):
    """S3 (Jin et al., 2023): equal-width buckets from a classifier, no repartition, no
    safety pool; on a misprediction the request is preempted and re-admitted with the
    next bucket."""

    kind = "s3"
    Params = S3AllocParams

"""The allocator contract: admit, grow, free and extents over a KV arena, plus the registry."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

from odma_sim.hardware.cost import KVLayout
from odma_sim.registry import Registry
from odma_sim.repartition.planner import JointHistogram, Planner
from odma_sim.strict import StrictModel

PreemptionMode = Literal["recompute", "swap"]
# What the engine does when ``grow`` fails: preempt the newest running request (vLLM),
# preempt the request that overflowed, or let it sit out iterations until room frees.
GrowFailure = Literal["preempt_newest", "preempt_self", "stall"]


@dataclass(frozen=True, slots=True)
class Demand:
    """What an allocator may know about a request. Never its true output length."""

    request_id: int
    prompt_tokens: int
    needed_tokens: int
    predicted_output_tokens: int | None = None
    uncertainty: float | None = None


class Allocation:
    """Where one request's KV cache lives.

    ``extents`` are (start_slot, length_slots) runs of the arena in token order: token
    position p of the request sits in the run that covers p in that order. Only the
    first ``used_tokens`` positions hold KV; the rest is reserved.
    """

    __slots__ = ("bucket", "bucket_bounds", "capacity_tokens", "extents", "pool", "request_id",
                 "tag", "used_tokens")

    def __init__(self, request_id: int, extents: list[tuple[int, int]], used_tokens: int) -> None:
        self.request_id = request_id
        self.extents = extents
        self.capacity_tokens = sum(n for _, n in extents)
        self.used_tokens = used_tokens
        self.tag: object = None  # free for the allocator's own bookkeeping
        # Bucketed allocators say which bucket (and bounds, output tokens) and region.
        self.bucket: int | None = None
        self.bucket_bounds: tuple[int, int] | None = None
        self.pool = False

    def used_extents(self) -> list[tuple[int, int]]:
        """The prefix of ``extents`` that holds the first ``used_tokens`` positions."""
        out: list[tuple[int, int]] = []
        left = self.used_tokens
        for start, n in self.extents:
            if left <= 0:
                break
            take = min(n, left)
            out.append((start, take))
            left -= take
        return out

    def __repr__(self) -> str:
        return (
            f"Allocation(request={self.request_id}, used={self.used_tokens}, "
            f"capacity={self.capacity_tokens}, extents={len(self.extents)})"
        )


@dataclass(frozen=True, slots=True)
class GrowResult:
    """Outcome of :meth:`Allocator.grow`.

    ``ok`` False means the allocator could not make room (an overflow); the engine then
    applies the allocator's preemption mode. ``moved_tokens`` > 0 means the request's
    KV was moved to new extents (a migration) and the engine charges the copy.
    """

    ok: bool
    moved_tokens: int = 0


@dataclass(frozen=True)
class AllocatorContext:
    """What every allocator is told at construction."""

    arena_tokens: int
    max_seq_len: int
    max_new_tokens: int


class Allocator(ABC):
    """Base class of KV-cache allocators: pure objects, no SimPy inside.

    Subclasses declare ``kind`` (their registry name) and ``Params`` (a pydantic model of
    their config keys) and register with ``@allocators.register(kind)``. The engine
    calls ``grow`` only when a request needs more slots than its allocation's
    ``capacity_tokens``, so allocators learn used lengths lazily; ``used_tokens`` is
    exact after each admit/grow/free and after :meth:`sync`.
    """

    kind: ClassVar[str]
    Params: ClassVar[type[StrictModel]]
    kv_layout: KVLayout = "per_block"
    preemption: PreemptionMode = "recompute"
    on_grow_failure: GrowFailure = "preempt_newest"
    # Bucketed allocators that want length predictions and online boundaries set these.
    predictor_spec: Any = None
    repartition_spec: Any = None

    def __init__(self, params: StrictModel, ctx: AllocatorContext) -> None:
        self.params = params
        self.ctx = ctx
        self.reserved_tokens = 0
        self.used_tokens = 0
        self.live: dict[int, Allocation] = {}

    @property
    def capacity_tokens(self) -> int:
        return self.ctx.arena_tokens

    # ------------------------------------------------------------------ contract
    @abstractmethod
    def admit(self, demand: Demand) -> Allocation | None:
        """Reserve room for ``demand.needed_tokens`` (or more); None if it cannot."""

    @abstractmethod
    def grow(self, alloc: Allocation, needed_tokens: int) -> GrowResult:
        """Make ``alloc`` hold at least ``needed_tokens`` positions."""

    @abstractmethod
    def free(self, alloc: Allocation) -> None:
        """Release everything ``alloc`` holds."""

    def extents(self, alloc: Allocation) -> list[tuple[int, int]]:
        """The physical runs the used KV lives in: what the device model prices."""
        return alloc.used_extents()

    def sync(self, alloc: Allocation, used_tokens: int) -> None:
        """Tell the allocator the current used length without asking for room."""
        assert used_tokens <= alloc.capacity_tokens
        self.used_tokens += used_tokens - alloc.used_tokens
        alloc.used_tokens = used_tokens

    # ------------------------------------------------------------------ helpers
    def _track(self, alloc: Allocation) -> Allocation:
        self.live[alloc.request_id] = alloc
        self.reserved_tokens += alloc.capacity_tokens
        self.used_tokens += alloc.used_tokens
        return alloc

    def _untrack(self, alloc: Allocation) -> None:
        del self.live[alloc.request_id]
        self.reserved_tokens -= alloc.capacity_tokens
        self.used_tokens -= alloc.used_tokens

    def learn_from_history(self, predicted: Any, uncertainty: Any, true: Any) -> float | None:
        """Bucketed allocators set themselves up from the history split's predictions
        (arrays of predicted length, uncertainty, true length); default: nothing."""
        return None

    def set_boundaries(self, boundaries: list[int]) -> None:
        """Bucketed allocators take new bucket boundaries here (default: no buckets)."""
        return None

    def reservation_tokens(self, demand: Demand) -> int:
        """Slots an admission of ``demand`` would reserve (for fragmentation accounting)."""
        return demand.needed_tokens

    def unusable_free_tokens(self, need_tokens: int) -> int:
        """Free slots that an admission reserving ``need_tokens`` could not use because
        they lie in runs that are too short: external fragmentation. Allocators that can
        scatter a request over any free slots have none."""
        return 0

class BucketedAllocator(Allocator):
    """An allocator whose slots follow bucket boundaries that a planner chooses; the
    simulation runs the repartitioner for those with a ``repartition_spec``."""

    boundaries: list[int]

    @abstractmethod
    def histogram(self) -> JointHistogram:
        """An empty histogram in the shape this allocator's planner reads."""

    @abstractmethod
    def planner(self, hysteresis: float = 0.0, min_samples: float = 1.0) -> Planner:
        """A planner consistent with how this allocator handles overflows."""


allocators: Registry[type[Allocator]] = Registry("allocator")

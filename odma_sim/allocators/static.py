"""Static allocator: one contiguous worst-case slot per request, reserved up front."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from odma_sim.allocators.arena import Arena, Fit
from odma_sim.allocators.base import (
    Allocation,
    Allocator,
    AllocatorContext,
    Demand,
    GrowResult,
    allocators,
)
from odma_sim.strict import StrictModel


class StaticParams(StrictModel):
    fit: Fit = Field("first_fit", description="free-run choice: first_fit or best_fit")
    reserve: Literal["prompt_plus_max_new", "max_seq_len"] = Field(
        "prompt_plus_max_new",
        description="slot size: min(max_seq_len, prompt + max_new_tokens), or max_seq_len",
    )


@allocators.register("static")
class StaticAllocator(Allocator):
    """Reserves the worst case contiguously, so it never overflows and always streams.

    The slot is min(engine.max_seq_len, prompt + engine.max_new_tokens) token slots
    (or engine.max_seq_len with ``reserve: max_seq_len``), the pre-vLLM practice of
    FasterTransformer-style servers. The KV cache is one extent.
    """

    kind = "static"
    Params = StaticParams

    def __init__(self, params: StrictModel, ctx: AllocatorContext) -> None:
        super().__init__(params, ctx)
        assert isinstance(params, StaticParams)
        self.p = params
        self.arena = Arena(ctx.arena_tokens, params.fit)

    def slot_tokens(self, demand: Demand) -> int:
        if self.p.reserve == "max_seq_len":
            size = self.ctx.max_seq_len
        else:
            size = min(self.ctx.max_seq_len, demand.prompt_tokens + self.ctx.max_new_tokens)
        return max(size, demand.needed_tokens)

    def admit(self, demand: Demand) -> Allocation | None:
        size = self.slot_tokens(demand)
        start = self.arena.alloc(size)
        if start is None:
            return None
        return self._track(Allocation(demand.request_id, [(start, size)], demand.needed_tokens))

    def grow(self, alloc: Allocation, needed_tokens: int) -> GrowResult:
        if needed_tokens > alloc.capacity_tokens:
            return GrowResult(ok=False)
        self.sync(alloc, needed_tokens)
        return GrowResult(ok=True)

    def free(self, alloc: Allocation) -> None:
        self._untrack(alloc)
        (start, size), = alloc.extents
        self.arena.free(start, size)

    def reservation_tokens(self, demand: Demand) -> int:
        return self.slot_tokens(demand)

    def unusable_free_tokens(self, need_tokens: int) -> int:
        return self.arena.free_tokens_in_runs_shorter_than(need_tokens)

"""Paged allocator (vLLM PagedAttention): fixed-size blocks anywhere in the arena."""

from __future__ import annotations

from collections import deque
from typing import Literal

from pydantic import Field

from odma_sim.allocators.base import (
    Allocation,
    Allocator,
    AllocatorContext,
    Demand,
    GrowResult,
    allocators,
)
from odma_sim.strict import PositiveInt, StrictModel


class PagedParams(StrictModel):
    block_tokens: PositiveInt = Field(16, description="token slots per block")
    kv_layout: Literal["per_block", "per_head"] = Field(
        "per_block", description="per_block: heads together in a block; per_head: one piece each"
    )
    watermark: float = Field(
        0.01, ge=0.0, lt=1.0, description="share of blocks an admission must leave free"
    )
    preemption: Literal["recompute", "swap"] = Field(
        "recompute", description="what happens to the newest request when a block cannot be had"
    )


@allocators.register("paged")
class PagedAllocator(Allocator):
    """Blocks of ``block_tokens`` slots handed out from a FIFO free queue.

    As in vLLM's free-block queue, freed blocks go to the tail and allocations take from
    the head, so after some churn a request's blocks are scattered over the arena. The
    attention kernel gathers one block at a time through the block table, so every
    block is its own extent whether or not it happens to sit next to the previous one.
    Admission needs the prompt's blocks and leaves ``watermark`` of all blocks free;
    growth takes one block at a time with no watermark. When growth fails the engine
    preempts the most recently admitted request (``preemption``: recompute or swap).
    """

    kind = "paged"
    Params = PagedParams

    def __init__(self, params: StrictModel, ctx: AllocatorContext) -> None:
        super().__init__(params, ctx)
        assert isinstance(params, PagedParams)
        self.block = params.block_tokens
        self.kv_layout = params.kv_layout
        self.preemption = params.preemption
        self.n_blocks = ctx.arena_tokens // self.block
        self.watermark_blocks = int(params.watermark * self.n_blocks)
        self._free: deque[int] = deque(range(self.n_blocks))

    @property
    def capacity_tokens(self) -> int:
        return self.n_blocks * self.block

    @property
    def free_blocks(self) -> int:
        return len(self._free)

    def _blocks_for(self, tokens: int) -> int:
        return -(-tokens // self.block)

    def admit(self, demand: Demand) -> Allocation | None:
        need = self._blocks_for(demand.needed_tokens)
        if len(self._free) - need < self.watermark_blocks:
            return None
        take = [self._free.popleft() for _ in range(need)]
        return self._track(
            Allocation(demand.request_id, [(b * self.block, self.block) for b in take],
                       demand.needed_tokens)
        )

    def reservation_tokens(self, demand: Demand) -> int:
        return (self._blocks_for(demand.needed_tokens) + self.watermark_blocks) * self.block

    def grow(self, alloc: Allocation, needed_tokens: int) -> GrowResult:
        extra = self._blocks_for(needed_tokens) - len(alloc.extents)
        if extra > len(self._free):
            return GrowResult(ok=False)
        for _ in range(max(0, extra)):
            b = self._free.popleft()
            alloc.extents.append((b * self.block, self.block))
        added = max(0, extra) * self.block
        alloc.capacity_tokens += added
        self.reserved_tokens += added
        self.sync(alloc, needed_tokens)
        return GrowResult(ok=True)

    def free(self, alloc: Allocation) -> None:
        self._untrack(alloc)
        self._free.extend(start // self.block for start, _ in alloc.extents)

"""KV-cache allocators. Importing this package registers every built-in allocator."""

from odma_sim.allocators import odma, paged, static
from odma_sim.allocators.base import (
    Allocation,
    Allocator,
    AllocatorContext,
    Demand,
    GrowResult,
    allocators,
)

__all__ = [
    "Allocation",
    "Allocator",
    "AllocatorContext",
    "Demand",
    "GrowResult",
    "allocators",
    "odma",
    "paged",
    "static",
]

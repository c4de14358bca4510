"""A request's identity, true lengths and lifecycle, as the engine sees it."""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(slots=True, eq=False)
class Request:
    """One request. ``output_tokens`` is the true length: only the engine reads it.

    Allocators see a :class:`~odma_sim.allocators.base.Demand` instead, so they cannot
    peek at the answer.
    """

    id: int
    arrival_s: float
    prompt_tokens: int
    output_tokens: int
    task: int = -1
    text: str | None = None
    truncated: bool = False
    replica: int = -1
    admit_s: float = math.nan
    first_token_s: float = math.nan
    finish_s: float = math.nan
    generated: int = 0
    reserved_tokens: int = 0
    final_kv_tokens: int = 0
    preemptions: int = 0
    overflows: int = 0
    migrations: int = 0
    migrated_bytes: float = 0.0
    recompute_tokens: int = 0
    swapped_bytes: float = 0.0
    swapped: bool = False
    predicted_output_tokens: int | None = None
    uncertainty: float | None = None
    predicted_s: float = math.nan
    bucket: int | None = None
    bucket_lo_tokens: int | None = None
    bucket_hi_tokens: int | None = None
    pool_admission: bool = False
    stalls: int = 0
    status: str = "pending"
    drop_reason: str = ""

"""The `odma-sim device` report: a device's random-access curve and reference steps."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from odma_sim.hardware.cost import CostModel
from odma_sim.hardware.racm import alpha
from odma_sim.hardware.spec import DeviceSpec
from odma_sim.models.spec import ModelSpec

CHUNK_SIZES = [1 << k for k in range(6, 21)]  # 64 B .. 1 MiB


def racm_curve(device: DeviceSpec, model: ModelSpec) -> pd.DataFrame:
    """alpha and effective bandwidth of contiguous chunks from 64 B to 1 MiB."""
    cost = CostModel(device, model)
    size = np.array(CHUNK_SIZES, dtype=np.float64)
    a = alpha(cost.access, size)
    stream = device.memory.eta_seq * device.memory.peak_bandwidth_bytes_per_s
    return pd.DataFrame({
        "chunk_bytes": np.array(CHUNK_SIZES, dtype=np.int64),
        "alpha": a,
        "effective_gb_per_s": a * stream / 1e9,
    })


@dataclass(frozen=True)
class ReferenceStep:
    label: str
    chunk_bytes: int
    duration_s: float
    alpha: float


def reference_steps(device: DeviceSpec, model: ModelSpec, batch: int, context: int,
                    block_tokens: int = 16) -> list[ReferenceStep]:
    """One decode step of ``batch`` requests of ``context`` tokens, three KV layouts."""
    cost = CostModel(device, model)
    out = []
    blocks = -(-context // block_tokens)
    last = context - (blocks - 1) * block_tokens
    cases = [
        ("contiguous (static / ODMA)", "per_block", np.full(batch, context)),
        (f"paged {block_tokens}-token blocks, heads together", "per_block",
         np.tile(np.r_[np.full(blocks - 1, block_tokens), last], batch)),
        (f"paged {block_tokens}-token blocks, one piece per head", "per_head",
         np.tile(np.r_[np.full(blocks - 1, block_tokens), last], batch)),
    ]
    for label, layout, extents in cases:
        geom = cost.geometry(layout)  # type: ignore[arg-type]
        oh = float(cost.extent_overhead_s(extents, geom).sum())
        step = cost.step(decode_batch=batch, decode_context_tokens=batch * context,
                         kv_overhead_s=oh)
        a = step.kv_stream_s / (step.kv_stream_s + oh) if step.kv_stream_s else 1.0
        chunk = int(extents[0]) * geom.piece_bytes_per_token
        out.append(ReferenceStep(label, chunk, step.duration_s, a))
    return out

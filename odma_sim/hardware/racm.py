"""The random-access model: how long reading a set of memory chunks takes (DESIGN.md).

A read of chunks of sizes S_i costs a streaming part, sum(S_i) / (eta_seq * BW), plus a
per-chunk overhead. This module computes the overhead; everything else in the
simulator prices memory through it, so a better model (for example one calibrated
against a cycle-accurate DRAM simulator) replaces one class.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np
import numpy.typing as npt

from odma_sim.hardware.spec import MemorySpec

FloatArray = npt.NDArray[np.float64]


class AccessModel(Protocol):
    """Per-chunk extra time beyond streaming, for an array of chunk sizes in bytes."""

    stream_s_per_byte: float

    def overhead_s(self, chunk_bytes: npt.ArrayLike) -> FloatArray: ...


class MechanisticAccess:
    """Row-switch model from DRAM timing.

    A contiguous chunk of S bytes is interleaved over channels in g-byte pieces and
    touches n(S) = min(N_ch, ceil(S / g)) channels. Streaming hides row switches inside
    a chunk, but each chunk exposes one switch t_sw = tRP + tRCD on every channel it
    touches, overlapped P_eff ways; channels work in parallel, hence the 1 / N_ch:

        overhead(S) = n(S) * t_sw / (P_eff * N_ch)
    """

    def __init__(self, mem: MemorySpec) -> None:
        self.stream_s_per_byte = 1.0 / (mem.eta_seq * mem.peak_bandwidth_bytes_per_s)
        self.channels = mem.channels
        self.interleave_bytes = mem.interleave_bytes
        self.switch_s = mem.t_sw_s / (mem.p_eff * mem.channels)

    def overhead_s(self, chunk_bytes: npt.ArrayLike) -> FloatArray:
        size = np.asarray(chunk_bytes, dtype=np.float64)
        touched = np.minimum(self.channels, np.ceil(size / self.interleave_bytes))
        return touched * self.switch_s


class EmpiricalAccess:
    """A given alpha, measured at one chunk size: chunks of ``alpha_chunk_bytes`` read at
    ``alpha`` times the streaming rate.

    Every chunk pays the same fixed latency, the one that makes that happen:
    overhead = S_ref / (eta_seq * BW) * (1 / alpha - 1). Smaller chunks fare worse,
    larger ones better, and a long contiguous region streams: alpha(S) =
    S / (S + S_ref (1 / alpha - 1)), the shape of the mechanistic model once a chunk
    spans every channel.
    """

    def __init__(self, mem: MemorySpec) -> None:
        ra = mem.random_access
        assert ra.alpha is not None  # enforced by RandomAccessSpec
        self.stream_s_per_byte = 1.0 / (mem.eta_seq * mem.peak_bandwidth_bytes_per_s)
        self.chunk_overhead_s = (
            ra.alpha_chunk_bytes * self.stream_s_per_byte * (1.0 / ra.alpha - 1.0)
        )

    def overhead_s(self, chunk_bytes: npt.ArrayLike) -> FloatArray:
        size = np.asarray(chunk_bytes, dtype=np.float64)
        return np.where(size > 0, self.chunk_overhead_s, 0.0)


def access_model(mem: MemorySpec) -> AccessModel:
    if mem.random_access.mode == "empirical":
        return EmpiricalAccess(mem)
    return MechanisticAccess(mem)


def alpha(model: AccessModel, chunk_bytes: npt.ArrayLike) -> FloatArray:
    """Effective bandwidth of chunks of this size as a share of streaming bandwidth."""
    size = np.asarray(chunk_bytes, dtype=np.float64)
    stream = size * model.stream_s_per_byte
    total = stream + model.overhead_s(size)
    return np.divide(stream, total, out=np.ones_like(stream), where=total > 0)

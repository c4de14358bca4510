"""Step-time model: roofline of compute and memory, with KV reads priced by their extents."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt

from odma_sim.hardware.racm import AccessModel, FloatArray, access_model
from odma_sim.hardware.spec import DeviceSpec
from odma_sim.models.spec import ModelSpec

KVLayout = Literal["per_block", "per_head"]


@dataclass(frozen=True)
class KVGeometry:
    """How one extent of n token slots in the arena maps to physical chunks on a device.

    The KV cache is a pair of tensors (K and V) per layer, each indexed by the same token
    slot, as in vLLM. So an extent of n slots is ``pieces`` chunks:
    - ``per_block``: all local KV heads of a token together; 2 * layers chunks of
      n * kv_heads_local * head_dim * dtype bytes;
    - ``per_head``: one chunk per head; 2 * layers * kv_heads_local chunks of
      n * head_dim * dtype bytes.
    """

    layout: KVLayout
    pieces: int
    piece_bytes_per_token: int


@dataclass(frozen=True)
class StepCost:
    """The parts of one iteration's duration, in seconds."""

    duration_s: float
    compute_s: float
    memory_s: float
    kv_stream_s: float
    kv_overhead_s: float
    comm_s: float
    launch_s: float
    copy_s: float


class CostModel:
    """Prices iterations and copies for one replica (``tensor_parallel`` devices)."""

    def __init__(self, device: DeviceSpec, model: ModelSpec, tensor_parallel: int = 1) -> None:
        if model.heads % tensor_parallel:
            raise ValueError(
                f"tensor_parallel {tensor_parallel} must divide the model's heads ({model.heads})"
            )
        self.device = device
        self.model = model
        self.tp = tensor_parallel
        self.access: AccessModel = access_model(device.memory)
        # KV heads are split over devices; with more devices than KV heads they replicate.
        self.kv_heads_local = max(1, math.ceil(model.kv_heads / tensor_parallel))
        self.kv_bytes_per_token = (
            2 * model.layers * self.kv_heads_local * model.head_dim * model.dtype_bytes
        )
        self.weight_bytes = model.weight_bytes / tensor_parallel
        self.stream_s_per_byte = self.access.stream_s_per_byte
        c = device.compute
        self._prefill_s_per_flop = 1.0 / (c.eta_prefill * c.peak_tflops * 1e12 * tensor_parallel)
        self._decode_s_per_flop = 1.0 / (c.eta_decode * c.peak_tflops * 1e12 * tensor_parallel)
        self.launch_s = c.kernel_launch_s * c.kernels_per_layer * model.layers
        self._attn = float(model.layers * model.heads * model.head_dim)
        self._params = float(model.params)
        self._weights_stream_s = self.weight_bytes * self.stream_s_per_byte
        link = device.interconnect
        self._link_s_per_byte = 1.0 / (link.device_link_gb_per_s * 1e9)
        self._host_s_per_byte = 1.0 / (link.host_link_gb_per_s * 1e9)
        self._link_latency_s = link.link_latency_s

    # ----------------------------------------------------------------- capacity
    @property
    def usable_bytes(self) -> float:
        mem = self.device.memory
        return mem.capacity_bytes * mem.usable_fraction

    @property
    def kv_capacity_tokens(self) -> int:
        """Token slots that fit on each device after the weights (0 when they do not fit)."""
        free = self.usable_bytes - self.weight_bytes
        return max(0, int(free // self.kv_bytes_per_token))

    # ----------------------------------------------------------------- KV pricing
    def geometry(self, layout: KVLayout) -> KVGeometry:
        m = self.model
        if layout == "per_head":
            pieces = 2 * m.layers * self.kv_heads_local
            return KVGeometry(layout, pieces, m.head_dim * m.dtype_bytes)
        return KVGeometry(
            layout, 2 * m.layers, self.kv_heads_local * m.head_dim * m.dtype_bytes
        )

    def extent_overhead_s(self, n_tokens: npt.ArrayLike, geom: KVGeometry) -> FloatArray:
        """Extra read time (beyond streaming) of extents holding ``n_tokens`` used slots."""
        chunk = np.asarray(n_tokens, dtype=np.float64) * geom.piece_bytes_per_token
        return geom.pieces * self.access.overhead_s(chunk)

    # ----------------------------------------------------------------- steps
    def step(
        self,
        *,
        prefill_tokens: int = 0,
        prefill_tokens_sq: float = 0.0,
        decode_batch: int = 0,
        decode_context_tokens: int = 0,
        kv_overhead_s: float = 0.0,
        copy_s: float = 0.0,
    ) -> StepCost:
        """One iteration: prefills of sum ``prefill_tokens`` (sum of squares
        ``prefill_tokens_sq``) and one decode token for ``decode_batch`` requests whose
        contexts sum to ``decode_context_tokens``.

        FLOPs = 2 N (B + sum T) + 4 L H d sum(ctx) + 2 L H d sum(T^2), divided over TP;
        t_mem = weights + KV read + KV written at streaming speed, plus the extents'
        overhead; t = max(t_compute, t_mem) + launches + all-reduces + bulk copies.
        """
        compute_s = (
            2.0 * self._params * prefill_tokens + 2.0 * self._attn * prefill_tokens_sq
        ) * self._prefill_s_per_flop + (
            2.0 * self._params * decode_batch + 4.0 * self._attn * decode_context_tokens
        ) * self._decode_s_per_flop
        kv_stream_s = decode_context_tokens * self.kv_bytes_per_token * self.stream_s_per_byte
        write_s = (prefill_tokens + decode_batch) * self.kv_bytes_per_token * self.stream_s_per_byte
        memory_s = self._weights_stream_s + kv_stream_s + write_s + kv_overhead_s
        comm_s = self.allreduce_s(prefill_tokens + decode_batch)
        duration = max(compute_s, memory_s) + self.launch_s + comm_s + copy_s
        return StepCost(
            duration_s=duration,
            compute_s=compute_s,
            memory_s=memory_s,
            kv_stream_s=kv_stream_s,
            kv_overhead_s=kv_overhead_s,
            comm_s=comm_s,
            launch_s=self.launch_s,
            copy_s=copy_s,
        )

    def allreduce_s(self, tokens: int) -> float:
        """Two ring all-reduces per layer of the activations of ``tokens`` tokens."""
        if self.tp == 1 or tokens == 0:
            return 0.0
        nbytes = tokens * self.model.hidden * self.model.dtype_bytes
        t = self.tp
        one = 2.0 * (t - 1) / t * nbytes * self._link_s_per_byte + 2.0 * (t - 1) * (
            self._link_latency_s
        )
        return 2.0 * self.model.layers * one

    # ----------------------------------------------------------------- copies
    def device_copy_s(self, nbytes: float) -> float:
        """A contiguous device-local copy: read and write at the streaming rate."""
        return 2.0 * nbytes * self.stream_s_per_byte

    def host_transfer_s(self, nbytes: float) -> float:
        """Moving KV bytes to or from host memory over the host link (swap)."""
        return nbytes * self._host_s_per_byte + self._link_latency_s

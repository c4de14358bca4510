"""Device description as validated data: compute, memory (with DRAM timing) and links."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from odma_sim.strict import (
    Fraction,
    NonNegFloat,
    NonNegInt,
    PositiveFloat,
    PositiveInt,
    StrictModel,
)


class ComputeSpec(StrictModel):
    """Peak arithmetic rate and the efficiencies that turn it into achieved time."""

    peak_tflops: PositiveFloat = Field(description="dense FP16 peak, 10^12 FLOP/s")
    eta_prefill: Fraction = Field(0.5, description="achieved/peak FLOP/s in prefill")
    eta_decode: Fraction = Field(0.4, description="achieved/peak FLOP/s in decode")
    kernel_launch_s: NonNegFloat = Field(5e-6, description="warm launch cost per kernel")
    kernels_per_layer: NonNegInt = Field(12, description="kernels launched per layer per step")


class RandomAccessSpec(StrictModel):
    """How small scattered reads lose bandwidth (DESIGN.md, 'the random-access model').

    - ``mechanistic``: alpha(S) follows from the DRAM timing of the memory section;
    - ``empirical``: a chunk of ``alpha_chunk_bytes`` is read at ``alpha`` times the
      streaming rate; every chunk pays that chunk's fixed overhead, so longer
      contiguous reads approach streaming.
    """

    mode: Literal["mechanistic", "empirical"] = Field(
        "mechanistic", description="alpha from DRAM timing, or a given alpha"
    )
    alpha: Fraction | None = Field(None, description="empirical B_rand/B_seq")
    alpha_chunk_bytes: PositiveInt = Field(
        16384, description="empirical mode: the chunk size alpha was measured at (default: "
        "a 16-token block of 4 KV heads x 128 x 2 B)"
    )

    @model_validator(mode="after")
    def _alpha_needed(self) -> RandomAccessSpec:
        if self.mode == "empirical" and self.alpha is None:
            raise ValueError("random_access.mode 'empirical' needs 'alpha' (a number in (0, 1])")
        return self


class MemorySpec(StrictModel):
    """Device memory: capacity, channels, streaming efficiency and DRAM timing."""

    technology: str = Field(description="free text, e.g. LPDDR5-6400")
    capacity_bytes: PositiveInt = Field(description="device memory, bytes")
    usable_fraction: Fraction = Field(0.9, description="share of capacity the runtime may use")
    channels: PositiveInt = Field(description="independent channels (pseudo-channels for HBM)")
    channel_gb_per_s: PositiveFloat = Field(description="peak per channel, 10^9 B/s")
    eta_seq: Fraction = Field(0.85, description="achieved/peak bandwidth when streaming")
    interleave_bytes: PositiveInt = Field(256, description="channel interleave granularity g")
    trp_ns: PositiveFloat = Field(description="row precharge time")
    trcd_ns: PositiveFloat = Field(description="row-to-column delay")
    p_eff: PositiveFloat = Field(
        1.0, description="row switches overlapped by memory-level parallelism"
    )
    random_access: RandomAccessSpec = RandomAccessSpec()

    @property
    def peak_bandwidth_bytes_per_s(self) -> float:
        return self.channels * self.channel_gb_per_s * 1e9

    @property
    def t_sw_s(self) -> float:
        """Exposed row-switch time per extent per channel: tRP + tRCD."""
        return (self.trp_ns + self.trcd_ns) * 1e-9


class InterconnectSpec(StrictModel):
    """Links between devices (tensor parallel all-reduce) and to the host (swap)."""

    device_link_gb_per_s: PositiveFloat = Field(description="per direction, 10^9 B/s")
    host_link_gb_per_s: PositiveFloat = Field(description="per direction, 10^9 B/s")
    link_latency_s: NonNegFloat = Field(5e-6, description="per hop of a collective")


class DeviceSpec(StrictModel):
    """One accelerator. Presets live in configs/hardware/<name>.yaml."""

    name: str = Field(description="device name in tables and files")
    description: str = Field("", description="free text")
    compute: ComputeSpec
    memory: MemorySpec
    interconnect: InterconnectSpec

"""Model architecture as data; parameter count, weight bytes and KV bytes are derived from it."""

from __future__ import annotations

from pydantic import Field, model_validator

from odma_sim.strict import PositiveInt, StrictModel


class ModelSpec(StrictModel):
    """A decoder-only transformer with a gated (SwiGLU) MLP and grouped-query attention.

    Nothing here is a typed-in total: ``params``, ``weight_bytes`` and
    ``kv_bytes_per_token`` follow from the shapes, so a preset cannot disagree with itself.
    """

    name: str = Field(description="model name in tables and files")
    description: str = Field("", description="free text")
    layers: PositiveInt = Field(description="transformer blocks")
    hidden: PositiveInt = Field(description="model width")
    heads: PositiveInt = Field(description="attention (query) heads")
    kv_heads: PositiveInt = Field(description="key/value heads (GQA groups)")
    head_dim: PositiveInt = Field(description="width of one head")
    intermediate: PositiveInt = Field(description="MLP width (gated: 3 matrices)")
    vocab: PositiveInt = Field(description="vocabulary size")
    dtype_bytes: PositiveInt = Field(2, description="bytes per weight and per KV element")
    tied_embeddings: bool = Field(False, description="lm_head shares the embedding matrix")
    qkv_bias: bool = Field(False, description="q, k and v projections carry a bias (Qwen2)")

    @model_validator(mode="after")
    def _heads_divide(self) -> ModelSpec:
        if self.heads % self.kv_heads:
            raise ValueError(
                f"heads ({self.heads}) must be a multiple of kv_heads ({self.kv_heads})"
            )
        return self

    @property
    def params(self) -> int:
        """Total parameters: embeddings, attention, gated MLP, RMSNorms (and biases)."""
        h, kv = self.hidden, self.kv_heads * self.head_dim
        q_out = self.heads * self.head_dim
        attn = h * q_out + 2 * h * kv + q_out * h
        if self.qkv_bias:
            attn += q_out + 2 * kv
        mlp = 3 * h * self.intermediate
        norms = 2 * h
        embeddings = self.vocab * h * (1 if self.tied_embeddings else 2)
        return self.layers * (attn + mlp + norms) + embeddings + h

    @property
    def weight_bytes(self) -> int:
        return self.params * self.dtype_bytes

    @property
    def kv_bytes_per_token(self) -> int:
        """K and V for every layer: 2 * layers * kv_heads * head_dim * dtype_bytes."""
        return 2 * self.layers * self.kv_heads * self.head_dim * self.dtype_bytes

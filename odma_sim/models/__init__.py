"""Transformer model descriptions and the sizes derived from them."""

from odma_sim.models.spec import ModelSpec

__all__ = ["ModelSpec"]

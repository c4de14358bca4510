"""Flat records emitted by the simulation and the pure summaries computed from them."""

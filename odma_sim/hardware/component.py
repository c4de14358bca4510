"""The device as a SimPy component: iterations and bulk copies share one memory system."""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import simpy

from odma_sim.hardware.cost import CostModel


class Device:
    """One replica's accelerator(s) in simulated time.

    The memory system is a capacity-1 resource: an engine iteration and a bulk copy
    (a KV migration, a swap) cannot overlap, so a copy delays the next iteration by
    exactly its duration. ``busy_s`` accumulates occupied time for utilisation figures.
    """

    def __init__(self, env: simpy.Environment, cost: CostModel, name: str = "device") -> None:
        self.env = env
        self.cost = cost
        self.name = name
        self.memory = simpy.Resource(env, capacity=1)
        self.busy_s = 0.0
        self.copied_bytes = 0.0

    def occupy(self, duration_s: float) -> Generator[Any, Any, None]:
        """Hold the memory system for ``duration_s`` (use with ``yield from``)."""
        with self.memory.request() as req:
            yield req
            yield self.env.timeout(duration_s)
            self.busy_s += duration_s

    def copy(self, nbytes: float) -> Generator[Any, Any, None]:
        """A device-local contiguous copy of ``nbytes`` (read + write), occupying memory."""
        self.copied_bytes += nbytes
        yield from self.occupy(self.cost.device_copy_s(nbytes))


def copy_process(env: simpy.Environment, device: Device, nbytes: float) -> simpy.Process:
    """Start a standalone bulk copy on ``device``; the returned process ends when it does."""
    return env.process(device.copy(nbytes))

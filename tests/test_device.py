"""The SimPy device: iterations and bulk copies take turns on the memory system."""

from __future__ import annotations

import simpy

from conftest import toy
from odma_sim.hardware.component import Device, copy_process
from odma_sim.hardware.cost import CostModel


def test_copy_and_iteration_serialise_on_memory() -> None:
    spec = toy().spec
    cost = CostModel(spec.devices[0], spec.model)
    env = simpy.Environment()
    dev = Device(env, cost)
    done: dict[str, float] = {}

    def step() -> object:
        yield from dev.occupy(1.0)
        done["step"] = env.now

    copy = copy_process(env, dev, 500)  # 2 x 500 B at 1000 B/s = 1.0 s, starts first
    env.process(step())
    env.run()
    assert copy.triggered
    assert done["step"] == 2.0  # the iteration waited for the copy
    assert dev.busy_s == 2.0 and dev.copied_bytes == 500

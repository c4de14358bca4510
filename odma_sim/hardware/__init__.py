"""Device model: specs, the random-access model, step costs and the SimPy device component."""

from odma_sim.hardware.cost import CostModel, KVGeometry, StepCost
from odma_sim.hardware.spec import DeviceSpec

__all__ = ["CostModel", "DeviceSpec", "KVGeometry", "StepCost"]

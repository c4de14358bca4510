"""The experiment config: devices x allocators over one workload, model and engine."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, SerializeAsAny, model_validator

from odma_sim.engine.spec import EngineSpec
from odma_sim.hardware.spec import DeviceSpec
from odma_sim.models.spec import ModelSpec
from odma_sim.strict import NonNegInt, StrictModel
from odma_sim.workload.spec import WorkloadSpec


class AllocatorSpec(BaseModel):
    """One allocator to run: a registry ``kind``, a row ``name`` and its validated params."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    kind: str
    params: SerializeAsAny[StrictModel]


class OutputSpec(StrictModel):
    """What a run writes besides summary.json."""

    records: bool = Field(True, description="per-request CSV for every row")
    timeline: bool = Field(True, description="per-iteration CSV for every row")


class ExperimentSpec(StrictModel):
    """A validated experiment. Build it with :func:`odma_sim.config.load_experiment`."""

    name: str = Field(description="names the run and its default output folder runs/<name>")
    description: str = Field("", description="free text")
    seed: NonNegInt = Field(0, description="root of every random stream (CLI --seed wins)")
    devices: list[DeviceSpec] = Field(
        min_length=1, description="preset name, YAML path, or mapping; `devices:` takes a list"
    )
    model: ModelSpec = Field(description="preset name, YAML path, or mapping")
    workload: WorkloadSpec
    engine: EngineSpec = EngineSpec()
    allocators: list[AllocatorSpec] = Field(min_length=1)
    output: OutputSpec = OutputSpec()

    def to_config(self) -> dict[str, Any]:
        """A plain mapping that :func:`odma_sim.config.build_experiment` reads back to an
        equal spec: every preset and default written out, allocators flat."""
        out = self.model_dump(mode="json")
        out["allocators"] = [
            {"kind": a.kind, "name": a.name, **a.params.model_dump(mode="json")}
            for a in self.allocators
        ]
        return out

    @model_validator(mode="after")
    def _unique(self) -> ExperimentSpec:
        names = [a.name for a in self.allocators]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise ValueError(f"allocator names must be unique; repeated: {', '.join(dup)}")
        devs = [d.name for d in self.devices]
        dup = sorted({n for n in devs if devs.count(n) > 1})
        if dup:
            raise ValueError(f"device names must be unique; repeated: {', '.join(dup)}")
        return self

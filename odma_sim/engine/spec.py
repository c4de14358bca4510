"""Engine configuration: batching caps, sequence limits, replicas and tensor parallelism."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from odma_sim.strict import PositiveInt, StrictModel


class EngineSpec(StrictModel):
    """Continuous batching, one engine per replica."""

    max_batch: PositiveInt = Field(256, description="running requests per replica")
    max_seq_len: PositiveInt = Field(2048, description="prompt + output tokens per request")
    max_new_tokens: PositiveInt | None = Field(
        None, description="output cap per request; default: max_seq_len"
    )
    token_budget: PositiveInt | None = Field(
        None, description="prefill + decode tokens per iteration; default: unlimited"
    )
    replicas: PositiveInt = Field(1, description="independent engines behind the router")
    router: Literal["round_robin", "least_loaded"] = Field(
        "round_robin", description="how arrivals are spread over replicas"
    )
    tensor_parallel: PositiveInt = Field(1, description="devices per replica")
    drain: bool = Field(True, description="run until every admitted request finishes")

    @model_validator(mode="after")
    def _caps(self) -> EngineSpec:
        if self.max_seq_len < 2:
            raise ValueError("max_seq_len must be at least 2 (one prompt and one output token)")
        return self

    @property
    def effective_max_new_tokens(self) -> int:
        return self.max_new_tokens if self.max_new_tokens is not None else self.max_seq_len

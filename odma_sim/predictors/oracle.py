"""Reference predictors: the oracle (true length) and a noisy oracle with set error."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from pydantic import Field

from odma_sim.engine.request import Request
from odma_sim.predictors.base import (
    FeatureTable,
    FloatArray,
    Prediction,
    Predictor,
    PredictorContext,
    PredictorParams,
    predictors,
)
from odma_sim.rng import stream


class OracleParams(PredictorParams):
    """The oracle has only the latency parameters every predictor has."""


@predictors.register("oracle")
class OraclePredictor(Predictor):
    """The true output length (capped at the largest bucket) with uncertainty 0: an
    upper bound for any predictor."""

    kind = "oracle"
    Params = OracleParams

    def predict(self, reqs: Sequence[Request]) -> list[Prediction]:
        cap = self.ctx.max_output_tokens
        return [Prediction(min(r.output_tokens, cap), 0.0) for r in reqs]


class NoisyParams(PredictorParams):
    sigma: float = Field(0.3, ge=0.0, description="std of the log-normal error")
    bias: float = Field(0.0, description="mean of ln(predicted / true)")


@predictors.register("noisy")
class NoisyPredictor(Predictor):
    """The true length times exp(N(bias, sigma^2)), clipped to [1, max output].

    Uncertainty is sigma for every request. The error of request i is fixed by the seed
    and i alone, so it does not depend on batching or on which allocator asks."""

    kind = "noisy"
    Params = NoisyParams
    _BLOCK = 4096

    def __init__(self, params: PredictorParams, ctx: PredictorContext) -> None:
        super().__init__(params, ctx)
        assert isinstance(params, NoisyParams)
        self.p = params
        self._blocks: dict[int, FloatArray] = {}

    def _noise(self, request_id: int) -> float:
        b, i = divmod(request_id, self._BLOCK)
        block = self._blocks.get(b)
        if block is None:
            block = stream(self.ctx.seed, f"predictor.noisy.block{b}").standard_normal(
                self._BLOCK)
            self._blocks[b] = block
        return float(block[i])

    def predict(self, reqs: Sequence[Request]) -> list[Prediction]:
        out = []
        for r in reqs:
            z = self.p.bias + self.p.sigma * self._noise(r.id)
            length = int(np.clip(np.rint(r.output_tokens * np.exp(z)), 1,
                                 self.ctx.max_output_tokens))
            out.append(Prediction(length, self.p.sigma))
        return out


class ConstantParams(PredictorParams):
    quantile: float = Field(0.5, gt=0.0, lt=1.0, description="quantile of the history")


@predictors.register("constant")
class ConstantPredictor(Predictor):
    """One length for every request, a quantile of the history: the baseline a learned
    predictor has to beat."""

    kind = "constant"
    Params = ConstantParams

    def __init__(self, params: PredictorParams, ctx: PredictorContext) -> None:
        super().__init__(params, ctx)
        assert isinstance(params, ConstantParams)
        self.p = params
        self.length = 1

    def fit(self, history: FeatureTable) -> None:
        assert history.output_tokens is not None
        self.length = int(np.quantile(history.output_tokens, self.p.quantile))

    def predict(self, reqs: Sequence[Request]) -> list[Prediction]:
        return [Prediction(self.length, 0.0) for _ in reqs]

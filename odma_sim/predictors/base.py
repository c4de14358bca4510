"""The predictor contract: features in, (length estimate, uncertainty) out; the registry."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
import numpy.typing as npt
from pydantic import Field, ValidationError

from odma_sim.engine.request import Request
from odma_sim.registry import Registry
from odma_sim.strict import NonNegFloat, PositiveInt, StrictModel

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class Prediction:
    """A predicted output length and how unsure the predictor is (>= 0; 0 = certain).

    ``bucket`` is set by predictors that classify into their own buckets (S3)."""

    length_tokens: int
    uncertainty: float = 0.0
    bucket: int | None = None


@dataclass(frozen=True)
class FeatureTable:
    """What predictors learn from: per-request features, and labels when known."""

    request_id: IntArray
    prompt_tokens: IntArray
    task: IntArray | None = None
    output_tokens: IntArray | None = None
    text: list[str] | None = None

    def __len__(self) -> int:
        return len(self.prompt_tokens)

    @classmethod
    def from_requests(cls, reqs: Sequence[Request], labels: bool = False) -> FeatureTable:
        texts = [r.text for r in reqs]
        return cls(
            request_id=np.fromiter((r.id for r in reqs), np.int64, len(reqs)),
            prompt_tokens=np.fromiter((r.prompt_tokens for r in reqs), np.int64, len(reqs)),
            task=np.fromiter((r.task for r in reqs), np.int64, len(reqs)),
            output_tokens=np.fromiter((r.output_tokens for r in reqs), np.int64, len(reqs))
            if labels else None,
            text=None if any(t is None for t in texts) else [str(t) for t in texts],
        )

    def concat(self, other: FeatureTable) -> FeatureTable:
        def cat(a: Any, b: Any) -> Any:
            if a is None or b is None:
                return None
            return a + b if isinstance(a, list) else np.concatenate([a, b])

        return FeatureTable(cat(self.request_id, other.request_id),
                            cat(self.prompt_tokens, other.prompt_tokens),
                            cat(self.task, other.task),
                            cat(self.output_tokens, other.output_tokens),
                            cat(self.text, other.text))

    def tail(self, n: int) -> FeatureTable:
        def t(a: Any) -> Any:
            return None if a is None else a[-n:]

        return FeatureTable(t(self.request_id), t(self.prompt_tokens), t(self.task),
                            t(self.output_tokens), t(self.text))


@dataclass(frozen=True)
class PredictorContext:
    """What every predictor is told at construction."""

    seed: int
    max_output_tokens: int
    n_tasks: int = 0
    task_names: list[str] = field(default_factory=list)


def design_matrix(ft: FeatureTable, n_tasks: int) -> FloatArray:
    """Numeric metadata features: log prompt length, and a one-hot request class when
    the workload has classes. Text features come from :mod:`odma_sim.predictors.text`."""
    cols = [np.log1p(ft.prompt_tokens.astype(np.float64))[:, None]]
    if n_tasks and ft.task is not None:
        onehot = np.zeros((len(ft), n_tasks))
        ok = ft.task >= 0
        onehot[np.flatnonzero(ok), ft.task[ok]] = 1.0
        cols.append(onehot)
    return np.hstack(cols)


class PredictorParams(StrictModel):
    """Parameters every predictor has: its kind and how long predicting takes.

    A batch of n requests is predicted ``latency_s + n * per_request_s`` after the
    predictor takes it, so prediction delay shows in TTFT."""

    kind: str
    latency_s: NonNegFloat = Field(0.0, description="fixed cost per prediction batch, s")
    per_request_s: NonNegFloat = Field(0.0, description="added cost per request, s")
    batch_size: PositiveInt = Field(16, description="most requests predicted together")


class Predictor(ABC):
    """Base class. Subclasses set ``kind`` and ``Params`` and register themselves."""

    kind: ClassVar[str]
    Params: ClassVar[type[PredictorParams]]
    refit_period_s: float | None = None  # set to run the online refit process

    def __init__(self, params: PredictorParams, ctx: PredictorContext) -> None:
        self.params = params
        self.ctx = ctx

    def fit(self, history: FeatureTable) -> None:
        """Offline training on a history split with labels (default: nothing to learn)."""
        return None

    def refit(self, recent: FeatureTable) -> None:
        """Online refit on recently completed requests (default: none)."""
        return None

    @abstractmethod
    def predict(self, reqs: Sequence[Request]) -> list[Prediction]:
        """Predictions for a batch; must not depend on batch composition."""


predictors: Registry[type[Predictor]] = Registry("predictor")


def validate_predictor(value: Any) -> PredictorParams:
    """A predictor config (a name, a mapping with 'kind', or params) as validated params;
    problems are ValueErrors naming the nested key, for pydantic to report."""
    if isinstance(value, PredictorParams):
        return value
    if isinstance(value, str):
        value = {"kind": value}
    if not isinstance(value, dict) or "kind" not in value:
        raise ValueError(f"a predictor needs a 'kind', one of: {', '.join(predictors.names())}")
    kind = value["kind"]
    if kind not in predictors:
        raise ValueError(f"unknown predictor {kind!r}; valid: {', '.join(predictors.names())}")
    try:
        return predictors.get(kind).Params.model_validate(value)
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = ".".join(str(x) for x in err["loc"])
        raise ValueError(f"predictor.{loc}: {err['msg']}") from None

"""Learned predictors: S3's bucket classifier and ODMA's quantile regressor."""

from __future__ import annotations

import math
from abc import abstractmethod
from collections.abc import Sequence
from statistics import NormalDist

import numpy as np
from pydantic import Field
from sklearn.ensemble import HistGradientBoostingRegressor
from sklearn.linear_model import LogisticRegression
from threadpoolctl import threadpool_limits

from odma_sim.engine.request import Request
from odma_sim.predictors.base import (
    FeatureTable,
    FloatArray,
    IntArray,
    Prediction,
    Predictor,
    PredictorContext,
    PredictorParams,
    predictors,
)
from odma_sim.predictors.text import TextFeaturizer
from odma_sim.strict import NonNegFloat, PositiveFloat, PositiveInt

# ONE_THREAD: models are fitted and applied on one thread. The simulator already keeps
# the machine busy (sweeps run one simulation per core), and OpenMP thread pools that
# spin against each other made a 0.2 s fit take minutes on a loaded 2-core machine.


class _Cached(Predictor):
    """Predictions are a pure function of (features, model version). The simulation
    hands the predictor every request's *features* up front (never labels) so that a
    model version predicts them in one vectorised call; ``predict`` then looks up."""

    def __init__(self, params: PredictorParams, ctx: PredictorContext) -> None:
        super().__init__(params, ctx)
        self._all: FeatureTable | None = None
        self._len: IntArray | None = None
        self._unc: FloatArray | None = None
        self._bucket: IntArray | None = None

    def precompute(self, features: FeatureTable) -> None:
        self._all = features
        self._invalidate()

    def _invalidate(self) -> None:
        self._len = self._unc = self._bucket = None

    @abstractmethod
    def _predict_table(self, ft: FeatureTable) -> tuple[IntArray, FloatArray, IntArray | None]:
        """(length, uncertainty, bucket or None) for every row of ``ft``."""

    def predict(self, reqs: Sequence[Request]) -> list[Prediction]:
        if self._all is None:  # no precompute: predict this batch directly
            length, unc, bucket = self._predict_table(FeatureTable.from_requests(reqs))
            return [Prediction(int(length[i]), float(unc[i]),
                               None if bucket is None else int(bucket[i]))
                    for i in range(len(reqs))]
        if self._len is None:
            self._len, self._unc, self._bucket = self._predict_table(self._all)
        assert self._len is not None and self._unc is not None
        bucket = self._bucket
        return [Prediction(int(self._len[r.id]), float(self._unc[r.id]),
                           None if bucket is None else int(bucket[r.id])) for r in reqs]


class S3Params(PredictorParams):
    num_buckets: PositiveInt = Field(10, description="equal-width buckets over [0, max)")
    regularization: PositiveFloat = Field(1.0, description="inverse L2 strength (C)")
    latency_s: NonNegFloat = Field(
        1e-2, description="per batch; assumed: a DistilBERT forward pass")
    per_request_s: NonNegFloat = Field(1e-3, description="per request; assumed")


@predictors.register("s3")
class S3Predictor(_Cached):
    """S3 (Jin et al., NeurIPS 2023): a classifier of the output length into equal-width
    buckets over [0, max_output_tokens); the prediction is the bucket's upper edge.

    S3 fine-tunes DistilBERT on prompt text. Here the classifier is a multinomial
    logistic regression over hashed word 1- and 2-grams of the prompt (when the
    workload has text), the log prompt length and the request class, trained once on
    the history split. Uncertainty is 1 - (probability of the chosen bucket)."""

    kind = "s3"
    Params = S3Params

    def __init__(self, params: PredictorParams, ctx: PredictorContext) -> None:
        super().__init__(params, ctx)
        assert isinstance(params, S3Params)
        self.p = params
        self.width = math.ceil(ctx.max_output_tokens / params.num_buckets)
        self.features = TextFeaturizer(ctx.n_tasks, seed=ctx.seed)
        self.model: LogisticRegression | None = None
        self.only_class: int | None = None

    def bucket_of(self, tokens: IntArray) -> IntArray:
        return np.minimum((tokens - 1) // self.width, self.p.num_buckets - 1).astype(np.int64)

    def fit(self, history: FeatureTable) -> None:
        assert history.output_tokens is not None
        y = self.bucket_of(history.output_tokens)
        classes = np.unique(y)
        self.features.fit(history)
        if len(classes) == 1:
            self.only_class, self.model = int(classes[0]), None
        else:
            self.model = LogisticRegression(C=self.p.regularization, max_iter=1000)
            with threadpool_limits(limits=1):
                self.model.fit(self.features.sparse(history), y)
        self._invalidate()

    def _predict_table(self, ft: FeatureTable) -> tuple[IntArray, FloatArray, IntArray | None]:
        if self.model is None:
            assert self.only_class is not None, "predict before fit"
            bucket = np.full(len(ft), self.only_class, dtype=np.int64)
            unc = np.zeros(len(ft))
        else:
            proba = self.model.predict_proba(self.features.sparse(ft))
            best = np.argmax(proba, axis=1)
            bucket = self.model.classes_[best].astype(np.int64)
            unc = 1.0 - proba[np.arange(len(ft)), best]
        length = np.minimum((bucket + 1) * self.width, self.ctx.max_output_tokens)
        return length.astype(np.int64), unc, bucket


class OdmaPredictorParams(PredictorParams):
    quantile: float = Field(0.5, gt=0.0, lt=1.0,
                            description="quantile of the predicted length used as the estimate")
    max_iter: PositiveInt = Field(60, description="boosting rounds per model")
    refit_period_s: PositiveFloat | None = Field(
        60.0, description="online refit period (null: never refit)")
    refit_window: PositiveInt = Field(2000, description="most recent labelled requests used")
    min_refit_samples: PositiveInt = Field(200, description="no refit with fewer new labels")
    latency_s: NonNegFloat = Field(
        2e-3, description="per batch; assumed: a compact encoder on the host CPU")
    per_request_s: NonNegFloat = Field(2e-4, description="per request; assumed")


@predictors.register("odma")
class OdmaPredictor(_Cached):
    """ODMA's lightweight predictor: a regression head with an uncertainty score.

    A heteroscedastic regression of ln(output length) on the request's features (log
    prompt length, request class, and a 48-dimensional SVD projection of hashed word
    n-grams when there is prompt text): one gradient-boosted model for the mean mu(x), a
    second for the spread sigma(x) (fitted to the absolute residuals, scaled to a
    normal's standard deviation). The estimate is exp(mu + z_q sigma) for the
    ``quantile`` q; the uncertainty is sigma, the log-space spread of this request's
    plausible lengths. Trained on the history split, then refit every
    ``refit_period_s`` on the ``refit_window`` most recent labelled requests (history
    first, then completions), so it follows drift."""

    kind = "odma"
    Params = OdmaPredictorParams

    def __init__(self, params: PredictorParams, ctx: PredictorContext) -> None:
        super().__init__(params, ctx)
        assert isinstance(params, OdmaPredictorParams)
        self.p = params
        self.refit_period_s = params.refit_period_s
        self.z = float(NormalDist().inv_cdf(params.quantile))
        self.features = TextFeaturizer(ctx.n_tasks, seed=ctx.seed)
        self.mean: HistGradientBoostingRegressor | None = None
        self.scale: HistGradientBoostingRegressor | None = None
        self.version = 0

    def _model(self) -> HistGradientBoostingRegressor:
        return HistGradientBoostingRegressor(max_iter=self.p.max_iter, early_stopping=False,
                                             random_state=0)

    def _fit(self, data: FeatureTable) -> None:
        assert data.output_tokens is not None
        with threadpool_limits(limits=1):  # see ONE_THREAD
            x = self.features.fit(data).dense(data)
            y = np.log(data.output_tokens.astype(np.float64))
            self.mean = self._model().fit(x, y)
            resid = np.abs(y - self.mean.predict(x))
            self.scale = self._model().fit(x, resid)
        self.version += 1
        self._invalidate()

    def fit(self, history: FeatureTable) -> None:
        self._fit(history)

    def refit(self, recent: FeatureTable) -> None:
        self._fit(recent)

    def _predict_table(self, ft: FeatureTable) -> tuple[IntArray, FloatArray, IntArray | None]:
        assert self.mean is not None and self.scale is not None, "predict before fit"
        with threadpool_limits(limits=1):
            x = self.features.dense(ft)
            mu = self.mean.predict(x)
            sigma = np.maximum(self.scale.predict(x), 0.0) * math.sqrt(math.pi / 2)
        est = np.exp(mu + self.z * sigma)
        length = np.clip(np.rint(est), 1, self.ctx.max_output_tokens).astype(np.int64)
        return length, sigma, None

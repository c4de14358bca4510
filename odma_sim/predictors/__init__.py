"""Output-length predictors. Importing this package registers the built-in ones."""

from odma_sim.predictors import learned, oracle
from odma_sim.predictors.base import (
    FeatureTable,
    Prediction,
    Predictor,
    PredictorContext,
    PredictorParams,
    predictors,
    validate_predictor,
)

__all__ = [
    "FeatureTable",
    "Prediction",
    "Predictor",
    "PredictorContext",
    "PredictorParams",
    "learned",
    "oracle",
    "predictors",
    "validate_predictor",
]

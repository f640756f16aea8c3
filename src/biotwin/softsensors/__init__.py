"""Soft sensors: virtual assays fitted on batch data (PLS, ridge, lasso, boosting, GP, hybrid) with
conformal intervals and an applicability domain, for whatever columns a process has."""

from biotwin.softsensors.estimators import (
    ApplicabilityDomain,
    BoostingRegressor,
    ColumnsRegressor,
    ConformalRegressor,
    GPRegressor,
    HybridRegressor,
    LassoRegressor,
    MeanRegressor,
    PLSRegressor,
    RidgeRegressor,
)
from biotwin.softsensors.features import engineer, feature_names
from biotwin.softsensors.quality import FinalQualityPredictor
from biotwin.softsensors.sensor import CANDIDATES, SoftSensor

__all__ = [
    "CANDIDATES",
    "ApplicabilityDomain",
    "BoostingRegressor",
    "ColumnsRegressor",
    "ConformalRegressor",
    "FinalQualityPredictor",
    "GPRegressor",
    "HybridRegressor",
    "LassoRegressor",
    "MeanRegressor",
    "PLSRegressor",
    "RidgeRegressor",
    "SoftSensor",
    "engineer",
    "feature_names",
]

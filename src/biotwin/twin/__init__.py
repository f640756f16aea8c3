"""The live twin: state and parameter estimation, forecasts, what-if scenarios."""

from biotwin.twin.estimators import (
    ESTIMATED,
    OBSERVED,
    EnsembleEstimator,
    EnsembleKalmanFilter,
    Estimate,
    ParticleFilter,
    make_estimator,
)
from biotwin.twin.forecast import Forecast, forecast
from biotwin.twin.propagate import Propagation, Propagator
from biotwin.twin.replay import PUBLISHED_RMSE, TrackResult, score, track_culture

__all__ = [
    "ESTIMATED",
    "OBSERVED",
    "PUBLISHED_RMSE",
    "EnsembleEstimator",
    "EnsembleKalmanFilter",
    "Estimate",
    "Forecast",
    "ParticleFilter",
    "Propagation",
    "Propagator",
    "TrackResult",
    "forecast",
    "make_estimator",
    "score",
    "track_culture",
]

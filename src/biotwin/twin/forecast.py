"""Forecasts: the current ensemble run to harvest, with bands and the chance of meeting specs."""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from biotwin.twin.estimators import EnsembleEstimator
from biotwin.twin.propagate import Propagator

#: Quantiles of the reported band (a 90 % band).
BAND = (0.05, 0.95)


@dataclass(frozen=True)
class Forecast:
    """An ensemble forecast from ``t0`` [h].

    Attributes
    ----------
    t : ndarray, shape (n_times,)
        Forecast times [h], ``t[0] = t0``, ``t[-1]`` the harvest.
    names : tuple of str
        Columns: every model state, then ``GI`` [-] (galactosylation index, mAb_gal/mAb).
    members : ndarray, shape (n_members, n_times, n_columns)
    spec_probability : dict
        ``spec -> probability [-]`` that the harvest value meets it (see :func:`forecast`).
    """

    t0: float
    t: np.ndarray
    names: tuple[str, ...]
    members: np.ndarray
    spec_probability: dict[str, float] = field(default_factory=dict)

    def column(self, name: str) -> np.ndarray:
        """(n_members, n_times) of one column."""
        return self.members[:, :, self.names.index(name)]

    def mean(self, name: str) -> np.ndarray:
        return self.column(name).mean(axis=0)

    def band(self, name: str, q: tuple[float, float] = BAND) -> tuple[np.ndarray, np.ndarray]:
        """Lower and upper quantile [state unit] along the forecast."""
        lo, hi = np.quantile(self.column(name), q, axis=0)
        return lo, hi

    def final(self, name: str) -> dict[str, float]:
        """Harvest ``mean``, ``lo`` (5 %) and ``hi`` (95 %) of one column."""
        v = self.column(name)[:, -1]
        lo, hi = np.quantile(v, BAND)
        return {"mean": float(v.mean()), "lo": float(lo), "hi": float(hi)}

    def summary(self) -> dict[str, Any]:
        return {
            "from_h": self.t0,
            "harvest_h": float(self.t[-1]),
            "final": {n: self.final(n) for n in self.names},
            "spec_probability": self.spec_probability,
        }


def _spec_prob(values: np.ndarray, spec: tuple[float | None, float | None]) -> float:
    lo, hi = spec
    ok = np.ones(values.size, bool)
    if lo is not None:
        ok &= values >= lo
    if hi is not None:
        ok &= values <= hi
    return float(ok.mean())


def forecast_members(
    propagator: Propagator, X: np.ndarray, U: np.ndarray, P: np.ndarray, t0: float, t_end: float,
    n_points: int = 25, drift: np.ndarray | None = None, chunk_h: float = 24.0,
) -> tuple[np.ndarray, np.ndarray]:
    """Run members from ``t0`` to ``t_end``; return (times, values (n, n_times, n_states + 1))
    with the galactosylation index as the last column. Failed members are dropped.

    ``drift`` (n_parameters,) [1/h] moves the log-parameters linearly in time, applied in
    ``chunk_h`` steps (a local linear trend of time-varying parameters)."""
    t = np.unique(np.append(np.linspace(t0, t_end, n_points), t_end))
    if t_end <= t0:
        y = np.repeat(X[:, None, :], t.size, axis=1)
    elif drift is None or not np.any(drift):
        res = propagator.run(X, U, P, t0, t_end, t_out=t)
        y = res.y[res.ok]
    else:
        y = np.empty((X.shape[0], t.size, X.shape[1]))
        ok = np.ones(X.shape[0], bool)
        edges = np.unique(np.append(np.arange(t0, t_end, chunk_h), t_end))
        x, u = X, U
        for a, b in itertools.pairwise(edges):
            sel = (t >= a) & (t <= b)
            tt = np.unique(np.append(t[sel], b))
            p = P * np.exp(drift * (0.5 * (a + b) - t0))
            res = propagator.run(x, u, p, a, b, t_out=tt)
            ok &= res.ok
            y[:, sel] = res.y[:, np.searchsorted(tt, t[sel])]
            x, u = res.y[:, -1], res.u
        y = y[ok]
    m = propagator.model
    mab = y[:, :, m.state_index("mAb")]
    gal = y[:, :, m.state_index("mAb_gal")]
    gi = np.where(mab > 0, gal / np.maximum(mab, 1e-300), np.nan)
    return t, np.concatenate([y, gi[:, :, None]], axis=2)


def parameter_trend(estimator: EnsembleEstimator, window_h: float, max_rate: float = 0.01) -> np.ndarray:
    """Slope [1/h] of the estimated log-parameters over the last ``window_h`` hours (least
    squares on the filter's history), clipped to ``max_rate``; zeros if too little history."""
    hist = [e for e in estimator.history_ if e.t >= estimator.t_ - window_h]
    out = np.zeros(len(estimator.p_nominal_))
    if len(hist) < 3:
        return out
    t = np.array([e.t for e in hist])
    th = np.log(np.array([[e.params[p][0] for p in estimator.estimated] for e in hist]))
    tc = t - t.mean()
    slope = (tc @ (th - th.mean(axis=0))) / (tc @ tc)
    out[estimator.est_index_] = np.clip(slope, -max_rate, max_rate)
    return out


def forecast(
    estimator: EnsembleEstimator,
    t_end: float | None = None,
    specs: Mapping[str, tuple[float | None, float | None]] | None = None,
    n_points: int = 25,
    propagator: Propagator | None = None,
    trend_h: float | None = None,
) -> Forecast:
    """Run the estimator's current ensemble (states and learned parameters) to harvest.

    Parameters
    ----------
    estimator : EnsembleEstimator
        After at least one :meth:`~EnsembleEstimator.make_step`.
    t_end : float, optional
        Harvest time [h]; default the recipe's duration.
    specs : mapping, optional
        ``column -> (lower, upper)`` limits on the harvest values (None: open), e.g.
        ``{"mAb": (1000.0, None), "GI": (0.3, 0.6)}``; ``spec_probability`` holds the
        fraction of members meeting each and ``all`` for meeting every one at once.
    propagator : Propagator, optional
        Another plan (a scenario) to run the members under; default the estimator's own.

    Returns
    -------
    Forecast
    """
    prop = propagator or estimator.propagator_
    t_end = float(prop.recipe.t_end if t_end is None else t_end)
    X, U, P = estimator.members()
    drift = parameter_trend(estimator, trend_h) if trend_h else None
    t, vals = forecast_members(prop, X, U, P, estimator.t_, t_end, n_points, drift=drift)
    names = (*estimator.state_names_, "GI")
    probs: dict[str, float] = {}
    if specs:
        ok_all = np.ones(vals.shape[0], bool)
        for key, spec in specs.items():
            v = vals[:, -1, names.index(key)]
            probs[key] = _spec_prob(v, spec)
            lo, hi = spec
            ok_all &= (v >= lo if lo is not None else True) & (v <= hi if hi is not None else True)
        probs["all"] = float(ok_all.mean())
    return Forecast(estimator.t_, t, names, vals, probs)

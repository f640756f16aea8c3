"""Replay a measured culture through an estimator, as if live (``biotwin track``).

At each sample time the estimator sees only what was measured up to then: the one-step-ahead
prediction (prior) is scored before the sample is assimilated, the estimate (posterior)
after, both against that sample, and a forecast to harvest is made from the new estimate.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from biotwin.datasets import MEASURED_STATES, CultureDataset, load_culture
from biotwin.errors import DataError
from biotwin.parameters import ParameterSet, get_parameter_set
from biotwin.recipes import Recipe, recipe_from_culture
from biotwin.twin.estimators import OBSERVED, EnsembleEstimator, Estimate, make_estimator
from biotwin.twin.forecast import forecast

#: Published EnKF RMSE (Yu et al., see data/cho_fedbatch/README.md), per culture and state.
PUBLISHED_RMSE: dict[str, dict[str, float]] = {
    "kotidis2019_flask_T127": dict(Xv=3.14e8, mAb=9.89, Glc=1.11, Amm=0.33, Gln=0.16, Lac=1.44, Glu=0.15, Asn=0.19),
    "sou2015_bioreactor_T127_36p5": dict(Xv=1.63e9, mAb=103, Glc=7.11, Amm=0.86, Gln=0.70, Lac=2.28, Glu=0.16,
                                         Asn=0.26),
    "sou2015_bioreactor_T127_shift32": dict(Xv=2.08e9, mAb=93.1, Glc=8.63, Amm=0.62, Gln=1.08, Lac=3.62, Glu=0.46,
                                            Asn=0.73),
    "kyriakopoulos2014_flask_GS46": dict(Xv=1.55e9, mAb=205, Glc=3.25, Amm=0.49, Gln=0.24, Lac=2.21, Glu=0.39,
                                         Asn=0.48),
    "kyriakopoulos2015_flask_GS46_feedU": dict(Xv=1.64e9, mAb=100, Glc=4.32, Amm=0.92, Gln=0.38, Lac=2.05, Glu=0.57,
                                               Asn=1.32),
    "kyriakopoulos2016_flask_GS46_feedU40": dict(Xv=1.84e9, mAb=133, Glc=3.34, Amm=1.60, Gln=0.27, Lac=2.24,
                                                 Glu=0.60, Asn=1.58),
}


@dataclass
class TrackResult:
    """Everything a replay produced.

    Attributes
    ----------
    times : ndarray, shape (n_samples,)
    measured, prior, posterior : ndarray, shape (n_samples, n_observed)
        Measured values, one-step-ahead means and assimilated means (observed states).
    estimates : list of Estimate
    forecasts : list of dict
        ``from_h, final_mAb_pred, final_mAb_lo, final_mAb_hi`` per sample time (90 % band).
    """

    dataset: str
    observed: tuple[str, ...]
    times: np.ndarray
    measured: np.ndarray
    prior: np.ndarray
    posterior: np.ndarray
    estimates: list[Estimate]
    forecasts: list[dict[str, float]]
    harvest_h: float
    elapsed_s: float
    estimator: EnsembleEstimator
    fan: dict[str, Any] = field(default_factory=dict)

    @staticmethod
    def _rmse(a: np.ndarray, b: np.ndarray) -> float:
        m = np.isfinite(a) & np.isfinite(b)
        return float(np.sqrt(np.mean((a[m] - b[m]) ** 2))) if m.any() else float("nan")

    def rmse(self, which: str = "posterior", skip_first: bool = True) -> dict[str, float]:
        """RMSE per observed state [its unit]; ``skip_first`` leaves out t = 0, where the
        initial state was set from that very sample."""
        est = self.posterior if which == "posterior" else self.prior
        s = slice(1, None) if skip_first else slice(None)
        return {n: self._rmse(self.measured[s, i], est[s, i]) for i, n in enumerate(self.observed)}

    def final_mab_measured(self) -> float:
        v = self.measured[:, self.observed.index("mAb")]
        return float(v[np.isfinite(v)][-1])

    def forecast_at(self, t_h: float) -> dict[str, float]:
        """The forecast made from the last sample at or before ``t_h``."""
        cands = [f for f in self.forecasts if f["from_h"] <= t_h + 1e-9]
        return cands[-1]

    def summary(self) -> dict[str, Any]:
        """The JSON of ``biotwin track`` (units cells/L, mg/L, mM)."""
        return {
            "dataset": self.dataset,
            "estimator": self.estimator.name,
            "n_members": self.estimator.n_members,
            "units": {k: MEASURED_STATES[k] for k in self.observed if k in MEASURED_STATES},
            "posterior_rmse": self.rmse("posterior"),
            "prior_rmse": self.rmse("prior"),
            "forecasts": self.forecasts,
            "final_mAb_measured": self.final_mab_measured(),
            "harvest_h": self.harvest_h,
            "elapsed_s": self.elapsed_s,
            "params": {k: v[0] for k, v in self.estimates[-1].params.items()},
        }


def track_culture(
    dataset: str | Path | CultureDataset,
    params: str | ParameterSet = "cho_t127_kotidis2019",
    **kwargs: Any,
) -> TrackResult:
    """Replay a culture in the shared format sample by sample through an estimator.

    Parameters
    ----------
    dataset : path or CultureDataset
        A culture in the shared format; its recipe is built with
        :func:`~biotwin.recipes.recipe_from_culture`.
    params : name, path or ParameterSet
        Starting parameters (no re-fitting).
    **kwargs
        ``seed``, ``n_members``, ``estimator``, ``forecasts``, ``fan_from``, ``trend_h`` and
        estimator hyperparameters, as in :func:`track_samples`.

    Returns
    -------
    TrackResult
    """
    ds = dataset if isinstance(dataset, CultureDataset) else load_culture(dataset)
    return track_samples(ds.measurements, recipe_from_culture(ds), params, name=ds.name, **kwargs)


def track_samples(
    samples: pd.DataFrame,
    recipe: Recipe,
    params: str | ParameterSet = "cho_t127_kotidis2019",
    seed: int | None = 0,
    n_members: int = 512,
    estimator: str = "enkf",
    forecasts: bool = True,
    fan_from: float | None = None,
    trend_h: float | None = None,
    name: str = "batch",
    harvest_h: float | None = None,
    **options: Any,
) -> TrackResult:
    """Replay a table of samples of any batch whose recipe is known (a plant batch, say).

    At each sample time the estimator sees only what was measured up to then.

    Parameters
    ----------
    samples : DataFrame
        ``time_h`` [h] and one column per measured state named as the model's states (``Xv``
        [cells/L], ``mAb`` [mg/L], ``Glc`` [mM], ...), NaN where not measured; optional
        ``<state>_std`` columns; rows without any measured state are skipped.
    recipe : Recipe
        What was run (initial state, feeds, shifts).
    params : name, path or ParameterSet
        Starting parameters (no re-fitting).
    seed : int
        ``random_state`` of the estimator.
    n_members : int
    estimator : str
        ``"enkf"`` or ``"pf"``.
    forecasts : bool
        Forecast harvest titre from every sample time.
    fan_from : float, optional
        Keep the full forecast fan made at this time [h] (for plots).
    trend_h : float, optional
        Parameter-trend extrapolation window of the forecasts (see :func:`forecast`).
    name : str
        Label of the result.
    harvest_h : float, optional
        Forecast horizon [h] (default: the last sample time).
    **options
        Estimator hyperparameters (see :class:`~biotwin.twin.estimators.EnsembleEstimator`).
    """
    ps = params if isinstance(params, ParameterSet) else get_parameter_set(params)
    observed = tuple(s for s in OBSERVED if s in samples.columns)
    if not observed:
        raise DataError(f"{name}: no measured state among {list(OBSERVED)} in the samples' columns")
    meas = samples[samples[list(observed)].notna().any(axis=1)].sort_values("time_h")
    est = make_estimator(estimator, ps, recipe, n_members=n_members, observed=observed,
                         random_state=seed, **options)
    times = meas["time_h"].to_numpy(float)
    Y = meas[list(observed)].to_numpy(float)
    S = np.column_stack([meas[f"{s}_std"].to_numpy(float) if f"{s}_std" in meas else np.full(len(meas), np.nan)
                         for s in observed])
    harvest = float(times[-1]) if harvest_h is None else float(harvest_h)
    obs_idx = [est.params.get_model().state_index(s) for s in observed]
    prior = np.full_like(Y, np.nan)
    post = np.full_like(Y, np.nan)
    estimates: list[Estimate] = []
    fc: list[dict[str, float]] = []
    fan: dict[str, Any] = {}
    start = time.perf_counter()
    for k, t in enumerate(times):
        e = est.make_step(Y[k], float(t), S[k])
        estimates.append(e)
        prior[k] = e.prior_mean[obs_idx]
        post[k] = e.mean[obs_idx]
        if forecasts and t < harvest + 1e-9:
            keep_fan = fan_from is not None and abs(t - fan_from) < 1e-9
            f = forecast(est, t_end=harvest, trend_h=trend_h, n_points=40 if keep_fan else 2)
            fin = f.final("mAb")
            fc.append({"from_h": float(t), "final_mAb_pred": fin["mean"], "final_mAb_lo": fin["lo"],
                       "final_mAb_hi": fin["hi"]})
            if keep_fan:
                fan = {"forecast": f}
    elapsed = time.perf_counter() - start
    return TrackResult(name, observed, times, Y, prior, post, estimates, fc, harvest, elapsed, est, fan)


def score(result: TrackResult, day7_h: float = 168.0) -> dict[str, Any]:
    """Posterior RMSE against the published table and the day-7 harvest forecast."""
    pub = PUBLISHED_RMSE.get(result.dataset, {})
    post = result.rmse("posterior")
    cells = {s: {"posterior": post[s], "published": pub.get(s), "prior": result.rmse("prior")[s],
                 "pass": bool(pub.get(s) is not None and post[s] <= pub[s])} for s in result.observed}
    f7 = result.forecast_at(day7_h)
    meas = result.final_mab_measured()
    return {
        "dataset": result.dataset,
        "cells": cells,
        "n_pass": sum(c["pass"] for c in cells.values()),
        "day7": {**f7, "final_mAb_measured": meas,
                 "rel_err": (f7["final_mAb_pred"] - meas) / meas,
                 "within_15pct": abs(f7["final_mAb_pred"] - meas) <= 0.15 * meas,
                 "covered": f7["final_mAb_lo"] <= meas <= f7["final_mAb_hi"]},
        "elapsed_s": result.elapsed_s,
    }

"""Equipment health: degradation indicators and remaining useful life (RUL) with uncertainty.

Indicators turn raw equipment signals into one number that drifts as the equipment wears:
pump delivered/commanded flow, agitator current or vibration, DO probe response time,
filter differential pressure. :class:`DegradationMonitor` learns an indicator's healthy
baseline, alarms when it leaves it (EWMA beyond ``k_sd`` baseline deviations, held for
``persistence`` points) or when the projected RUL falls under ``horizon_h``, and projects
RUL by a linear trend over the last ``window_h`` with a slope confidence band (data-driven
prognostics, Lei et al. 2018, Mech Syst Signal Process 104:799,
doi:10.1016/j.ymssp.2017.11.016).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from scipy import stats
from sklearn.base import BaseEstimator

from biotwin.errors import DataError
from biotwin.monitoring.stats import TIME_TOL_H, ewma, persistent


def pump_flow_ratio(flow: np.ndarray, command: np.ndarray, min_command: float = 1e-9) -> np.ndarray:
    """Delivered over commanded flow [-]: 1 for a healthy pump, falls as tubing or heads wear.

    NaN where the command is below ``min_command``. Shapes ``(n,)``.
    """
    flow, command = np.asarray(flow, float), np.asarray(command, float)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(command > min_command, flow / command, np.nan)


def loop_activity_ratio(t: np.ndarray, measured: np.ndarray, actuator: np.ndarray, window_h: float = 6.0,
                        min_fraction: float = 0.67) -> np.ndarray:
    """Point-to-point activity of a controlled measurement over that of its actuator [unit/unit].

    The standard deviation of the first differences of ``measured`` (a DO probe) over the
    trailing ``window_h`` [h], divided by that of ``actuator`` (the stirrer the DO loop moves),
    both on the rows where the actuator is off its batch minimum (the loop is acting). A probe
    whose membrane fouls answers ever more slowly, so the loop sees a smoothed signal: the
    measurement's activity falls while the actuator keeps moving (a loop-performance index in
    the sense of Harris 1989, Can J Chem Eng 67:856, doi:10.1002/cjce.5450670519, taken on the
    sensor side). NaN where fewer than ``min_fraction`` of the window's rows have the loop
    acting. Needs signals logged every few minutes: at 30-min points a 30-min lag hides in the
    sampling. Shapes ``(n,)``.

    On the virtual plant (6-min signals, seeds 0-5) the normal training batches' minima of DO
    over agitation have a median of 0.041; a lower limit learnt from them (0.026-0.029) is
    crossed by every fouled probe (18 of 18) 28-50 h before its failure, and by no normal test
    batch (0 of 60) and no other faulty batch before its onset (``bench/monitoring.py``, the
    monitor's ``loop:DO/agitation`` equipment spec).
    """
    t = np.asarray(t, float)
    x = np.asarray(measured, float)
    u = np.asarray(actuator, float)
    out = np.full(t.shape, np.nan)
    if t.size < 3:
        return out
    lo = np.nanmin(u)
    acting = u > lo + 0.01 * max(float(np.nanmax(u) - lo), 1e-12)
    dx = np.r_[np.nan, np.diff(x)]
    du = np.r_[np.nan, np.diff(u)]
    ok = acting & np.r_[False, acting[:-1]] & np.isfinite(dx) & np.isfinite(du)
    # each row's window as a slice of the time-sorted rows: linear in the batch's length
    start = np.searchsorted(t, t - window_h + TIME_TOL_H, side="right")
    end = np.searchsorted(t, t + TIME_TOL_H, side="right")
    for i in range(t.size):
        a, b = int(start[i]), int(end[i])
        sel = ok[a:b]
        if b - a < 3 or sel.sum() < max(3, min_fraction * (b - a)):
            continue
        su = float(np.std(du[a:b][sel]))
        if su > 0:
            out[i] = float(np.std(dx[a:b][sel])) / su
    return out


def response_time(t: np.ndarray, y: np.ndarray, t_step: float, fraction: float = 0.632) -> float:
    """Time after a step at ``t_step`` [h] for ``y`` to cover ``fraction`` of its change [h].

    For a first-order probe, 0.632 gives the time constant (e.g. a DO probe's response,
    which grows as the membrane fouls). NaN if the response never gets there.
    """
    t, y = np.asarray(t, float), np.asarray(y, float)
    before = y[t < t_step]
    after_t, after_y = t[t >= t_step], y[t >= t_step]
    if before.size == 0 or after_y.size < 2:
        return float("nan")
    y0, y1 = before[-1], np.median(after_y[-max(3, after_y.size // 5):])
    if y1 == y0:
        return float("nan")
    prog = (after_y - y0) / (y1 - y0)
    hit = np.flatnonzero(prog >= fraction)
    return float(after_t[hit[0]] - t_step) if hit.size else float("nan")


class DegradationMonitor(BaseEstimator):
    """Alarm and RUL for one degradation indicator against its failure threshold.

    Parameters
    ----------
    threshold : float
        Indicator value at which the equipment counts as failed.
    direction : {"up", "down"}
        Whether degradation moves the indicator up (vibration, pressure) or down (flow ratio).
    k_sd : float
        Baseline deviations (of the EWMA) that raise an alarm.
    ewma_lambda : float
    window_h : float
        Trend window for the RUL [h].
    horizon_h : float
        Alarm when the RUL's upper bound falls below this [h].
    alpha : float
        Two-sided significance of the RUL band.
    persistence : int
        Consecutive points before an alarm.

    Attributes
    ----------
    baseline_mean_, baseline_sd_ : float
        Healthy level and spread of the indicator.
    ewma_sd_ : float
        Spread of its EWMA.
    """

    def __init__(self, threshold: float = 1.0, direction: str = "up", k_sd: float = 4.0, ewma_lambda: float = 0.1,
                 window_h: float = 72.0, horizon_h: float = 168.0, alpha: float = 0.05, persistence: int = 3) -> None:
        self.threshold = threshold
        self.direction = direction
        self.k_sd = k_sd
        self.ewma_lambda = ewma_lambda
        self.window_h = window_h
        self.horizon_h = horizon_h
        self.alpha = alpha
        self.persistence = persistence

    def _sign(self) -> float:
        if self.direction not in ("up", "down"):
            raise DataError(f"direction must be 'up' or 'down', not {self.direction!r}")
        return 1.0 if self.direction == "up" else -1.0

    def fit(self, t: Any, x: Any = None) -> DegradationMonitor:
        """Learn the healthy baseline from ``x`` (shape (n,)) observed at times ``t`` [h]."""
        t, x = np.asarray(t, float), np.asarray(x, float)
        ok = np.isfinite(x)
        if ok.sum() < 5:
            raise DataError("a degradation baseline needs at least 5 finite points")
        self._sign()
        self.baseline_mean_ = float(np.mean(x[ok]))
        self.baseline_sd_ = float(np.std(x[ok], ddof=1)) or 1e-12
        lam = self.ewma_lambda
        self.ewma_sd_ = self.baseline_sd_ * np.sqrt(lam / (2 - lam))
        return self

    def rul(self, t: np.ndarray, x: np.ndarray) -> tuple[float, float, float]:
        """RUL [h] at the last point, with its lower and upper bound, from the recent trend."""
        sel = (t >= t[-1] - self.window_h) & np.isfinite(x)
        if sel.sum() < 4:
            return float("inf"), float("inf"), float("inf")
        res = stats.linregress(t[sel], x[sel])
        z = stats.t.ppf(1 - self.alpha / 2, sel.sum() - 2)
        level = res.intercept + res.slope * t[-1]
        gap = (self.threshold - level) * self._sign()
        if gap <= 0:
            return 0.0, 0.0, 0.0
        out = []
        for slope in (res.slope, res.slope + z * res.stderr * self._sign(), res.slope - z * res.stderr * self._sign()):
            s = slope * self._sign()
            out.append(gap / s if s > 0 else float("inf"))
        return out[0], out[1], out[2]

    def score(self, t: Any, x: Any) -> pd.DataFrame:
        """Health, RUL and alarm at every point of a series (computed causally).

        Returns
        -------
        DataFrame, shape (n, 6)
            ``time_h``, ``ewma``, ``rul_h``, ``rul_lower_h``, ``rul_upper_h``, ``alarm`` (bool).
        """
        t, x = np.asarray(t, float), np.asarray(x, float)
        xf = pd.Series(x).ffill().fillna(self.baseline_mean_).to_numpy()
        z = self.baseline_mean_ + ewma(xf - self.baseline_mean_, self.ewma_lambda)
        dev = (z - self.baseline_mean_) * self._sign() / self.ewma_sd_
        ruls = np.array([self.rul(t[: i + 1], xf[: i + 1]) for i in range(len(t))])
        flag = (dev > self.k_sd) | (ruls[:, 2] < self.horizon_h)
        return pd.DataFrame({"time_h": t, "ewma": z, "rul_h": ruls[:, 0], "rul_lower_h": ruls[:, 1],
                             "rul_upper_h": ruls[:, 2], "alarm": persistent(flag, self.persistence)})

    def first_alarm(self, t: Any, x: Any) -> float | None:
        """Time of the first alarm [h], or None."""
        s = self.score(t, x)
        hits = s["time_h"][s["alarm"]]
        return float(hits.iloc[0]) if len(hits) else None


def synthetic_degradation(n_h: float = 1500.0, dt_h: float = 2.0, onset_h: float = 400.0, rate: float = 0.001,
                          noise: float = 0.01, kind: str = "exponential", threshold: float = 1.3,
                          random_state: int | None = 0) -> tuple[np.ndarray, np.ndarray, float]:
    """An indicator that is flat at 1 then degrades after ``onset_h``; returns (t, x, failure_h).

    ``failure_h`` is when the noise-free indicator crosses ``threshold``.
    """
    rng = np.random.default_rng(random_state)
    t = np.arange(0.0, n_h, dt_h)
    age = np.clip(t - onset_h, 0, None)
    clean = 1.0 + (np.expm1(rate * age) * 0.1 if kind == "exponential" else rate * age)
    x = clean + rng.normal(0, noise, len(t))
    crossed = np.flatnonzero(clean >= threshold)
    return t, x, float(t[crossed[0]]) if crossed.size else float("inf")

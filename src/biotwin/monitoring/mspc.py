"""Online batch monitoring for any process: MPCA with T2 and SPE, plus analytical redundancy.

Observation-level model after batch-wise scaling: every feature (each variable and its
rate) is centred and scaled by the reference trajectory at the observation's culture time,
then one PCA is fitted on all standardised observations (Lee, Yoo & Lee 2004, J Biotechnol
110:119, doi:10.1016/j.jbiotec.2004.01.016; Wold et al. 1998, Chemom Intell Lab Syst 44:331).
Hotelling T2 and SPE are computed for each new observation as it arrives.

Analytical redundancy: each variable is regressed (ridge) on the standardised other
variables; an EWMA of its normalised residual catches a sensor that drifts away from what
the others imply, even while it stays inside the normal envelope (Gertler 1998, Fault
Detection and Diagnosis in Engineering Systems, Marcel Dekker, ch. 6).

Limits are estimated out of fold, folds grouped by batch: the observation-level 99 %
quantile of each statistic, then one factor so that the persistence rule (``persistence``
consecutive points over the limit) would have alarmed on at most ``batch_alpha`` of the
held-out normal batches.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator
from sklearn.model_selection import GroupKFold

from biotwin.batchdata.io import TIME, BatchSet, _as_frames, input_columns
from biotwin.errors import DataError
from biotwin.monitoring.stats import ewma, hotelling_t2, running_min, spe_contributions, t2_contributions
from biotwin.softsensors.features import engineer


def _owners(names: list[str], value_idx: list[int]) -> list[int]:
    """Index (in ``value_idx``) of the variable each feature derives from."""
    values = [names[i] for i in value_idx]
    return [values.index(n[5:-1] if n.startswith("rate(") and n[5:-1] in values else n) for n in names]


def _tv_limit(times: np.ndarray, values: np.ndarray, grid: np.ndarray, q: float, halfwidth: int = 3) -> np.ndarray:
    """Time-varying limit: the ``q`` quantile of the values within ``halfwidth`` grid steps of each point.

    Floored at the overall median so quiet phases keep a sensible limit; shape
    ``(n_grid,) + values.shape[1:]``.
    """
    step = grid[1] - grid[0] if len(grid) > 1 else 1.0
    floor = np.quantile(values, 0.9, axis=0)
    out = np.empty((len(grid), *values.shape[1:]))
    for g, tg in enumerate(grid):
        sel = np.abs(times - tg) <= halfwidth * step
        if g == len(grid) - 1:
            sel |= times > tg
        out[g] = np.quantile(values[sel], q, axis=0) if sel.sum() >= 20 else np.quantile(values, q, axis=0)
    return np.maximum(out, floor)


class _Core:
    """Reference trajectories + PCA + redundancy regressions fitted on some batches."""

    def __init__(self, n_grid: int, n_components: float, ridge: float) -> None:
        self.n_grid, self.n_components, self.ridge = n_grid, n_components, ridge

    def fit(self, feats: list[pd.DataFrame], names: list[str], value_idx: list[int]) -> _Core:
        # the reference ends where most batches still run; later times hold its last point
        end = float(np.quantile([float(f[TIME].iloc[-1]) for f in feats], 0.75))
        self.grid = np.linspace(0.0, end, self.n_grid)
        A = np.full((len(feats), self.n_grid, len(names)), np.nan)
        for b, f in enumerate(feats):
            t = f[TIME].to_numpy(float)
            inside = self.grid <= t[-1] + 1e-9
            for k, c in enumerate(names):
                A[b, inside, k] = np.interp(self.grid[inside], t, f[c].to_numpy(float))
        with np.errstate(all="ignore"):
            import warnings

            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                mean = np.nanmean(A, axis=0)
                sd = np.nanstd(A, axis=0)
        # hold the last reference where no batch lasted that long
        mean = pd.DataFrame(mean).ffill().bfill().to_numpy()
        sd = pd.DataFrame(sd).ffill().bfill().to_numpy()
        kern = np.ones(5) / 5
        sd = np.column_stack([np.convolve(np.pad(sd[:, k], 2, mode="edge"), kern, "valid") for k in range(sd.shape[1])])
        floor = 0.1 * np.nanmedian(sd, axis=0) + 1e-9
        self.mean, self.sd = mean, np.maximum(sd, floor)
        Z = np.vstack([self.standardise(f, names) for f in feats])
        _, s, vt = np.linalg.svd(Z, full_matrices=False)
        var = s**2 / max(len(Z) - 1, 1)
        frac = np.cumsum(var) / var.sum()
        k = int(np.searchsorted(frac, self.n_components) + 1) if self.n_components < 1 else int(self.n_components)
        k = max(1, min(k, len(s) - 1 if len(s) > 1 else 1))
        self.P, self.lam = vt[:k].T, np.maximum(var[:k], 1e-12)
        # redundancy: each variable's value from the other variables' values
        self.owner = _owners(names, value_idx)
        self.B = []
        for j, vj in enumerate(value_idx):
            others = [i for i in range(len(names)) if self.owner[i] != j]
            Xo = Z[:, others]
            beta = np.linalg.solve(Xo.T @ Xo + self.ridge * len(Xo) * np.eye(len(others)), Xo.T @ Z[:, vj])
            self.B.append((others, beta))
        self.value_idx = value_idx
        return self

    def standardise(self, f: pd.DataFrame, names: list[str]) -> np.ndarray:
        t = f[TIME].to_numpy(float)
        mu = np.column_stack([np.interp(t, self.grid, self.mean[:, k]) for k in range(len(names))])
        sd = np.column_stack([np.interp(t, self.grid, self.sd[:, k]) for k in range(len(names))])
        return (f[names].to_numpy(float) - mu) / sd

    def stats(self, Z: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        T = Z @ self.P
        E = Z - T @ self.P.T
        R = np.column_stack([Z[:, vj] - Z[:, others] @ beta
                             for vj, (others, beta) in zip(self.value_idx, self.B, strict=True)])
        return hotelling_t2(T, self.lam), np.sum(E**2, axis=1), R


class BatchMonitor(BaseEstimator):
    """Golden-batch MSPC monitor for batches of any process.

    Parameters
    ----------
    exclude : sequence of str
        Columns never used (offline assays, quality attributes).
    n_components : float
        Fraction of variance the PCA keeps (or an int number of components).
    n_grid : int
        Points of the reference time grid.
    persistence : int
        Consecutive observations over a limit before an alarm.
    obs_alpha : float
        Observation-level quantile of the out-of-fold statistics that sets each limit.
    batch_alpha : float
        Target fraction of normal batches with a false alarm (sets the limits' joint factor).
    ewma_lambda : float
        Smoothing of the redundancy residuals.
    rate_window_h : float
        Window of the rate features [h].
    cv : int
        Folds, grouped by batch.
    ridge : float
        Ridge penalty of the redundancy regressions.
    outlier_ratio : float
        Training batches whose out-of-fold worst ratio exceeds ``outlier_ratio`` times the
        median batch's are atypical: reported in ``atypical_batches_`` and left out of the limits' factor.

    equipment : sequence of str
        Equipment health indicators, each ``PATTERN``, ``PATTERN>FAIL`` (fails rising to FAIL)
        or ``PATTERN<FAIL`` (fails falling to FAIL); PATTERN is a case-insensitive regular
        expression on column names (``vibration``, ``pump.*ratio``). Each matching column gets a
        :class:`~biotwin.monitoring.equipment.DegradationMonitor` with its healthy baseline and
        alarm level learned from the training batches; its alarms have kind ``equipment`` and
        carry the remaining useful life ``rul_h`` when a failure level is given.

    Attributes
    ----------
    variables_ : list of str
    limits_ : dict
        ``T2``, ``SPE`` and ``residual`` (array per variable) limits.
    atypical_batches_ : list of int
        Training batches far outside the others (indices).
    oof_false_alarm_rate_ : float
        Fraction of held-out normal training batches that would have alarmed.
    """

    def __init__(self, exclude: Sequence[str] = (), n_components: float = 0.9, n_grid: int = 100,
                 persistence: int = 2, obs_alpha: float = 0.01, batch_alpha: float = 0.0,
                 ewma_lambda: float = 0.1, rate_window_h: float = 2.0, cv: int = 5, ridge: float = 0.01,
                 outlier_ratio: float = 10.0, equipment: Sequence[str] = ()) -> None:
        self.exclude = exclude
        self.n_components = n_components
        self.n_grid = n_grid
        self.persistence = persistence
        self.obs_alpha = obs_alpha
        self.batch_alpha = batch_alpha
        self.ewma_lambda = ewma_lambda
        self.rate_window_h = rate_window_h
        self.cv = cv
        self.ridge = ridge
        self.outlier_ratio = outlier_ratio
        self.equipment = equipment

    def _feats(self, frame: pd.DataFrame) -> pd.DataFrame:
        return engineer(frame, self.variables_, integrals=False, rate_window_h=self.rate_window_h)

    @staticmethod
    def _at(t: np.ndarray, grid: np.ndarray, lim: np.ndarray) -> np.ndarray:
        if lim.ndim == 1:
            return np.interp(t, grid, lim)
        return np.column_stack([np.interp(t, grid, lim[:, j]) for j in range(lim.shape[1])])

    def _over(self, t: np.ndarray, o: dict[str, np.ndarray], lim: dict[str, Any]) -> np.ndarray:
        e = np.abs(ewma(o["R"] / lim["resid_sd"], self.ewma_lambda)) / self._at(t, lim["grid"], lim["residual"])
        return np.maximum(np.maximum(o["T2"] / self._at(t, lim["grid"], lim["T2"]),
                                     o["SPE"] / self._at(t, lim["grid"], lim["SPE"])), e.max(axis=1))

    def _ratios(self, core: _Core, f: pd.DataFrame, lim: dict[str, Any] | None) -> dict[str, np.ndarray]:
        t2, spe, R = core.stats(core.standardise(f, self.feature_names_))
        if lim is None:
            return {"T2": t2, "SPE": spe, "R": R}
        t, g = f[TIME].to_numpy(float), lim["grid"]
        return {"T2": t2 / self._at(t, g, lim["T2"]), "SPE": spe / self._at(t, g, lim["SPE"]),
                "residual": np.abs(ewma(R / lim["resid_sd"], self.ewma_lambda)) / self._at(t, g, lim["residual"])}

    def fit(self, batches: BatchSet | Sequence[pd.DataFrame], y: Any = None) -> BatchMonitor:
        """Fit on normal batches (frames with ``time_h`` and the process variables)."""
        frames, _ = _as_frames(batches)
        if len(frames) < 3:
            raise DataError("a monitor needs at least 3 normal training batches")
        self.variables_ = input_columns(frames, list(self.exclude))
        if len(self.variables_) < 2:
            raise DataError("a monitor needs at least 2 usable variables")
        feats = [self._feats(f) for f in frames]
        self.feature_names_ = [c for c in feats[0].columns if c != TIME]
        value_idx = [self.feature_names_.index(v) for v in self.variables_]
        # out of fold: raw statistics of each held-out batch
        groups = np.arange(len(frames))
        oof: list[dict[str, np.ndarray]] = [{} for _ in frames]
        for tr, te in GroupKFold(n_splits=min(self.cv, len(frames))).split(groups, groups=groups):
            core = _Core(self.n_grid, self.n_components, self.ridge).fit([feats[i] for i in tr],
                                                                         self.feature_names_, value_idx)
            for i in te:
                oof[i] = self._ratios(core, feats[i], None)
        q = 1.0 - self.obs_alpha
        grid = np.linspace(0.0, float(np.quantile([f[TIME].iloc[-1] for f in frames], 0.75)), self.n_grid)
        times = np.concatenate([f[TIME].to_numpy(float) for f in feats])
        resid_sd = np.sqrt(np.mean(np.vstack([o["R"] for o in oof]) ** 2, axis=0)) + 1e-12
        E = [np.abs(ewma(o["R"] / resid_sd, self.ewma_lambda)) for o in oof]
        lim: dict[str, Any] = {
            "grid": grid,
            "T2": _tv_limit(times, np.concatenate([o["T2"] for o in oof]), grid, q),
            "SPE": _tv_limit(times, np.concatenate([o["SPE"] for o in oof]), grid, q),
            "residual": _tv_limit(times, np.vstack(E), grid, q) + 1e-12,
            "resid_sd": resid_sd,
        }
        # joint factor from the batch-level maxima under the persistence rule
        worst = []
        for f, o in zip(feats, oof, strict=True):
            r = self._over(f[TIME].to_numpy(float), o, lim)
            worst.append(float(np.max(running_min(r, self.persistence), initial=0.0)))
        # a training batch far outside the others would set the factor alone: it is reported as
        # atypical and left out of the factor
        typical = np.asarray(worst) <= self.outlier_ratio * float(np.median(worst))
        self.atypical_batches_ = [int(i) for i in np.flatnonzero(~typical)]
        factor = max(1.0, float(np.quantile(np.asarray(worst)[typical], 1.0 - self.batch_alpha)))
        self.oof_batch_maxima_ = np.asarray(worst)
        self.oof_false_alarm_rate_ = float(np.mean(np.asarray(worst) > factor))
        self.factor_ = factor
        for key in ("T2", "SPE", "residual"):
            lim[key] = lim[key] * factor
        self.limits_ = lim
        self.equipment_ = self._fit_equipment(frames)
        self.core_ = _Core(self.n_grid, self.n_components, self.ridge).fit(feats, self.feature_names_, value_idx)
        return self

    def _fit_equipment(self, frames: list[pd.DataFrame]) -> dict[str, Any]:
        import re

        from biotwin.monitoring.equipment import DegradationMonitor

        out: dict[str, Any] = {}
        for spec in self.equipment:
            m = re.match(r"^(.*?)(?:([<>])\s*([-+0-9.eE]+))?$", spec.strip())
            assert m is not None
            pattern, op, fail = m.group(1).strip(), m.group(2), m.group(3)
            direction = "down" if op == "<" else "up"
            threshold = float(fail) if fail else (np.inf if direction == "up" else -np.inf)
            cols = [c for c in frames[0].columns if c != TIME and re.search(pattern, c, re.IGNORECASE)]
            if not cols:
                raise DataError(f"equipment pattern {pattern!r} matches no column")
            for c in cols:
                t = np.concatenate([f[TIME].to_numpy(float) for f in frames if c in f])
                x = np.concatenate([f[c].to_numpy(float) for f in frames if c in f])
                dm = DegradationMonitor(threshold=threshold, direction=direction, persistence=self.persistence)
                dm.fit(t, x)
                # alarm level: above every normal training batch's EWMA excursion
                worst = 0.0
                for f in frames:
                    if c in f:
                        xf = pd.Series(f[c].to_numpy(float)).ffill().fillna(dm.baseline_mean_).to_numpy()
                        dev = ewma(xf - dm.baseline_mean_, dm.ewma_lambda) * dm._sign() / dm.ewma_sd_
                        worst = max(worst, float(np.max(dev)))
                dm.k_sd = max(dm.k_sd, 1.2 * worst)
                out[c] = dm
        return out

    def trajectory(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Statistics over one batch, each divided by its limit (alarm above 1).

        Returns
        -------
        DataFrame, shape (n_rows, 3 + n_variables)
            ``time_h``, ``T2``, ``SPE`` and ``residual(<variable>)`` for each variable.
        """
        missing = [v for v in self.variables_ if v not in frame]
        if missing:
            raise DataError(f"batch lacks the monitor's variables {missing}")
        r = self._ratios(self.core_, self._feats(frame), self.limits_)
        out = pd.DataFrame({TIME: frame[TIME].to_numpy(float), "T2": r["T2"], "SPE": r["SPE"]})
        for j, v in enumerate(self.variables_):
            out[f"residual({v})"] = r["residual"][:, j]
        return out

    def _contributions(self, z: np.ndarray, statistic: str, resid: np.ndarray | None) -> dict[str, float]:
        core = self.core_
        if statistic == "T2":
            c = t2_contributions(z[None, :], core.P, core.lam)[0]
        elif statistic == "SPE":
            c = spe_contributions(z[None, :] - (z[None, :] @ core.P) @ core.P.T)[0]
        else:
            c = None
        out: dict[str, float] = {}
        if c is not None:
            for k, name in enumerate(self.feature_names_):
                var = name[5:-1] if name.startswith("rate(") else name
                out[var] = out.get(var, 0.0) + float(c[k])
        else:
            for j, v in enumerate(self.variables_):
                out[v] = float(resid[j]) if resid is not None else 0.0
        top = sorted(out.items(), key=lambda kv: -abs(kv[1]))[:5]
        return {k: round(v, 4) for k, v in top}

    def score(self, frame: pd.DataFrame) -> dict[str, Any]:
        """Alarms of one batch, as the CLI prints them.

        Returns
        -------
        dict
            ``first_alarm_h`` (float or None) and ``alarms``: one dict per alarm onset with
            ``time_h``, ``kind`` (``process`` for T2/SPE, ``sensor`` for redundancy,
            ``equipment`` for degradation indicators), ``statistic`` (``T2``, ``SPE``,
            ``residual``, ``degradation``) and ``contributions`` ({variable: contribution},
            the five largest); equipment alarms add ``rul_h`` (None without a failure level).
        """
        tr = self.trajectory(frame)
        feats = self._feats(frame)
        Z = self.core_.standardise(feats, self.feature_names_)
        alarms: list[dict[str, Any]] = []
        k = self.persistence
        t = tr[TIME].to_numpy()
        res_cols = [f"residual({v})" for v in self.variables_]
        series = {"T2": tr["T2"].to_numpy(), "SPE": tr["SPE"].to_numpy(),
                  "residual": tr[res_cols].to_numpy().max(axis=1)}
        for stat, ratio in series.items():
            on = running_min(ratio, k) > 1.0
            starts = np.flatnonzero(on & ~np.r_[False, on[:-1]])
            for i in starts:
                resid = tr[res_cols].to_numpy()[i] if stat == "residual" else None
                alarms.append({"time_h": float(t[i]), "kind": "sensor" if stat == "residual" else "process",
                               "statistic": stat, "contributions": self._contributions(Z[i], stat, resid)})
        for col, dm in getattr(self, "equipment_", {}).items():
            if col not in frame:
                continue
            s = dm.score(t, frame[col].to_numpy(float))
            on = s["alarm"].to_numpy()
            if on.any():
                i = int(np.argmax(on))
                dev = (float(s["ewma"].iloc[i]) - dm.baseline_mean_) * dm._sign() / dm.ewma_sd_
                rul = float(s["rul_h"].iloc[i])
                alarms.append({"time_h": float(t[i]), "kind": "equipment", "statistic": "degradation",
                               "contributions": {col: round(float(dev), 4)},
                               "rul_h": rul if np.isfinite(rul) else None})
        alarms.sort(key=lambda a: a["time_h"])
        return {"first_alarm_h": alarms[0]["time_h"] if alarms else None, "alarms": alarms}

    def metadata(self) -> dict[str, Any]:
        """What the JSON sidecar records."""
        return {"kind": "monitor", "variables": self.variables_, "features": self.feature_names_,
                "exclude": list(self.exclude), "persistence": self.persistence,
                "n_components": int(self.core_.P.shape[1]),
                "limit_factor": self.factor_, "atypical_batches": self.atypical_batches_,
                "equipment": {c: {"baseline": dm.baseline_mean_, "k_sd": dm.k_sd, "threshold": dm.threshold}
                              for c, dm in getattr(self, "equipment_", {}).items()},
                "oof_false_alarm_rate": self.oof_false_alarm_rate_}

"""A soft sensor for any fed-batch process: batches in, a virtual assay with intervals out.

Workflow: pick the input columns (every numeric column common to the training batches but
the target and the excluded ones, constant ones dropped), find the volume-like ones from
the data, engineer causal features per batch on the full online history
(:func:`biotwin.softsensors.features.engineer`: values, running and double integrals, rates,
amounts per volume), keep the rows where the target was assayed, choose the regressor by
cross-validation grouped by batch (PLS, ridge and the lasso on the features, PLS on the raw
inputs, boosting, GP, and means of the best), calibrate conformal intervals on its out-of-fold
residuals and fit an applicability domain on the inputs. No variable name is assumed.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, clone

from biotwin.batchdata.align import regrid, sampling_interval, warn_if_coarser
from biotwin.batchdata.gaps import bridge, dense_columns, gap_rows
from biotwin.batchdata.io import TIME, BatchSet, _as_frames, id_ranks, input_columns, to_frame, warn_unknown
from biotwin.batchdata.spectra import spectral_blocks, spectral_derivative
from biotwin.errors import DataError
from biotwin.softsensors import adapt
from biotwin.softsensors.estimators import (
    ApplicabilityDomain,
    BoostingRegressor,
    ColumnsRegressor,
    ConformalRegressor,
    GPRegressor,
    LassoRegressor,
    MeanRegressor,
    PLSRegressor,
    RidgeRegressor,
    _folds,
    out_of_fold_many,
)
from biotwin.softsensors.features import (
    check_features,
    engineer,
    ewma,
    hold,
    is_leak,
    local_linear_ewma,
    volume_like,
)

#: Regressors :class:`SoftSensor` can choose between: PLS, ridge and the lasso on the
#: engineered features (tuned over components / penalty), PLS on the raw inputs only,
#: boosting, GP.
CANDIDATES = ("pls", "ridge", "lasso", "rawpls", "gbm", "gp")
PLS_COMPONENTS = (1, 2, 3, 5, 8, 12, 16, 24, 32)
#: More components for wide inputs, each tried when the PLS sees at least four columns per
#: component (a spectrum): a Raman spectrum's PLS keeps improving to 64-96 components.
#: Measured on IndPenSim with every column and the Raman spectrum, penicillin assayed on the
#: row (bench/penicillin_process.py --full-columns --raman, in-process): the grid to 32 chose
#: ridge, 0.0094 g/L on the test assays, against 0.0087 for the bench's tuned PLS of 96
#: components; with these, a mean of the 96-component PLS on the raw inputs and ridge,
#: 0.0089 g/L. Cross-validating them costs one larger fit per fold (out_of_fold_many).
WIDE_PLS_COMPONENTS = (48, 64, 96)
RIDGE_ALPHAS = (1e-5, 1e-4, 1e-3, 1e-2, 1e-1, 1.0)
LASSO_ALPHAS = (1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2, 1e-1)
#: Inputs are limited to their training range widened by this fraction of it on each side
#: before the features are made (``input_bounds_``): moderate extrapolation passes, a reading
#: far beyond anything seen does not.
INPUT_MARGIN = 1.0
#: Each instantaneous feature (value, rate, ratio) is limited to its range over the assayed
#: training rows widened by this fraction of it on each side before the regressor sees it
#: (``feature_bounds_``).
FEATURE_MARGIN = 0.1
#: Time constants of the leaky integrals (``leak{tau}h(v)``) as fractions of the median
#: training batch duration: 23 and 80 h for IndPenSim's 230-h batches. Measured there (23
#: columns, assays with 3 % noise, bench/penicillin_process.py --assay-cv 0.03), with every
#: candidate seeing them: penicillin test RMSE 0.891 g/L without them, 0.824 with these two
#: (0.864 with 10 and 40 h, 0.828 with 40 and 160 h, 0.844 with 20 h alone, as a
#: feature experiment); as the code has them (``leak_`` candidates), 0.837; see docs/monitoring.md.
LEAK_FRACTIONS = (0.1, 0.35)
#: How a spectrum's channels can be smoothed in time (``SoftSensor(spectra_smoothing=...)``):
#: ``auto`` chooses between the other two by cross-validation.
SPECTRA_SMOOTHING = ("auto", "local-linear", "ewma")


def pls_components(n_features: int) -> list[int]:
    """Numbers of PLS components to try on ``n_features`` columns: ``PLS_COMPONENTS`` up to
    ``n_features``, and ``WIDE_PLS_COMPONENTS`` up to a quarter of it."""
    return ([k for k in PLS_COMPONENTS if k <= n_features]
            + [k for k in WIDE_PLS_COMPONENTS if 4 * k <= n_features])


def make_candidates(names: Sequence[str], n_features: int, random_state: int | None = 0,
                    raw_columns: Sequence[int] | None = None) -> dict[str, Any]:
    """The candidate regressors by name (PLS, ridge and lasso expand into one per hyperparameter).

    ``raw_columns`` are the columns of the raw inputs among the features, for ``rawpls``.
    """
    out: dict[str, Any] = {}
    for name in names:
        if name == "pls":
            out.update({f"pls{k}": PLSRegressor(n_components=k) for k in pls_components(n_features)})
        elif name == "ridge":
            out.update({f"ridge{a:g}": RidgeRegressor(alpha=a) for a in RIDGE_ALPHAS})
        elif name == "lasso":
            out.update({f"lasso{a:g}": LassoRegressor(alpha=a) for a in LASSO_ALPHAS})
        elif name == "rawpls":
            cols = list(range(n_features)) if raw_columns is None else list(raw_columns)
            out.update({f"rawpls{k}": ColumnsRegressor(PLSRegressor(n_components=k), cols)
                        for k in pls_components(len(cols))})
        elif name == "gbm":
            out["gbm"] = BoostingRegressor(random_state=random_state)
        elif name == "gp":
            out["gp"] = GPRegressor(random_state=random_state)
        else:
            raise DataError(f"unknown soft-sensor candidate {name!r}; expected some of {CANDIDATES}")
    return out


def family(name: str) -> str:
    """The family of a candidate name: ``pls12`` -> ``pls``, ``ridge0.01`` -> ``ridge``."""
    m = re.match(r"^([a-z_]+?)(\d.*)?$", name)
    return m.group(1) if m else name


def _medians(frames: Sequence[pd.DataFrame], columns: Sequence[str], block: int = 256) -> dict[str, float]:
    """Each column's median over the finite values of every frame, read ``block`` columns at a
    time (one column at a time, 2200 spectral channels of 30 batches took 9 s)."""
    out: dict[str, float] = {}
    cols = list(columns)
    for k in range(0, len(cols), block):
        part = cols[k:k + block]
        a = np.vstack([f[part].to_numpy(float) for f in frames])
        out.update(zip(part, map(float, np.nanmedian(a, axis=0)), strict=True))
    return out


def _uses_leaks(name: str) -> bool:
    """Whether a candidate (or a mean with one among its members) sees the leaky integrals."""
    return "leak_" in name  # leak_..., proc_leak_..., and means with one of them


def _within_one_se(pred: np.ndarray, best: np.ndarray, y: np.ndarray, groups: np.ndarray) -> bool:
    """Whether ``pred``'s squared error exceeds ``best``'s by at most one standard error (batches as units)."""
    d = (y - pred) ** 2 - (y - best) ** 2
    _, inv = np.unique(groups, return_inverse=True)
    per = np.bincount(inv, weights=d) / max(1, len(y)) * (inv.max() + 1)  # per-batch share, mean = mean(d)
    if len(per) < 2:
        return bool(np.mean(d) <= 0)
    return bool(np.mean(d) <= np.std(per, ddof=1) / np.sqrt(len(per)))


def _even(idx: np.ndarray, n: int) -> np.ndarray:
    if len(idx) <= n:
        return idx
    return idx[np.unique(np.linspace(0, len(idx) - 1, n).astype(int))]


class SoftSensor(BaseEstimator):
    """Virtual assay of one column (``target``) from the other columns of a batch.

    Parameters
    ----------
    target : str
        Column to infer, e.g. ``"titre [mg/L]"``; rows where it is missing are not used.
    exclude : sequence of str
        Columns never used as inputs (e.g. other offline assays).
    candidates : sequence of str
        Regressor families to choose between by grouped cross-validation: ``pls``, ``ridge``,
        ``lasso`` (on the engineered features), ``rawpls`` (PLS on the raw inputs), ``gbm``, ``gp``; the
        mean of the best of the two and three best families competes too.
    cv : int
        Folds; each fold holds out whole batches.
    alpha : float
        Miscoverage of the conformal intervals (0.1 -> 90 % intervals).
    rate_window_h : float
        Window of the rate features [h].
    max_rows : int
        Labelled rows kept for fitting (evenly spaced within each batch beyond that).
    random_state : int, optional
    smooth_h : float
        Time constant [h] of the causal smoothing of the input values before the features.
    spectra : bool
        Treat blocks of spectral channels (:func:`~biotwin.batchdata.spectra.spectral_blocks`)
        as spectra: each channel's value and the block's Savitzky-Golay first derivative along
        the channels (:func:`~biotwin.batchdata.spectra.spectral_derivative`), which removes
        additive baselines such as fluorescence (Rinnan, van den Berg & Engelsen 2009, Trends
        Anal Chem 28:1201, doi:10.1016/j.trac.2009.07.007), instead of integrals and rates of
        every channel. Each candidate but ``rawpls`` is then also tried on the process features
        alone (named ``proc_`` + its name, e.g. ``proc_lasso0.001``), for a target the spectrum
        does not see.
    leak_fractions : sequence of float
        Time constants of the leaky integrals of every process input
        (:func:`~biotwin.softsensors.features.leaky_integral`), as fractions of the median
        duration of the training batches; ``()`` for none.
    spectra_smoothing : {"auto", "local-linear", "ewma"}
        How the channels of a spectrum are smoothed in time over ``smooth_h``:
        ``local-linear`` (:func:`~biotwin.softsensors.features.local_linear_ewma`, Brown's
        double smoothing, which follows a steady rise without lag), ``ewma`` (the single
        exponential smooth the process inputs get, which lags a steady rise by ``smooth_h``),
        or ``auto``: the one whose ridge path (``RIDGE_ALPHAS``) has the smaller out-of-fold
        RMSE on the training batches, before the candidates are fitted. Which is better
        depends on when the target is measured: IndPenSim with every column and its Raman
        spectrum, test RMSE of penicillin, single -> local-linear: the simulator's penicillin
        on every row 0.0060 -> 0.0032 g/L, the assay on its row 0.0089 -> 0.0058, IndPenSim's
        own record (the sample of 0.8 h before the row, which the lagging smooth matches)
        0.0073 -> 0.0118 (docs/monitoring.md).

    Attributes
    ----------
    dt_ : float
        Sampling interval of the training batches [h] (median step).
    variables_ : list of str
        Input columns.
    dense_ : list of str
        Inputs logged on at least half the training rows; an outage of one of them (two or
        more missing rows) is bridged by interpolation once it is back (held while it lasts),
        and its rows are outside the domain: the input there is not measured.
    volumes_ : list of str
        Inputs that behave like a broth volume or weight (they divide amounts into concentrations).
    spectra_ : dict
        Spectral blocks among the inputs: block name -> channel columns.
    leaks_h_ : tuple of float
        Time constants of the leaky integrals [h] (``leak_fractions`` times the median
        training batch duration).
    spectra_smoothing_ : str
        The smoothing of the spectra, ``local-linear`` or ``ewma`` (a model saved before the
        option existed smooths with ``ewma``).
    spectra_smoothing_cv_ : dict
        With ``auto`` and a spectrum among the inputs: each smoothing's out-of-fold RMSE of
        its best ridge [target unit].
    feature_names_ : list of str
    cv_rmse_ : dict
        Out-of-fold RMSE of each candidate [target unit].
    chosen_ : str
    baseline_rmse_ : float
        Out-of-fold RMSE of the best PLS on the raw inputs (no engineered features).
    baseline_ : str
        That PLS (``rawpls`` and its number of components).
    baseline_model_ : ColumnsRegressor
        That PLS fitted on every training row (:meth:`predict_baseline`).
    model_ : ConformalRegressor
    domain_ : ApplicabilityDomain
        Fitted on the rows from each training batch's first to its last assayed row: rows
        before the first assay or after the last (extrapolation in culture time) fall outside.
    update_ : dict
        How :meth:`predict_frame` with ``update=True`` re-anchors on a batch's earlier assays:
        ``mode`` (``none``, ``offset``, ``ratio``), ``forget``, and the out-of-fold RMSE with
        (``rmse``) and without (``rmse_none``) it, each assay predicted from the earlier
        assays of its batch (:func:`biotwin.softsensors.adapt.choose`).
    progress_range_ : dict
        Calibrated range of culture time and of each running integral (feature name ->
        (low, high), widened by 10 % of the range); a row outside it is outside the domain.
    target_bounds_ : tuple of float
        Predictions and intervals are clipped to the assayed range widened by 25 % of it on
        each side (the lower bound never below 0 when no assay was negative).
    input_bounds_ : dict
        Input column -> (low, high): its range over the training rows widened by
        ``INPUT_MARGIN`` (its full width) on each side. A new batch's values beyond are limited
        to it before the features are made, and such rows are outside the domain. A linear
        model carries a coefficient fitted on the training spread; far beyond it, and in
        every running integral after it, that coefficient is extrapolated. Measured on the
        Pichia generator: one test batch (campaign seed 3) whose methanol probe read 0.08
        %v/v at induction, some 36 training standard deviations out, was predicted 0 mg/L
        for the next 24 h against assays of 78-293 mg/L (rows in the domain): titre test
        RMSE 198 mg/L, 96 with the inputs limited. A quarter of the width instead gave 82
        mg/L there, but it also limited a CHO test batch whose OUR ran 60 % of the training
        width above it, and its VCD error grew by 4 %. With the full width, test sets without
        such an excursion are unchanged. Spectral channels are not limited.
    feature_bounds_ : dict
        Instantaneous feature (a value, rate or ratio; not culture time or a running integral)
        -> (low, high): its range over the assayed training rows widened by ``FEATURE_MARGIN``
        (a tenth of it) on each side. The regressor sees each feature limited to it, so a
        controller output or a rate that swings between assays, where the regressor was
        never calibrated, does not swing the prediction (see :meth:`_feature_bounds`). A row
        whose feature lies beyond its assayed range by more than that range's width is
        outside the domain (:meth:`_beyond_features`).
    """

    def __init__(self, target: str = "", exclude: Sequence[str] = (), candidates: Sequence[str] = CANDIDATES,
                 cv: int = 5, alpha: float = 0.1, rate_window_h: float = 2.0, max_rows: int = 6000,
                 random_state: int | None = 0, smooth_h: float = 0.5, spectra: bool = True,
                 leak_fractions: Sequence[float] = LEAK_FRACTIONS, spectra_smoothing: str = "auto") -> None:
        self.target = target
        self.exclude = exclude
        self.candidates = candidates
        self.cv = cv
        self.alpha = alpha
        self.rate_window_h = rate_window_h
        self.max_rows = max_rows
        self.random_state = random_state
        self.smooth_h = smooth_h
        self.spectra = spectra
        self.leak_fractions = leak_fractions
        self.spectra_smoothing = spectra_smoothing

    def _features(self, frame: pd.DataFrame, spectra_smoothing: str | None = None) -> pd.DataFrame:
        """The engineered features of one batch; spectra smoothed as ``spectra_smoothing``
        (``local-linear`` or ``ewma``; by default as fitted, ``spectra_smoothing_``)."""
        blocks: dict[str, list[str]] = getattr(self, "spectra_", {})
        channels = {c for cols in blocks.values() for c in cols}
        process = [v for v in self.variables_ if v not in channels]
        smooth_h = getattr(self, "smooth_h", 0.0)
        frame = bridge(self._limit_inputs(frame), getattr(self, "dense_", []))
        F = engineer(frame, process, rate_window_h=self.rate_window_h, double_integrals=True,
                     volumes=getattr(self, "volumes_", ()), smooth_h=smooth_h, leaks_h=getattr(self, "leaks_h_", ()))
        if not blocks:
            return F
        # spectra: each channel's (smoothed) value, and the block's first derivative along the
        # channels; no integrals or rates of single channels
        # (a block read and smoothed as one array: a column at a time, 2200 Raman channels took
        # 25 of a 171-s fit, most of it pandas' per-column overhead)
        t = frame[TIME].to_numpy(float)
        parts = [F]
        how = spectra_smoothing or getattr(self, "spectra_smoothing_", "ewma")
        smooth = local_linear_ewma if how == "local-linear" else ewma
        for cols in blocks.values():
            S = smooth(t, hold(frame[cols].to_numpy(float)), smooth_h)
            parts.append(pd.DataFrame(S, columns=cols, index=F.index))
            parts.append(pd.DataFrame(spectral_derivative(S), columns=[f"d1({c})" for c in cols], index=F.index))
        return pd.concat(parts, axis=1)

    def _smoothing_cv(self, frames: list[pd.DataFrame], rank: np.ndarray,
                      per_batch: int) -> tuple[dict[str, float], dict[str, dict[str, np.ndarray]]]:
        """Out-of-fold RMSE of the best ridge (``RIDGE_ALPHAS``, features without the leaky
        integrals) with the spectra smoothed each way, on the rows :meth:`fit` trains on; and,
        per smoothing, the ridges' out-of-fold predictions by candidate name (the ``ridge``
        candidates of :meth:`fit` on those features, rows and folds: fit reuses them)."""
        out: dict[str, float] = {}
        oofs: dict[str, dict[str, np.ndarray]] = {}
        for smoothing in ("local-linear", "ewma"):
            feats, ys, groups = [], [], []
            for b, f in enumerate(frames):
                F = self._features(f, smoothing)
                yv = f[self.target].to_numpy(float)
                rows = _even(np.flatnonzero(np.isfinite(yv)), per_batch)
                # the training rows only, without the leaky integrals (not every row of the batch)
                feats.append(F.iloc[rows].drop(columns=[c for c in F.columns if is_leak(c)]).to_numpy())
                ys.append(yv[rows])
                groups.append(np.full(len(rows), rank[b]))
            X, y, g = np.vstack(feats), np.concatenate(ys), np.concatenate(groups)
            if len(y) < 5:
                return {}, {}
            ridges = make_candidates(("ridge",), X.shape[1], self.random_state)
            oofs[smoothing] = out_of_fold_many(ridges, X, y, g, self.cv)
            out[smoothing] = min(float(np.sqrt(np.mean((y - p) ** 2))) for p in oofs[smoothing].values())
        return out, oofs

    def _limit_inputs(self, frame: pd.DataFrame) -> pd.DataFrame:
        """``frame`` with each input limited to ``input_bounds_`` (missing values stay missing)."""
        limited = {v: frame[v].clip(a, b) for v, (a, b) in getattr(self, "input_bounds_", {}).items() if v in frame}
        return frame.assign(**limited) if limited else frame

    def _beyond_inputs(self, frame: pd.DataFrame) -> np.ndarray:
        """Rows where an input lies beyond ``input_bounds_``, shape (n_rows,)."""
        out = np.zeros(len(frame), dtype=bool)
        for v, (a, b) in getattr(self, "input_bounds_", {}).items():
            if v in frame:
                x = frame[v].to_numpy(float)
                with np.errstate(invalid="ignore"):
                    out |= (x < a) | (x > b)
        return out

    def fit(self, batches: BatchSet | Sequence[pd.DataFrame], y: Any = None) -> SoftSensor:
        """Fit on training batches (each a frame with ``time_h``, the inputs and ``target``)."""
        if not all(a > 0 for a in self.leak_fractions):
            raise DataError(f"leak_fractions must be > 0, got {list(self.leak_fractions)}")
        if self.spectra_smoothing not in SPECTRA_SMOOTHING:
            raise DataError(f"spectra_smoothing must be one of {list(SPECTRA_SMOOTHING)}, "
                            f"got {self.spectra_smoothing!r}")
        frames, ids = _as_frames(batches)
        if len(frames) < 2:
            raise DataError("a soft sensor needs at least 2 training batches")
        for i, f in enumerate(frames):
            if self.target not in f:
                raise DataError(f"training batch {ids[i]!r} has no target column {self.target!r}; "
                                f"columns are {list(f.columns)}")
        warn_unknown(frames, list(self.exclude))
        # one sampling interval: smoothing and noise in the features depend on how often a batch
        # is logged, so a batch logged more often than the others is put on the common interval
        # (also when predicting, see ``predict_frame``)
        self.dt_ = sampling_interval(frames)
        frames = [regrid(f, self.dt_) for f in frames]
        self.variables_ = input_columns(frames, [self.target, *self.exclude], ids)
        duration = float(np.median([np.ptp(f[TIME].to_numpy(float)) for f in frames]))
        self.leaks_h_ = tuple(float(f"{a * duration:.3g}") for a in self.leak_fractions) if duration > 0 else ()
        if not self.variables_:
            raise DataError("no usable input column (all excluded, missing or constant)")
        self.spectra_ = spectral_blocks(self.variables_) if getattr(self, "spectra", True) else {}
        channels = {c for cols in self.spectra_.values() for c in cols}
        process = [v for v in self.variables_ if v not in channels]
        self.volumes_ = volume_like(frames, process)
        # signals logged on at least half the rows: their outages are bridged, not held flat
        # (batchdata.gaps.bridge), so running integrals and rates are right once they are back
        self.dense_ = dense_columns(frames, process)
        self.input_bounds_ = {}
        for v in process:
            x = np.concatenate([f[v].to_numpy(float) for f in frames])
            x = x[np.isfinite(x)]
            if len(x):
                lo_v, hi_v = float(x.min()), float(x.max())
                pad = INPUT_MARGIN * max(hi_v - lo_v, 1e-9 * max(abs(lo_v), abs(hi_v), 1.0))
                self.input_bounds_[v] = (lo_v - pad, hi_v + pad)
        feats, raw, ys, groups, domain_rows = [], [], [], [], []
        lows: list[np.ndarray] = []
        highs: list[np.ndarray] = []
        lab_lows: list[np.ndarray] = []
        lab_highs: list[np.ndarray] = []
        per_batch = max(10, self.max_rows // len(frames))
        # each batch's rows are grouped under its rank by id, so the folds do not depend on the
        # order the batches were listed in (:func:`~biotwin.batchdata.io.id_ranks`)
        rank = id_ranks(ids)
        self.spectra_smoothing_cv_: dict[str, float] = {}
        smoothing_oofs: dict[str, dict[str, np.ndarray]] = {}
        if self.spectra_ and self.spectra_smoothing == "auto":
            self.spectra_smoothing_cv_, smoothing_oofs = self._smoothing_cv(frames, rank, per_batch)
        cv_smooth = self.spectra_smoothing_cv_
        self.spectra_smoothing_ = (min(cv_smooth, key=cv_smooth.__getitem__) if cv_smooth
                                   else "local-linear" if self.spectra_smoothing == "auto" else self.spectra_smoothing)
        # the ridges' out-of-fold predictions on the chosen smoothing's features, rows and folds:
        # the ``ridge`` candidates below, which need not be fitted again
        ridge_oofs = smoothing_oofs.get(self.spectra_smoothing_, {})
        for b, f in enumerate(frames):
            F = self._features(f)
            A = F.to_numpy()
            yv = f[self.target].to_numpy(float)
            labelled = np.flatnonzero(np.isfinite(yv))
            rows = _even(labelled, per_batch)
            # rows for the domain: every row of the span the regressor was calibrated on (first
            # to last assayed row of the batch), not the rows before the first assay or after
            # the last, where the model extrapolates; 20000 rows in all at most, fewer for wide
            # inputs (about 4e7 values in memory at most)
            span = A[labelled[0]:labelled[-1] + 1] if len(labelled) else A[:0]
            n_dom = int(min(20000, max(2000, 4e7 // max(1, A.shape[1]))))
            if len(span):
                domain_rows.append(_even(span, max(2, n_dom // len(frames))))
                lows.append(span.min(axis=0))
                highs.append(span.max(axis=0))
            if len(labelled):
                lab_lows.append(A[labelled].min(axis=0))
                lab_highs.append(A[labelled].max(axis=0))
            feats.append(A[rows])
            raw.append(F[[TIME, *self.variables_]].to_numpy()[rows])
            ys.append(yv[rows])
            groups.append(np.full(len(rows), rank[b]))
        X, Xr, yy, g = np.vstack(feats), np.vstack(raw), np.concatenate(ys), np.concatenate(groups)
        if len(yy) < 5:
            raise DataError(f"only {len(yy)} rows have a value of {self.target!r}")
        for tr, te in _folds(len(yy), g, self.cv):
            if len(tr) < 3:
                held = sorted(ids[int(i)] for i in np.argsort(rank)[np.unique(g[te])])
                raise DataError(f"too few rows with a value of {self.target!r} to cross-validate: holding out "
                                f"{held} leaves {len(tr)}; add batches or assays")
        self.feature_names_ = list(F.columns)
        self.n_train_rows_ = len(yy)
        self.target_range_ = float(np.ptp(yy))
        # predictions are bounded to the assayed range widened by a quarter of it on each side,
        # and never below 0 for a target never assayed below 0 (a concentration)
        lo, hi = float(np.min(yy)), float(np.max(yy))
        widen = 0.25 * max(hi - lo, abs(hi) * 1e-6, 1e-12)
        self.target_bounds_ = (max(lo - widen, 0.0) if lo >= 0 else lo - widen, hi + widen)

        def rmse(p: np.ndarray) -> float:
            return float(np.sqrt(np.mean((yy - p) ** 2)))

        raw_cols = [self.feature_names_.index(c) for c in [TIME, *self.variables_]]
        # the leaky integrals are seen only by the linear candidates named ``leak_`` + their
        # name; every other candidate sees the features without them, so cross-validation
        # decides whether they help (they did for IndPenSim's penicillin and hurt a biomass
        # assayed at fixed hours; see LEAK_FRACTIONS)
        leaks = {j for j, c in enumerate(self.feature_names_) if is_leak(c)}
        plain = [j for j in range(X.shape[1]) if j not in leaks]
        cands = make_candidates(self.candidates, len(plain), self.random_state, raw_cols)
        if leaks:
            cands = {n: e if n.startswith("rawpls") else ColumnsRegressor(e, plain) for n, e in cands.items()}
        linear = [c for c in self.candidates if c in ("pls", "ridge", "lasso")]
        # with spectra among the inputs, each candidate also without them (``proc_`` + its
        # name): thousands of noisy channels can drown the process signals of a target the
        # spectrum does not see (IndPenSim's biomass: 0.18 g/L out of fold with the spectrum,
        # 0.085 without it; docs/monitoring.md, "Soft sensor", and "With IndPenSim's Raman spectrum")
        if self.spectra_:
            spectral = channels | {f"d1({c})" for c in channels}
            proc_cols = [j for j, c in enumerate(self.feature_names_) if c not in spectral and j not in leaks]
            for name, est in make_candidates([c for c in self.candidates if c != "rawpls"], len(proc_cols),
                                             self.random_state).items():
                cands[f"proc_{name}"] = ColumnsRegressor(est, proc_cols)
            if leaks:
                proc_leak = [j for j, c in enumerate(self.feature_names_) if c not in spectral]
                for name, est in make_candidates(linear, len(proc_leak), self.random_state).items():
                    cands[f"proc_leak_{name}"] = ColumnsRegressor(est, proc_leak)
        elif leaks:
            cands.update({f"leak_{n}": e for n, e in make_candidates(linear, X.shape[1], self.random_state).items()})
        oofs = out_of_fold_many(cands, X, yy, g, self.cv, known=ridge_oofs)
        # baseline: tuned PLS on the raw inputs (what the soft sensor has to beat)
        base = {name: rmse(p) for name, p in oofs.items() if family(name) == "rawpls"}
        if not base:
            sizes = {f"rawpls{k}": PLSRegressor(n_components=k) for k in PLS_COMPONENTS[:7] if k <= Xr.shape[1]}
            base = {name: rmse(p) for name, p in out_of_fold_many(sizes, Xr, yy, g, self.cv).items()}
        self.baseline_rmse_ = min(base.values())
        self.baseline_ = min(base, key=base.__getitem__)
        # the baseline itself, fitted on every row, so a validation on new batches can measure
        # the soft sensor against it on the same rows (:func:`biotwin.softsensors.validate.validate`)
        self.baseline_model_ = ColumnsRegressor(PLSRegressor(n_components=int(self.baseline_[len("rawpls"):])),
                                                raw_cols).fit(X, yy)
        self.cv_rmse_ = {name: rmse(p) for name, p in oofs.items()}
        # model averaging: the mean of the best of the 2 and 3 best families, and the mean of
        # every candidate within one standard error of the best (an Occam's window, Madigan &
        # Raftery 1994, J Am Stat Assoc 89:1535, doi:10.1080/01621459.1994.10476894, on CV
        # error instead of posterior odds). Out-of-fold predictions of a mean are the mean of
        # out-of-fold predictions on the same folds, so these cost no refit.

        def choose(names: list[str]) -> str:
            """Add the means of ``names`` (as above) and return the best of them and their means."""
            best: dict[str, str] = {}
            ranked = sorted(names, key=self.cv_rmse_.__getitem__)
            for name in ranked:
                best.setdefault(family(name), name)
            tops = list(best.values())
            means = [tops[:m] for m in (2, 3) if len(tops) >= m]
            window = [n for n in ranked if _within_one_se(oofs[n], oofs[ranked[0]], yy, g)][:8]
            if len(window) >= 2 and window not in means:
                means.append(window)
            keys = list(names)
            for members in means:
                key = "mean(" + ",".join(members) + ")"
                cands[key] = MeanRegressor([clone(cands[n]) for n in members])
                oofs[key] = np.mean([oofs[n] for n in members], axis=0)
                self.cv_rmse_[key] = rmse(oofs[key])
                keys.append(key)
            return min(keys, key=self.cv_rmse_.__getitem__)

        # the candidates with the leaky integrals are kept only when they beat the best without
        # them by more than one standard error (batches as units; the one-standard-error rule of
        # Breiman et al. 1984, Classification and Regression Trees, ch. 3): 22 more candidates
        # on the same batches win by chance too (the virtual plant's titre, campaign seed 4)
        singles = list(self.cv_rmse_)
        self.chosen_ = choose([n for n in singles if not _uses_leaks(n)])
        if any(_uses_leaks(n) for n in singles):
            with_leaks = choose(singles)
            if not _within_one_se(oofs[self.chosen_], oofs[with_leaks], yy, g):
                self.chosen_ = with_leaks
        # how to re-anchor on a batch's own earlier assays (used by predict_frame(update=True)),
        # chosen on the out-of-fold predictions of each training batch in time order
        self.update_ = adapt.choose([(yy[g == b], oofs[self.chosen_][g == b]) for b in np.unique(g)])
        self.model_ = ConformalRegressor(clone(cands[self.chosen_]), alpha=self.alpha, cv=self.cv).fit(
            X, yy, groups=g, oof=oofs[self.chosen_])
        self.fill_ = _medians(frames, self.variables_)
        self.domain_ = ApplicabilityDomain(alpha=0.001, margin=1.5).fit(np.vstack(domain_rows))
        # the progress features (culture time and the running integrals) must also lie within
        # their calibrated range widened by 10 % of it: T2 sums over components, so a row far
        # beyond the data along one direction (before the first assay) can pass it
        progress = [j for j, c in enumerate(self.feature_names_) if c == TIME or c.startswith(("cum(", "cum2("))]
        lo_f, hi_f = np.min(lows, axis=0)[progress], np.max(highs, axis=0)[progress]
        pad = 0.1 * (hi_f - lo_f)
        self.progress_range_ = {self.feature_names_[j]: (float(a - d), float(b + d))
                                for j, a, b, d in zip(progress, lo_f, hi_f, pad, strict=True)}
        self.feature_bounds_ = self._feature_bounds(np.min(lab_lows, axis=0), np.max(lab_highs, axis=0))
        return self

    def _feature_bounds(self, lo: np.ndarray, hi: np.ndarray) -> dict[str, tuple[float, float]]:
        """Bounds of each instantaneous feature: its range over the assayed training rows widened
        by ``FEATURE_MARGIN`` of it on each side.

        The regressor is calibrated on the assayed rows only. Between assays a rate, a ratio or
        a controller output can take values never seen there (the 2-h rate of a feed right
        after a set-point step, when the assays are taken at fixed hours), and a linear model's
        coefficient, fitted on the narrow spread at the assays, then swings the prediction far
        off. Measured on PenSimPy (IndPenSim) penicillin batches assayed every 12 h: RMSE
        against the noise-free truth over every row 2.80 g/L for penicillin and 0.48 g/L for
        biomass, 0.77 and 0.16 g/L with these bounds (bench/penicillin_process.py, campaign version 1); the
        assayed rows' predictions are the same. Culture time and the running integrals are
        progress features: between two assays they lie between their values there, so they
        are not limited (a batch running longer is flagged by ``progress_range_`` instead).
        Nor are the leaky integrals: limiting them while the plain integrals run on set the two
        against each other beyond the assayed range (the CHO generator's test batch whose
        viable cells outgrew every training batch: error 4.2e9 cells/L with them limited,
        1.2e9 without, 6.9e8 without leaky integrals at all). Spectral channels are not limited.
        """
        blocks: dict[str, list[str]] = getattr(self, "spectra_", {})
        channels = {c for cols in blocks.values() for c in cols}
        out = {}
        for j, name in enumerate(self.feature_names_):
            if name == TIME or name.startswith(("cum(", "cum2(")) or is_leak(name):
                continue
            if name in channels or (name.startswith("d1(") and name[3:-1] in channels):
                continue
            pad = FEATURE_MARGIN * float(hi[j] - lo[j])
            out[name] = (float(lo[j]) - pad, float(hi[j]) + pad)
        return out

    def _bound_arrays(self) -> tuple[np.ndarray, np.ndarray] | None:
        """``feature_bounds_`` as low and high arrays in ``feature_names_`` order (-inf and inf
        for the features without bounds); None for a model saved before they were added."""
        bounds = getattr(self, "feature_bounds_", None)
        if not bounds:
            return None
        lo = np.array([bounds[n][0] if n in bounds else -np.inf for n in self.feature_names_])
        hi = np.array([bounds[n][1] if n in bounds else np.inf for n in self.feature_names_])
        return lo, hi

    def _beyond_features(self, X: np.ndarray) -> np.ndarray:
        """Rows where an instantaneous feature lies beyond its range over the assayed training
        rows by more than that range's width (``INPUT_MARGIN``, the rule of the inputs), shape
        (n_rows,).

        The regressor sees such a feature limited to its bounds, so the prediction there does
        not know the feature's value: measured on the Pichia generator (test seed 2) and on
        PenSimPy biomass, the 90 % intervals held 14-44 % of the true values on those rows,
        against 91-92 % on the rows without any limited feature. A feature constant on the
        assayed rows is left out: the regressor cannot use it, limited or not.
        """
        arrays = self._bound_arrays()
        if arrays is None:
            return np.zeros(len(X), dtype=bool)
        lo_p, hi_p = arrays
        with np.errstate(invalid="ignore"):
            width = (hi_p - lo_p) / (1.0 + 2.0 * FEATURE_MARGIN)  # the assayed range, unpadded
            used = np.isfinite(width) & (width > 0)
            reach = (INPUT_MARGIN - FEATURE_MARGIN) * np.where(used, width, 0.0)
            out = (X < lo_p - reach) | (X > hi_p + reach)
        return (out & used).any(axis=1)

    def _limit_features(self, X: np.ndarray) -> np.ndarray:
        """``X`` (features in ``feature_names_`` order) with each instantaneous feature limited
        to ``feature_bounds_`` (models saved before it was added: unchanged)."""
        arrays = self._bound_arrays()
        return X if arrays is None else np.clip(X, *arrays)

    def predict_frame(self, frame: pd.DataFrame, update: bool = False, baseline: bool = False) -> pd.DataFrame:
        """Predict every row of one batch.

        Parameters
        ----------
        frame : DataFrame, shape (n_rows, n_columns)
            One batch with ``time_h`` [h] and the input columns. An input column that is
            missing or holds no value takes its training median, and then no row counts as
            inside the domain. A batch logged more often than the training batches is put on
            their interval ``dt_`` (:func:`~biotwin.batchdata.align.regrid`), on up to 32
            shifted grids, and each of its rows takes the prediction of the latest tick at or
            before it.
        update : bool
            Re-anchor each row on the batch's own assays of the target (the ``target`` column
            of ``frame``) taken strictly before it, in the form chosen at fit (``update_``;
            :mod:`biotwin.softsensors.adapt`). Off by default: predictions then use the online
            signals alone, as validated.
        baseline : bool
            Add a ``baseline`` column: the tuned PLS on the raw inputs that the fit measured the
            soft sensor against (``baseline_model_``), from the same features (never re-anchored).

        Returns
        -------
        DataFrame, shape (n_rows, 5)
            ``time_h``, ``prediction``, ``lower``, ``upper`` (conformal, ``1 - alpha``, each
            bounded to ``target_bounds_``) and ``in_domain`` (bool: inside the applicability
            domain, which spans the rows from each training batch's first to last assay, with
            every input within ``input_bounds_`` and no row inside an outage of a ``dense_``
            input).
        """
        if baseline and getattr(self, "baseline_model_", None) is None:
            raise DataError("this soft sensor was saved before its baseline PLS was kept: fit it again")
        frame, lost = self._with_inputs(frame)
        res = self._predict_all(frame, lost, baseline)
        how = getattr(self, "update_", {"mode": "none"})
        if update and self.target in frame and how["mode"] != "none":
            y = frame[self.target].to_numpy(float)
            m = np.isfinite(y)
            cols = ["prediction", "lower", "upper"]
            fixed = adapt.apply(res[TIME].to_numpy(), [res[c].to_numpy() for c in cols], res[TIME].to_numpy()[m],
                                y[m], res["prediction"].to_numpy()[m], str(how["mode"]), float(how["forget"]))
            bounds = getattr(self, "target_bounds_", (-np.inf, np.inf))
            lo, hi = np.minimum(fixed[1], fixed[2]), np.maximum(fixed[1], fixed[2])
            res = res.assign(prediction=np.clip(fixed[0], *bounds), lower=np.clip(lo, *bounds),
                             upper=np.clip(hi, *bounds))
        return res

    def _with_inputs(self, frame: pd.DataFrame) -> tuple[pd.DataFrame, bool]:
        """``frame`` with every input column, and whether one was lost: an input that is missing
        or holds no value takes its training median (with a warning)."""
        if TIME not in frame.columns:
            frame = to_frame(frame)
        missing = [v for v in self.variables_ if v not in frame]
        empty = [v for v in self.variables_ if v in frame and not np.isfinite(frame[v].to_numpy(float)).any()]
        if len(missing) + len(empty) == len(self.variables_):
            raise DataError(f"batch has none of the soft sensor's input columns {self.variables_}")
        fill = getattr(self, "fill_", {})
        if missing or empty:  # a lost signal: its training median, and no row is in the domain
            warnings.warn(f"batch has no values of {[*missing, *empty]}: they take their training median, and "
                          f"no row is inside the domain", stacklevel=3)
            frame = frame.assign(**{v: float(fill.get(v, 0.0)) for v in [*missing, *empty]})
        return frame, bool(missing or empty)

    def predict_baseline(self, frame: pd.DataFrame) -> np.ndarray:
        """The baseline's predictions for every row of one batch, shape (n_rows,): the tuned PLS on
        the raw inputs that the fit measured the soft sensor against (``baseline_``), fitted on
        every training row, on the rows and inputs :meth:`predict_frame` uses (its ``baseline``
        column); no interval, domain or bounds on the target."""
        return self.predict_frame(frame, baseline=True)["baseline"].to_numpy(float)

    def _predict_all(self, frame: pd.DataFrame, lost: bool, baseline: bool = False) -> pd.DataFrame:
        dt = getattr(self, "dt_", 0.0)
        warn_if_coarser(frame, dt)
        first = regrid(frame, dt)
        names = ["prediction", "lower", "upper", "in_domain", *(["baseline"] if baseline else [])]
        if first is frame:
            t, *cols = self._predict_rows(frame, lost, baseline)
            return pd.DataFrame({TIME: t, **dict(zip(names, cols, strict=True))})
        # logged more often than the training batches: on their interval, one grid per phase
        # (at most 32), so each row takes the prediction of a tick at most dt / 32 before it
        # and no row waits for the next tick of a single grid
        own = sampling_interval([frame])
        phases = int(min(32, max(1, round(dt / max(own, 1e-12)))))
        rows_t = frame[TIME].to_numpy(float)
        parts, regular = [], []
        for k in range(phases):
            part = self._predict_rows(first if k == 0 else regrid(frame, dt, offset_h=k * dt / phases), lost,
                                      baseline)
            steps = (part[0] - rows_t[0] - k * dt / phases) / dt
            regular.append(np.abs(steps - np.round(steps)) < 1e-6)  # not the first or last row added
            parts.append(part)
        t, *cols = (np.concatenate(a) for a in zip(*parts, strict=True))
        # in time order, and where grids share a time the one it is a regular tick of last
        order = np.lexsort((np.concatenate(regular), t))
        j = np.clip(np.searchsorted(t[order], rows_t + 1e-9, side="right") - 1, 0, len(t) - 1)
        sel = order[j]
        return pd.DataFrame({TIME: rows_t, **{n: c[sel] for n, c in zip(names, cols, strict=True)}})

    def _predict_rows(self, frame: pd.DataFrame, lost: bool, baseline: bool = False) -> tuple[np.ndarray, ...]:
        """Times, prediction, lower, upper and in-domain flags of each row of ``frame`` (and the
        baseline's prediction with ``baseline``)."""
        F = self._features(frame)
        check_features(self.feature_names_, list(F.columns), "soft sensor")
        X = F.to_numpy()
        # the regressor sees each instantaneous feature within its calibrated range; the domain
        # sees the features as they are
        p, lo, hi = self.model_.predict_interval(self._limit_features(X))
        bounds = getattr(self, "target_bounds_", (-np.inf, np.inf))
        p, lo, hi = (np.clip(a, *bounds) for a in (p, lo, hi))
        ok = (self.domain_.predict(X) > 0) & (not lost) & ~self._beyond_inputs(frame) & ~self._beyond_features(X)
        # inside an outage of a signal logged on every row the input is bridged or held, not measured
        ok &= ~gap_rows(frame, getattr(self, "dense_", []))
        for name, (a, b) in getattr(self, "progress_range_", {}).items():
            v = X[:, self.feature_names_.index(name)]
            ok &= (v >= a) & (v <= b)
        if baseline:
            return frame[TIME].to_numpy(float), p, lo, hi, ok, np.asarray(self.baseline_model_.predict(X), float)
        return frame[TIME].to_numpy(float), p, lo, hi, ok

    def predict(self, frame: pd.DataFrame, update: bool = False) -> np.ndarray:
        """Point predictions for every row of one batch, shape (n_rows,) (``update``: see :meth:`predict_frame`)."""
        return self.predict_frame(frame, update=update)["prediction"].to_numpy()

    def metadata(self) -> dict[str, Any]:
        """What the JSON sidecar records."""
        return {"kind": "softsensor", "target": self.target, "exclude": list(self.exclude),
                "variables": self.variables_, "features": self.feature_names_, "chosen": self.chosen_,
                "cv_rmse": self.cv_rmse_, "baseline_pls_raw": self.baseline_,
                "baseline_pls_raw_rmse": self.baseline_rmse_, "alpha": self.alpha,
                "n_train_rows": self.n_train_rows_,
                "target_bounds": list(getattr(self, "target_bounds_", (None, None))),
                "input_bounds": {v: list(b) for v, b in getattr(self, "input_bounds_", {}).items()},
                "feature_bounds": {v: list(b) for v, b in getattr(self, "feature_bounds_", {}).items()},
                "update": getattr(self, "update_", None),
                "spectra": {b: len(c) for b, c in getattr(self, "spectra_", {}).items()},
                "spectra_used": self.spectra_used_,
                "leaks_h": list(getattr(self, "leaks_h_", ())),
                "spectra_smoothing": getattr(self, "spectra_smoothing_", "ewma"),
                "spectra_smoothing_cv_rmse": getattr(self, "spectra_smoothing_cv_", {})}

    @property
    def spectra_used_(self) -> bool:
        """Whether the chosen regressor sees the spectra (False when it is process-only, ``proc_``)."""
        if not getattr(self, "spectra_", {}):
            return False
        name = self.chosen_
        members = name[len("mean("):-1].split(",") if name.startswith("mean(") else [name]
        return any(not m.startswith("proc_") for m in members)

"""The monitor's reference model: trajectories, PCA and redundancy regressions on some batches.

Observation-level model after batch-wise scaling: every feature (each variable and its rate) is
centred and scaled by the reference trajectory at the observation's culture time, then one PCA
is fitted on all standardised observations (Lee, Yoo & Lee 2004, J Biotechnol 110:119,
doi:10.1016/j.jbiotec.2004.01.016; Wold et al. 1998, Chemom Intell Lab Syst 44:331). Hotelling
T2 and SPE are computed for each new observation as it arrives.

Analytical redundancy: each variable is regressed (ridge) on the standardised other variables;
an EWMA of its normalised residual catches a sensor that drifts away from what the others imply,
even while it stays inside the normal envelope (Gertler 1998, Fault Detection and Diagnosis in
Engineering Systems, Marcel Dekker, ch. 6). With the ``nonlinear`` family, boosted trees model
the same relations where they have a kink.

Batch evolution model (the opt-in ``mpls`` family): an observation-level PLS of the features on
culture time, whose scores are charted against the reference batches' score trajectories (Wold
et al. 1998, as above; :meth:`ReferenceModel.evolution`).

:class:`ReferenceModel` is fitted once per cross-validation fold and once on all batches by
:class:`~biotwin.monitoring.mspc.BatchMonitor`.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from biotwin.batchdata.io import TIME
from biotwin.monitoring.stats import hotelling_t2

#: Training batches the monitor's settings are calibrated for (the virtual-plant campaign's 30):
#: the ``nonlinear`` family's rows are thinned for this many, and fewer widen the ``trend``
#: family's time tolerance in proportion.
REFERENCE_BATCHES = 30

#: Share of the reference's span that a spread profile is averaged over (:func:`_spread`).
SPREAD_WINDOW = 0.04

#: Reference points the dynamic time warping of :meth:`ReferenceModel._warp_window` runs on at most.
WARP_POINTS = 200

_PREFIXES = ("rate(", "cum(", "rough(")


def base_variable(name: str) -> str:
    """The variable a feature derives from (``rate(pH [-])`` -> ``pH [-]``)."""
    for p in _PREFIXES:
        if name.startswith(p) and name.endswith(")"):
            return name[len(p):-1]
    return name


def _owners(names: list[str], value_idx: list[int]) -> list[int]:
    """Index (in ``value_idx``) of the variable each feature derives from."""
    pos: dict[str, int] = {}
    for j, i in enumerate(value_idx):
        pos.setdefault(names[i], j)
    return [pos[base_variable(n)] if base_variable(n) in pos else pos[n] for n in names]


def smallest(x: np.ndarray) -> np.ndarray:
    """Along axis 0, the entry smallest in absolute value (signed), shape ``x.shape[1:]``."""
    if len(x) == 1:
        return x[0]
    i = np.argmin(np.abs(np.nan_to_num(x, nan=np.inf)), axis=0)
    return np.take_along_axis(x, i[None], axis=0)[0]


def warp_shift(ref: np.ndarray, x: np.ndarray, band: int) -> np.ndarray:
    """Grid shift of ``x`` against ``ref`` at each index of ``ref`` by penalised dynamic time warping.

    Symmetric steps with Euclidean local distance (Sakoe & Chiba 1978, IEEE Trans ASSP 26:43,
    doi:10.1109/TASSP.1978.1163055) and a penalty on every non-diagonal step equal to the median
    diagonal distance, so that where the trajectories are flat or differ in level the path stays
    on the diagonal instead of wandering (the slope constraint of Kassidas, MacGregor & Taylor
    1998, AIChE J 44:864). Each row is one min-plus scan: ``c[j] = min(a[j], c[j-1] + d[j] + p)``
    equals ``C[j] + min_{k<=j}(a[k] - C[k])`` with ``C`` the cumulative sum of ``d + p``. Returns,
    per index of ``ref``, the matched index of ``x`` minus it, the smallest in size where the
    path holds several.
    """
    n = len(ref)
    d = np.sqrt(((ref[:, None, :] - x[None, :, :]) ** 2).sum(-1))
    ri, rj = np.indices(d.shape)
    pen = float(np.median(np.diag(d))) + 1e-9
    d = np.where(np.abs(ri - rj) > band, np.inf, d)
    cost = np.full((n, n), np.inf)
    cost[0] = np.cumsum(d[0] + pen) - pen
    for i in range(1, n):
        diag = np.r_[np.inf, cost[i - 1, :-1]]
        a = d[i] + np.minimum(diag, cost[i - 1] + pen)
        with np.errstate(invalid="ignore"):
            c = np.cumsum(np.where(np.isfinite(d[i]), d[i] + pen, 1e12))
            cost[i] = c + np.minimum.accumulate(a - c)
        cost[i] = np.where(np.isfinite(d[i]), cost[i], np.inf)
    # backtrack
    i = j = n - 1
    best = np.full(n, n, float)
    best[i] = 0.0
    while i > 0 or j > 0:
        opts = [cost[i - 1, j - 1] if i > 0 and j > 0 else np.inf,
                cost[i - 1, j] + pen if i > 0 else np.inf,
                cost[i, j - 1] + pen if j > 0 else np.inf]
        k = int(np.argmin(opts))
        i, j = (i - 1, j - 1) if k == 0 else (i - 1, j) if k == 1 else (i, j - 1)
        if abs(j - i) < abs(best[i]):
            best[i] = j - i
    return best


def _held_ends(x: np.ndarray) -> np.ndarray:
    """Columns of a grid profile with their missing ends held (the last value where no batch
    lasted that long, the first before), shape as ``x``."""
    return pd.DataFrame(x).ffill().bfill().to_numpy()


def _spread(x: np.ndarray) -> np.ndarray:
    """A spread profile along the grid with its ends held and smoothed by a centred moving average
    per column over :data:`SPREAD_WINDOW` of the grid's span (5 points of 100, 41 of 1000), shape
    as ``x``.

    The window is a share of the batch, not a number of points: a spread from some 30 batches at
    one time is uncertain by about an eighth, and with 1000 reference points a 5-point average left
    chance dips in it that a new batch's deviations then crossed (Bacillus generator: 4 of 50 normal
    batches alarmed with 5 points, 2 with 41, 1 with the 100-point reference of before), while the
    mean needs the fine grid for the recipe's steps.
    """
    x = _held_ends(x)
    half = max(2, round(SPREAD_WINDOW / 2 * (len(x) - 1)))
    kern = np.ones(2 * half + 1) / (2 * half + 1)
    return np.column_stack([np.convolve(np.pad(x[:, k], half, mode="edge"), kern, "valid")
                            for k in range(x.shape[1])])


def _interp_columns(x: np.ndarray, xp: np.ndarray, fp: np.ndarray) -> np.ndarray:
    """:func:`numpy.interp` of every column of ``fp`` (shape (len(xp), n)) at ``x`` at once: linear
    between the points of ``xp``, the end values outside it."""
    from scipy.interpolate import interp1d

    fp = np.asarray(fp, float)
    if len(xp) == 1:
        return np.repeat(fp[:1], len(x), axis=0)
    f = interp1d(np.asarray(xp, float), fp, axis=0, bounds_error=False, fill_value=(fp[0], fp[-1]),
                 assume_sorted=True, copy=False)
    return np.asarray(f(np.asarray(x, float)))


def agreed(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The residual two models agree on: the smaller in size where they have the same sign, 0
    where their signs differ."""
    return np.where(np.sign(a) == np.sign(b), np.sign(a) * np.minimum(np.abs(a), np.abs(b)), 0.0)


def thinned(lengths: Sequence[int], max_rows: int) -> np.ndarray:
    """Mask of the rows of stacked batches (of these lengths) that a model is fitted on: every
    k-th row of each batch, k set by the median batch length and :data:`REFERENCE_BATCHES`
    alone, so that ``max_rows`` holds for that many batches and every fold's model and the final
    one see the same culture times. Rows thinned over the stacked batches would put a recipe
    step (a feed start at 48 h) between other sampled times in each model, and a tree's split on
    time with it: on the virtual plant all 10 normal test batches alarmed at 48.0 h."""
    k = max(1, int(np.ceil(float(np.median(lengths)) * REFERENCE_BATCHES / max_rows)))
    return np.concatenate([np.arange(n) % k == 0 for n in lengths])


def _one_blas_thread() -> Any:
    """Context in which BLAS/LAPACK runs on one thread.

    The p x p eigendecompositions and inverses of a wide monitor are many small BLAS calls; on a
    machine whose cores are busy, threads that wait for each other make them many times slower
    (an eigendecomposition of 620 x 620 took 5 s on two busy cores, 0.04 s on one thread).
    """
    from threadpoolctl import threadpool_limits

    return threadpool_limits(1, user_api="blas")


class ReferenceModel:
    """Reference trajectories + PCA + redundancy regressions fitted on some batches."""

    def __init__(self, n_grid: int, n_components: float, ridge: float, pooled: bool = False, phases: int = 1,
                 time_tolerance: float = 0.0, n_shifts: int = 4, nonlinear: dict[str, Any] | None = None,
                 mpls: int = 0, stale: Sequence[int] = ()) -> None:
        self.n_grid, self.n_components, self.ridge, self.pooled = n_grid, n_components, ridge, pooled
        # variables (positions in ``value_idx``) measured on few rows (offline records, held
        # between samples): no inputs of the other variables' boosted models (:meth:`_boosted`)
        self.stale = [int(j) for j in stale]
        self.nonlinear = nonlinear
        self.mpls = int(mpls)
        self.phases = max(1, int(phases))
        self.time_tolerance, self.n_shifts = float(time_tolerance), int(n_shifts)

    def fit(self, feats: list[pd.DataFrame], names: list[str], value_idx: list[int],
            pca_idx: list[int] | None = None, reg_idx: list[int] | None = None,
            end: float | None = None) -> ReferenceModel:
        # the reference ends where most batches still run (or at ``end``, the same for every
        # fold of one monitor); later times hold its last point
        if end is None:
            end = float(np.quantile([float(f[TIME].iloc[-1]) for f in feats], 0.75))
        self.grid = np.linspace(0.0, end, self.n_grid)
        A = np.full((len(feats), self.n_grid, len(names)), np.nan)
        for b, f in enumerate(feats):
            t = f[TIME].to_numpy(float)
            inside = self.grid <= t[-1] + 1e-9
            A[b, inside] = _interp_columns(self.grid[inside], t, f[names].to_numpy(float))
        with np.errstate(all="ignore"):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                mean = np.nanmean(A, axis=0)
                sd = np.nanstd(A, axis=0)
        # hold the last reference where no batch lasted that long
        mean = _held_ends(mean)
        sd = _spread(sd)
        # a variable that happens to be constant in every reference batch at some time (a pump
        # not yet running) must not turn a small move into a huge standardised value: the
        # floor is the larger of 10 % of its typical spread over time and 5 % of its pooled
        # spread over all batches and times
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            pooled = np.nanstd(A.reshape(-1, A.shape[2]), axis=0)
        floor = np.maximum(0.1 * np.nanmedian(sd, axis=0), 0.05 * np.nan_to_num(pooled)) + 1e-9
        self.mean, self.sd = mean, np.maximum(sd, floor)
        # a robust reference of the variables (median and scaled median absolute deviation over
        # the batches at each time; Hampel 1974, JASA 69:383, doi:10.1080/01621459.1974.10482962)
        # for the ``level`` family: a few batches far off at some time (a pH that falls while the
        # base pump is saturated) pull the mean and widen the spread for every batch, and a drift
        # of the others' size to the quiet side is then lost in it
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            Av = A[:, :, value_idx]
            med = np.nanmedian(Av, axis=0)
            mad = 1.4826 * np.nanmedian(np.abs(Av - med[None]), axis=0)
        med = _held_ends(med)
        mad = _spread(mad)
        self.median, self.mad = med, np.maximum(mad, floor[value_idx])
        # one scale per feature over the whole batch (root mean square of the time-wise spread)
        self.gsd = np.sqrt(np.mean(self.sd**2, axis=0))
        self.window = self._warp_window(A[:, :, value_idx], self.mean[:, value_idx],
                                        np.nan_to_num(pooled[value_idx]) + 1e-9)
        self.pca_idx = list(range(len(names))) if pca_idx is None else list(pca_idx)
        self.reg_idx = list(range(len(names))) if reg_idx is None else list(reg_idx)
        # the standardised rows of all batches, written in place (with many columns these are the
        # largest arrays of the fit): the PCA's columns, and all columns for the regressions
        Z = self._stacked(feats, names, self.pca_idx)
        # principal axes from the eigenvectors of Z'Z (the squared singular values of Z are its
        # eigenvalues): one p x p product and eigendecomposition instead of an SVD of the tall
        # n x p matrix, which is what costs with many columns
        G = Z.T @ Z
        with _one_blas_thread():
            ev, V = np.linalg.eigh(G)
        order = np.argsort(ev)[::-1][: min(Z.shape)]
        ev, V = np.maximum(ev[order], 0.0), V[:, order]
        var = ev / max(len(Z) - 1, 1)
        frac = np.cumsum(var) / var.sum()
        k = int(np.searchsorted(frac, self.n_components) + 1) if self.n_components < 1 else int(self.n_components)
        k = max(1, min(k, len(ev) - 1 if len(ev) > 1 else 1))
        self.P, self.lam = V[:, :k], np.maximum(var[:k], 1e-12)
        # redundancy: each variable's value from the other variables' values, rates and running
        # integrals (the integrals carry amounts: base added, CO2 stripped, O2 taken up)
        self.owner = _owners(names, value_idx)
        # one regression per phase of the batch (stage-based models: a relation between variables
        # that changes with the culture's phase is linear within each phase); each phase is
        # fitted on its own rows plus a quarter phase either side
        tall = np.concatenate([f[TIME].to_numpy(float) for f in feats])
        self.edges = np.linspace(0.0, self.grid[-1], self.phases + 1)
        width = self.edges[1] - self.edges[0]
        del Z
        Zreg = self._stacked(feats, names, None, pooled=self.pooled)
        self.B = [self._regressions(Zreg if np.isinf(lo) and np.isinf(hi) else Zreg[(tall >= lo) & (tall <= hi)],
                                    value_idx) for lo, hi in
                  [(self.edges[p] - 0.25 * width if p > 0 else -np.inf,
                    self.edges[p + 1] + 0.25 * width if p < self.phases - 1 else np.inf)
                   for p in range(self.phases)]]
        self.value_idx = value_idx
        if self.mpls > 0:
            self._fit_evolution(A, feats, names)
        self.nl: list[Any] = []
        if self.nonlinear is not None:
            self.nl = self._boosted(Zreg, tall, [len(f) for f in feats], value_idx, **self.nonlinear)
        return self

    def _fit_evolution(self, A: np.ndarray, feats: list[pd.DataFrame], names: list[str]) -> None:
        """Observation-level PLS of the features on culture time (the batch evolution model of
        multiway PLS: every observation of every batch a row, maturity the response; Wold et al.
        1998, Chemom Intell Lab Syst 44:331).

        The ``mpls`` first latent variables (``evo_R``, X rotations on the globally autoscaled
        features ``pca_idx``) span the directions along which the culture evolves. A batch is
        judged by how far its scores lie from the reference batches' score trajectory at its
        culture time, in units of their spread there (``evo_sd``, on the grid), as in the score
        control charts of the batch evolution model.
        """
        from sklearn.cross_decomposition import PLSRegression

        cols = [names[i] for i in self.pca_idx]
        rows = thinned([len(f) for f in feats], 15000)
        X = np.vstack([f[cols].to_numpy(float) for f in feats])[rows]
        y = np.concatenate([f[TIME].to_numpy(float) for f in feats])[rows]
        # the global scale is kept for scoring; the global mean is not needed there (a batch is
        # judged by its deviation from the reference trajectory)
        self.evo_scale = np.nanstd(X, axis=0) + 1e-9
        k = max(1, min(self.mpls, X.shape[1], len(X) - 1))
        Xs = np.nan_to_num((X - np.nanmean(X, axis=0)) / self.evo_scale)
        pls = PLSRegression(n_components=k, scale=False).fit(Xs, y)
        self.evo_R = pls.x_rotations_
        # each reference batch's score deviations on the grid: (x - reference) / scale projected
        dev = (A[:, :, self.pca_idx] - self.mean[None, :, self.pca_idx]) / self.evo_scale
        T = np.einsum("bgp,pa->bga", dev, self.evo_R)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            sd = np.nanstd(T, axis=0)
        sd = _spread(sd)
        self.evo_sd = np.maximum(sd, 0.1 * np.nanmedian(sd, axis=0) + 1e-9)

    def evolution(self, f: pd.DataFrame, names: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """The batch evolution model's statistic of each observation: the sum over its latent
        variables of the squared score deviation from the reference trajectory in units of its
        spread (a Hotelling T2 of the deviations, their covariance taken diagonal), shape
        (n_rows,); and each feature's share of it (``pca_idx`` columns, summing to it), shape
        (n_rows, n_features)."""
        t = f[TIME].to_numpy(float)
        x = f[[names[i] for i in self.pca_idx]].to_numpy(float)
        dev = (x - _interp_columns(t, self.grid, self.mean[:, self.pca_idx])) / self.evo_scale
        T = dev @ self.evo_R
        s2 = _interp_columns(t, self.grid, self.evo_sd) ** 2
        w = (T / s2) @ self.evo_R.T  # d(T2)/2 per feature: each feature's share is dev * w
        return np.sum(T**2 / s2, axis=1), dev * w

    def _boosted(self, Z: np.ndarray, t: np.ndarray, lengths: list[int], value_idx: list[int], max_rows: int = 15000,
                 max_iter: int = 60, max_leaf_nodes: int = 15, learning_rate: float = 0.2,
                 variables: Sequence[int] | None = None) -> list[Any]:
        """Gradient-boosted trees of each variable on the other variables' features and time.

        The nonlinear counterpart of :meth:`_regressions`: a relation with a kink (a temperature
        that rises once the coolant valve is fully open) is linear on neither side of it, and the
        linear residual of a normal batch at the kink is as large as a drifting sensor's.
        Histogram gradient boosting (Friedman 2001, Ann. Stat. 29:1189, doi:10.1214/aos/1013203451;
        Ke et al. 2017, LightGBM, NeurIPS 30) on at most ``max_rows`` rows, evenly spaced; only
        the variables at positions ``variables`` (all if None). Returns, per variable, its model's
        columns (of ``Z`` and then time) and the fitted model, or None for a variable left out.

        A dense signal's model leaves out the ``stale`` variables (measured on under half the
        rows: offline records held between samples). Held for up to a sampling interval, a lab
        value is a step function that differs from batch to batch; trees that split on its
        steps make large out-of-fold residuals in some batches, and the extreme-value factor
        set from those maxima (:mod:`biotwin.monitoring.limits`) grows with them. Measured on
        IndPenSim with the data set's offline PAA, NH3 and viscosity records among the inputs
        (``bench/penicillin_process.py --full-columns``): the heating-water chart's factor was
        17.2 with them and 3.5 without, and a coolant fault reached 0.51 and 2.31 of the limit
        (missed, and found after 8.6 h; ``docs/monitoring.md``). The linear regressions keep
        them: leaving them out there too found the same faults on IndPenSim but delayed the
        virtual plant's CO2 accumulation (median 0.48 -> 0.68 h), where the at-line samples help.
        """
        from sklearn.ensemble import HistGradientBoostingRegressor

        rows = thinned(lengths, max_rows)
        X = np.column_stack([Z[rows], t[rows]])
        own = np.r_[np.asarray(self.owner), -1]  # time (the last column) belongs to no variable
        used = np.zeros(len(own), bool)
        used[[*self.reg_idx, len(own) - 1]] = True  # the linear regressions' features, and time
        stale = self.stale
        models: list[Any] = []
        for j, vj in enumerate(value_idx):
            if variables is not None and j not in variables:
                models.append(None)
                continue
            # a dense signal's model leaves the stale (offline, held) variables out
            cols = np.flatnonzero((own != j) & used & ((j in stale) | ~np.isin(own, stale)))
            m = HistGradientBoostingRegressor(max_iter=max_iter, max_leaf_nodes=max_leaf_nodes,
                                              learning_rate=learning_rate, early_stopping=False, random_state=0)
            models.append((cols, m.fit(X[:, cols], X[:, vj])))
        return models

    def nl_residuals(self, Z: np.ndarray, t: np.ndarray) -> np.ndarray:
        """Each variable minus its boosted prediction (:meth:`_boosted`), shape (n_rows, n_variables);
        zero for the variables without a model."""
        out = np.zeros((len(Z), len(self.value_idx)))
        if not self.nl:
            return out
        X = np.column_stack([Z, t])
        for j, (model, vj) in enumerate(zip(self.nl, self.value_idx, strict=True)):
            if model is not None:
                out[:, j] = X[:, vj] - model[1].predict(X[:, model[0]])
        return out

    def _stacked(self, feats: list[pd.DataFrame], names: list[str], cols: list[int] | None,
                 pooled: bool = False) -> np.ndarray:
        """:meth:`standardise` of every batch, rows stacked, columns ``cols`` of ``names`` (all for None)."""
        idx = list(range(len(names))) if cols is None else cols
        out = np.empty((sum(len(f) for f in feats), len(idx)))
        r = 0
        for f in feats:
            out[r:r + len(f)] = self.standardise(f, names, pooled=pooled, cols=cols)
            r += len(f)
        return out

    def _regressions(self, Z: np.ndarray, value_idx: list[int]) -> np.ndarray:
        """Ridge coefficients of every variable on the features of all the other variables.

        Column ``j`` of the result (shape (n_features, n_variables)) holds the coefficients of
        variable ``j``'s value on the features in ``reg_idx`` that do not derive from it (zero
        elsewhere), the solution of ``(X'X + ridge n I) b = X'y`` with ``X`` those features.
        All of them come from one inverse: with ``S = Z'Z + ridge n I`` over ``reg_idx`` and
        ``K = S^-1`` (the precision matrix), the regression of a block ``G`` of features on the
        rest has coefficients ``-K_GG^-1 K_G,rest`` (the Schur complement identity behind the
        conditional law of a Gaussian vector; Whittaker 1990, Graphical Models in Applied
        Multivariate Statistics, Wiley, ch. 5; Lauritzen 1996, Graphical Models, Oxford, app.
        C), so one p x p inverse replaces a p x p solve per variable.
        """
        reg = np.asarray(self.reg_idx, int)
        X = Z if np.array_equal(reg, np.arange(Z.shape[1])) else Z[:, reg]
        S = X.T @ X
        S[np.diag_indices_from(S)] += self.ridge * len(X)
        own = np.asarray(self.owner)[reg]
        B = np.zeros((Z.shape[1], len(value_idx)))
        with _one_blas_thread():
            K = np.linalg.inv(S)
            K = 0.5 * (K + K.T)
            for j, vj in enumerate(value_idx):
                g = np.flatnonzero(own == j)
                rest = np.flatnonzero(own != j)
                # the row of -K_GG^-1 K_G,rest that belongs to the variable's value
                e = (reg[g] == vj).astype(float)
                w = np.linalg.solve(K[np.ix_(g, g)], e)
                B[reg[rest], j] = -(w @ K[np.ix_(g, rest)])
        return B

    def _warp_window(self, A: np.ndarray, ref: np.ndarray, scale: np.ndarray) -> np.ndarray:
        """Half-width [h] of the culture-time window each reference time is matched over.

        Each training batch is aligned to the mean trajectory by dynamic time warping of its
        variables (in units of their pooled spread; Kassidas, MacGregor & Taylor 1998, AIChE J
        44:864, doi:10.1002/aic.690440412); at each reference time the window is the largest
        shift any training batch needed there (a phase switch such as an induction that comes
        earlier or later from batch to batch), widened to the neighbouring grid points and by
        ``time_tolerance``. Zero everywhere when ``time_tolerance`` is 0.
        """
        if self.time_tolerance <= 0 or self.n_grid < 3:
            return np.zeros(self.n_grid)
        # on at most WARP_POINTS of the reference points (the warping costs as their square, a
        # million cells per batch at 1000 points), the window then interpolated onto all of them
        sub = np.unique(np.round(np.linspace(0, self.n_grid - 1, min(self.n_grid, WARP_POINTS))).astype(int))
        A, ref, n = A[:, sub], ref[sub], len(sub)
        step = float(self.grid[sub[1]] - self.grid[sub[0]])
        ref = np.nan_to_num(ref) / scale
        shift = np.zeros((len(A), n))
        for b in range(len(A)):
            inside = np.flatnonzero(np.isfinite(A[b]).all(axis=1))
            if len(inside) < 3:
                continue
            m = int(inside[-1]) + 1
            shift[b, :m] = np.abs(warp_shift(ref[:m], np.nan_to_num(A[b, :m]) / scale, max(2, n // 5))) * step
        # the shift that 90 % of the training batches stay within (the largest lets one odd batch
        # set the window)
        w = np.quantile(shift, 0.9, axis=0)
        # the neighbouring grid points' windows too (a running maximum over +-2 points)
        w = np.max(np.vstack([np.pad(w, 2, mode="edge")[k:k + n] for k in range(5)]), axis=0)
        return self.time_tolerance * np.interp(self.grid, self.grid[sub], w)

    def shifted_times(self, t: np.ndarray) -> np.ndarray:
        """Candidate reference times for each observation, shape (2 n_shifts + 1, n_rows); row 0 is ``t``."""
        w = np.interp(t, self.grid, getattr(self, "window", np.zeros(len(self.grid))))
        if not np.any(w > 0):
            return t[None, :]
        u = np.linspace(-1.0, 1.0, 2 * self.n_shifts + 1)
        u = np.r_[0.0, u[u != 0.0]]
        return t[None, :] + u[:, None] * w[None, :]

    def _ref_at(self, tau: np.ndarray, table: np.ndarray, cols: list[int] | None = None) -> np.ndarray:
        """Linear interpolation of reference rows at times ``tau`` (any shape), clamped to the grid."""
        tab = table if cols is None else table[:, cols]
        step = self.grid[1] - self.grid[0] if len(self.grid) > 1 else 1.0
        pos = np.clip(np.ravel(tau) / step, 0.0, len(self.grid) - 1.0)
        i0 = np.minimum(np.floor(pos).astype(int), max(len(self.grid) - 2, 0))
        fr = (pos - i0)[:, None]
        i1 = np.minimum(i0 + 1, len(self.grid) - 1)
        out = tab[i0] * (1.0 - fr) + tab[i1] * fr
        return out.reshape(*np.shape(tau), tab.shape[1])

    def standardise_shifted(self, f: pd.DataFrame, names: list[str], pooled: bool = False) -> np.ndarray:
        """:meth:`standardise` against the reference at each candidate time of :meth:`shifted_times`,
        shape (n_candidates, n_rows, n_features); candidate 0 is the observation's own time."""
        tau = self.shifted_times(f[TIME].to_numpy(float))
        x = f[names].to_numpy(float)[None, :, :]
        mu = self._ref_at(tau, self.mean)
        if pooled:
            return (x - mu) / self.gsd
        return (x - mu) / self._ref_at(tau, self.sd)

    def robust_shifted(self, f: pd.DataFrame, names: list[str]) -> np.ndarray:
        """Each variable's deviation from the robust reference (median over the batches) in its
        scaled MAD at each candidate time of :meth:`shifted_times`, shape (n_candidates, n_rows,
        n_variables)."""
        tau = self.shifted_times(f[TIME].to_numpy(float))
        x = f[[names[i] for i in self.value_idx]].to_numpy(float)[None, :, :]
        return (x - self._ref_at(tau, self.median)) / self._ref_at(tau, self.mad)

    def standardise(self, f: pd.DataFrame, names: list[str], pooled: bool = False,
                    cols: list[int] | None = None) -> np.ndarray:
        """Deviations from the reference at each observation's time, divided by the reference
        spread at that time, or (``pooled``) by one spread per feature over the batch; only the
        features ``cols`` (positions in ``names``) if given."""
        t = f[TIME].to_numpy(float)
        idx = slice(None) if cols is None else cols
        x = f[names if cols is None else [names[i] for i in cols]].to_numpy(float)
        mu = _interp_columns(t, self.grid, self.mean[:, idx])
        if pooled:
            return (x - mu) / self.gsd[idx]
        return (x - mu) / _interp_columns(t, self.grid, self.sd[:, idx])

    def stats(self, Zall: np.ndarray, t: np.ndarray,
              Zreg: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        Z = Zall[:, self.pca_idx]
        T = Z @ self.P
        E = Z - T @ self.P.T
        Zreg = Zall if Zreg is None else Zreg
        phase = np.clip(np.searchsorted(self.edges, t, side="right") - 1, 0, self.phases - 1)
        R = np.empty((len(Zall), len(self.value_idx)))
        for p in np.unique(phase):
            rows = phase == p
            R[rows] = Zreg[rows][:, self.value_idx] - Zreg[rows] @ self.B[p]
        return hotelling_t2(T, self.lam), np.sum(E**2, axis=1), R



"""Control limits of the batch monitor's charts: time-varying quantiles and batch-level factors.

Each chart's observation-level limit is the ``q`` quantile of its out-of-fold statistic along
culture time (:func:`tv_limit`; per side for lopsided signed charts, :func:`tv_limit_sided`);
a factor on it (:func:`batch_factor`) then makes the persistence rule alarm on at most a given
share of new normal batches, from an extreme-value law fitted to one out-of-fold maximum per
batch, floored at a margin over the largest training maximum where a leave-one-batch-out check
shows the fitted tail too thin (:func:`loo_margin`). :class:`~biotwin.monitoring.mspc.BatchMonitor`
calls these on its folds' statistics.
"""

from __future__ import annotations

import warnings

import numpy as np


def tv_limit(times: np.ndarray, values: np.ndarray, grid: np.ndarray, q: float, halfwidth: int = 3) -> np.ndarray:
    """Time-varying limit: the ``q`` quantile of the values within ``halfwidth`` grid steps of each point.

    Floored at the overall 90 % quantile so quiet phases keep a sensible limit, or where that is
    0 (a CUSUM that stays at 0 most of the time) at a tenth of the overall ``q`` quantile: a
    limit of 0 made any positive value an alarm of ratio 1e12 and more (PenSimPy batches cut at
    170-230 h: one fold's CUSUM limit on the vessel volume was 0 over 23 grid points, and 5 of
    30 training batches came out atypical from it); shape ``(n_grid,) + values.shape[1:]``. A
    window with fewer than 20 values takes the overall quantile.
    """
    return _run_limit(*_windows(times, values, grid, halfwidth), q).reshape(len(grid), *values.shape[1:])


def _run_limit(vt: np.ndarray, runs: list[tuple[int, int]], q: float) -> np.ndarray:
    """:func:`tv_limit` on values already in windows (:func:`_windows`), shape (n_grid, n_columns)."""
    overall = np.quantile(vt, q, axis=1)
    floor = _floor(np.quantile(vt, 0.9, axis=1), overall)
    out = np.empty((len(runs), vt.shape[0]))
    for g, (lo, hi) in enumerate(runs):
        out[g] = np.quantile(vt[:, lo:hi], q, axis=1) if hi - lo >= 20 else overall
    return np.maximum(out, floor)


def _floor(q90: np.ndarray, overall: np.ndarray) -> np.ndarray:
    """A time-varying limit's floor: the overall 90 % quantile, or where that is 0 a tenth of the
    overall ``q`` quantile (see :func:`tv_limit`)."""
    return np.where(q90 > 0, q90, 0.1 * overall)


def _windows(times: np.ndarray, values: np.ndarray, grid: np.ndarray,
             halfwidth: int) -> tuple[np.ndarray, list[tuple[int, int]]]:
    """The values one row per column in time order, shape (n_columns, n_values), and for each
    grid point the run ``[lo, hi)`` of them within ``halfwidth`` grid steps (the last window
    also takes every later value): |t - tg| is monotone on either side of tg, so each window is
    a contiguous run."""
    step = grid[1] - grid[0] if len(grid) > 1 else 1.0
    order = np.argsort(times, kind="stable")
    ts = times[order]
    vt = np.ascontiguousarray(values.reshape(len(values), -1)[order].T)
    runs = []
    for g, tg in enumerate(grid):
        sel = np.abs(ts - tg) <= halfwidth * step
        if g == len(grid) - 1:
            sel |= ts > tg
        idx = np.flatnonzero(sel)
        runs.append((int(idx[0]), int(idx[-1]) + 1) if idx.size else (0, 0))
    return vt, runs


def tv_limit_sided(times: np.ndarray, values: np.ndarray, grid: np.ndarray, q: float,
                    halfwidth: int = 3, mask: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Time-varying limits of a signed statistic, one per side: the ``q`` quantile of the sizes
    of the values above (below) zero within ``halfwidth`` grid steps of each point.

    A variable held at its set point by a controller that saturates one way (a pH that falls
    when the base pump is at its maximum, a temperature that rises when the coolant valve is
    fully open) has a long tail on one side of its reference and a tight band on the other; one
    limit on the size would set both at the long tail's width and hide a drift to the quiet
    side. Each side is :func:`tv_limit` on the conditional distribution of that side's values
    (a window with fewer than 20 of them takes the side's overall quantile, a side with fewer
    than 20 values in all the two-sided limit), floored as :func:`tv_limit` is. Columns
    where ``mask`` is False get the two-sided limit on both sides. Returns ``(upper, lower)``,
    both positive, shape ``(n_grid,) + values.shape[1:]``.
    """
    vt, runs = _windows(times, values, grid, halfwidth)
    both = _run_limit(np.abs(vt), runs, q)
    sides = []
    for sign in (1.0, -1.0):
        side = np.where(sign * vt > 0, np.abs(vt), np.nan)
        count = np.sum(np.isfinite(side), axis=1)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # an all-NaN column (no value on a side)
            overall = np.nanquantile(side, q, axis=1)
            floor = _floor(np.nanquantile(side, 0.9, axis=1), overall)
        out = np.empty((len(grid), vt.shape[0]))
        for g, (lo, hi) in enumerate(runs):
            out[g] = overall
            if hi > lo:
                win = side[:, lo:hi]
                enough = np.sum(np.isfinite(win), axis=1) >= 20
                if enough.any():
                    out[g, enough] = np.nanquantile(win[enough], q, axis=1)
        out = np.maximum(out, floor)
        keep = count >= 20
        if mask is not None:
            keep &= np.asarray(mask, bool).reshape(-1)
        out = np.where(keep[None, :] & np.isfinite(out), out, both)
        sides.append(out.reshape(len(grid), *values.shape[1:]))
    return sides[0], sides[1]


def batch_factor(maxima: np.ndarray, alpha: float, margin: float = 1.0) -> float:
    """Factor on a limit so that at most ``alpha`` of normal batches exceed it.

    The batch maxima of a statistic follow an extreme-value law (Gumbel 1958, Statistics of
    Extremes, Columbia Univ. Press; Coles 2001, An Introduction to Statistical Modeling of
    Extreme Values, Springer, ch. 3): a light-tailed (Gumbel) and a heavy-tailed (Frechet,
    i.e. Gumbel on the log of the maxima) law are fitted to the out-of-fold maxima, the one
    with the higher likelihood kept (both have two parameters), and its ``1 - alpha``
    quantile taken, so the factor extrapolates beyond the few training batches instead of
    stopping at their largest (the batch-level analogue of an ARL-based decision interval,
    Montgomery 2019, ch. 9). A chart whose maxima come in bursts (a concentration that
    accumulates now and then, a CUSUM) gets the heavy tail it has: with the Gumbel law only,
    such charts raised 7 of 50 normal Pichia batches at a 5 % budget, 1 of 50 with the
    choice. Never below ``margin`` times the largest maximum, nor below 1; ``alpha = 0`` gives
    the largest maximum times ``margin`` (at least 1).
    """
    from scipy import stats

    m = np.asarray(maxima, float)
    m = m[np.isfinite(m)]
    top = max(1.0, float(margin) * float(np.max(m, initial=0.0)))
    # maxima equal to within rounding (a chart every batch tops at the same floor) have no
    # spread to fit: scipy's Gumbel fit then drives its scale to 0 and overflows
    if alpha <= 0 or m.size < 5 or np.ptp(m) <= 1e-9 * max(1.0, float(np.max(np.abs(m)))):
        return max(1.0, top)
    try:
        loc, sc = stats.gumbel_r.fit(m)
        q = float(stats.gumbel_r.ppf(1.0 - alpha, loc, sc))
        if m.min() > 0:
            lm = np.log(m)
            loc2, sc2 = stats.gumbel_r.fit(lm)
            light = float(stats.gumbel_r.logpdf(m, loc, sc).sum())
            heavy = float(stats.gumbel_r.logpdf(lm, loc2, sc2).sum() - lm.sum())  # with the Jacobian of log
            if heavy > light:
                q = float(np.exp(stats.gumbel_r.ppf(1.0 - alpha, loc2, sc2)))
    except (OverflowError, FloatingPointError, RuntimeError, ValueError):  # a degenerate fit
        return max(1.0, top)
    return max(1.0, top, q if np.isfinite(q) else top)




def loo_margin(maxima: np.ndarray, alpha: float) -> float:
    """The smallest margin (at least 1) on :func:`batch_factor` under which no batch's maximum
    exceeds the factor fitted without it, over the columns (charts) of ``maxima``.

    A leave-one-batch-out check of the extreme-value extrapolation (the jackknife idea of
    Quenouille 1956, Biometrika 43:353, doi:10.1093/biomet/43.3-4.353, applied to a tail
    quantile): each batch is judged as a new batch would be, by the factor the others give.
    Where the maxima cluster, the fitted law's tail is too thin and a left-out batch lands
    beyond it; the margin is what that batch says the family's factors lack. On well-modelled
    charts every left-out batch stays below its factor and the margin is 1.

    Parameters
    ----------
    maxima : ndarray, shape (n_batches,) or (n_batches, n_charts)
        Each batch's out-of-fold maximum ratio per chart (typical batches only).
    alpha : float
        Each chart's share of the false-alarm budget.
    """
    m2 = np.asarray(maxima, float).reshape(len(maxima), -1)
    worst = 1.0
    if alpha <= 0 or m2.shape[0] < 6:
        return worst
    for j in range(m2.shape[1]):
        m = m2[:, j]
        m = m[np.isfinite(m)]
        if m.size < 6 or np.ptp(m) <= 1e-9 * max(1.0, float(np.max(np.abs(m)))):
            continue
        # only the largest maximum can exceed the factor of the others: that factor is never
        # below their largest, which bounds every other batch's maximum
        i = int(np.argmax(m))
        worst = max(worst, float(m[i]) / batch_factor(np.delete(m, i), alpha))
    return worst

"""Align batches of different lengths onto one grid, and unfold the three-way array.

Three ways to put batches on a common axis:

- ``by="time"``: culture time (the default, the only causal one for online use);
- ``by=<column>``: a monotone indicator variable, e.g. cumulative feed or cumulative OUR
  (``cumulative=True`` integrates the column over time first), Nomikos & MacGregor 1995,
  AIChE J 40:1361, doi:10.1002/aic.690400809;
- ``method="dtw"``: dynamic time warping of each batch against a reference batch
  (Kassidas, MacGregor & Taylor 1998, AIChE J 44:864, doi:10.1002/aic.690440412).

Unfolding (Wold et al. 1998, Chemom Intell Lab Syst 44:331): batch-wise gives
``(n_batches, n_points * n_variables)`` (variables fastest), observation-wise gives
``(n_batches * n_points, n_variables)``.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy.integrate import cumulative_trapezoid

from biotwin.batchdata.io import TIME
from biotwin.errors import DataError


def sampling_interval(frames: Sequence[pd.DataFrame]) -> float:
    """Median positive step between successive rows of ``frames`` [h] (1.0 without any)."""
    dts = np.concatenate([np.diff(f[TIME].to_numpy(float)) for f in frames]) if frames else np.zeros(0)
    dts = dts[dts > 0]
    return float(np.median(dts)) if dts.size else 1.0


def warn_if_coarser(frame: pd.DataFrame, dt_h: float, factor: float = 1.5) -> None:
    """Warn when ``frame`` is logged more than ``factor`` times as coarsely as ``dt_h``.

    A model calibrated on rows every ``dt_h`` cannot put a coarser batch on its footing (a
    finer one is regridded): its smoothing, rates and persistence rules then span more time
    than they were calibrated for.
    """
    if dt_h > 0 and len(frame) >= 2:
        own = sampling_interval([frame])
        if own > factor * dt_h:
            warnings.warn(f"batch logged every {own:.3g} h, more coarsely than the {dt_h:.3g} h the model was "
                          "calibrated on: its results may differ from those validated", stacklevel=3)


def regrid(frame: pd.DataFrame, dt_h: float, tolerance: float = 0.75, offset_h: float = 0.0) -> pd.DataFrame:
    """One batch on a coarser sampling interval: rows every ``dt_h`` from its first row.

    A model calibrated on rows every ``dt_h`` (a monitor's persistence rule, EWMA and CUSUM
    charts, their false-alarm budget) counts rows, so a batch logged ten times as often would
    meet ten times as many chances to cross its limits. Each new row at tick ``g`` takes, per
    column, the last finite value in ``(g - dt_h, g]``: a point sample of each dense signal as
    in training, and every sparse value (an at-line assay between two ticks) kept on the next
    tick, never dropped. A last tick at the batch's last row keeps the newest data. Batches
    sampled at ``tolerance * dt_h`` or coarser are returned unchanged.

    Parameters
    ----------
    frame : DataFrame, shape (n_rows, n_columns)
        One batch with ``time_h`` [h], sorted.
    dt_h : float
        Target sampling interval [h].
    tolerance : float
        Regrid only when the batch's own interval is below ``tolerance * dt_h``.
    offset_h : float
        Shift of the ticks after the first row [h], ``0 <= offset_h < dt_h``: ticks at the
        first row's time and then every ``dt_h`` from ``offset_h`` after it (a grid per phase
        lets every row of a finely logged batch close an interval of its own).

    Returns
    -------
    DataFrame, shape (n_ticks, n_columns)
    """
    if dt_h <= 0 or len(frame) < 2 or sampling_interval([frame]) >= tolerance * dt_h:
        return frame
    t = frame[TIME].to_numpy(float)
    start = t[0] + offset_h % dt_h
    ticks = start + dt_h * np.arange(max(0, int(np.floor((t[-1] - start) / dt_h + 1e-9))) + 1)
    if ticks[0] - t[0] > 1e-9:
        ticks = np.insert(ticks, 0, t[0])
    if t[-1] - ticks[-1] > 1e-9:
        ticks = np.append(ticks, t[-1])
    # row i belongs to the first tick at or after it: (g_{k-1}, g_k]
    k = np.searchsorted(ticks, t - 1e-9, side="left")
    out = frame.drop(columns=TIME).groupby(k).last()  # last non-missing value per column
    out = out.reindex(np.arange(len(ticks)))
    out.insert(0, TIME, ticks)
    return out.reset_index(drop=True)


def _filled(frame: pd.DataFrame, col: str) -> np.ndarray:
    """A column with gaps filled (interpolated inside, held at the ends)."""
    s = frame[col].astype(float)
    if s.notna().sum() == 0:
        return np.zeros(len(s))
    return s.interpolate(limit_direction="both").to_numpy()


def indicator_grid(frame: pd.DataFrame, column: str, cumulative: bool = False) -> np.ndarray:
    """The indicator of one batch, made monotone non-decreasing.

    Parameters
    ----------
    frame : DataFrame, shape (n_rows, n_columns)
        With ``time_h`` [h].
    column : str
        The indicator column, e.g. a cumulative feed [L] or OUR [mM/h] with ``cumulative=True``.
    cumulative : bool
        Integrate the column over time first (trapezoid), e.g. OUR -> cumulative O2 [mM].

    Returns
    -------
    ndarray, shape (n_rows,)
    """
    if column == TIME:
        return frame[TIME].to_numpy(dtype=float)
    if column not in frame:
        raise DataError(f"no indicator column {column!r}")
    v = _filled(frame, column)
    if cumulative:
        v = cumulative_trapezoid(v, frame[TIME].to_numpy(dtype=float), initial=0.0)
    return np.maximum.accumulate(v)


def dtw_path(a: np.ndarray, b: np.ndarray, band: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Dynamic time warping path between two multivariate trajectories.

    Symmetric step pattern, Euclidean local distance (Sakoe & Chiba 1978, IEEE Trans ASSP
    26:43, doi:10.1109/TASSP.1978.1163055).

    Parameters
    ----------
    a : ndarray, shape (n, n_variables)
    b : ndarray, shape (m, n_variables)
    band : int, optional
        Sakoe-Chiba window half-width in samples.

    Returns
    -------
    ia, ib : ndarray of int, shape (path_length,)
        Matched indices, both non-decreasing, from (0, 0) to (n-1, m-1).
    """
    a = np.atleast_2d(np.asarray(a, float).T).T
    b = np.atleast_2d(np.asarray(b, float).T).T
    n, m = len(a), len(b)
    d = np.sqrt(((a[:, None, :] - b[None, :, :]) ** 2).sum(-1))
    if band is not None:
        ri, rj = np.indices((n, m))
        d = np.where(np.abs(ri * (m / n) - rj) > max(band, abs(n - m)), np.inf, d)
    cost = np.full((n + 1, m + 1), np.inf)
    cost[0, 0] = 0.0
    for i in range(1, n + 1):
        row = d[i - 1]
        prev = cost[i - 1]
        cur = cost[i]
        for j in range(1, m + 1):
            cur[j] = row[j - 1] + min(prev[j - 1], prev[j], cur[j - 1])
    i, j = n, m
    ia, ib = [n - 1], [m - 1]
    while i > 1 or j > 1:
        step = int(np.argmin([cost[i - 1, j - 1], cost[i - 1, j], cost[i, j - 1]]))
        if step == 0:
            i, j = i - 1, j - 1
        elif step == 1:
            i -= 1
        else:
            j -= 1
        ia.append(i - 1)
        ib.append(j - 1)
    return np.array(ia[::-1]), np.array(ib[::-1])


def align_batches(
    frames: Sequence[pd.DataFrame],
    variables: Sequence[str],
    *,
    n_points: int = 100,
    by: str = TIME,
    cumulative: bool = False,
    method: str = "interp",
    grid: np.ndarray | None = None,
    reference: int | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Put batches of different lengths on one grid.

    Parameters
    ----------
    frames : sequence of DataFrame
        One per batch, with ``time_h`` [h] and every name in ``variables``.
    variables : sequence of str
        Columns to align.
    n_points : int
        Grid points (ignored when ``grid`` is given).
    by : str
        ``time_h`` or an indicator column (e.g. cumulative feed).
    cumulative : bool
        Integrate the indicator column over time first (e.g. OUR -> cumulative O2 uptake).
    method : {"interp", "dtw"}
        Linear interpolation on the indicator, or dynamic time warping to a reference batch
        (the one of median length unless ``reference`` names one) on standardised variables.
    grid : ndarray, optional
        The common axis; default ``n_points`` from 0 to the shortest batch's end.

    Returns
    -------
    X : ndarray, shape (n_batches, n_points, n_variables)
    grid : ndarray, shape (n_points,)
        In units of the indicator (for DTW: the reference batch's time [h]).
    """
    if not frames:
        raise DataError("align_batches: no batches")
    variables = list(variables)
    data = [np.column_stack([_filled(f, v) for v in variables]) if variables else np.zeros((len(f), 0))
            for f in frames]
    if method == "dtw":
        lengths = [len(f) for f in frames]
        ref = int(np.argsort(lengths)[len(lengths) // 2]) if reference is None else reference
        all_rows = np.vstack(data)
        mu, sd = all_rows.mean(0), all_rows.std(0) + 1e-12
        ref_t = frames[ref][TIME].to_numpy(float)
        out_grid = np.linspace(ref_t[0], ref_t[-1], n_points) if grid is None else np.asarray(grid, float)
        X = np.empty((len(frames), len(out_grid), len(variables)))
        for b, x in enumerate(data):
            ia, ib = dtw_path((data[ref] - mu) / sd, (x - mu) / sd)
            warped = np.zeros_like(data[ref])
            count = np.zeros(len(data[ref]))
            np.add.at(warped, ia, x[ib])
            np.add.at(count, ia, 1.0)
            warped /= count[:, None]
            X[b] = np.column_stack([np.interp(out_grid, ref_t, warped[:, k]) for k in range(len(variables))])
        return X, out_grid
    if method != "interp":
        raise DataError(f"align method must be 'interp' or 'dtw', not {method!r}")
    axes = [indicator_grid(f, by, cumulative) for f in frames]
    if grid is None:
        end = min(float(a[-1]) for a in axes)
        start = max(float(a[0]) for a in axes)
        grid = np.linspace(start, end, n_points)
    grid = np.asarray(grid, float)
    X = np.empty((len(frames), len(grid), len(variables)))
    for b, (ax, x) in enumerate(zip(axes, data, strict=True)):
        ax_u, idx = np.unique(ax, return_index=True)
        for k in range(len(variables)):
            X[b, :, k] = np.interp(grid, ax_u, x[idx, k])
    return X, grid


def unfold_batchwise(X: np.ndarray) -> np.ndarray:
    """Batch-wise unfolding: ``(n_batches, n_points, n_variables)`` -> ``(n_batches, n_points * n_variables)``.

    Column ``k * n_variables + j`` is variable ``j`` at grid point ``k``.
    """
    X = np.asarray(X)
    if X.ndim != 3:
        raise DataError(f"expected a (n_batches, n_points, n_variables) array, got shape {X.shape}")
    return X.reshape(X.shape[0], -1)


def unfold_observationwise(X: np.ndarray) -> np.ndarray:
    """Observation-wise unfolding: ``(n_batches, n_points, n_variables)`` -> ``(n_batches * n_points, n_variables)``.

    Row ``b * n_points + k`` is batch ``b`` at grid point ``k``.
    """
    X = np.asarray(X)
    if X.ndim != 3:
        raise DataError(f"expected a (n_batches, n_points, n_variables) array, got shape {X.shape}")
    return X.reshape(-1, X.shape[2])

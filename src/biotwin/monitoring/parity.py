"""Pair (parity) checks between input columns that measure the same quantity.

Two columns with the same unit that agree, in the training batches, to within their noise or to
a small fraction of their spread give a direct parity relation: their difference, charted on
the rows where the sparser one was measured (Chow & Willsky 1984, IEEE Trans Autom Control
29:603, doi:10.1109/TAC.1984.1103593; an online pH probe checked against at-line samples as in
Hoffmann et al. 2020, Processes 8:520, doi:10.3390/pr8050520). Where batches carry their own
offset of that difference, it is also charted self-starting against the batch's own earlier
differences (Hawkins 1987, The Statistician 36:299). :func:`find_pairs` finds the pairs;
:class:`~biotwin.monitoring.mspc.BatchMonitor` fits and scores their charts.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from biotwin.batchdata.io import TIME

_UNITLESS = ("", "-", "1")


def _unit(name: str) -> str:
    """Unit in the trailing brackets of a column name (``pH [-]`` -> ``""``); unitless gives ``""``."""
    m = re.search(r"\[([^\]]*)\]\s*$", name)
    u = m.group(1).strip() if m else ""
    return "" if u in _UNITLESS else u


def pair_diff(frame: pd.DataFrame, a: str, b: str) -> tuple[np.ndarray, np.ndarray]:
    """Times and differences ``a - b`` on the rows where ``b`` (the sparser column) was measured.

    ``a`` (the denser column) is forward-filled to those rows; ``b`` never is, so a stale
    sample is not compared again.
    """
    t = frame[TIME].to_numpy(float)
    x = frame[a].ffill().to_numpy(float)
    y = frame[b].to_numpy(float)
    k = np.isfinite(x) & np.isfinite(y)
    return t[k], x[k] - y[k]


def _noise_sd(frames: list[pd.DataFrame], col: str) -> float:
    """Measurement noise of a column: median over batches of the sd of successive differences / sqrt(2)
    (von Neumann et al. 1941, Ann Math Stat 12:367, doi:10.1214/aoms/1177731677)."""
    out = []
    for f in frames:
        v = f[col].to_numpy(float)
        v = v[np.isfinite(v)]
        if v.size > 2:
            out.append(float(np.std(np.diff(v))) / np.sqrt(2.0))
    return float(np.median(out)) if out else np.inf


def _pair_candidates(X: np.ndarray, F: np.ndarray, batch: np.ndarray, count: np.ndarray, noise: np.ndarray,
                     units: list[str], rel_sd: float, min_rows: int) -> dict[tuple[int, int], float]:
    """Index pairs ``(i, j)``, ``i < j``, that may pass the closeness test of :func:`find_pairs`.

    A screen with matrix products instead of one pass over the rows per pair: columns that are
    present on the same rows (the same sampling) are grouped, and for each two groups the
    means, variances and covariances of all their columns on the rows both are compared on give
    every pair's sd and root mean square of the difference at once (``var x + var y - 2 cov``).
    The screen is a little looser than the test (relative slack 1e-6, plus the rounding of the
    products), so that every pair the test accepts is among the candidates, which then get the
    exact test. Each candidate maps to its screened closeness (the smaller of ``sd / (rel_sd
    min(sx, sy))`` and ``rms / noise``; below 1 passes).
    """
    p = X.shape[1]
    present = np.isfinite(X)
    held = np.isfinite(F)
    keys: dict[bytes, list[int]] = {}
    for j in range(p):
        keys.setdefault(np.packbits(present[:, j]).tobytes(), []).append(j)
    groups = [np.asarray(g) for g in keys.values()]
    out: dict[tuple[int, int], float] = {}
    for ga in groups:
        for gb in groups:
            if count[ga[0]] < count[gb[0]]:
                continue  # the denser column is forward-filled, the sparser one is not
            rows = held[:, ga[0]] & present[:, gb[0]]
            if rows.sum() < min_rows or np.unique(batch[rows]).size < 3:
                continue
            x, y = F[np.ix_(rows, ga)], X[np.ix_(rows, gb)]
            mx, my = x.mean(axis=0), y.mean(axis=0)
            x, y = x - mx, y - my
            vx, vy = np.mean(x**2, axis=0), np.mean(y**2, axis=0)
            cov = (x.T @ y) / len(x)
            vd = np.maximum(vx[:, None] + vy[None, :] - 2.0 * cov, 0.0)
            tol = 1e-9 * (vx[:, None] + vy[None, :]) + 1e-300
            ms = vd + (mx[:, None] - my[None, :]) ** 2
            close = ((vd < rel_sd**2 * np.minimum(vx[:, None], vy[None, :]) * (1 + 1e-6) + tol)
                     | (ms <= (noise[ga, None] ** 2 + noise[None, gb] ** 2) * (1 + 1e-6) + tol))
            with np.errstate(divide="ignore", invalid="ignore"):
                score = np.minimum(np.sqrt(vd / (rel_sd**2 * np.minimum(vx[:, None], vy[None, :]))),
                                   np.sqrt(ms / (noise[ga, None] ** 2 + noise[None, gb] ** 2)))
            for i, j in zip(*np.nonzero(close), strict=True):
                a, b = int(ga[i]), int(gb[j])
                if a != b and units[a] == units[b]:
                    key = (min(a, b), max(a, b))
                    out[key] = min(out.get(key, np.inf), float(np.nan_to_num(score[i, j], nan=np.inf)))
    return out


def find_pairs(frames: list[pd.DataFrame], variables: list[str], slope_tol: float = 0.25,
                rel_sd: float = 0.1, min_rows: int = 10, max_partners: int = 2) -> list[tuple[str, str]]:
    """Pairs ``(denser, sparser)`` of columns that measure the same quantity.

    Candidates share a unit (:func:`_unit`); on the training rows where both are present
    (:func:`pair_diff`) the robust (Theil-Sen; Sen 1968, J Am Stat Assoc 63:1379,
    doi:10.1080/01621459.1968.10480934) slope of one on the other lies within ``1 / (1 + slope_tol)``
    and ``1 + slope_tol``, and the sd of their difference is below ``rel_sd`` of each column's spread
    (a totaliser and the balance weighing the same liquid) or its root mean square (offset
    included) no larger than the two columns' combined measurement noise (:func:`_noise_sd`; a
    tightly controlled pH against its at-line samples, whose spread is hardly above their noise;
    a fixed offset, as between OUR and CER, fails it). No names are assumed. The pairs that can
    pass are screened first for all columns at once (:func:`_pair_candidates`), so many columns
    (a spectrum) cost matrix products rather than a pass over the rows per pair.

    A column takes part in at most ``max_partners`` pairs, the closest first (by the screened
    closeness): duplicate or triplicate sensors of one quantity keep all their pairs, while
    the channels of a spectrum, many of which agree with many others within their noise, are
    not turned into a number of pair charts that grows with the square of their count. The
    pairs are returned in column order.
    """
    from scipy import stats

    if len(variables) < 2:
        return []
    X = np.vstack([f[variables].to_numpy(float) for f in frames])
    F = np.vstack([f[variables].ffill().to_numpy(float) for f in frames])
    batch = np.concatenate([np.full(len(f), b) for b, f in enumerate(frames)])
    count = np.isfinite(X).sum(axis=0)
    noise = np.array([_noise_sd(frames, v) for v in variables])
    units = [_unit(v) for v in variables]
    found: list[tuple[int, int]] = []
    partners = np.zeros(len(variables), int)
    cand = _pair_candidates(X, F, batch, count, noise, units, rel_sd, min_rows)
    for i, j in sorted(cand, key=lambda ij: (cand[ij], ij)):
        if partners[i] >= max_partners or partners[j] >= max_partners:
            continue
        ia, ib = (i, j) if count[i] >= count[j] else (j, i)
        k = np.isfinite(F[:, ia]) & np.isfinite(X[:, ib])
        x, y = F[k, ia], X[k, ib]
        if x.size < min_rows or np.count_nonzero(np.bincount(batch[k])) < 3:
            continue
        sx, sy, sd = float(np.std(x)), float(np.std(y)), float(np.std(x - y))
        if min(sx, sy) <= 0:
            continue
        rms = float(np.sqrt(np.mean((x - y) ** 2)))  # an offset counts against agreeing within noise
        close = sd < rel_sd * min(sx, sy) or rms <= float(np.hypot(noise[ia], noise[ib]))
        if not close:
            continue
        sel = np.unique(np.linspace(0, x.size - 1, min(300, x.size)).astype(int))
        if np.ptp(x[sel]) <= 0:
            continue
        slope = float(stats.theilslopes(y[sel], x[sel])[0])
        if 1.0 / (1.0 + slope_tol) <= slope <= 1.0 + slope_tol:
            found.append((min(i, j), max(i, j)))
            partners[[i, j]] += 1
    return [(variables[i], variables[j]) if count[i] >= count[j] else (variables[j], variables[i])
            for i, j in sorted(found)]


def within_sd(d: list[np.ndarray]) -> float:
    """Pooled within-batch standard deviation of pair differences, each batch's first row left out."""
    rest = [x[1:] for x in d if len(x) > 2]
    if not rest:
        return np.inf
    ss = sum(float(np.sum((x - np.mean(x)) ** 2)) for x in rest)
    return float(np.sqrt(ss / max(sum(len(x) for x in rest) - len(rest), 1))) + 1e-12


def batch_offsets(d: list[np.ndarray], alpha: float = 0.01) -> bool:
    """Whether pair differences carry batch-specific offsets: one-way ANOVA F test over batches
    (Fisher 1925, Statistical Methods for Research Workers, Oliver & Boyd), each batch's first
    row left out."""
    from scipy import stats

    rest = [x[1:] for x in d if len(x) > 2]
    if len(rest) < 3 or any(np.ptp(x) <= 0 for x in rest):
        return False
    return bool(stats.f_oneway(*rest).pvalue < alpha)



"""Gaps in a batch's dense signals: where a signal logged on most rows stopped for a while.

An analyser taken off line for calibration, a lost fieldbus link or a historian outage
leaves a run of missing values in a signal that is otherwise on every row. Models that hold
the last value through the run (sample-and-hold) and integrate it see a flat stretch that
the process never had, and what follows the gap (a jump, a running integral that lags) can
look like a fault. Here the gaps are found (to report them beside the alarms: data
integrity, ALCOA+ "complete"), marked row by row, and bridged by interpolation once the
signal is back.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from biotwin.batchdata.io import TIME


def dense_columns(frames: Sequence[pd.DataFrame], variables: Sequence[str], min_share: float = 0.5) -> list[str]:
    """Those of ``variables`` measured on at least ``min_share`` of the rows of ``frames`` together.

    Online signals are dense; at-line and offline assays, measured on a few rows, are not (and
    are never bridged: an assay interpolated between samples would move a later sample earlier).
    """
    return [v for v in variables
            if np.mean(np.concatenate([np.isfinite(f[v].to_numpy(float)) for f in frames])) >= min_share]


def find_gaps(frame: pd.DataFrame, variables: Sequence[str], min_rows: int = 2) -> list[dict[str, Any]]:
    """Runs of at least ``min_rows`` consecutive missing values in each of ``variables``.

    Parameters
    ----------
    frame : DataFrame, shape (n_rows, n_columns)
        One batch with ``time_h`` [h], sorted.
    variables : sequence of str
        Signals expected on every row (dense signals); absent columns are skipped.
    min_rows : int
        Shortest run reported [rows].

    Returns
    -------
    list of dict
        ``variable``, ``from_h`` (first missing row), ``to_h`` (next row with a value, or the
        last row when the signal never came back) and ``rows`` (missing rows), in time order.
    """
    t = frame[TIME].to_numpy(float)
    out: list[dict[str, Any]] = []
    for v in variables:
        if v not in frame:
            continue
        starts, ends = _run_bounds(~np.isfinite(frame[v].to_numpy(float)))
        back = np.minimum(ends, len(t) - 1)  # the first row with a value again (or the last row)
        for a, b, r in zip(starts, ends, back, strict=True):
            if b - a >= min_rows:
                out.append({"variable": v, "from_h": float(t[a]), "to_h": float(t[r]), "rows": int(b - a)})
    return sorted(out, key=lambda g: (g["from_h"], g["variable"]))


def gap_rows(frame: pd.DataFrame, variables: Sequence[str], min_rows: int = 2) -> np.ndarray:
    """Rows inside a run of ``min_rows`` or more missing values of any of ``variables``, shape (n_rows,)."""
    out = np.zeros(len(frame), bool)
    for v in variables:
        if v in frame:
            out |= _runs(~np.isfinite(frame[v].to_numpy(float)), min_rows)
    return out


def _run_bounds(flags: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """First index and one past the last of each run of True in ``flags``."""
    edges = np.diff(np.r_[0, flags.astype(np.int8), 0])
    return np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)


def _runs(miss: np.ndarray, min_rows: int) -> np.ndarray:
    """``miss`` with its runs shorter than ``min_rows`` cleared."""
    out = miss.copy()
    for a, b in zip(*_run_bounds(miss), strict=True):
        if b - a < min_rows:
            out[a:b] = False
    return out


def bridge(frame: pd.DataFrame, variables: Sequence[str], min_rows: int = 2) -> pd.DataFrame:
    """Interior gaps of ``variables`` (``min_rows`` or more missing rows) filled by linear
    interpolation in time.

    Only between two measured values: a trailing gap (the signal has not come back yet) stays
    missing and is held by the models as before, and so does a single missing row (held, it is
    one more noisy sample; bridged, the monitor's charts on a Monod stand-in with 5 % of the DO
    values dropped raised 4 of 120 normal batches, held 0). Use it for signals logged on
    every row; an at-line assay interpolated between samples would put a later sample into
    earlier rows.

    Parameters
    ----------
    frame : DataFrame, shape (n_rows, n_columns)
        One batch with ``time_h`` [h], sorted.
    variables : sequence of str
        Dense signals to bridge (absent columns are skipped).
    min_rows : int
        Shortest run of missing rows bridged.

    Returns
    -------
    DataFrame, shape (n_rows, n_columns)
        A copy when a gap was filled, else ``frame`` itself.
    """
    t = frame[TIME].to_numpy(float)
    filled: dict[str, np.ndarray] = {}
    present = list(dict.fromkeys(v for v in variables if v in frame))
    # read as one array: a column at a time costs pandas' overhead per column (2200 spectral channels)
    values = frame[present].to_numpy(float) if present else np.empty((len(frame), 0))
    gappy = ~np.isfinite(values).all(axis=0)
    for j in np.flatnonzero(gappy):
        v, x = present[j], values[:, j]
        ok = np.isfinite(x)
        if ok.all() or ok.sum() < 2:
            continue
        idx = np.flatnonzero(ok)
        inside = ~ok
        inside[: idx[0]] = False
        inside[idx[-1] + 1:] = False
        inside = _runs(inside, min_rows)
        if inside.any():
            x = x.copy()
            x[inside] = np.interp(t[inside], t[ok], x[ok])
            filled[v] = x
    return frame.assign(**filled) if filled else frame

"""Bioprocess feature engineering on whatever numeric columns a batch has.

For each input variable ``v`` of one batch (rows in time order) the features are

- ``v``: the value, held from its last measurement (causal: no future sample is used),
  optionally smoothed by a causal exponentially weighted moving average with time constant
  ``smooth_h`` (Roberts 1959, Technometrics 1:239, doi:10.1080/00401706.1959.10489860);
- ``cum(v)``: its running integral over culture time (trapezoid) [unit x h], which turns
  rates into amounts: OUR -> O2 consumed, CER -> CO2 produced, a feed rate -> volume fed,
  a cell density -> integral of viable cells (the driver of titre; Renard et al. 1988,
  Biotechnol Lett 10:91, doi:10.1007/BF01024632);
- ``cum2(v)``: optionally its double running integral [unit x h^2]. In Luedeking-Piret
  kinetics product formation follows the integral of biomass (Luedeking & Piret 1959,
  J Biochem Microbiol Technol Eng 1:393, doi:10.1002/jbmte.390010406), and biomass itself
  follows the integral of O2 uptake or CO2 evolution (Cooney, Wang & Wang 1977, Biotechnol
  Bioeng 19:55, doi:10.1002/bit.260190106), so product follows the double integral of a gas
  rate; the same holds for titre and the integral of viable cells in mammalian culture;
- ``rate(v)``: its backward difference over ``rate_window_h`` [unit/h], causal;
- ``leak{tau}h(v)``: optionally its leaky running integral with first-order loss of time
  constant ``tau`` [unit x h] (:func:`leaky_integral`): what a quantity formed at a rate
  proportional to ``v`` amounts to when it also decays at ``1/tau``, as a product that is
  hydrolysed (penicillin in the model of Bajpai & Reuss 1980, J Chem Technol Biotechnol
  30:332, extended by Birol, Undey & Cinar 2002, Comput Chem Eng 26:1553, whose hydrolysis
  term IndPenSim keeps) or cells that die. A plain running integral remembers the whole
  batch; this one forgets what lies more than a few ``tau`` back;

- with ``volumes`` (columns found by :func:`volume_like`: broth volume or weight): for each
  volume column ``w``, ``cum(v)/w`` and ``v/w``, which turn whole-vessel amounts and rates
  (O2 uptake in mol/h, feed delivered in kg) into concentrations, as in the balances of
  fed-batch culture (Dunn et al. 2003, Biological Reaction Engineering, Wiley-VCH, ch. 2);

plus ``time_h`` itself. Columns that are cumulative already (base added, feed volume) then
carry their own rate as ``rate(v)``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy.integrate import cumulative_trapezoid

from biotwin.batchdata.io import TIME
from biotwin.errors import DataError


def hold(values: np.ndarray) -> np.ndarray:
    """Sample-and-hold: each NaN takes the last finite value before it (the first one at the start).

    Parameters
    ----------
    values : ndarray, shape (n_rows,) or (n_rows, n_columns)
        One series, or one per column (each held on its own).

    Returns
    -------
    ndarray, the shape of ``values``
        All zeros in a column where no value is finite.
    """
    v = np.asarray(values, dtype=float)
    if len(v) == 0:
        return v.copy()
    ok = np.isfinite(v)
    rows = np.arange(len(v)).reshape((-1,) + (1,) * (v.ndim - 1))
    idx = np.where(ok, rows, -1)
    np.maximum.accumulate(idx, axis=0, out=idx)
    idx = np.where(idx < 0, np.argmax(ok, axis=0), idx)
    out = np.take_along_axis(v, idx, axis=0)
    return np.where(ok.any(axis=0), out, 0.0)


def ewma(t: np.ndarray, values: np.ndarray, tau_h: float) -> np.ndarray:
    """Causal exponentially weighted moving average with time constant ``tau_h`` [h].

    Each step of length ``dt`` weighs the new value by ``1 - exp(-dt / tau_h)``, so unevenly
    sampled data are smoothed consistently.

    Parameters
    ----------
    t : ndarray, shape (n_rows,)
        Time [h], non-decreasing.
    values : ndarray, shape (n_rows,) or (n_rows, n_columns)
        Finite values, one series or one per column (each smoothed on its own).
    tau_h : float
        Time constant [h]; 0 returns the values unchanged.

    Returns
    -------
    ndarray, the shape of ``values``
    """
    x = np.asarray(values, dtype=float)
    if tau_h <= 0 or len(x) < 2:
        return x.copy()
    dt = np.diff(np.asarray(t, dtype=float))
    a = 1.0 - np.exp(-np.clip(dt, 0.0, None) / tau_h)
    if np.ptp(a) < 1e-9:  # even sampling: one linear filter
        from scipy.signal import lfilter

        y, _ = lfilter([a[0]], [1.0, a[0] - 1.0], x[1:], axis=0, zi=(1.0 - a[0]) * x[:1])
        return np.concatenate([x[:1], y])
    out = np.empty_like(x)
    out[0] = x[0]
    for i in range(1, len(x)):
        out[i] = out[i - 1] + a[i - 1] * (x[i] - out[i - 1])
    return out


def local_linear_ewma(t: np.ndarray, values: np.ndarray, tau_h: float) -> np.ndarray:
    """Causal local-linear exponential smoothing with time constant ``tau_h`` [h] (Brown's double smoothing).

    ``2 s1 - s2``, where ``s1`` is :func:`ewma` of the values and ``s2`` the :func:`ewma` of
    ``s1`` (Brown 1963, Smoothing, Forecasting and Prediction of Discrete Time Series,
    Prentice-Hall, ch. 7). A single exponential smooth of a series that rises along a
    straight line lags it by ``tau_h``; this one follows the line without lag and damps the
    noise about it nearly as much. Spectra are smoothed this way
    (:class:`~biotwin.softsensors.sensor.SoftSensor`): a
    concentration that a channel tracks rises steadily through a fed batch, and a lag of
    one time constant is an error of its rate times ``tau_h`` on every row.

    Parameters
    ----------
    t : ndarray, shape (n_rows,)
        Time [h], non-decreasing.
    values : ndarray, shape (n_rows,) or (n_rows, n_columns)
        Finite values, one series or one per column.
    tau_h : float
        Time constant [h]; 0 returns the values unchanged.

    Returns
    -------
    ndarray, the shape of ``values``
    """
    s1 = ewma(t, values, tau_h)
    if tau_h <= 0 or len(s1) < 2:
        return s1
    return 2.0 * s1 - ewma(t, s1, tau_h)


def leaky_integral(t: np.ndarray, values: np.ndarray, tau_h: float) -> np.ndarray:
    """Causal running integral with first-order loss: ``I' = x - I / tau_h``, ``I(t0) = 0``.

    Each step of length ``dt`` holds the value at its end: ``I_i = exp(-dt / tau_h) I_(i-1) +
    tau_h (1 - exp(-dt / tau_h)) x_i``, exact for a piecewise-constant input; for ``dt << tau_h``
    the step adds ``x_i dt`` as a plain integral would.

    Parameters
    ----------
    t : ndarray, shape (n_rows,)
        Time [h], non-decreasing.
    values : ndarray, shape (n_rows,)
        Finite values [unit].
    tau_h : float
        Time constant of the loss [h], > 0.

    Returns
    -------
    ndarray, shape (n_rows,)
        [unit x h]; tends to ``tau_h * x`` under a constant input.
    """
    if tau_h <= 0:
        raise ValueError(f"tau_h must be > 0, got {tau_h}")
    x = np.asarray(values, dtype=float)
    if len(x) < 2:
        return np.zeros_like(x)
    dt = np.clip(np.diff(np.asarray(t, dtype=float)), 0.0, None)
    keep = np.exp(-dt / tau_h)
    gain = tau_h * (1.0 - keep) * x[1:]
    if np.ptp(keep) < 1e-12:  # even sampling: one linear filter
        from scipy.signal import lfilter

        return np.concatenate([[0.0], lfilter([1.0], [1.0, -keep[0]], gain)])
    out = np.zeros_like(x)
    for i in range(1, len(x)):
        out[i] = keep[i - 1] * out[i - 1] + gain[i - 1]
    return out


def backward_rate(t: np.ndarray, v: np.ndarray, window_h: float) -> np.ndarray:
    """Causal rate of change: ``(v(t) - v(t - window_h)) / window_h`` [unit/h], interpolated.

    Near the start the window shrinks to the time elapsed (rate 0 at the first row).
    """
    t = np.asarray(t, float)
    back = np.maximum(t - window_h, t[0])
    v_back = np.interp(back, t, v)
    dt = t - back
    with np.errstate(invalid="ignore", divide="ignore"):
        r = np.where(dt > 0, (v - v_back) / np.where(dt > 0, dt, 1.0), 0.0)
    return r


def volume_like(frames: Sequence[pd.DataFrame], variables: Sequence[str], min_corr: float = 0.7) -> list[str]:
    """Columns that behave like a broth volume or weight, from the data alone (no names assumed).

    A column qualifies when it is strictly positive wherever measured, rises with culture time
    (median Spearman correlation with ``time_h`` over batches >= ``min_corr``) and changes
    within a batch by a factor between 1.02 and 20 (median over batches).

    Parameters
    ----------
    frames : sequence of DataFrame
        Training batches with ``time_h`` and ``variables``.
    variables : sequence of str

    Returns
    -------
    list of str
    """
    out = []
    for v in variables:
        corr, ratio, ok = [], [], True
        for f in frames:
            x = f[v].to_numpy(dtype=float)
            m = np.isfinite(x)
            if m.sum() < 3:
                continue
            if x[m].min() <= 0:
                ok = False
                break
            corr.append(pd.Series(x[m]).corr(pd.Series(f[TIME].to_numpy(dtype=float)[m]), method="spearman"))
            ratio.append(x[m].max() / x[m].min())
        if ok and corr and np.nanmedian(corr) >= min_corr and 1.02 <= np.median(ratio) <= 20.0:
            out.append(v)
    return out


def feature_names(variables: Sequence[str], integrals: bool = True, rates: bool = True,
                  double_integrals: bool = False, leaks_h: Sequence[float] = ()) -> list[str]:
    """Names of the features :func:`engineer` makes, in order (before the volume ratios)."""
    names = [TIME]
    for v in variables:
        names.append(v)
        if integrals:
            names.append(f"cum({v})")
            if double_integrals:
                names.append(f"cum2({v})")
        if rates:
            names.append(f"rate({v})")
        names.extend(leak_name(v, tau) for tau in leaks_h)
    return names


def leak_name(variable: str, tau_h: float) -> str:
    """Name of the leaky integral of ``variable`` with time constant ``tau_h``: ``leak23h(OUR)``."""
    return f"leak{tau_h:.3g}h({variable})"


def is_leak(name: str) -> bool:
    """Whether a feature name is a leaky integral's (:func:`leak_name`), not a column named ``leak...``."""
    return re.match(r"^leak[0-9.e+-]+h\(.*\)$", name) is not None


def engineer(
    frame: pd.DataFrame,
    variables: Sequence[str],
    *,
    integrals: bool = True,
    rates: bool = True,
    rate_window_h: float = 2.0,
    double_integrals: bool = False,
    volumes: Sequence[str] = (),
    smooth_h: float = 0.0,
    leaks_h: Sequence[float] = (),
) -> pd.DataFrame:
    """Feature matrix of one batch.

    Parameters
    ----------
    frame : DataFrame, shape (n_rows, n_columns)
        One batch with ``time_h`` [h] and every name in ``variables``.
    variables : sequence of str
        The input columns (no target, no excluded column).
    integrals, rates : bool
        Add ``cum(v)`` and ``rate(v)``.
    rate_window_h : float
        Window of the backward difference [h].
    double_integrals : bool
        With ``integrals``, also add ``cum2(v)``.
    volumes : sequence of str
        Volume-like columns (see :func:`volume_like`); adds ``cum(v)/w`` and ``v/w``.
    smooth_h : float
        Time constant [h] of the causal smoothing of the values (0: none).
    leaks_h : sequence of float
        Time constants [h] of the leaky integrals ``leak{tau}h(v)`` (:func:`leaky_integral`), one
        feature per variable and time constant; none by default.

    Returns
    -------
    DataFrame, shape (n_rows, 1 + n_variables * (1 + integrals + integrals * double_integrals + rates
    + len(leaks_h)) + volume ratios)
        Columns as :func:`feature_names`.
    """
    missing = [v for v in variables if v not in frame]
    if missing:
        raise DataError(f"batch lacks input columns {missing}")
    t = frame[TIME].to_numpy(dtype=float)
    out: dict[str, np.ndarray] = {TIME: t}
    for v in variables:
        x = ewma(t, hold(frame[v].to_numpy(dtype=float)), smooth_h)
        out[v] = x
        if integrals:
            c = cumulative_trapezoid(x, t, initial=0.0) if len(t) > 1 else np.zeros(len(t))
            out[f"cum({v})"] = c
            if double_integrals:
                out[f"cum2({v})"] = cumulative_trapezoid(c, t, initial=0.0) if len(t) > 1 else np.zeros(len(t))
        if rates:
            out[f"rate({v})"] = backward_rate(t, x, rate_window_h)
        for tau in leaks_h:
            out[leak_name(v, tau)] = leaky_integral(t, x, tau)
    for w in volumes:
        if w not in frame:
            raise DataError(f"batch lacks volume column {w!r}")
        wv = ewma(t, hold(frame[w].to_numpy(dtype=float)), smooth_h)
        wv = np.where(wv > 0, wv, np.nan)
        wv = np.nan_to_num(wv, nan=float(np.nanmedian(wv)) if np.isfinite(wv).any() else 1.0)
        for v in variables:
            if v == w:
                continue
            out[f"{v}/{w}"] = out[v] / wv
            if integrals:
                out[f"cum({v})/{w}"] = out[f"cum({v})"] / wv
    return pd.DataFrame(out, index=frame.index)


def check_features(fitted: Sequence[str], made: Sequence[str], what: str) -> None:
    """Refuse a fitted model whose feature names differ from those this code makes from a batch.

    A model saved by a biotwin that engineered other features (a later or an earlier version)
    would otherwise meet arrays of another width.

    Raises
    ------
    DataError
        Naming the counts and the first feature that differs.
    """
    fitted, made = list(fitted), list(made)
    if fitted == made:
        return
    first = next((a for a, b in zip(fitted, made, strict=False) if a != b),
                 (fitted if len(fitted) > len(made) else made)[min(len(fitted), len(made))])
    raise DataError(f"this {what} was fitted on {len(fitted)} features and this biotwin makes {len(made)} "
                    f"(first differing: {first!r}); it was saved by another biotwin version: fit it again")

"""Statistics of latent-variable monitoring: Hotelling T2, SPE/DModX, their limits, contributions.

Pure functions on arrays; each cites where its formula comes from.
"""

from __future__ import annotations

import numpy as np
from scipy import stats

#: Times closer than this [h] are the same time at a window's edge: a row whose time is a window
#: boundary in exact arithmetic (rows every 0.2 h, a 1-h window) lands on one side or the other
#: by rounding, which differs between the same batch logged in hours and in minutes (a few
#: 1e-14 h apart) and moved a trend chart's ratio by up to 0.19 on a PenSimPy batch.
TIME_TOL_H = 1e-9


def hotelling_t2(scores: np.ndarray, variances: np.ndarray) -> np.ndarray:
    """Hotelling's T2 of PCA/PLS scores: ``sum_a t_a^2 / lambda_a``.

    Hotelling 1947, Techniques of Statistical Analysis, McGraw-Hill; MacGregor & Kourti 1995,
    Control Eng Pract 3:403, doi:10.1016/0967-0661(95)00014-L.

    Parameters
    ----------
    scores : ndarray, shape (n_samples, n_components)
    variances : ndarray, shape (n_components,)
        Score variances on the training data.

    Returns
    -------
    ndarray, shape (n_samples,)
    """
    return np.sum(np.asarray(scores) ** 2 / np.asarray(variances), axis=1)


def t2_limit(n_components: int, n_samples: int, alpha: float = 0.01) -> float:
    """Upper control limit of T2 for a new observation, F distribution.

    ``A (n^2 - 1) / (n (n - A)) F(1 - alpha; A, n - A)``; Tracy, Young & Mason 1992,
    J Qual Technol 24:88, doi:10.1080/00224065.1992.11979383.
    """
    a, n = int(n_components), int(n_samples)
    if n <= a:
        return float("inf")
    return float(a * (n * n - 1) / (n * (n - a)) * stats.f.ppf(1.0 - alpha, a, n - a))


def spe_limit(spe: np.ndarray, alpha: float = 0.01) -> float:
    """Upper control limit of SPE (Q), scaled chi-squared ``g chi2(h)`` fitted by moments.

    ``g = var / (2 mean)``, ``h = 2 mean^2 / var``; Nomikos & MacGregor 1995, Technometrics
    37:41, doi:10.1080/00401706.1995.10485888 (after Box 1954).
    """
    spe = np.asarray(spe, float)
    spe = spe[np.isfinite(spe)]
    m, v = float(np.mean(spe)), float(np.var(spe))
    if m <= 0 or v <= 0:
        return float(np.max(spe, initial=0.0)) or 1e-12
    g, h = v / (2 * m), 2 * m * m / v
    return float(g * stats.chi2.ppf(1.0 - alpha, h))


def dmodx(residuals: np.ndarray, n_components: int, n_features: int) -> np.ndarray:
    """Distance to the model in X: residual standard deviation of each observation.

    ``sqrt(sum_j e_j^2 / (K - A))``; Eriksson et al. 2006, Multi- and Megavariate Data
    Analysis, Umetrics, ch. 4 (the normalised DModX divides this by its training pooled value).
    """
    dof = max(int(n_features) - int(n_components), 1)
    return np.sqrt(np.sum(np.asarray(residuals) ** 2, axis=1) / dof)


def t2_contributions(x: np.ndarray, loadings: np.ndarray, variances: np.ndarray) -> np.ndarray:
    """Contribution of each variable to T2: ``x_j sum_a (t_a / lambda_a) p_ja``.

    The contributions sum to T2. Westerhuis, Gurden & Smilde 2000, Chemom Intell Lab Syst
    51:95, doi:10.1016/S0169-7439(00)00062-9.

    Parameters
    ----------
    x : ndarray, shape (n_samples, n_features)
        Centred, scaled observations.
    loadings : ndarray, shape (n_features, n_components)
    variances : ndarray, shape (n_components,)

    Returns
    -------
    ndarray, shape (n_samples, n_features)
    """
    t = x @ loadings
    return x * ((t / variances) @ loadings.T)


def spe_contributions(residuals: np.ndarray) -> np.ndarray:
    """Contribution of each variable to SPE: its squared residual ``e_j^2`` (sums to SPE)."""
    return np.asarray(residuals) ** 2


def persistent(flags: np.ndarray, k: int) -> np.ndarray:
    """Persistence rule: True where the last ``k`` flags (this one included) are all True.

    A run rule in the spirit of the Western Electric rules (Western Electric 1956,
    Statistical Quality Control Handbook); ``k = 1`` returns ``flags``.
    """
    f = np.asarray(flags, bool)
    if k <= 1 or f.size == 0:
        return f.copy()
    run = np.zeros(f.size, int)
    c = 0
    for i, v in enumerate(f):
        c = c + 1 if v else 0
        run[i] = c
    return run >= k


def running_min(x: np.ndarray, k: int) -> np.ndarray:
    """Minimum of the last ``k`` values along axis 0: the statistic a k-run rule alarms on.

    The first ``k - 1`` points cannot complete a run and get ``-inf``. One sliding-window
    minimum over a strided view, for a vector or for each column of a matrix.
    """
    x = np.asarray(x, float)
    if k <= 1 or x.size == 0:
        return x.copy()
    out = np.full_like(x, -np.inf)
    if len(x) >= k:
        out[k - 1:] = np.lib.stride_tricks.sliding_window_view(x, k, axis=0).min(axis=-1)
    return out


def ewma(x: np.ndarray, lam: float = 0.2) -> np.ndarray:
    """Exponentially weighted moving average ``z_i = lam x_i + (1 - lam) z_{i-1}``, ``z_0 = x_0 lam``.

    Roberts 1959, Technometrics 1:239, doi:10.1080/00401706.1959.10489860. Along axis 0.
    """
    x = np.asarray(x, float)
    z = np.empty_like(x)
    prev = np.zeros(x.shape[1:]) if x.ndim > 1 else 0.0
    for i in range(x.shape[0]):
        prev = lam * x[i] + (1.0 - lam) * prev
        z[i] = prev
    return z


def cusum(x: np.ndarray, k: float = 0.5, side: str = "both") -> np.ndarray:
    """Tabular CUSUM of standardised values, along axis 0.

    ``S+_i = max(0, S+_{i-1} + x_i - k)``, ``S-_i = max(0, S-_{i-1} - x_i - k)``; returns
    ``max(S+, S-)`` (``side="both"``), ``S+`` (``"up"``) or ``S-`` (``"down"``). ``k`` is half the
    shift to detect in standard deviations (0.5 for a one-sigma shift). Page 1954, Biometrika
    41:100, doi:10.1093/biomet/41.1-2.100; Montgomery 2019, Introduction to Statistical Quality
    Control, 8th ed., Wiley, ch. 9.1 (ARL-based choice of ``k`` and of the decision interval ``h``).
    NaN counts as 0 (no evidence).
    """
    x = np.nan_to_num(np.asarray(x, float))
    up = np.empty_like(x)
    dn = np.empty_like(x)
    sp = np.zeros(x.shape[1:]) if x.ndim > 1 else 0.0
    sn = np.zeros(x.shape[1:]) if x.ndim > 1 else 0.0
    for i in range(x.shape[0]):
        sp = np.maximum(0.0, sp + x[i] - k)
        sn = np.maximum(0.0, sn - x[i] - k)
        up[i], dn[i] = sp, sn
    if side == "up":
        return up
    if side == "down":
        return dn
    return np.maximum(up, dn)


def recentre(t: np.ndarray, x: np.ndarray, window_h: float, gap_h: float = 0.0) -> np.ndarray:
    """``x`` minus its own mean over ``[t - gap_h - window_h, t - gap_h)`` (causal), along axis 0.

    Turns a series with a batch-specific offset into its changes, so a CUSUM on it detects
    change points rather than the offset. Rows with no past window keep ``x - x_0``.
    """
    t, x = np.asarray(t, float), np.asarray(x, float)
    x2 = x.reshape(len(x), -1)
    c = np.vstack([np.zeros((1, x2.shape[1])), np.cumsum(np.nan_to_num(x2), axis=0)])
    hi = np.searchsorted(t, t - gap_h - TIME_TOL_H, side="left")
    lo = np.searchsorted(t, t - gap_h - window_h - TIME_TOL_H, side="left")
    n = (hi - lo)[:, None]
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(n > 0, (c[hi] - c[lo]) / np.maximum(n, 1), x2[:1])
    return (x2 - mean).reshape(x.shape)


def rolling_diff_sd(t: np.ndarray, x: np.ndarray, window_h: float) -> np.ndarray:
    """Causal standard deviation of the first differences of ``x`` over the last ``window_h`` [h].

    A response-time indicator: a sensor whose response slows (a fouled membrane, a
    clogged line) low-pass filters what it measures, so its point-to-point activity falls
    below what normal batches show at the same culture time (0 until 3 differences exist).
    """
    t, x = np.asarray(t, float), np.asarray(x, float)
    dt = float(np.median(np.diff(t))) if len(t) > 1 else 1.0
    n = max(3, round(window_h / dt))
    d = np.diff(x, prepend=x[:1])
    import pandas as pd

    return pd.Series(d).rolling(n, min_periods=3).std().fillna(0.0).to_numpy()


def self_starting(x: np.ndarray, sd: float, start: int = 1) -> np.ndarray:
    """Self-starting standardisation: each point against the mean of the batch's own earlier points.

    ``z_i = (x_i - mean(x_start..x_{i-1})) / (sd sqrt(1 + 1 / n_i))`` with ``n_i = i - start``
    earlier points and ``sd`` the within-batch standard deviation; points with no earlier point
    (``i <= start``) get 0. A batch-specific offset (an online probe standardised against one
    noisy sample carries that sample's error for the whole batch) cancels, so a drift shows
    against the batch's own level instead of against the spread of all batches' levels
    (self-starting charts: Hawkins 1987, The Statistician 36:299; Quesenberry 1991, J Qual
    Technol 23:213).
    """
    x = np.asarray(x, float)
    z = np.zeros(len(x))
    c = np.cumsum(np.r_[0.0, x[start:]])  # c[m]: sum of the first m points from ``start``
    if len(x) > start + 1:
        n = np.arange(1, len(x) - start, dtype=float)
        z[start + 1:] = (x[start + 1:] - c[1:len(n) + 1] / n) / (sd * np.sqrt(1.0 + 1.0 / n))
    return z


def trend_innovation(t: np.ndarray, x: np.ndarray, window_h: float = 4.0, recent_h: float = 1.0) -> np.ndarray:
    """Each column's recent mean minus the forecast of its own trailing linear trend (causal), along axis 0.

    At row ``i`` a straight line is fitted by least squares to the finite values with times in
    ``[t_i - recent_h - window_h, t_i - recent_h)``, and the mean of the values in
    ``(t_i - recent_h, t_i]`` is compared with the line at their mean time. A control chart on
    the residuals of a forecast from the series' own past (Alwan & Roberts 1988, J Bus Econ
    Stat 6:87, doi:10.1080/07350015.1988.10509640; Montgomery 2019, Introduction to
    Statistical Quality Control, 8th ed., Wiley, sec. 10.4) sees a change in how a signal
    moves against its own recent course, whatever the batch's level and slope: an
    exponentially growing load (a contaminant's O2 uptake doubling every 40 min) bends a
    smooth off-gas trend long before it leaves the spread of normal batches' levels.
    Rows before the windows are filled (``t_i - t_0 < window_h + recent_h``), with fewer than 4
    values in the trend window or with none in the recent window get 0: a trend from the batch's
    first minutes (an inoculum settling, probes polarising) forecasts nothing.
    """
    t, x = np.asarray(t, float), np.asarray(x, float)
    x2 = x.reshape(len(x), -1)
    w = np.isfinite(x2).astype(float)
    xv = np.where(w > 0, x2, 0.0)
    tt = (t - t[0])[:, None] if len(t) else t[:, None]

    def csum(a: np.ndarray) -> np.ndarray:
        return np.vstack([np.zeros((1, a.shape[1])), np.cumsum(a, axis=0)])

    c0, c1, c2, cx, ctx = csum(w), csum(w * tt), csum(w * tt * tt), csum(xv), csum(xv * tt)
    r_lo = np.searchsorted(t, t - recent_h + TIME_TOL_H, side="right")
    r_hi = np.arange(1, len(t) + 1)
    w_lo = np.searchsorted(t, t - recent_h - window_h - TIME_TOL_H, side="left")
    n, st, stt = c0[r_lo] - c0[w_lo], c1[r_lo] - c1[w_lo], c2[r_lo] - c2[w_lo]
    sx, stx = cx[r_lo] - cx[w_lo], ctx[r_lo] - ctx[w_lo]
    nr, sr, xr = c0[r_hi] - c0[r_lo], c1[r_hi] - c1[r_lo], cx[r_hi] - cx[r_lo]
    with np.errstate(invalid="ignore", divide="ignore"):
        den = n * stt - st * st
        slope = np.where(den > 1e-12 * np.maximum(n * stt, 1e-300), (n * stx - st * sx) / den, 0.0)
        out = xr / nr - ((sx - slope * st) / n + slope * sr / nr)
    full = (t - t[0] >= window_h + recent_h - TIME_TOL_H)[:, None] if len(t) else np.zeros((0, 1), bool)
    ok = full & (n >= 4) & (nr >= 1) & np.isfinite(out)
    return np.where(ok, out, 0.0).reshape(x.shape)

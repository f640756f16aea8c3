"""Statistics of latent-variable monitoring: Hotelling T2, SPE/DModX, their limits, contributions.

Pure functions on arrays; each cites where its formula comes from.
"""

from __future__ import annotations

import numpy as np
from scipy import stats


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
    """Minimum of the last ``k`` values (fewer at the start): the statistic a k-run rule alarms on."""
    x = np.asarray(x, float)
    if k <= 1 or x.size == 0:
        return x.copy()
    out = np.empty_like(x)
    for i in range(x.size):
        out[i] = x[max(0, i - k + 1): i + 1].min()
    # the first k-1 points cannot complete a run
    out[: k - 1] = -np.inf
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

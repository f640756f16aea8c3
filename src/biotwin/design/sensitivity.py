"""Global sensitivity: Sobol indices with SALib (Saltelli sampling, Jansen/Saltelli estimators).

References: Sobol' I.M. (2001) Math Comput Simul 55:271-280, doi:10.1016/S0378-4754(00)00270-6;
Saltelli A. et al. (2010) Comput Phys Commun 181:259-270, doi:10.1016/j.cpc.2009.09.018;
Herman J., Usher W. (2017) SALib, J Open Source Softw 2:97, doi:10.21105/joss.00097.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from biotwin.errors import DataError


@dataclass(frozen=True)
class SobolIndices:
    """First-order ``S1`` and total ``ST`` indices [-] per factor, with 95% half-widths."""

    names: tuple[str, ...]
    S1: np.ndarray
    ST: np.ndarray
    S1_conf: np.ndarray
    ST_conf: np.ndarray
    n_evaluations: int

    def to_dict(self) -> dict[str, object]:
        return {
            "factors": list(self.names), "S1": self.S1, "ST": self.ST,
            "S1_conf": self.S1_conf, "ST_conf": self.ST_conf, "n_evaluations": self.n_evaluations,
        }


def sobol_problem(names: list[str], bounds: list[tuple[float, float]]) -> dict[str, object]:
    return {"num_vars": len(names), "names": list(names), "bounds": [list(b) for b in bounds]}


def sobol_samples(names: list[str], bounds: list[tuple[float, float]], n: int, seed: int = 0) -> np.ndarray:
    """Saltelli's sample, shape (n * (d + 2), d); ``n`` should be a power of 2."""
    from SALib.sample import sobol as sobol_sample

    if n < 2 or n & (n - 1):
        raise DataError(f"Sobol base sample size must be a power of 2 >= 2, got {n}")
    return sobol_sample.sample(sobol_problem(names, bounds), n, calc_second_order=False, seed=seed)


def sobol_analyze(names: list[str], bounds: list[tuple[float, float]], y: np.ndarray, seed: int = 0) -> SobolIndices:
    """Indices from model outputs ``y`` at :func:`sobol_samples`' points."""
    from SALib.analyze import sobol as sobol_an

    y = np.asarray(y, float)
    if not np.all(np.isfinite(y)):
        raise DataError(f"{int(np.sum(~np.isfinite(y)))} model outputs are not finite")
    res = sobol_an.analyze(sobol_problem(names, bounds), y, calc_second_order=False, seed=seed,
                           print_to_console=False)
    return SobolIndices(tuple(names), np.asarray(res["S1"]), np.asarray(res["ST"]),
                        np.asarray(res["S1_conf"]), np.asarray(res["ST_conf"]), int(y.size))


def sobol_indices(func: Callable[[np.ndarray], np.ndarray], names: list[str],
                  bounds: list[tuple[float, float]], n: int = 1024, seed: int = 0) -> SobolIndices:
    """Sobol indices of a vectorised ``func`` (points (m, d) -> outputs (m,)).

    Examples
    --------
    >>> from biotwin.design.sensitivity import ishigami
    >>> r = sobol_indices(ishigami, ["x1", "x2", "x3"], [(-np.pi, np.pi)] * 3, n=4096)
    >>> bool(abs(r.S1[0] - 0.3139) < 0.02)
    True
    """
    x = sobol_samples(names, bounds, n, seed)
    return sobol_analyze(names, bounds, func(x), seed)


def ishigami(x: np.ndarray, a: float = 7.0, b: float = 0.1) -> np.ndarray:
    """Ishigami & Homma (1990) test function on [-pi, pi]^3 (ISUMA '90, 398-403).

    ``sin x1 + a sin^2 x2 + b x3^4 sin x1``; exact indices in :func:`ishigami_exact`.
    """
    x = np.atleast_2d(x)
    return np.sin(x[:, 0]) + a * np.sin(x[:, 1]) ** 2 + b * x[:, 2] ** 4 * np.sin(x[:, 0])


def ishigami_exact(a: float = 7.0, b: float = 0.1) -> tuple[np.ndarray, np.ndarray]:
    """Exact (S1, ST) of :func:`ishigami` (Sobol' & Levitan 1999, Comput Phys Commun 117:52)."""
    pi = np.pi
    v1 = 0.5 * (1 + b * pi**4 / 5) ** 2
    v2 = a**2 / 8
    v13 = b**2 * pi**8 * (1 / 18 - 1 / 50)
    var = v1 + v2 + v13
    s1 = np.array([v1, v2, 0.0]) / var
    st = np.array([v1 + v13, v2, v13]) / var
    return s1, st

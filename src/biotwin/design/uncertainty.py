"""Parameter uncertainty for Monte Carlo: the parameter set's stated one or a covariance.

Both sample log-normal parameter vectors, shape (n, n_parameters), from a NumPy
``Generator`` (same generator state, same draws).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from biotwin.errors import DataError
from biotwin.models.base import Model
from biotwin.parameters import ParameterSet


@dataclass(frozen=True)
class Covariance:
    """Covariance of ``ln(theta)`` for some parameters, e.g. a calibration's ``cov_``.

    Parameters
    ----------
    names : tuple of str
        Parameter names, in the order of ``cov``'s rows.
    cov : ndarray, shape (k, k)
        Covariance of the natural logs [-].
    mean : ndarray, shape (k,), optional
        Estimates in the parameters' units (default: the parameter set's values).
    """

    names: tuple[str, ...]
    cov: np.ndarray
    mean: np.ndarray | None = None

    @classmethod
    def from_estimator(cls, estimator: object) -> Covariance:
        """From a fitted :class:`biotwin.parameters.calibration.ParameterEstimator`."""
        names = tuple(estimator.names_)  # type: ignore[attr-defined]
        return cls(names, np.asarray(estimator.cov_, float),  # type: ignore[attr-defined]
                   np.array([estimator.params_[n] for n in names], float))  # type: ignore[attr-defined]

    @classmethod
    def from_csv(cls, path: str | Path) -> Covariance:
        """A square CSV: header and first column are parameter names, cells cov(ln a, ln b)."""
        try:
            frame = pd.read_csv(path, index_col=0)
        except (OSError, ValueError) as exc:
            raise DataError(f"cannot read covariance: {exc}", file=str(path)) from exc
        if list(frame.index) != list(frame.columns):
            raise DataError("covariance CSV: row and column names must match", file=str(path))
        cov = frame.to_numpy(float)
        if not np.allclose(cov, cov.T) or np.any(np.linalg.eigvalsh(cov) < -1e-12):
            raise DataError("covariance must be symmetric positive semi-definite", file=str(path))
        return cls(tuple(str(c) for c in frame.columns), cov)


def sample_parameters(
    ps: ParameterSet,
    model: Model,
    n: int,
    rng: np.random.Generator,
    covariance: Covariance | None = None,
    scale: float = 1.0,
) -> np.ndarray:
    """``n`` parameter vectors, shape (n, n_parameters).

    Without ``covariance``: independent log-normals with the set's stated relative sd
    (median-corrected, as :meth:`ParameterSet.sample`). With it: the named parameters
    jointly log-normal, ``ln theta ~ N(ln mean - diag/2, cov)``; the others at their values.
    ``n == 0`` gives one nominal vector.
    """
    nominal = ps.vector(model)
    if n == 0:
        return nominal[None, :].copy()
    if covariance is None:
        sigma = ps.relative_sd_vector(model) * scale
        z = rng.standard_normal((n, nominal.size))
        return nominal * np.exp(sigma * z - 0.5 * sigma**2)
    idx = []
    for name in covariance.names:
        if name not in model.parameter_names:
            raise DataError(f"covariance names unknown parameter {name!r} of {model.name}")
        idx.append(model.parameter_names.index(name))
    mean = nominal[idx] if covariance.mean is None else np.asarray(covariance.mean, float)
    cov = np.asarray(covariance.cov, float) * scale**2
    z = rng.multivariate_normal(np.zeros(len(idx)), cov, size=n, method="eigh")
    out = np.tile(nominal, (n, 1))
    out[:, idx] = mean * np.exp(z - 0.5 * np.diag(cov))
    return out

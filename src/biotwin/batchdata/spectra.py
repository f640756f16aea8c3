"""Spectra logged beside the process variables: find them and compress them to a few scores.

A Raman or NIR probe writes hundreds to thousands of channels per row, named by their
wavenumber or wavelength (``2400``, ``1200.5``, ``wl0`` ... ``wl999``, ``Raman_1650 [a.u.]``).
Monitoring every channel as a process variable multiplies the charts and the cost (a
monitor fitted on 1000 such channels took 3 minutes on 2 cores, and its redundancy
regressions grow with the square of the columns) while the channels carry a handful of
independent signals. :class:`SpectrumCompressor` replaces each block of channels by its leading
principal component scores and the squared residual of the block's reconstruction (the
block's own SPE), as in multi-block monitoring of spectra (Westerhuis, Kourti & MacGregor
1998, J Chemometrics 12:301, doi:10.1002/(SICI)1099-128X(199809/10)12:5<301::AID-CEM515>3.0.CO;2-S;
Lopes et al. 2002, Anal Chim Acta 464:305 for NIR in bioprocess monitoring).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.decomposition import PCA

from biotwin.errors import DataError

#: a channel name: an optional stem, a number (the wavenumber or wavelength), an optional unit
#: in brackets or one of nm, cm-1, cm^-1, 1/cm, a.u.
_CHANNEL = re.compile(r"^\s*([A-Za-z_][A-Za-z_\s.-]*?)?[\s_-]*(\d+(?:\.\d+)?)\s*"
                      r"(\[[^\]]*\]|\([^)]*\)|(?:nm|cm-1|cm\^-1|1/cm|a\.?u\.?))?\s*$")


def spectral_blocks(columns: Sequence[str], min_channels: int = 50) -> dict[str, list[str]]:
    """Groups of at least ``min_channels`` columns named by a number, by their common stem and unit.

    ``["2400", "2399", ...]`` is one block named ``spectrum``; ``["wl0", "wl1", ...]`` one
    named ``wl``; ``["400 nm", "401 nm", ...]`` one named ``spectrum nm``. Columns keep their
    order within a block.
    """
    groups: dict[str, list[str]] = {}
    for c in columns:
        m = _CHANNEL.match(str(c))
        if m:
            stem = (m.group(1) or "").strip(" _-.") or "spectrum"
            unit = (m.group(3) or "").strip()
            groups.setdefault(f"{stem} {unit}" if unit else stem, []).append(str(c))
    return {k: v for k, v in groups.items() if len(v) >= min_channels}


def spectral_derivative(S: np.ndarray, window: int = 15, polyorder: int = 2) -> np.ndarray:
    """First derivative of each row of ``S`` (rows: spectra, columns: channels in order).

    Savitzky-Golay smoothing derivative (Savitzky & Golay 1964, Anal Chem 36:1627,
    doi:10.1021/ac60214a047), window ``window`` channels (shortened to fit, odd), so an additive
    offset drops out and a sloping baseline becomes a constant. Rows with a missing channel
    stay missing.
    """
    from scipy.signal import savgol_filter

    S = np.asarray(S, float)
    n = S.shape[1]
    w = min(window, n if n % 2 else n - 1)
    if w <= polyorder:
        return np.zeros_like(S)
    return savgol_filter(S, w, polyorder, deriv=1, axis=1)


class SpectrumCompressor(TransformerMixin, BaseEstimator):
    """Replace each block of spectral channels by its principal component scores and SPE.

    Parameters
    ----------
    min_channels : int
        A block needs at least this many channels (:func:`spectral_blocks`).
    n_components : float
        Variance each block's PCA keeps (or an int number of scores), at most ``max_components``.
    max_components : int
        Cap on the scores per block.
    max_rows : int
        Rows (evenly spaced over the training rows) the PCA is fitted on.
    exclude : sequence of str
        Columns never treated as channels.

    Attributes
    ----------
    blocks_ : dict
        Block name -> its channel columns.
    pca_ : dict
        Block name -> fitted :class:`~sklearn.decomposition.PCA` (on centred, unit-variance channels).
    n_scores_ : dict
        Block name -> scores kept (the leading components that reach ``n_components``).
    """

    def __init__(self, min_channels: int = 50, n_components: float = 0.99, max_components: int = 10,
                 max_rows: int = 20_000, exclude: Sequence[str] = ()) -> None:
        self.min_channels = min_channels
        self.n_components = n_components
        self.max_components = max_components
        self.max_rows = max_rows
        self.exclude = exclude

    def fit(self, frames: Sequence[pd.DataFrame], y: object = None) -> SpectrumCompressor:
        """Find the blocks in columns common to all ``frames`` and fit each block's PCA."""
        common = set.intersection(*(set(f.columns) for f in frames)) - set(self.exclude)
        self.blocks_ = spectral_blocks([c for c in frames[0].columns if c in common], self.min_channels)
        self.pca_: dict[str, PCA] = {}
        self.n_scores_: dict[str, int] = {}
        self.scale_: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        for name, cols in self.blocks_.items():
            X = np.vstack([f[cols].to_numpy(float) for f in frames])
            X = X[np.isfinite(X).all(axis=1)]
            if len(X) > self.max_rows:
                X = X[np.linspace(0, len(X) - 1, self.max_rows).astype(int)]
            mu, sd = X.mean(axis=0), X.std(axis=0)
            sd[sd <= 0] = 1.0
            Z = (X - mu) / sd
            k = min(self.max_components, Z.shape[1], max(len(Z) - 1, 1))
            pca = PCA(n_components=k, svd_solver="randomized", random_state=0).fit(Z)
            if isinstance(self.n_components, float) and self.n_components < 1:
                keep = int(np.searchsorted(np.cumsum(pca.explained_variance_ratio_), self.n_components) + 1)
            else:
                keep = int(self.n_components)
            self.pca_[name] = pca
            self.n_scores_[name] = min(max(keep, 1), k)
            self.scale_[name] = (mu, sd)
        return self

    def names(self, block: str) -> list[str]:
        """Output columns of one block: its scores, then its SPE."""
        return [f"{block} PC{i + 1}" for i in range(self.n_scores_[block])] + [f"{block} SPE"]

    def transform(self, frame: pd.DataFrame) -> pd.DataFrame:
        """``frame`` with each block's channels replaced by its scores and SPE (missing rows stay missing)."""
        out = frame
        for name, cols in self.blocks_.items():
            missing = [c for c in cols if c not in frame]
            if missing:
                raise DataError(f"spectrum block {name!r} lacks {len(missing)} of its channels "
                                f"(first: {missing[0]!r})")
            mu, sd = self.scale_[name]
            X = frame[cols].to_numpy(float)
            ok = np.isfinite(X).all(axis=1)
            Z = (np.where(ok[:, None], X, mu) - mu) / sd
            pca, k = self.pca_[name], self.n_scores_[name]
            P = pca.components_[:k]
            T = (Z - pca.mean_) @ P.T
            spe = np.sum((Z - pca.mean_ - T @ P) ** 2, axis=1) / Z.shape[1]
            new = np.column_stack([T, spe])
            new[~ok] = np.nan
            out = out.drop(columns=cols)
            out = pd.concat([out, pd.DataFrame(new, columns=self.names(name), index=frame.index)], axis=1)
        return out

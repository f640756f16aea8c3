"""The golden-batch envelope: mean trajectory and band of the best batches by a quality attribute."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from biotwin.batchdata.align import align_batches
from biotwin.batchdata.io import TIME
from biotwin.errors import DataError


def golden_envelope(
    frames: Sequence[pd.DataFrame],
    quality: str,
    variables: Sequence[str],
    *,
    fraction: float = 0.3,
    higher_is_better: bool = True,
    n_sd: float = 3.0,
    n_points: int = 100,
    by: str = TIME,
) -> tuple[pd.DataFrame, list[int]]:
    """Envelope of the best batches: mean +- ``n_sd`` standard deviations per grid point.

    Parameters
    ----------
    frames : sequence of DataFrame
        Batches with ``time_h`` [h], ``quality`` and ``variables``.
    quality : str
        Column whose last finite value ranks the batches (e.g. titre).
    variables : sequence of str
    fraction : float
        Share of batches kept as golden (at least 3).
    higher_is_better : bool
    n_sd : float
        Half-width of the band in standard deviations (3: Shewhart 1931).
    n_points : int
        Grid points.
    by : str
        Alignment axis (``time_h`` or an indicator column, see :func:`align_batches`).

    Returns
    -------
    envelope : DataFrame, shape (n_points, 1 + 3 * n_variables)
        ``time_h`` (or the indicator) and ``<v>``, ``<v> lower``, ``<v> upper`` per variable.
    golden : list of int
        Indices of the golden batches, best first.
    """
    finals = []
    for f in frames:
        q = f[quality].to_numpy(float) if quality in f else np.array([])
        q = q[np.isfinite(q)]
        finals.append(q[-1] if q.size else np.nan)
    order = [int(i) for i in np.argsort(finals)[:: -1 if higher_is_better else 1] if np.isfinite(finals[i])]
    k = max(3, round(fraction * len(order)))
    if len(order) < 3:
        raise DataError("a golden envelope needs at least 3 batches with a quality value")
    golden = order[:k]
    X, grid = align_batches([frames[i] for i in golden], list(variables), n_points=n_points, by=by)
    mean, sd = X.mean(0), X.std(0, ddof=1)
    out = {by: grid}
    for j, v in enumerate(variables):
        out[v] = mean[:, j]
        out[f"{v} lower"] = mean[:, j] - n_sd * sd[:, j]
        out[f"{v} upper"] = mean[:, j] + n_sd * sd[:, j]
    return pd.DataFrame(out), golden

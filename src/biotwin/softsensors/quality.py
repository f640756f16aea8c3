"""Batch-level prediction of final quality from the trajectory so far.

The end-of-batch value of a quality attribute is the target of every row of a training
batch; the features of a row (values, running integrals, rates, time) summarise the
trajectory up to that row, so one model predicts final quality at any maturity (the
"evolving" batch-level model of Nomikos & MacGregor 1995, Technometrics 37:41, with
cumulative features in place of the missing future).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator

from biotwin.batchdata.io import BatchSet
from biotwin.errors import DataError
from biotwin.softsensors.sensor import LEAK_FRACTIONS, SoftSensor, _as_frames


class FinalQualityPredictor(BaseEstimator):
    """Predicts a batch's final value of ``quality`` from its trajectory so far.

    Parameters
    ----------
    quality : str
        Column whose last finite value in a batch is the final quality.
    exclude : sequence of str
        Columns never used as inputs.
    candidates : sequence of str
        Regressors (see :class:`SoftSensor`).
    alpha : float
        Miscoverage of the intervals.
    leak_fractions : sequence of float
        Time constants of the leaky integrals (see :class:`SoftSensor`).
    """

    def __init__(self, quality: str = "", exclude: Sequence[str] = (), candidates: Sequence[str] = ("pls", "gbm"),
                 alpha: float = 0.1, leak_fractions: Sequence[float] = LEAK_FRACTIONS) -> None:
        self.quality = quality
        self.exclude = exclude
        self.candidates = candidates
        self.alpha = alpha
        self.leak_fractions = leak_fractions

    def fit(self, batches: BatchSet | Sequence[pd.DataFrame], y: Any = None) -> FinalQualityPredictor:
        """Fit on complete training batches."""
        frames, ids = _as_frames(batches)
        self.sensor_ = SoftSensor(target=final_column(self.quality), exclude=(self.quality, *self.exclude),
                                  candidates=self.candidates, alpha=self.alpha,
                                  leak_fractions=self.leak_fractions).fit(
            BatchSet(with_final(frames, self.quality, ids), list(ids)))
        return self

    def predict_frame(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Final-quality forecast at every row, with interval and domain flag; see :meth:`SoftSensor.predict_frame`."""
        f = frame.drop(columns=[self.quality], errors="ignore")
        return self.sensor_.predict_frame(f)


def final_column(quality: str) -> str:
    """The name of the column holding a batch's final value of ``quality``: ``final(quality)``."""
    return f"final({quality})"


def with_final(frames: Sequence[pd.DataFrame], quality: str, ids: Sequence[str] | None = None,
               strict: bool = True) -> list[pd.DataFrame]:
    """Each batch with a ``final(quality)`` column: the last finite value of ``quality`` in the
    batch, on every row.

    With ``strict`` a batch without the column or without any value of it is refused, naming it;
    otherwise the column is NaN there (a validation batch not yet assayed at its end is left out).
    """
    names = list(ids) if ids is not None else [f"batch {i}" for i in range(len(frames))]
    out = []
    for f, name in zip(frames, names, strict=True):
        if quality not in f:
            if strict:
                raise DataError(f"batch {name!r} has no quality column {quality!r}", column=quality)
            out.append(f.assign(**{final_column(quality): np.nan}))
            continue
        v = f[quality].to_numpy(float)
        v = v[np.isfinite(v)]
        if strict and not v.size:
            raise DataError(f"batch {name!r} has no value of {quality!r}", column=quality)
        out.append(f.assign(**{final_column(quality): v[-1] if v.size else np.nan}))
    return out

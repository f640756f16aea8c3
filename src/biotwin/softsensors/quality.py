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
from biotwin.softsensors.sensor import SoftSensor, _as_frames


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
    """

    def __init__(self, quality: str = "", exclude: Sequence[str] = (), candidates: Sequence[str] = ("pls", "gbm"),
                 alpha: float = 0.1) -> None:
        self.quality = quality
        self.exclude = exclude
        self.candidates = candidates
        self.alpha = alpha

    def fit(self, batches: BatchSet | Sequence[pd.DataFrame], y: Any = None) -> FinalQualityPredictor:
        """Fit on complete training batches."""
        frames, _ = _as_frames(batches)
        target = f"final({self.quality})"
        out = []
        for f in frames:
            if self.quality not in f:
                raise DataError(f"batch has no quality column {self.quality!r}")
            v = f[self.quality].to_numpy(float)
            v = v[np.isfinite(v)]
            if not v.size:
                raise DataError(f"batch has no value of {self.quality!r}")
            out.append(f.assign(**{target: v[-1]}))
        self.sensor_ = SoftSensor(target=target, exclude=(self.quality, *self.exclude),
                                  candidates=self.candidates, alpha=self.alpha).fit(out)
        return self

    def predict_frame(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Final-quality forecast at every row, with interval and domain flag; see :meth:`SoftSensor.predict_frame`."""
        f = frame.drop(columns=[self.quality], errors="ignore")
        return self.sensor_.predict_frame(f)

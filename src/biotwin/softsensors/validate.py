"""Validate a fitted soft sensor on batches it has not seen: its error at their assays, against
the tuned PLS it was measured against at fit, with the coverage of its intervals.

A soft sensor's cross-validated error at fit is an estimate; before it replaces a lab assay in
a regulated plant it is checked on independent batches with acceptance criteria set in advance
(ICH Q2(R2) 2023, Validation of Analytical Procedures, accuracy and precision; FDA 2004, PAT
guidance, model maintenance), and checked again as new batches come in. :func:`validate` puts
every assayed row of each batch beside the soft sensor's prediction, its interval and the
baseline's prediction; :meth:`Validation.summary` gives the statistics and
:func:`judge` the verdict against the limits a user sets.

Statistics (each over the assayed rows of all batches, each batch's rows also apart):
root-mean-square error, mean error (bias, prediction minus assay), largest absolute error, the
share of assays inside the prediction interval (against its nominal ``1 - alpha``), the share
of rows inside the applicability domain and the error on those rows alone, and the baseline's
error with the soft sensor's gain over it, ``100 (1 - RMSE / RMSE_baseline)`` [%]. The range
the errors are expressed against is that of the validation assays.

Continuous verification: is the soft sensor still as good as its fit said? The validation RMSE
gets a 95 % interval from a bootstrap over batches (errors within a batch are correlated, so the
batch is the unit resampled; Efron & Tibshirani 1993, An Introduction to the Bootstrap, ch. 13),
and ``worse_than_fit`` says whether the fit's out-of-fold RMSE lies below that interval: the
model does worse on these batches than chance alone explains (new raw materials, a changed
sensor, a process the training batches did not cover).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from biotwin.batchdata.io import TIME, to_frame
from biotwin.errors import DataError

#: Columns of :attr:`Validation.rows`.
ROW_COLUMNS = ("batch_id", TIME, "assay", "prediction", "lower", "upper", "in_domain", "baseline")


@dataclass
class Validation:
    """A soft sensor's predictions beside the assays of validation batches.

    Attributes
    ----------
    target : str
        The assayed column.
    rows : DataFrame
        One row per assay: ``batch_id``, ``time_h`` [h], ``assay``, ``prediction``, ``lower``,
        ``upper``, ``in_domain`` and ``baseline`` (the baseline PLS's prediction, NaN for a
        soft sensor saved without it), in the target's unit.
    alpha : float
        Miscoverage of the intervals the soft sensor was fitted for.
    baseline : str or None
        The baseline's name (``rawpls8``), None when the soft sensor does not carry it.
    skipped : list of str
        Batches with no assay of the target.
    updated : bool
        Whether the predictions were re-anchored on each batch's earlier assays.
    fit_cv_rmse : float or None
        The soft sensor's out-of-fold RMSE at fit (of the model it chose).
    """

    target: str
    rows: pd.DataFrame
    alpha: float
    baseline: str | None
    skipped: list[str]
    updated: bool = False
    fit_cv_rmse: float | None = None

    def summary(self) -> dict[str, Any]:
        """The statistics as a JSON-ready dict (see the module docstring); ``batches`` holds each
        batch's own."""
        r = self.rows
        rng = float(np.ptp(r["assay"])) if len(r) else float("nan")
        out: dict[str, Any] = {"target": self.target, "n_batches": int(r["batch_id"].nunique()),
                               "n_rows": len(r), "assay_range": rng, **_stats(r)}
        out["rmse_pct_range"] = 100.0 * out["rmse"] / rng if rng > 0 else None
        out["nominal_coverage"] = 1.0 - self.alpha
        inside = r[r["in_domain"]]
        out["rmse_in_domain"] = _rmse(inside["prediction"] - inside["assay"]) if len(inside) else None
        out["baseline"] = None
        if self.baseline is not None:
            b = _rmse(r["baseline"] - r["assay"])
            out["baseline"] = {"name": self.baseline, "rmse": b,
                               "rmse_pct_range": 100.0 * b / rng if rng > 0 else None,
                               "gain_pct": 100.0 * (1.0 - out["rmse"] / b) if b > 0 else None}
        out["fit_cv_rmse"] = self.fit_cv_rmse
        lo, hi = _batch_bootstrap(r)
        out["rmse_interval95"] = [lo, hi]
        out["worse_than_fit"] = (bool(self.fit_cv_rmse < lo) if self.fit_cv_rmse is not None and np.isfinite(lo)
                                 else None)
        out["updated"] = self.updated
        out["batches"] = [{"batch_id": str(k), "n_rows": len(g), **_stats(g),
                           "baseline_rmse": _rmse(g["baseline"] - g["assay"]) if self.baseline else None}
                          for k, g in r.groupby("batch_id", sort=False)]
        out["skipped_batches"] = list(self.skipped)
        return out


def _batch_bootstrap(r: pd.DataFrame, n_boot: int = 2000, seed: int = 0) -> tuple[float, float]:
    """95 % percentile interval of the RMSE over the rows of ``r``, resampling whole batches."""
    sq = (r["prediction"] - r["assay"]).to_numpy(float) ** 2
    codes, _ = pd.factorize(r["batch_id"])
    sums, counts = np.bincount(codes, weights=sq), np.bincount(codes).astype(float)
    k = len(sums)
    if k < 2:
        return float("nan"), float("nan")
    pick = np.random.default_rng(seed).integers(0, k, size=(n_boot, k))
    rmse = np.sqrt(sums[pick].sum(axis=1) / counts[pick].sum(axis=1))
    return float(np.quantile(rmse, 0.025)), float(np.quantile(rmse, 0.975))


def _rmse(e: pd.Series | np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(np.asarray(e, float)))))


def _stats(r: pd.DataFrame) -> dict[str, Any]:
    e = (r["prediction"] - r["assay"]).to_numpy(float)
    inside = (r["assay"] >= r["lower"]) & (r["assay"] <= r["upper"])
    return {"rmse": _rmse(e), "bias": float(np.mean(e)), "max_abs_error": float(np.max(np.abs(e))),
            "coverage": float(inside.mean()), "in_domain_share": float(r["in_domain"].mean())}


def validate(sensor: Any, batches: Sequence[pd.DataFrame], ids: Sequence[str], update: bool = False,
             context: Callable[[str], AbstractContextManager[Any]] | None = None) -> Validation:
    """Predict each batch and put the predictions beside its assays.

    Parameters
    ----------
    sensor : SoftSensor
        A fitted soft sensor.
    batches : sequence of DataFrame
        Validation batches, each with ``time_h`` [h], the inputs and the target column (its
        assays, NaN between them); none of them should have been used to fit ``sensor``.
    ids : sequence of str
        The batches' names, for the per-batch statistics and the errors.
    update : bool
        Re-anchor each row on the batch's earlier assays (:meth:`SoftSensor.predict_frame`).
        The baseline is not re-anchored, so the gain then compares unlike things.
    context : callable, optional
        Batch name -> a context manager each batch is predicted in (the console's names the
        file in the errors and warnings raised inside).

    Returns
    -------
    Validation

    Raises
    ------
    DataError
        A batch without the target column (named), or no assay in any batch.
    """
    if len(batches) != len(ids):
        raise DataError("validate: batches and ids differ in length")
    target = sensor.target
    has_baseline = getattr(sensor, "baseline_model_", None) is not None
    parts, skipped = [], []
    for frame, name in zip(batches, ids, strict=True):
        if TIME not in frame.columns:
            frame = to_frame(frame, file=str(name))
        if target not in frame:
            raise DataError(f"validation batch {name!r} has no column {target!r}: nothing to validate against "
                            f"(columns: {list(frame.columns)})", file=str(name))
        y = frame[target].to_numpy(float)
        rows = np.flatnonzero(np.isfinite(y))
        if not len(rows):
            skipped.append(str(name))
            continue
        with context(str(name)) if context else nullcontext():
            res = sensor.predict_frame(frame, update=update, baseline=has_baseline)
        base = res["baseline"].to_numpy(float)[rows] if has_baseline else np.full(len(rows), np.nan)
        parts.append(pd.DataFrame({"batch_id": str(name), TIME: res[TIME].to_numpy(float)[rows], "assay": y[rows],
                                   "prediction": res["prediction"].to_numpy(float)[rows],
                                   "lower": res["lower"].to_numpy(float)[rows],
                                   "upper": res["upper"].to_numpy(float)[rows],
                                   "in_domain": res["in_domain"].to_numpy(bool)[rows], "baseline": base}))
    if not parts:
        raise DataError(f"no validation batch has an assay of {target!r} ({len(ids)} batches: {list(ids)[:5]})")
    cv = getattr(sensor, "cv_rmse_", {}).get(getattr(sensor, "chosen_", None))
    return Validation(target, pd.concat(parts, ignore_index=True)[list(ROW_COLUMNS)], float(sensor.alpha),
                      sensor.baseline_ if has_baseline else None, skipped, update,
                      None if cv is None else float(cv))


def judge(summary: dict[str, Any], max_rmse_pct: float | None = None, min_gain_pct: float | None = None,
          min_coverage: float | None = None) -> dict[str, bool]:
    """Each acceptance criterion given (None: not judged) -> whether the summary meets it.

    ``max_rmse_pct``: RMSE at most this share [%] of the validation assays' range;
    ``min_gain_pct``: RMSE at least this much [%] below the baseline's (a soft sensor without
    a baseline fails it); ``min_coverage``: at least this share [0-1] of the assays inside the
    intervals.
    """
    out: dict[str, bool] = {}
    if max_rmse_pct is not None:
        v = summary.get("rmse_pct_range")
        out[f"rmse<={max_rmse_pct:g}%"] = v is not None and v <= max_rmse_pct
    if min_gain_pct is not None:
        g = (summary.get("baseline") or {}).get("gain_pct")
        out[f"gain>={min_gain_pct:g}%"] = g is not None and g >= min_gain_pct
    if min_coverage is not None:
        out[f"coverage>={min_coverage:g}"] = summary["coverage"] >= min_coverage
    return out

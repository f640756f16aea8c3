"""The golden-batch envelope: mean trajectory and band of the best batches by a quality attribute.

:class:`GoldenEnvelope` ranks the training batches by the last assayed value of a quality
attribute, keeps the best share as golden, and puts their trajectories on one axis (culture
time, or an indicator such as cumulative feed, :func:`~biotwin.batchdata.align.align_batches`);
the envelope is their mean +- ``n_sd`` standard deviations at each point (the golden-batch
band of SIMCA-online and PI's golden-batch displays; Shewhart 1931 for the 3-sd width). A new
batch is laid over it row by row, and :meth:`GoldenEnvelope.excursions` lists where it leaves
the band, on which side, for how long and how far. It is a reference to steer by, not an
alarm system: the MSPC monitor (:class:`~biotwin.monitoring.mspc.BatchMonitor`) is calibrated on
all normal batches, the envelope on the best few.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator

from biotwin.batchdata.align import _filled, align_batches, indicator_grid
from biotwin.batchdata.io import TIME, BatchSet, _as_frames, input_columns
from biotwin.batchdata.spectra import spectral_blocks
from biotwin.errors import DataError

#: The band's standard deviation is never below this share of the spread of all the training
#: batches (root mean square over the axis). Where the golden batches agree to rounding (a pump
#: held at 0, a set point) a band of zero width put a reading off it at 1e20 standard deviations.
SD_FLOOR = 0.1


def final_value(frame: pd.DataFrame, column: str) -> float:
    """The last finite value of ``column`` in a batch (its final assay), NaN without one."""
    if column not in frame:
        return float("nan")
    v = pd.to_numeric(frame[column], errors="coerce").to_numpy(float)
    v = v[np.isfinite(v)]
    return float(v[-1]) if v.size else float("nan")


class GoldenEnvelope(BaseEstimator):
    """The golden-batch envelope of the best training batches by a quality attribute.

    Parameters
    ----------
    quality : str
        Column whose last finite value in a batch ranks it (a final titre, a glycan share).
    variables : sequence of str, optional
        Variables to envelope; default every input column (numeric, in every batch, not
        constant, not a batch identifier), less ``quality``, ``exclude`` and the channels of
        spectra (:func:`~biotwin.batchdata.spectra.spectral_blocks`; ``spectra_left_out_``).
    exclude : sequence of str
        Columns never enveloped (other assays).
    fraction : float
        Share of the ranked batches kept as golden, at least 3 batches.
    higher_is_better : bool
        Whether a larger quality value is better.
    n_sd : float
        Half-width of the band in standard deviations of the golden batches (each at least
        :data:`SD_FLOOR` of all the training batches' spread).
    n_points : int
        Points of the envelope's axis.
    by : str
        Axis: ``time_h`` [h] or an indicator column present in every batch (made monotone, see
        :func:`~biotwin.batchdata.align.indicator_grid`). An indicator that stays flat for a phase
        (a feed total before feeding starts) puts that whole phase on one point of the axis;
        cumulative O2 uptake rises from the first row.
    cumulative : bool
        Integrate the indicator over time first (``OUR`` -> cumulative O2 uptake).

    Attributes
    ----------
    envelope_ : DataFrame, shape (n_points, 1 + 3 * n_variables)
        ``by`` and, per variable, ``<v>`` (golden mean), ``<v> lower`` and ``<v> upper``.
    variables_ : list of str
    golden_ : list of int
        Indices of the golden batches among those given to :meth:`fit`, best first.
    golden_ids_ : list of str
    quality_ : dict of str to float
        Every ranked batch's final quality, by batch id (batches without a value are left out).
    unranked_ids_ : list of str
        Batches without any value of ``quality``: not ranked, never golden.
    sd_floor_ : ndarray, shape (n_variables,)
        The least standard deviation of each variable's band.
    spectra_left_out_ : dict of str to int
        Spectra whose channels the default ``variables`` leave out, with their channel counts.
    """

    def __init__(self, quality: str = "", variables: Sequence[str] | None = None, exclude: Sequence[str] = (),
                 fraction: float = 0.3, higher_is_better: bool = True, n_sd: float = 3.0, n_points: int = 100,
                 by: str = TIME, cumulative: bool = False) -> None:
        self.quality = quality
        self.variables = variables
        self.exclude = exclude
        self.fraction = fraction
        self.higher_is_better = higher_is_better
        self.n_sd = n_sd
        self.n_points = n_points
        self.by = by
        self.cumulative = cumulative

    def fit(self, batches: BatchSet | Sequence[pd.DataFrame], y: Any = None) -> GoldenEnvelope:
        """Rank the batches, keep the golden ones and build their envelope."""
        if not 0.0 < float(self.fraction) <= 1.0:
            raise DataError(f"fraction must lie in (0, 1], got {self.fraction}")
        if not float(self.n_sd) > 0.0:
            raise DataError(f"n_sd must be positive, got {self.n_sd}")
        if int(self.n_points) < 2:
            raise DataError(f"n_points must be at least 2, got {self.n_points}")
        frames, ids = _as_frames(batches)
        if not self.quality:
            raise DataError("a golden envelope needs a quality column to rank the batches by")
        if not any(self.quality in f for f in frames):
            raise DataError("no batch has this quality column", column=self.quality)
        finals = np.array([final_value(f, self.quality) for f in frames])
        ranked = [int(i) for i in np.argsort(finals if not self.higher_is_better else -finals, kind="stable")
                  if np.isfinite(finals[i])]
        if len(ranked) < 3:
            raise DataError(f"a golden envelope needs at least 3 batches with a value of the quality, "
                            f"got {len(ranked)}", column=self.quality)
        k = min(len(ranked), max(3, round(float(self.fraction) * len(ranked))))
        self.golden_ = ranked[:k]
        self.golden_ids_ = [ids[i] for i in self.golden_]
        self.quality_ = {ids[i]: float(finals[i]) for i in ranked}
        self.unranked_ids_ = [ids[i] for i in range(len(frames)) if not np.isfinite(finals[i])]
        drop = [self.quality, *self.exclude] + ([] if self.by == TIME else [self.by])
        self.spectra_left_out_ = {}
        if self.variables is None:
            variables = input_columns(frames, drop, ids)
            # a spectrum's channels are not process variables to steer by: a band per channel
            # would give thousands of columns (named with --variables if wanted)
            blocks = spectral_blocks(variables)
            self.spectra_left_out_ = {k: len(v) for k, v in blocks.items()}
            channels = {c for v in blocks.values() for c in v}
            variables = [v for v in variables if v not in channels]
        else:
            variables = list(self.variables)
            for v in variables:
                lack = [ids[i] for i, f in enumerate(frames) if v not in f]
                if lack:
                    raise DataError(f"not in batch(es) {', '.join(lack[:3])}", column=v)
        if not variables:
            raise DataError("no variable to envelope: every column is excluded, constant or not numeric")
        gold = [frames[i] for i in self.golden_]
        X, grid = align_batches(gold, variables, n_points=int(self.n_points), by=self.by,
                                cumulative=bool(self.cumulative))
        mean, sd = X.mean(0), X.std(0, ddof=1)
        # the floor on the band's spread, from every training batch on the same axis
        Xall, _ = align_batches(frames, variables, by=self.by, cumulative=bool(self.cumulative), grid=grid)
        spread = np.sqrt(np.mean(Xall.std(0, ddof=1) ** 2, axis=0))
        tiny = 1e-9 * np.maximum(1.0, np.max(np.abs(mean), axis=0))
        self.sd_floor_ = np.where(spread > 0, SD_FLOOR * spread, tiny)
        sd = np.maximum(sd, self.sd_floor_)
        out: dict[str, np.ndarray] = {self.by: grid}
        for j, v in enumerate(variables):
            out[v] = mean[:, j]
            out[f"{v} lower"] = mean[:, j] - float(self.n_sd) * sd[:, j]
            out[f"{v} upper"] = mean[:, j] + float(self.n_sd) * sd[:, j]
        self.variables_ = variables
        self.envelope_ = pd.DataFrame(out)
        # the golden batches' own trajectories on the axis, so that a batch is judged against their
        # mean and spread at its own rows rather than a line between envelope points (early in a
        # batch on cumulative O2 uptake one point of 100 spans hours, and a tight band such as a
        # base total near 0 is crossed between points by the golden batches themselves)
        self.golden_trajectories_ = [self._on_axis(f) for f in gold]
        return self

    def _on_axis(self, frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        """A batch's axis values, each once (its first row at each, as :func:`align_batches`
        takes them), and its variables there, shape (n_values,) and (n_values, n_variables)."""
        axis = indicator_grid(frame, self.by, bool(self.cumulative))
        ax_u, idx = np.unique(axis, return_index=True)
        cols = self.variables_
        return ax_u, np.column_stack([_filled(frame, v)[idx] for v in cols]) if cols else np.zeros((len(ax_u), 0))

    def overlay(self, frame: pd.DataFrame) -> pd.DataFrame:
        """A batch's rows laid over the envelope.

        Returns
        -------
        DataFrame, shape (n_rows, 2 + 4 * n_variables)
            ``time_h``, the axis ``by`` and per variable the batch's value ``<v>``, the golden
            mean, lower and upper bounds at that row (``<v> mean``, ``<v> lower``,
            ``<v> upper``): the golden batches' mean +- ``n_sd`` standard deviations at the
            row's place on the axis, each golden batch interpolated there. They are NaN where
            the batch is not judged: beyond the envelope's axis, and on the rows where an
            indicator axis does not advance (all but the first).
        """
        if TIME not in frame:
            raise DataError(f"batch has no {TIME} column")
        missing = [v for v in self.variables_ if v not in frame]
        if missing:
            raise DataError(f"batch lacks the enveloped variable(s) {', '.join(map(repr, missing))}")
        axis = indicator_grid(frame, self.by, bool(self.cumulative))
        env = self.envelope_
        grid = env[self.by].to_numpy(float)
        inside = (axis >= grid[0] - 1e-9) & (axis <= grid[-1] + 1e-9)
        # where an indicator does not advance (a cumulative feed before feeding starts) a row has no
        # place of its own on the axis: as in the envelope (:func:`align_batches` keeps the first
        # row at each value), only the row where it reaches a new value is judged
        inside &= np.r_[True, np.diff(axis) > 0]
        out: dict[str, np.ndarray] = {TIME: frame[TIME].to_numpy(float)}
        if self.by != TIME:
            out[self.by] = axis
        at = axis[inside]
        G = np.stack([np.column_stack([np.interp(at, ax, vals[:, j]) for j in range(vals.shape[1])])
                      for ax, vals in self.golden_trajectories_])  # (n_golden, n_judged, n_variables)
        mean, half = G.mean(0), float(self.n_sd) * np.maximum(G.std(0, ddof=1), self.sd_floor_)
        for j, v in enumerate(self.variables_):
            out[v] = pd.to_numeric(frame[v], errors="coerce").to_numpy(float)
            for part, values in (("mean", mean[:, j]), ("lower", mean[:, j] - half[:, j]),
                                 ("upper", mean[:, j] + half[:, j])):
                col = np.full(len(axis), np.nan)
                col[inside] = values
                out[f"{v} {part}"] = col
        return pd.DataFrame(out)

    def inside_share(self, frame: pd.DataFrame, before_h: float | None = None, *,
                     overlay: pd.DataFrame | None = None) -> dict[str, float | None]:
        """Per variable, the share of the batch's judged rows (:meth:`overlay`) inside the band;
        only the rows before ``before_h`` [h] if given; None for a variable with no judged row.
        ``overlay``: the batch's :meth:`overlay`, if already computed."""
        ov = self.overlay(frame) if overlay is None else overlay
        early = np.ones(len(ov), bool) if before_h is None else ov[TIME].to_numpy(float) < before_h
        out: dict[str, float | None] = {}
        for v in self.variables_:
            x, lo, hi = (ov[c].to_numpy(float) for c in (v, f"{v} lower", f"{v} upper"))
            judged = early & np.isfinite(x) & np.isfinite(lo)
            out[v] = float(np.mean((x >= lo)[judged] & (x <= hi)[judged])) if judged.any() else None
        return out

    def excursions(self, frame: pd.DataFrame, persistence: int = 2, *,
                   overlay: pd.DataFrame | None = None) -> list[dict[str, Any]]:
        """Where a batch leaves the golden band: one entry per run of at least ``persistence``
        consecutive rows above the upper or below the lower bound (``overlay``: the batch's
        :meth:`overlay`, if already computed).

        Returns
        -------
        list of dict
            ``variable``, ``side`` (``above`` or ``below``), ``from_h``, ``to_h`` (culture time of
            the run's first and last row [h]), ``rows``, ``worst_sd`` (the largest distance from
            the golden mean in the golden batches' standard deviations, signed) and
            ``worst_h``; in order of ``from_h``. Rows without a value, or beyond the envelope's
            axis, end a run.
        """
        ov = self.overlay(frame) if overlay is None else overlay
        t = ov[TIME].to_numpy(float)
        found = []
        for v in self.variables_:
            x, mu = ov[v].to_numpy(float), ov[f"{v} mean"].to_numpy(float)
            lo, hi = ov[f"{v} lower"].to_numpy(float), ov[f"{v} upper"].to_numpy(float)
            half = (hi - lo) / 2.0
            with np.errstate(invalid="ignore", divide="ignore"):
                z = float(self.n_sd) * (x - mu) / np.where(half > 0, half, np.nan)
            for side, out in (("above", x > hi), ("below", x < lo)):
                out = out & np.isfinite(x) & np.isfinite(mu)
                edges = np.flatnonzero(np.diff(np.r_[0, out.astype(int), 0]))
                for a, b in zip(edges[::2], edges[1::2], strict=True):
                    if b - a < max(1, int(persistence)):
                        continue
                    seg = np.abs(np.nan_to_num(z[a:b], nan=0.0))
                    w = a + int(np.argmax(seg))
                    found.append({"variable": v, "side": side, "from_h": float(t[a]), "to_h": float(t[b - 1]),
                                  "rows": int(b - a), "worst_sd": round(float(z[w]), 3) if np.isfinite(z[w]) else None,
                                  "worst_h": float(t[w])})
        return sorted(found, key=lambda e: (e["from_h"], e["variable"]))

    def metadata(self) -> dict[str, Any]:
        """What the envelope was built from, for the sidecar and the CLI."""
        return {"kind": "golden", "quality": self.quality, "higher_is_better": bool(self.higher_is_better),
                "fraction": float(self.fraction), "n_sd": float(self.n_sd), "by": self.by,
                "cumulative": bool(self.cumulative),
                "variables": list(self.variables_), "golden_batch_ids": list(self.golden_ids_),
                "golden_quality": [self.quality_[i] for i in self.golden_ids_],
                "ranked_batches": len(self.quality_), "unranked_batch_ids": list(self.unranked_ids_),
                "spectra_left_out": dict(getattr(self, "spectra_left_out_", {}))}


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
    """Envelope of the best batches: mean +- ``n_sd`` standard deviations per grid point
    (:class:`GoldenEnvelope` as a function).

    Returns
    -------
    envelope : DataFrame, shape (n_points, 1 + 3 * n_variables)
        ``time_h`` (or the indicator) and ``<v>``, ``<v> lower``, ``<v> upper`` per variable.
    golden : list of int
        Indices of the golden batches, best first.
    """
    g = GoldenEnvelope(quality=quality, variables=list(variables), fraction=fraction,
                       higher_is_better=higher_is_better, n_sd=n_sd, n_points=n_points, by=by).fit(list(frames))
    return g.envelope_, g.golden_

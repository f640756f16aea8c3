"""Readers for the shared CHO fed-batch culture folders (``data/cho_fedbatch/<name>/``).

A folder holds ``measurements.csv`` (offline samples), ``schedule_events.csv`` (additions
and withdrawals) and ``feed_composition.csv`` (feed medium [mM]); the parent's
``datasets.csv`` describes each culture (vessel, working volume, temperature, source).
Every reader checks the columns it needs and names file, line and column on error.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from biotwin.errors import DataError

#: Measured states and their units, as in the shared measurements.csv files.
MEASURED_STATES: dict[str, str] = {
    "Xv": "cells/L",
    "mAb": "mg/L",
    "Glc": "mM",
    "Amm": "mM",
    "Gln": "mM",
    "Lac": "mM",
    "Glu": "mM",
    "Asn": "mM",
}
TIME_COLUMN = "Time (hours)"
STREAMS = ("Fin", "Fin_glc", "Fout")


@dataclass(frozen=True)
class CultureDataset:
    """One measured culture, as read from its folder.

    Attributes
    ----------
    name : str
        The folder name, e.g. ``kotidis2019_flask_T127``.
    measurements : pandas.DataFrame
        One row per sample: ``time_h [h]`` then the measured states and ``*_std`` columns,
        units as in :data:`MEASURED_STATES`; missing values are NaN.
    schedule : pandas.DataFrame
        ``start_h [h]``, ``end_h [h]``, ``stream`` (``Fin``, ``Fin_glc``, ``Fout``),
        ``volume_L [L]``, in file order.
    feed : dict[str, float]
        Feed medium concentrations [mM]; ``glc_conc_in_glc`` is the glucose stream's [mM].
    info : dict[str, str]
        The culture's row of ``datasets.csv`` (empty if that file is absent).
    """

    name: str
    path: Path
    measurements: pd.DataFrame
    schedule: pd.DataFrame
    feed: dict[str, float]
    info: dict[str, str] = field(default_factory=dict)

    @property
    def working_volume_L(self) -> float:
        """Initial working volume [L] from datasets.csv."""
        try:
            return float(self.info["working_volume_L"])
        except (KeyError, ValueError) as exc:
            raise DataError(
                "no valid working_volume_L for this culture",
                file=str(self.path.parent / "datasets.csv"),
                column="working_volume_L",
            ) from exc

    @property
    def temperature_C(self) -> float:
        """Culture temperature before any shift [degC]."""
        return float(self.info.get("temperature_C", 36.5))

    @property
    def temperature_shift(self) -> tuple[float, float] | None:
        """(time [h], new temperature [degC]) of a temperature shift, or None."""
        text = self.info.get("temperature_shift", "none").strip().lower()
        if text in ("", "none"):
            return None
        m = re.search(r"to\s+([0-9.]+)\s*c\s+at\s+([0-9.]+)\s*h", text)
        if not m:
            raise DataError(
                f"cannot read temperature shift {text!r}; expected 'to 32.0 C at 144 h'",
                file=str(self.path.parent / "datasets.csv"),
                column="temperature_shift",
            )
        return float(m.group(2)), float(m.group(1))


def _read_csv(path: Path, required: list[str]) -> pd.DataFrame:
    if not path.is_file():
        raise DataError("file not found", file=str(path))
    try:
        frame = pd.read_csv(path)
    except (pd.errors.ParserError, UnicodeDecodeError, pd.errors.EmptyDataError) as exc:
        raise DataError(f"cannot parse CSV: {exc}", file=str(path)) from exc
    missing = [c for c in required if c not in frame.columns]
    if missing:
        raise DataError(f"missing column(s) {missing}; found {list(frame.columns)}", file=str(path))
    return frame


def _numeric(frame: pd.DataFrame, columns: list[str], path: Path) -> pd.DataFrame:
    out = frame.copy()
    for col in columns:
        values = pd.to_numeric(out[col], errors="coerce")
        bad = values.isna() & out[col].notna()
        if bad.any():
            row = int(np.flatnonzero(bad.to_numpy())[0])
            raise DataError(
                f"non-numeric value {out[col].iloc[row]!r}", file=str(path), line=row + 2, column=col
            )
        if np.isinf(values.to_numpy(dtype=float)).any():
            row = int(np.flatnonzero(np.isinf(values.to_numpy(dtype=float)))[0])
            raise DataError("infinite value", file=str(path), line=row + 2, column=col)
        out[col] = values.astype(float)
    return out


def read_measurements(path: Path) -> pd.DataFrame:
    """Read ``measurements.csv``: returns ``time_h`` plus every numeric column."""
    frame = _read_csv(path, [TIME_COLUMN])
    frame = _numeric(frame, list(frame.columns), path)
    frame = frame.rename(columns={TIME_COLUMN: "time_h"})
    t = frame["time_h"].to_numpy()
    if np.any(np.diff(t) <= 0):
        row = int(np.flatnonzero(np.diff(t) <= 0)[0]) + 1
        raise DataError("sample times must increase", file=str(path), line=row + 2, column=TIME_COLUMN)
    return frame


def read_schedule(path: Path) -> pd.DataFrame:
    """Read ``schedule_events.csv`` (start_h, end_h, stream, volume_L)."""
    frame = _read_csv(path, ["start_h", "end_h", "stream", "volume_L"])
    frame = _numeric(frame, ["start_h", "end_h", "volume_L"], path)
    for i, stream in enumerate(frame["stream"]):
        if stream not in STREAMS:
            raise DataError(
                f"unknown stream {stream!r}; expected one of {STREAMS}",
                file=str(path), line=i + 2, column="stream",
            )
    neg = frame["volume_L"] < 0
    if neg.any():
        row = int(np.flatnonzero(neg.to_numpy())[0])
        raise DataError("negative volume", file=str(path), line=row + 2, column="volume_L")
    return frame


def read_feed(path: Path) -> dict[str, float]:
    """Read ``feed_composition.csv`` into {metabolite: concentration [mM]}."""
    frame = _read_csv(path, ["metabolite", "concentration_mM"])
    frame = _numeric(frame, ["concentration_mM"], path)
    return {str(k): float(v) for k, v in zip(frame["metabolite"], frame["concentration_mM"], strict=True)}


def read_catalogue(path: Path) -> pd.DataFrame:
    """Read ``datasets.csv``, the list of cultures."""
    return _read_csv(path, ["dataset", "working_volume_L", "temperature_C"])


def load_culture(folder: str | Path) -> CultureDataset:
    """Load one shared culture folder.

    Parameters
    ----------
    folder : path
        E.g. ``../shared/data/cho_fedbatch/kotidis2019_flask_T127``.
    """
    path = Path(folder)
    if not path.is_dir():
        raise DataError("not a culture folder", file=str(path))
    info: dict[str, str] = {}
    catalogue = path.parent / "datasets.csv"
    if catalogue.is_file():
        cat = read_catalogue(catalogue).astype(str)
        rows = cat[cat["dataset"] == path.name]
        if len(rows):
            info = {str(k): str(v) for k, v in rows.iloc[0].to_dict().items()}
    return CultureDataset(
        name=path.name,
        path=path,
        measurements=read_measurements(path / "measurements.csv"),
        schedule=read_schedule(path / "schedule_events.csv"),
        feed=read_feed(path / "feed_composition.csv"),
        info=info,
    )

"""The shared CHO fed-batch culture folders (``data/cho_fedbatch/<name>/``) as lake bundles.

``measurements.csv`` becomes offline samples (one per assay and time, with its ``*_std``),
``schedule_events.csv`` becomes feed and withdrawal events, the temperature shift of
``datasets.csv`` a shift event, and the culture's row of ``datasets.csv`` the batch, its
unit (vessel) and its recipe (feed composition, working volume, temperature).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np
import pandas as pd

from biotwin.datasets import MEASURED_STATES, CultureDataset, load_culture
from biotwin.errors import DataError
from biotwin.lake.records import (
    EVENT_COLUMNS,
    SAMPLE_COLUMNS,
    Batch,
    Bundle,
    Equipment,
    Recipe,
)

SITE = "reference-data"
AREA = "cho-fedbatch"
_KINDS = {"Fin": "feed", "Fin_glc": "feed", "Fout": "withdrawal"}


def culture_folders(path: str | os.PathLike[str]) -> list[Path]:
    """The culture folders at ``path``: itself if it is one, else its sub-folders that are."""
    path = Path(path)
    if (path / "measurements.csv").is_file():
        return [path]
    if not path.is_dir():
        raise DataError("not a culture folder nor a folder of them", file=str(path))
    found = sorted(p for p in path.iterdir() if (p / "measurements.csv").is_file())
    if not found:
        raise DataError("no culture folder (with measurements.csv) here", file=str(path))
    return found


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "unknown"


def culture_bundle(culture: CultureDataset) -> Bundle:
    """Turn a loaded culture into a bundle: batch, unit, recipe, samples and events."""
    name = culture.name
    vessel = culture.info.get("vessel", "vessel")
    unit_id = _slug(vessel)
    recipe_id = f"{name}-recipe"
    equipment = [
        Equipment(SITE, "site", None, None, "Published reference cultures"),
        Equipment(AREA, "area", None, SITE, "CHO fed-batch cultures"),
        Equipment(unit_id, "unit", "bioreactor", AREA, vessel),
    ]
    body = {
        "feed_composition_mM": culture.feed,
        "working_volume_L": culture.info.get("working_volume_L"),
        "temperature_C": culture.info.get("temperature_C"),
        "temperature_shift": culture.info.get("temperature_shift"),
        "source_reference": culture.info.get("source_reference"),
    }
    product = culture.info.get("cell_line")
    recipe = Recipe(recipe_id, 1, f"fed-batch recipe of {name}", product, body)
    batch = Batch(name, product=product, recipe_id=recipe_id, unit_id=unit_id,
                  status="complete", source=str(culture.path))
    return Bundle(
        source=str(culture.path), kind="cho-dataset", batches=[batch], equipment=equipment,
        recipes=[recipe], samples=_samples(culture), events=_events(culture),
    )


def _samples(culture: CultureDataset) -> pd.DataFrame:
    m = culture.measurements
    parts = []
    for col in m.columns:
        if col == "time_h" or col.endswith("_std"):
            continue
        values = m[col].to_numpy(dtype=float)
        keep = ~np.isnan(values)
        if not keep.any():
            continue
        std = m[f"{col}_std"].to_numpy(dtype=float)[keep] if f"{col}_std" in m else np.nan
        parts.append(pd.DataFrame({
            "batch_id": culture.name, "assay": col,
            "sample_time_h": m["time_h"].to_numpy(dtype=float)[keep],
            "sample_time_utc": pd.NaT, "result_time_utc": pd.NaT,
            "value": values[keep], "std": std,
            # The source states units for the eight model states only; the others stay None.
            "unit": MEASURED_STATES.get(col), "method": "offline", "lims_id": None,
        }))
    frame = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=SAMPLE_COLUMNS)
    frame["sample_time_utc"] = pd.to_datetime(frame["sample_time_utc"], utc=True)
    frame["result_time_utc"] = pd.to_datetime(frame["result_time_utc"], utc=True)
    return frame[SAMPLE_COLUMNS]


def _events(culture: CultureDataset) -> pd.DataFrame:
    s = culture.schedule
    frame = pd.DataFrame({
        "batch_id": culture.name,
        "kind": s["stream"].map(_KINDS),
        "name": s["stream"],
        "time_h": s["start_h"].astype(float),
        "end_h": s["end_h"].astype(float),
        "time_utc": pd.NaT,
        "value": s["volume_L"].astype(float),
        "unit": "L",
        "description": s["stream"].map({"Fin": "feed medium added", "Fin_glc": "glucose added",
                                        "Fout": "volume withdrawn (sampling)"}),
    })
    shift = culture.temperature_shift
    if shift is not None:
        frame = pd.concat([frame, pd.DataFrame([{
            "batch_id": culture.name, "kind": "shift", "name": "temperature", "time_h": shift[0],
            "end_h": None, "time_utc": pd.NaT, "value": shift[1], "unit": "degC",
            "description": f"temperature shift to {shift[1]} degC"}])], ignore_index=True)
    frame["time_utc"] = pd.to_datetime(frame["time_utc"], utc=True)
    key = ["batch_id", "kind", "name", "time_h"]
    dup = frame.duplicated(key)
    if dup.any():
        i = int(np.flatnonzero(dup.to_numpy())[0])
        raise DataError(f"two {frame['name'].iloc[i]} events start at {frame['time_h'].iloc[i]} h",
                        file=str(culture.path / "schedule_events.csv"), line=i + 2, column="start_h")
    return frame[EVENT_COLUMNS]


def read_culture(folder: str | Path) -> Bundle:
    """Load a shared culture folder (see :func:`biotwin.datasets.load_culture`) as a bundle."""
    return culture_bundle(load_culture(folder))

"""Cultures stored in the lake, read back as :class:`~biotwin.datasets.CultureDataset`.

The demo and the twin read measured batches from the lake, not from files: samples become
the measurement table, feed and withdrawal events the schedule, the recipe body the feed
composition and culture conditions, the unit's name the vessel.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from biotwin.datasets import CultureDataset
from biotwin.errors import DataError
from biotwin.lake import Lake

_STREAM_ORDER = {"Fin": 0, "Fin_glc": 1, "Fout": 2}


def culture_from_lake(lake: Lake, batch_id: str) -> CultureDataset:
    """Rebuild a culture (measurements, schedule, feed, conditions) from the lake.

    Raises :class:`DataError` naming the batch when it is not in the lake.
    """
    batches = {b["batch_id"]: b for b in lake.batches()}
    if batch_id not in batches:
        raise DataError(f"batch {batch_id!r} is not in the lake")
    batch = batches[batch_id]
    samples = lake.samples(batch_id)
    if samples.empty:
        raise DataError(f"batch {batch_id!r} has no samples in the lake")
    values = samples.pivot_table(index="sample_time_h", columns="assay", values="value", aggfunc="first")
    stds = samples.pivot_table(index="sample_time_h", columns="assay", values="std", aggfunc="first")
    stds = stds.add_suffix("_std")
    meas = pd.concat([values, stds], axis=1).sort_index().reset_index()
    meas = meas.rename(columns={"sample_time_h": "time_h"})
    events = lake.events(batch_id)
    flows = events[events["kind"].isin(["feed", "withdrawal"])].copy()
    flows["order"] = flows["name"].map(_STREAM_ORDER).fillna(9)
    flows = flows.sort_values(["time_h", "order"], kind="stable")
    schedule = pd.DataFrame({
        "start_h": flows["time_h"].astype(float).to_numpy(),
        "end_h": flows["end_h"].astype(float).to_numpy(),
        "stream": flows["name"].astype(str).to_numpy(),
        "volume_L": flows["value"].astype(float).to_numpy(),
    })
    recipes = lake.sql("SELECT recipe_id, body FROM recipes").to_pandas()
    body_text = recipes.loc[recipes["recipe_id"] == batch["recipe_id"], "body"]
    body = json.loads(body_text.iloc[-1]) if len(body_text) else {}
    units = lake.sql("SELECT * FROM equipment").to_pandas()
    vessel = ""
    match = units.loc[units["equipment_id"] == batch.get("unit_id"), "name"]
    if len(match) and isinstance(match.iloc[0], str):
        vessel = match.iloc[0]
    info = {
        "dataset": batch_id,
        "cell_line": str(batch.get("product") or ""),
        "vessel": vessel,
        "working_volume_L": str(body.get("working_volume_L", "")),
        "temperature_C": str(body.get("temperature_C", 36.5)),
        "temperature_shift": str(body.get("temperature_shift") or "none"),
        "source_reference": str(body.get("source_reference", "")),
    }
    feed = {str(k): float(v) for k, v in (body.get("feed_composition_mM") or {}).items()}
    meas.columns = [str(c) for c in meas.columns]
    return CultureDataset(
        name=batch_id,
        path=Path(str(batch.get("source") or batch_id)),
        measurements=meas.astype(float),
        schedule=schedule,
        feed=feed,
        info=info,
    )

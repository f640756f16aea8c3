"""The records importers hand to the lake: one :class:`Bundle` per source file.

An importer (``biotwin.connect``) reads a file and returns a bundle: the batches it
describes, its tags, a long time-series table (:data:`TIMESERIES_SCHEMA`), offline samples
and events as frames (columns :data:`SAMPLE_COLUMNS`, :data:`EVENT_COLUMNS`), and the rows
it rejected. :meth:`biotwin.lake.Lake.ingest` writes a bundle in one transaction.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import pandas as pd
import pyarrow as pa

#: Columns of a time-series table and of every time-series Parquet file in the lake.
TIMESERIES_SCHEMA = pa.schema(
    [
        ("batch_id", pa.string()),
        ("tag", pa.string()),
        ("time_h", pa.float64()),  # culture time since the batch start [h]
        ("time_utc", pa.timestamp("us", tz="UTC")),  # wall-clock time, null if unknown
        ("value", pa.float64()),  # in the tag's unit of measure
        ("quality", pa.int16()),  # OPC quality code: 192 good, 64 uncertain, 0 bad
    ]
)

#: OPC DA quality codes.
QUALITY_GOOD, QUALITY_UNCERTAIN, QUALITY_BAD = 192, 64, 0

#: Columns of a samples frame (offline assays, LIMS results).
SAMPLE_COLUMNS = [
    "batch_id", "assay", "sample_time_h", "sample_time_utc", "result_time_utc",
    "value", "std", "unit", "method", "lims_id",
]

#: Columns of an events frame (feeds, withdrawals, shifts, alarms, operator actions).
EVENT_COLUMNS = [
    "batch_id", "kind", "name", "time_h", "end_h", "time_utc", "value", "unit", "description",
]

#: Kinds of equipment in the ISA-95 hierarchy.
EQUIPMENT_KINDS = ("bioreactor", "chromatography_skid", "filtration", "sensor", "other")
EQUIPMENT_LEVELS = ("site", "area", "unit", "equipment")


@dataclass(frozen=True)
class Batch:
    """One batch in ISA-88 terms: a run of a recipe on a unit."""

    batch_id: str
    product: str | None = None
    recipe_id: str | None = None
    unit_id: str | None = None
    start_utc: datetime | None = None
    end_utc: datetime | None = None
    status: str = "complete"
    source: str | None = None


@dataclass(frozen=True)
class Tag:
    """A measured variable: name, unit of measure and the equipment it belongs to."""

    name: str
    unit: str | None
    description: str | None = None
    equipment_id: str | None = None


@dataclass(frozen=True)
class Equipment:
    """A node of the ISA-95 equipment hierarchy (site / area / unit / equipment)."""

    equipment_id: str
    level: str
    kind: str | None = None
    parent_id: str | None = None
    name: str | None = None
    description: str | None = None


@dataclass(frozen=True)
class Recipe:
    """A recipe version; ``body`` holds its parameters (feeds, setpoints, volumes)."""

    recipe_id: str
    version: int = 1
    name: str | None = None
    product: str | None = None
    body: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Rejection:
    """A row (or header cell) an importer refused, with where and why."""

    file: str
    line: int | None
    column: str | None
    reason: str
    raw: str | None = None


@dataclass
class Bundle:
    """Everything one source file contributes to the lake.

    Attributes
    ----------
    source : str
        The file or folder it came from.
    kind : str
        The importer: ``batch``, ``timeseries``, ``samples`` or ``cho-dataset``.
    timeseries : pyarrow.Table or None
        Long table with :data:`TIMESERIES_SCHEMA`; ``time_h`` may be NaN where only
        ``time_utc`` is known (the lake derives it from the batch start).
    samples, events : pandas.DataFrame or None
        Frames with :data:`SAMPLE_COLUMNS` / :data:`EVENT_COLUMNS`.
    rejections : list of Rejection
        Rows refused in quarantine mode (empty otherwise: importers raise instead).
    """

    source: str
    kind: str
    batches: list[Batch] = field(default_factory=list)
    tags: list[Tag] = field(default_factory=list)
    equipment: list[Equipment] = field(default_factory=list)
    recipes: list[Recipe] = field(default_factory=list)
    timeseries: pa.Table | None = None
    samples: pd.DataFrame | None = None
    events: pd.DataFrame | None = None
    rejections: list[Rejection] = field(default_factory=list)


def empty_samples() -> pd.DataFrame:
    """An empty samples frame with the right columns."""
    return pd.DataFrame({c: pd.Series(dtype=object) for c in SAMPLE_COLUMNS})


def empty_events() -> pd.DataFrame:
    """An empty events frame with the right columns."""
    return pd.DataFrame({c: pd.Series(dtype=object) for c in EVENT_COLUMNS})

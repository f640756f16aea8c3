"""Import use cases: read files with the importers and write them into a lake.

Each file is one transaction: a failure leaves the lake as it was before that file (the
files before it stay imported). The catalog snapshot for other tools is refreshed once at
the end. Progress goes to stderr through tqdm when ``progress`` is true.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path

from tqdm import tqdm

from biotwin.connect.culture import culture_folders, read_culture
from biotwin.connect.historian import read_historian
from biotwin.connect.lims import read_lims_samples
from biotwin.connect.wide import read_wide_batch
from biotwin.errors import BiotwinError
from biotwin.lake import IngestResult, Lake
from biotwin.lake.records import Bundle

PathLike = str | os.PathLike[str]


def _run(
    lake: Lake,
    items: Sequence[PathLike],
    read: Callable[[Path], Bundle],
    *,
    quarantine: bool,
    progress: bool,
    why: str | None,
    label: str,
) -> list[IngestResult]:
    results = []
    bar = tqdm(items, desc=label, unit="file", disable=not progress, leave=False)
    try:
        for item in bar:
            bar.set_postfix_str(Path(item).name, refresh=False)
            results.append(lake.ingest(read(Path(item)), quarantine=quarantine, why=why))
    finally:
        bar.close()
        if results:
            lake.publish()
    return results


def import_batch_files(
    lake: Lake,
    paths: Sequence[PathLike],
    *,
    batch_id: str | None = None,
    unit: str | None = None,
    time_col: str | None = None,
    product: str | None = None,
    quarantine: bool = False,
    progress: bool = False,
    why: str | None = None,
) -> list[IngestResult]:
    """Import wide batch files (CSV, CSV.gz, Parquet, .xlsx), one batch per file."""
    if batch_id is not None and len(paths) > 1:
        raise BiotwinError("--batch-id names one batch: give a single file with it")
    return _run(lake, paths, lambda p: read_wide_batch(
        p, batch_id=batch_id, unit=unit, time_col=time_col, product=product,
        quarantine=quarantine), quarantine=quarantine, progress=progress, why=why,
        label="import batch")


def import_timeseries_files(
    lake: Lake,
    paths: Sequence[PathLike],
    *,
    batch_id: str | None = None,
    unit: str | None = None,
    quarantine: bool = False,
    progress: bool = False,
    why: str | None = None,
) -> list[IngestResult]:
    """Import long historian exports (timestamp, tag, value[, quality][, unit])."""
    if batch_id is not None and len(paths) > 1:
        raise BiotwinError("--batch-id names one batch: give a single file with it")
    return _run(lake, paths, lambda p: read_historian(
        p, batch_id=batch_id, unit=unit, quarantine=quarantine), quarantine=quarantine,
        progress=progress, why=why, label="import timeseries")


def import_sample_files(
    lake: Lake,
    paths: Sequence[PathLike],
    *,
    quarantine: bool = False,
    progress: bool = False,
    why: str | None = None,
) -> list[IngestResult]:
    """Import LIMS sample tables."""
    return _run(lake, paths, lambda p: read_lims_samples(p, quarantine=quarantine),
                quarantine=quarantine, progress=progress, why=why, label="import samples")


def import_cultures(
    lake: Lake, path: PathLike, *, progress: bool = False, why: str | None = None
) -> list[IngestResult]:
    """Import a shared CHO culture folder, or every culture folder under ``path``."""
    return _run(lake, culture_folders(path), read_culture, quarantine=False,
                progress=progress, why=why, label="import cho-dataset")

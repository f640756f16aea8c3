"""How a set of batch files reads, before a model is fitted on them.

A plant's first step with a new export is to check that biotwin reads it as meant: which
column is time and in what unit, how often each batch was logged and for how long, which
columns become inputs and why the others do not, and every warning the readers raise (a
non-numeric cell, a repeated header, a column only some batches have). :func:`survey` gathers
this for ``biotwin inspect``; it reads exactly as ``softsensor fit`` and ``monitor fit``
do (:func:`~biotwin.batchdata.io.read_batches`, :func:`~biotwin.batchdata.io.input_columns`).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from biotwin.batchdata.io import (
    ROW_TIMES,
    TEXT_COLUMNS,
    TIME,
    TIME_SOURCE,
    UNITS_ROW,
    column_roles,
    input_columns,
    read_batches,
)
from biotwin.errors import DataError


def _batch(frame: pd.DataFrame, batch_id: str, file: str) -> dict[str, Any]:
    t = frame[TIME].to_numpy(float)
    steps = np.diff(t)
    source = frame.attrs.get(TIME_SOURCE, {})
    return {
        "id": batch_id,
        "file": file,
        "rows_in_file": len(frame.attrs.get(ROW_TIMES, t)),
        "rows": len(frame),
        "time_column": source.get("column"),
        "time_read_as": source.get("read_as"),
        "start_h": float(t[0]),
        "end_h": float(t[-1]),
        "interval_h": float(np.median(steps)) if len(steps) else None,
        "columns": [c for c in frame.columns if c != TIME],
        "text_columns": list(frame.attrs.get(TEXT_COLUMNS, [])),
        "units_row": frame.attrs.get(UNITS_ROW),
    }


def survey(paths: Sequence[str | Path], time_col: str | None = None, exclude: Sequence[str] = ()) -> dict[str, Any]:
    """Read ``paths`` as the fit commands do and say how they read.

    Parameters
    ----------
    paths : sequence of path
        Batch files (one batch each, a workbook's batch sheets, or a file stacking batches).
    time_col : str, optional
        The time column (default: found by name).
    exclude : sequence of str
        Columns the fit would be told to leave out (``--exclude``).

    Returns
    -------
    dict
        ``batches``: per batch ``id``, ``file``, ``rows_in_file``, ``rows`` (after rows sharing
        a time are merged), ``time_column``, ``time_read_as``, ``start_h``, ``end_h``,
        ``interval_h`` (median step), ``columns``, ``text_columns``, ``units_row`` (header ->
        unit when the file has a units row under its header, else None), ``warnings``;
        ``inputs``: the columns a model would use; ``left_out``: the others by reason
        (``excluded``, ``not_in_every_batch``, ``constant_or_empty``, ``batch_identifier``,
        ``row_number``); ``warnings``: those of the whole set.

    Raises
    ------
    DataError
        A file that cannot be read, naming it (as the fit commands would).
    """
    if not paths:
        raise DataError("no batch files given")
    batches: list[dict[str, Any]] = []
    frames: list[pd.DataFrame] = []
    ids: list[str] = []
    for p in paths:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            data = read_batches([p], time_col)
        notes = list(dict.fromkeys(str(w.message) for w in caught))
        for frame, batch_id in zip(data.frames, data.ids, strict=True):
            batches.append({**_batch(frame, batch_id, str(p)), "warnings": notes})
        frames += data.frames
        ids += data.ids
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        inputs = input_columns(frames, list(exclude), ids)
    left: dict[str, list[str]] = {"excluded": [], "not_in_every_batch": [], "constant_or_empty": [],
                                  "batch_identifier": [], "row_number": []}
    for c, role in column_roles(frames, list(exclude)).items():
        if role != "input":
            left[role].append(c)
    return {"batches": batches, "inputs": inputs, "left_out": left,
            "warnings": list(dict.fromkeys(str(w.message) for w in caught))}

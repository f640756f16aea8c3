"""Long (narrow) historian exports: one value per line, as PI or IP.21 export them::

    timestamp,tag,value,quality,unit
    2024-03-01T08:00:00Z,BR01.pH,7.02,Good,-
    2024-03-01T08:00:00Z,BR01.DO2,6.91,Good,mg/L

Columns are found by name, case-insensitively: time (``timestamp``, ``time``, ``time_utc``,
``datetime``), ``tag`` (or ``tagname``, ``name``, ``point``), ``value``; optional
``quality`` (OPC code, or ``Good`` / ``Uncertain`` / ``Bad``) and ``unit`` (or ``uom``,
``engunits``). Timestamps are ISO 8601; naive ones are taken as UTC. The whole file is
one batch (``--batch-id``, default the file name); culture time is counted from the batch
start (the first timestamp, unless the batch is already in the lake). Per tag, times must
increase. CSV, CSV.gz or Parquet.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from biotwin import units
from biotwin.connect.rows import (
    Dialect,
    RawRow,
    parse_float,
    parse_timestamp,
    scan_csv_with_header,
    sniff_dialect,
    timestamps_to_us,
)
from biotwin.connect.wide import batch_id_from_path, is_parquet
from biotwin.errors import DataError
from biotwin.lake.records import (
    QUALITY_BAD,
    QUALITY_GOOD,
    QUALITY_UNCERTAIN,
    TIMESERIES_SCHEMA,
    Batch,
    Bundle,
    Rejection,
    Tag,
)

ALIASES = {
    "time": ("timestamp", "time", "time_utc", "datetime", "date", "ts"),
    "tag": ("tag", "tagname", "tag_name", "name", "point", "pointname"),
    "value": ("value", "val"),
    "quality": ("quality", "status", "q"),
    "unit": ("unit", "units", "uom", "engunits"),
}
QUALITY_NAMES = {"good": QUALITY_GOOD, "uncertain": QUALITY_UNCERTAIN, "questionable": QUALITY_UNCERTAIN,
                 "suspect": QUALITY_UNCERTAIN, "bad": QUALITY_BAD}


def _columns(header: list[str], file: str) -> dict[str, int]:
    lower = [h.strip().lower() for h in header]
    found: dict[str, int] = {}
    for role, names in ALIASES.items():
        for n in names:
            if n in lower:
                found[role] = lower.index(n)
                break
    missing = [r for r in ("time", "tag", "value") if r not in found]
    if missing:
        raise DataError(f"no {' / '.join(missing)} column; expected e.g. timestamp,tag,value"
                        f"[,quality][,unit]; found {header}", file=file, line=1)
    return found


def _quality(text: str) -> int | None:
    t = text.strip().lower()
    if t == "":
        return QUALITY_GOOD
    if t in QUALITY_NAMES:
        return QUALITY_NAMES[t]
    try:
        q = int(float(t))
    except ValueError:
        return None
    return q if 0 <= q <= 255 else None


def read_historian(
    path: str | Path,
    *,
    batch_id: str | None = None,
    unit: str | None = None,
    quarantine: bool = False,
) -> Bundle:
    """Read a long historian export into a bundle (one batch).

    Raises
    ------
    DataError
        Naming file, line and column of the first bad row (unless ``quarantine``).
    """
    path = Path(path)
    file = str(path)
    batch_id = batch_id or batch_id_from_path(path)
    rejections: list[Rejection] = []
    dialect = Dialect() if is_parquet(path) else sniff_dialect(path)
    frame = _fast(path, dialect)
    if frame is None:
        frame = _exact(path, quarantine, rejections, dialect)
    tag_units: dict[str, str | None] = {}
    values = frame["value"].to_numpy(dtype=float).copy()
    groups = frame.groupby(["tag", "unit"], dropna=False, sort=False).indices
    for key, idx in groups.items():
        tag, raw_unit = str(key[0]), key[1]  # type: ignore[index]
        u = None if pd.isna(raw_unit) else str(raw_unit)
        target = tag_units.setdefault(tag, units.canonical_unit(tag) or u)
        if u is not None and target is not None and u != target:
            try:
                values[idx] = units.convert(values[idx], u, target,
                                            molar_mass_g_per_mol=units.MOLAR_MASS_G_PER_MOL.get(tag))
            except units.UnitError as exc:
                raise DataError(f"tag {tag!r}: {exc}", file=file, column="unit") from exc
    frame = frame.assign(value=values).sort_values(["tag", "time_us"], kind="stable")
    t_us = frame["time_us"].to_numpy(dtype=np.int64)
    table = pa.table({
        "batch_id": pa.array(np.full(len(frame), batch_id, dtype=object), pa.string()),
        "tag": pa.array(frame["tag"].to_numpy(dtype=object), pa.string()),
        "time_h": pa.array(np.full(len(frame), np.nan)),
        "time_utc": pa.array(t_us, pa.int64()).cast(TIMESERIES_SCHEMA.field("time_utc").type),
        "value": pa.array(frame["value"].to_numpy(dtype=float)),
        "quality": pa.array(frame["quality"].to_numpy(dtype=np.int16)),
    }, schema=TIMESERIES_SCHEMA)
    start = pd.Timestamp(int(t_us.min()), unit="us", tz="UTC") if len(t_us) else None
    return Bundle(
        source=file, kind="timeseries",
        batches=[Batch(batch_id, unit_id=unit, start_utc=start, source=file)],
        tags=[Tag(t, u, None, unit) for t, u in sorted(tag_units.items())],
        timeseries=table, rejections=rejections,
    )


def _fast(path: Path, dialect: Dialect) -> pd.DataFrame | None:
    """Read and check with Arrow and pandas; None if anything is off."""
    try:
        if is_parquet(path):
            table = pq.read_table(path)
        else:
            if dialect.decimal != ".":
                return None  # Arrow reads points only: the exact scan reads decimal commas
            table = pacsv.read_csv(path, parse_options=pacsv.ParseOptions(delimiter=dialect.sep),
                                   convert_options=pacsv.ConvertOptions(null_values=[""], strings_can_be_null=True))
    except (pa.ArrowInvalid, OSError, EOFError, UnicodeDecodeError):
        return None
    try:
        cols = _columns(table.column_names, str(path))
    except DataError:
        return None
    names = table.column_names
    v = table[names[cols["value"]]]
    if not (pa.types.is_floating(v.type) or pa.types.is_integer(v.type)) or v.null_count:
        return None
    values = v.to_numpy().astype(float)
    if not np.isfinite(values).all():
        return None
    tags = table[names[cols["tag"]]].to_pandas()
    if tags.isna().any():
        return None
    t_col = table[names[cols["time"]]]
    try:
        if pa.types.is_timestamp(t_col.type):
            t_us = pd.Series(pd.to_datetime(t_col.to_pandas(), utc=True)).astype(
                "datetime64[us, UTC]").astype("int64")
        else:
            t_us = timestamps_to_us(t_col.cast(pa.string()).to_pandas())
    except (ValueError, TypeError, pa.ArrowInvalid):
        return None
    frame = pd.DataFrame({"tag": tags.astype(str).str.strip(), "time_us": t_us.to_numpy(),
                          "value": values})
    if "quality" in cols:
        q = table[names[cols["quality"]]].cast(pa.string()).to_pandas().fillna("")
        codes = {s: _quality(s) for s in q.unique()}
        if any(c is None for c in codes.values()):
            return None
        frame["quality"] = q.map(codes).astype(np.int16)
    else:
        frame["quality"] = np.int16(QUALITY_GOOD)
    if "unit" in cols:
        u = table[names[cols["unit"]]].cast(pa.string()).to_pandas()
        try:
            parsed = {s: units.parse_unit(s) for s in u.dropna().unique()}
        except units.UnitError:
            return None
        frame["unit"] = u.map(parsed)
    else:
        frame["unit"] = None
    diffs = frame.groupby("tag", sort=False)["time_us"].diff()
    if (diffs <= 0).any():
        return None
    return frame


def _exact(path: Path, quarantine: bool, rejections: list[Rejection], dialect: Dialect) -> pd.DataFrame:
    """Validate line by line: keep the good rows, reject (or raise on) the bad ones."""
    file = str(path)
    if is_parquet(path):
        try:
            table = pq.read_table(path)
        except (pa.ArrowInvalid, OSError) as exc:
            raise DataError(f"not a readable Parquet file (empty or truncated?): {exc}",
                            file=file) from exc
        header = table.column_names
        data = [table[h].to_pylist() for h in header]
        rows: Iterator[RawRow] = (RawRow(i + 1, ["" if c[i] is None else str(c[i]) for c in data])
                for i in range(table.num_rows))
        file = file + " (Parquet; line = row)"
    else:
        header, rows = scan_csv_with_header(path, delimiter=dialect.sep)
    cols = _columns(header, file)
    out: dict[str, list[object]] = {"tag": [], "time_us": [], "value": [], "quality": [], "unit": []}
    last: dict[str, int] = {}

    def reject(line: int, role: str | None, reason: str, raw: str | None) -> None:
        column = header[cols[role]] if role in cols else None
        if not quarantine:
            raise DataError(reason, file=file, line=line, column=column)
        rejections.append(Rejection(file, line, column, reason, raw))

    for row in rows:
        if row.fields is None:
            role = None
            if row.field_index is not None:
                role = next((r for r, i in cols.items() if i == row.field_index), None)
            reject(row.line, role, row.error or "unreadable line", row.text)
            continue
        f = row.fields
        if len(f) != len(header):
            reject(row.line, None, f"malformed row: expected {len(header)} fields, found {len(f)}",
                   row.text)
            continue
        ts, why = parse_timestamp(f[cols["time"]])
        if ts is None:
            reject(row.line, "time", why or "missing timestamp", row.text)
            continue
        tag = f[cols["tag"]].strip()
        if not tag:
            reject(row.line, "tag", "missing tag name", row.text)
            continue
        value, why = parse_float(f[cols["value"]], dialect.decimal)
        if value is None:
            reject(row.line, "value", why or "missing value", row.text)
            continue
        quality = _quality(f[cols["quality"]]) if "quality" in cols else QUALITY_GOOD
        if quality is None:
            reject(row.line, "quality", f"unknown quality {f[cols['quality']]!r}", row.text)
            continue
        unit = None
        if "unit" in cols and f[cols["unit"]].strip():
            try:
                unit = units.parse_unit(f[cols["unit"]])
            except units.UnitError as exc:
                reject(row.line, "unit", str(exc), row.text)
                continue
        t_us = round(ts.timestamp() * 1e6)
        if tag in last and t_us <= last[tag]:
            reject(row.line, "time", f"time {f[cols['time']]!r} of tag {tag!r} is "
                   f"{'duplicated' if t_us == last[tag] else 'earlier than its previous value'}",
                   row.text)
            continue
        last[tag] = t_us
        for k, v in (("tag", tag), ("time_us", t_us), ("value", value), ("quality", quality),
                     ("unit", unit)):
            out[k].append(v)
    frame = pd.DataFrame(out)
    frame["time_us"] = frame["time_us"].astype(np.int64)
    frame["value"] = frame["value"].astype(float)
    frame["quality"] = frame["quality"].astype(np.int16)
    return frame

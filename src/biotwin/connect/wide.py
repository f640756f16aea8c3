"""Wide batch files: one batch per file, a time column and one column per tag.

The shape most historian and spreadsheet exports take::

    time_h,pH [-],DO2 [mg/L],Glc [g/L]
    0.0,7.01,6.9,5.4
    0.1,7.00,6.8,

Accepted as CSV, gzip-compressed CSV, Parquet or an ``.xlsx`` workbook of one sheet. The time column is culture time
(``time_h`` by default, or any ``name [time unit]``) or ISO 8601 timestamps (a time column
without a unit, e.g. ``timestamp``). Every other column is numeric and names its unit in
brackets; values are converted with pint to the glossary's unit where the tag has one
(``Glc [g/L]`` is stored in [mM]). Empty cells are missing values and are not stored.
Refused (the whole file, or the row in quarantine mode): rows with the wrong number of
fields, non-numeric cells, NaN or inf, missing, duplicated or backwards times, unknown
units, undecodable bytes, empty or truncated files.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from biotwin import units
from biotwin.connect.rows import (
    Dialect,
    parse_float,
    parse_timestamp,
    scan_csv_with_header,
    sniff_dialect,
    timestamps_to_us,
)
from biotwin.errors import DataError
from biotwin.lake.records import QUALITY_GOOD, TIMESERIES_SCHEMA, Batch, Bundle, Rejection, Tag

DEFAULT_TIME_COLUMN = "time_h"
_TIME_NAMES = ("time_h", "Time (hours)", "timestamp", "time_utc", "time", "Timestamp", "Time")
_HOURS_NAME = re.compile(r"(_h|\(hours?\))$", re.IGNORECASE)


@dataclass(frozen=True)
class _Column:
    index: int
    header: str
    tag: str
    unit: str  # as written in the header
    target: str  # unit stored in the lake


@dataclass(frozen=True)
class _Plan:
    time_index: int
    time_header: str
    time_unit: str | None  # None: timestamps
    columns: list[_Column]


#: What a reader gives back: the plan, time [h] (or None), time [us since epoch] (or None) and
#: each tag's values.
_Read = tuple[_Plan, npt.NDArray[np.float64] | None, npt.NDArray[np.int64] | None, dict[str, npt.NDArray[np.float64]]]


def workbook_sheets(path: Path, dtype: type[object] | None = None) -> dict[str, pd.DataFrame]:
    """The non-empty sheets of an ``.xlsx`` workbook by name, blank rows and columns dropped
    (the index keeps each row's place under the header: spreadsheet row = index + 2)."""
    book = pd.read_excel(path, sheet_name=None, engine="openpyxl", dtype=dtype)
    sheets = {str(k): v.dropna(how="all").dropna(axis=1, how="all") for k, v in book.items()}
    return {k: v for k, v in sheets.items() if not v.empty}


def batch_id_from_path(path: Path) -> str:
    """The default batch id of a file: its name without ``.csv``, ``.gz``, ``.parquet``, ``.xlsx``."""
    name = path.name
    for suffix in (".gz", ".csv", ".parquet", ".pq", ".txt", ".tsv", ".xlsx", ".xlsm"):
        if name.lower().endswith(suffix):
            name = name[: -len(suffix)]
    return name


def is_parquet(path: Path) -> bool:
    """Whether ``path`` should be read as Parquet (by extension)."""
    return path.suffix.lower() in (".parquet", ".pq")


def is_workbook(path: Path) -> bool:
    """Whether ``path`` should be read as an ``.xlsx`` workbook (by extension)."""
    return path.suffix.lower() in (".xlsx", ".xlsm")


def _plan(header: list[str], time_col: str | None, file: str, rejections: list[Rejection] | None) -> _Plan:
    """Decide the time column and each tag's units; raise (or collect) header problems."""
    names = [h.strip() for h in header]
    if time_col is not None:
        if time_col not in names:
            raise DataError(f"no time column {time_col!r}; columns are {names}", file=file, line=1)
        t_idx = names.index(time_col)
    else:
        found = [n for n in _TIME_NAMES if n in names]
        found += [n for n in names if units.split_header(n)[0].lower() in ("time", "t")]
        if not found:
            raise DataError(f"no time column: expected {DEFAULT_TIME_COLUMN!r} or pass "
                            f"--time-col; columns are {names}", file=file, line=1)
        t_idx = names.index(found[0])
    t_name, t_unit = units.split_header(names[t_idx])
    if t_unit is None:  # a unit as the name's suffix (time_min), or hours by name
        t_unit = units.time_suffix_unit(t_name) or ("h" if _HOURS_NAME.search(t_name) else None)
    if t_unit is not None:
        try:
            units.convert(1.0, t_unit, "h")
        except units.UnitError as exc:
            raise DataError(f"time unit {t_unit!r} is not a unit of time", file=file, line=1,
                            column=names[t_idx]) from exc
    columns: list[_Column] = []
    seen: set[str] = set()
    for i, h in enumerate(names):
        if i == t_idx:
            continue
        tag, unit = units.split_header(h)
        problem = None
        if not tag:
            problem = "empty column name"
        elif tag in seen:
            problem = f"tag {tag!r} appears twice"
        elif unit is None:
            problem = "no unit: write the header as 'name [unit]' ('[-]' if dimensionless)"
        else:
            try:
                unit = units.parse_unit(unit)
            except units.UnitError as exc:
                problem = str(exc)
        if problem is None and unit is not None:
            target = units.canonical_unit(tag) or unit
            if not units.compatible(unit, target,
                                    molar_mass_g_per_mol=units.MOLAR_MASS_G_PER_MOL.get(tag)):
                problem = f"unit {unit!r} cannot be converted to {tag}'s unit {target!r}"
            else:
                seen.add(tag)
                columns.append(_Column(i, h, tag, unit, target))
                continue
        if rejections is None:
            raise DataError(problem or "bad header", file=file, line=1, column=h)
        rejections.append(Rejection(file, 1, h, f"column skipped: {problem}"))
    return _Plan(t_idx, names[t_idx], t_unit, columns)


def read_wide_batch(
    path: str | Path,
    *,
    batch_id: str | None = None,
    unit: str | None = None,
    time_col: str | None = None,
    product: str | None = None,
    quarantine: bool = False,
) -> Bundle:
    """Read one wide batch file into a :class:`~biotwin.lake.records.Bundle`.

    Parameters
    ----------
    path : path
        ``.csv``, ``.csv.gz``, ``.parquet`` or ``.xlsx`` (one non-empty sheet).
    batch_id : str, optional
        Default: the file name without extensions.
    unit : str, optional
        The ISA-95 unit (vessel) the batch ran on.
    time_col : str, optional
        The time column; default ``time_h`` or the first column that looks like time.
    quarantine : bool
        Keep good rows and return the bad ones as rejections instead of raising.

    Raises
    ------
    DataError
        Naming file, line and column of the first problem (unless ``quarantine``).
    """
    path = Path(path)
    file = str(path)
    batch_id = batch_id or batch_id_from_path(path)
    rejections: list[Rejection] = []
    if is_parquet(path):
        plan, t_h, t_us, values = _read_parquet(path, time_col, quarantine, rejections)
    elif is_workbook(path):
        plan, t_h, t_us, values = _read_workbook(path, time_col, quarantine, rejections)
    else:
        plan, t_h, t_us, values = _read_csv(path, time_col, quarantine, rejections)
    for col in plan.columns:  # convert to the tag's unit with pint
        if col.unit != col.target:
            values[col.tag] = units.convert(
                values[col.tag], col.unit, col.target,
                molar_mass_g_per_mol=units.MOLAR_MASS_G_PER_MOL.get(col.tag))
    start = None if t_us is None or not len(t_us) else pd.Timestamp(int(t_us[0]), unit="us", tz="UTC")
    table = long_table(batch_id, t_h, t_us, values)
    tags = [Tag(c.tag, c.target, None, unit) for c in plan.columns]
    return Bundle(
        source=file, kind="batch",
        batches=[Batch(batch_id, product=product, unit_id=unit, start_utc=start, source=file)],
        tags=tags, timeseries=table, rejections=rejections,
    )


def long_table(
    batch_id: str,
    time_h: npt.NDArray[np.float64] | None,
    time_us: npt.NDArray[np.int64] | None,
    values: dict[str, npt.NDArray[np.float64]],
) -> pa.Table:
    """Unpivot wide columns to the lake's long layout, sorted by tag then time.

    Missing values (NaN) are dropped; ``time_h`` is NaN where only ``time_us`` is known.
    """
    tags = sorted(values)
    n = len(time_h) if time_h is not None else len(time_us) if time_us is not None else 0
    if not tags or n == 0:
        return TIMESERIES_SCHEMA.empty_table()
    flat = np.concatenate([np.asarray(values[t], dtype=float) for t in tags])
    keep = ~np.isnan(flat)
    idx = np.repeat(np.arange(len(tags), dtype=np.int32), n)[keep]
    m = int(keep.sum())
    th = np.tile(time_h, len(tags))[keep] if time_h is not None else np.full(m, np.nan)
    utc = (pa.array(np.tile(time_us, len(tags))[keep], pa.int64()).cast(TIMESERIES_SCHEMA.field("time_utc").type)
           if time_us is not None else pa.nulls(m, TIMESERIES_SCHEMA.field("time_utc").type))
    return pa.table(
        {
            "batch_id": pc.take(pa.array([batch_id]), pa.array(np.zeros(m, dtype=np.int32))),
            "tag": pc.take(pa.array(tags), pa.array(idx)),
            "time_h": pa.array(th),
            "time_utc": utc,
            "value": pa.array(flat[keep]),
            "quality": pa.array(np.full(m, QUALITY_GOOD, dtype=np.int16)),
        },
        schema=TIMESERIES_SCHEMA,
    )


# ---------------------------------------------------------------------- CSV
def _read_csv(
    path: Path, time_col: str | None, quarantine: bool, rejections: list[Rejection]
) -> _Read:
    file = str(path)
    dialect = sniff_dialect(path)
    header, rows = scan_csv_with_header(path, delimiter=dialect.sep)
    plan = _plan(header, time_col, file, rejections if quarantine else None)
    fast = _fast_csv(path, header, plan, dialect)
    if fast is not None:
        return (plan, *fast)
    return (plan, *_exact_rows(rows, header, plan, file, quarantine, rejections, dialect.decimal))


def _fast_csv(
    path: Path, header: list[str], plan: _Plan, dialect: Dialect
) -> tuple[npt.NDArray[np.float64] | None, npt.NDArray[np.int64] | None, dict[str, npt.NDArray[np.float64]]] | None:
    """Arrow's multi-threaded reader; None if anything is off (the exact scan then says what).

    With a decimal comma the numeric columns are read as text, their comma turned into a
    point, then cast (Arrow's parser knows only the point).
    """
    comma = dialect.decimal == ","
    names = [h.strip() for h in header]
    numeric = pa.string() if comma else pa.float64()
    types: dict[str, pa.DataType] = {c.header: numeric for c in plan.columns}
    types[plan.time_header] = numeric if plan.time_unit else pa.string()
    try:
        table = pacsv.read_csv(
            path,
            read_options=pacsv.ReadOptions(column_names=names, skip_rows=1, block_size=1 << 24),
            parse_options=pacsv.ParseOptions(delimiter=dialect.sep),
            convert_options=pacsv.ConvertOptions(
                column_types=types, null_values=[""], strings_can_be_null=True,
                include_columns=[plan.time_header] + [c.header for c in plan.columns]),
        )
        if comma:
            cols = [c.header for c in plan.columns] + ([plan.time_header] if plan.time_unit else [])
            for name in cols:
                text = table[name]
                if pc.any(pc.match_substring(text, ".")).as_py():
                    return None  # a point as well: the exact scan names the cell
                fixed = pc.cast(pc.replace_substring(text, ",", "."), pa.float64())
                table = table.set_column(table.schema.get_field_index(name), name, fixed)
    except (pa.ArrowInvalid, pa.ArrowTypeError, OSError, EOFError, UnicodeDecodeError):
        return None
    return _check_arrays(table, plan)


def _check_arrays(
    table: pa.Table, plan: _Plan
) -> tuple[npt.NDArray[np.float64] | None, npt.NDArray[np.int64] | None, dict[str, npt.NDArray[np.float64]]] | None:
    t_col = table[plan.time_header]
    if t_col.null_count:
        return None
    t_h: npt.NDArray[np.float64] | None = None
    t_us: npt.NDArray[np.int64] | None = None
    if plan.time_unit:
        if not pa.types.is_floating(t_col.type) and not pa.types.is_integer(t_col.type):
            return None
        t = t_col.to_numpy().astype(float)
        if not np.isfinite(t).all():
            return None
        t_h = units.convert(t, plan.time_unit, "h")
        key: npt.NDArray[np.float64] | npt.NDArray[np.int64] = t_h
    else:
        try:
            if pa.types.is_timestamp(t_col.type):
                tt = t_col.type
                col = t_col if tt.tz else pc.assume_timezone(t_col, "UTC")
                t_us = col.cast(pa.timestamp("us", tz="UTC")).cast(pa.int64()).to_numpy()
            else:
                t_us = timestamps_to_us(pd.Series(t_col.to_numpy(zero_copy_only=False))).to_numpy()
        except (ValueError, TypeError, pa.ArrowInvalid):
            return None
        key = t_us
    if len(key) > 1 and not (np.diff(key) > 0).all():
        return None
    values: dict[str, npt.NDArray[np.float64]] = {}
    for c in plan.columns:
        col = table[c.header]
        if not (pa.types.is_floating(col.type) or pa.types.is_integer(col.type)):
            return None
        v = col.to_numpy(zero_copy_only=False).astype(float)  # nulls become NaN
        if pa.types.is_floating(col.type) and (pc.any(pc.is_nan(col)).as_py()
                                               or pc.any(pc.is_inf(col)).as_py()):
            return None
        values[c.tag] = v
    return t_h, t_us, values


def _exact_rows(
    rows: object,
    header: list[str],
    plan: _Plan,
    file: str,
    quarantine: bool,
    rejections: list[Rejection],
    decimal: str = ".",
) -> tuple[npt.NDArray[np.float64] | None, npt.NDArray[np.int64] | None, dict[str, npt.NDArray[np.float64]]]:
    """Validate row by row; keep the good rows, reject (or raise on) the bad ones."""
    times: list[float] = []
    cols: dict[str, list[float]] = {c.tag: [] for c in plan.columns}
    last: float | None = None

    def reject(line: int, column: str | None, reason: str, raw: str | None) -> None:
        if not quarantine:
            raise DataError(reason, file=file, line=line, column=column)
        rejections.append(Rejection(file, line, column, reason, raw))

    for row in rows:  # type: ignore[attr-defined]
        if row.fields is None:
            col = header[row.field_index] if row.field_index is not None and row.field_index < len(header) else None
            reject(row.line, col, row.error, row.text)
            continue
        f = row.fields
        if len(f) != len(header):
            col = header[min(len(f), len(header) - 1)]
            reject(row.line, col, f"malformed row: expected {len(header)} fields, found {len(f)}",
                   row.text)
            continue
        t_text = f[plan.time_index]
        t: float | None
        if plan.time_unit:
            t, why = parse_float(t_text, decimal)
            if t is None:
                reject(row.line, plan.time_header, why or "missing time", row.text)
                continue
        else:
            ts, why = parse_timestamp(t_text)
            if ts is None:
                reject(row.line, plan.time_header, why or "missing timestamp", row.text)
                continue
            t = ts.timestamp() * 1e6
        if last is not None and t <= last:
            reject(row.line, plan.time_header,
                   f"time {t_text!r} is {'duplicated' if t == last else 'earlier than the line before'}"
                   " (times must increase)", row.text)
            continue
        parsed: list[float] = []
        bad = None
        for c in plan.columns:
            v, why = parse_float(f[c.index], decimal)
            if why is not None:
                bad = (c.header, why)
                break
            parsed.append(np.nan if v is None else v)
        if bad is not None:
            reject(row.line, bad[0], bad[1], row.text)
            continue
        last = t
        times.append(t)
        for c, v in zip(plan.columns, parsed, strict=True):
            cols[c.tag].append(v)
    t_arr = np.asarray(times, dtype=float)
    values = {k: np.asarray(v, dtype=float) for k, v in cols.items()}
    if plan.time_unit:
        return units.convert(t_arr, plan.time_unit, "h"), None, values
    return None, np.round(t_arr).astype(np.int64), values


# ---------------------------------------------------------------------- Parquet
def _read_parquet(
    path: Path, time_col: str | None, quarantine: bool, rejections: list[Rejection]
) -> _Read:
    file = str(path)
    if not path.is_file():
        raise DataError("file not found", file=file)
    try:
        table = pq.read_table(path)
    except (pa.ArrowInvalid, OSError) as exc:
        raise DataError(f"not a readable Parquet file (empty or truncated?): {exc}", file=file) from exc
    if table.num_rows == 0 and not table.column_names:
        raise DataError("empty file", file=file)
    # Parquet has no lines: the exact scan reports the row number (from 1) as the line.
    return _read_table(table, time_col, quarantine, rejections, file, file + " (Parquet; line = row)",
                       range(1, table.num_rows + 1))


def _read_workbook(
    path: Path, time_col: str | None, quarantine: bool, rejections: list[Rejection]
) -> _Read:
    """The workbook's one non-empty sheet, checked as a Parquet table (a batch per file)."""
    import zipfile

    file = str(path)
    if not path.is_file():
        raise DataError("file not found", file=file)
    try:
        sheets = workbook_sheets(path, dtype=object)
    except (ValueError, OSError, KeyError, zipfile.BadZipFile) as exc:
        raise DataError(f"not a readable .xlsx workbook: {exc}", file=file) from exc
    if len(sheets) != 1:
        raise DataError(f"a batch file holds one batch: the workbook has {len(sheets)} non-empty sheets "
                        f"({', '.join(map(repr, sheets))}); save each batch to its own file", file=file)
    name, frame = next(iter(sheets.items()))
    # every cell as the workbook typed it: numbers stay numbers, text stays text (and is refused
    # by the checks, naming the spreadsheet row), dates become timestamps
    columns = {}
    for h in frame.columns:
        col = frame[h]
        if col.map(lambda v: (isinstance(v, (int, float)) and not isinstance(v, bool)) or pd.isna(v)).all():
            columns[str(h)] = pa.array(pd.to_numeric(col).astype(float), type=pa.float64())
        elif col.map(lambda v: isinstance(v, (datetime, pd.Timestamp, np.datetime64)) or pd.isna(v)).all():
            columns[str(h)] = pa.array(pd.to_datetime(col))
        else:
            columns[str(h)] = pa.array([None if pd.isna(v) else str(v) for v in col], type=pa.string())
    table = pa.table(columns)
    # the spreadsheet's row numbers: the header on row 1, data from row 2 (blank rows dropped)
    return _read_table(table, time_col, quarantine, rejections, file,
                       f"{file} (sheet {name!r}; line = spreadsheet row)", [int(i) + 2 for i in frame.index])


def _read_table(
    table: pa.Table, time_col: str | None, quarantine: bool, rejections: list[Rejection], file: str,
    where: str, lines: Sequence[int],
) -> _Read:
    plan = _plan(table.column_names, time_col, file, rejections if quarantine else None)
    fast = _check_arrays(table, plan)
    if fast is not None:
        return (plan, *fast)
    header = table.column_names
    cols = [table[h].to_pylist() for h in header]

    def rows() -> object:
        from biotwin.connect.rows import RawRow

        for i in range(table.num_rows):
            fields = []
            for j, c in enumerate(cols):
                v = c[i]
                if j == plan.time_index and not plan.time_unit:
                    fields.append("" if v is None else (v.isoformat() if hasattr(v, "isoformat") else str(v)))
                else:
                    fields.append("" if v is None else repr(v) if isinstance(v, float) else str(v))
            yield RawRow(lines[i], fields)

    return (plan, *_exact_rows(rows(), header, plan, where, quarantine, rejections))

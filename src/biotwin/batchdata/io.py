"""Read generic wide batch files (one batch per file, or a file stacking several) into frames.

The format is that of :mod:`biotwin.connect.wide`: a time column (``time_h`` by default,
any ``name [time unit]``, or ISO 8601 timestamps) and numeric columns whose headers name
their unit in brackets (``pH [-]``, ``DO [%]``). Column names are kept exactly as written so
that a model fitted on one file applies to the next; only time is converted (to hours since
the first row when the column holds timestamps). Non-numeric columns are dropped.
"""

from __future__ import annotations

import csv
import io
import re
import warnings
import zipfile
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from biotwin import units
from biotwin.connect.rows import Dialect, open_binary
from biotwin.connect.wide import DEFAULT_TIME_COLUMN, batch_id_from_path, is_parquet, is_workbook, workbook_sheets
from biotwin.errors import DataError

TIME = "time_h"
TEXT_COLUMNS = "text_columns"  # frame.attrs key: the text columns a file had, left out
ROW_TIMES = "row_times"  # frame.attrs key: the time [h] of each data row of the file, in its order
TIME_SOURCE = "time_source"  # frame.attrs key: {"column": the time column, "read_as": how}
UNITS_ROW = "units_row"  # frame.attrs key: header -> unit, from a units row under the header
_TIME_GUESSES = ("time_h", "Time (hours)", "time", "t", "timestamp", "time_utc", "Time", "Timestamp")


@dataclass
class BatchSet:
    """Batches as frames: each has a ``time_h`` column [h] and numeric variables.

    Attributes
    ----------
    frames : list of DataFrame
        One per batch, rows sorted by time; ``n_rows`` may differ between batches.
    ids : list of str
        Batch ids (file names without extensions by default).
    """

    frames: list[pd.DataFrame]
    ids: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not self.ids:
            self.ids = [f"batch{i:03d}" for i in range(len(self.frames))]
        if len(self.ids) != len(self.frames):
            raise DataError("BatchSet: ids and frames differ in length")

    def __len__(self) -> int:
        return len(self.frames)

    def variables(self, exclude: Iterable[str] = ()) -> list[str]:
        """Numeric columns present in every batch, in the first batch's order, minus ``exclude``."""
        drop = set(exclude) | {TIME}
        common = set.intersection(*(set(f.columns) for f in self.frames)) if self.frames else set()
        return [c for c in self.frames[0].columns if c in common and c not in drop] if self.frames else []


#: An elapsed time written as a duration: ``h:mm``, ``h:mm:ss[.f]`` (hours may pass 24), with
#: an optional ``N days`` before it (pandas' own text of a timedelta).
_DURATION = r"(\d+\s+days?,?\s+)?\d+:\d{2}(:\d{2}(\.\d*)?)?"
#: A unitless time column read as hours that spans more than this [h] (about 83 days, longer than
#: any batch or perfusion run) is most likely in minutes or seconds: the reader warns.
LONGEST_BATCH_H = 2000.0
_TIME_WORDS = ("time", "t", "eft", "elapsed", "age", "process_time", "culture_time", "timestamp", "datetime", "date")


def _header_unit(header: str) -> tuple[str, str | None]:
    """Name and unit of a header: ``name [unit]`` or ``name (unit)``."""
    name, unit = units.split_header(header)
    if unit is None:
        m = re.match(r"^\s*(.*?)\s*\(([^()]*)\)\s*$", header)
        if m:
            return m.group(1), m.group(2).strip()
    return name, unit


def _time_hours(col: pd.Series, header: str, file: str, row_unit: str | None = None) -> tuple[np.ndarray, str]:
    """Culture time [h] of each row from the time column, and how it was read (for the user).

    The unit is the header's (``Time [min]``), else the name's suffix (``time_min``), else the
    one a units row gives (``row_unit``), else hours.
    """
    name, unit = _header_unit(header)
    if unit is None:  # not bracketed: a unit as the name's suffix (time_min), if any
        unit = units.time_suffix_unit(name)
    if unit is None:
        unit = row_unit
    if pd.api.types.is_numeric_dtype(col):
        if unit is None:
            hours = col.to_numpy(dtype=float)
            span = float(np.nanmax(hours) - np.nanmin(hours)) if np.isfinite(hours).any() else 0.0
            if span > LONGEST_BATCH_H:
                # no unit given and, read as hours, longer than any batch process runs: most likely
                # minutes or seconds, which would scale every rate, window and delay (a 1-h alarm
                # delay read as 60 h)
                warnings.warn(f"{file}: time column {header!r} gives no unit and, read as hours, spans "
                              f"{span:.0f} h ({span / 24:.0f} days); if it holds minutes or seconds, name it "
                              f"'{name} [min]' or '{name} [s]'", UserWarning, stacklevel=3)
            return hours, "numbers with no unit, read as h"
        try:
            factor = units.convert(1.0, unit, "h")
        except units.UnitError as exc:
            raise DataError(f"time unit {unit!r} is not a unit of time", file=file, column=header) from exc
        return col.to_numpy(dtype=float) * float(factor), f"numbers in {unit}"
    if pd.api.types.is_timedelta64_dtype(col):
        return col.dt.total_seconds().to_numpy(dtype=float) / 3600.0, "durations"
    text = col.astype(str).str.strip()
    if not pd.api.types.is_datetime64_any_dtype(col) and text.str.fullmatch(_DURATION).all():
        # elapsed time written as a duration ("36:15:00", "1 days 12:15:00"): hours since the start
        return pd.to_timedelta(text).dt.total_seconds().to_numpy(dtype=float) / 3600.0, "durations (h:mm:ss)"
    readings = []
    # a date with dots is written day first (28.11.2026); one with slashes may be either
    # (11/28/2026 in the US, 28/11/2026 elsewhere): both readings are tried, and the one
    # that reads every value with the most even steps is kept
    firsts = (True,) if text.str.match(r"^\d{1,2}\.\d{1,2}\.\d{2,4}").all() else (False, True)
    for dayfirst in firsts:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # pandas warns when it cannot infer one format
            ts = pd.to_datetime(col, utc=True, errors="coerce", dayfirst=dayfirst)
        if not ts.isna().any():
            delta = np.asarray((ts - ts.iloc[0]).dt.total_seconds().to_numpy(), dtype=float) / 3600.0
            steps = np.diff(delta)
            how = "timestamps, day first" if dayfirst else "timestamps"
            readings.append((float(np.max(np.abs(steps))) if len(steps) else 0.0, delta, how))
    if not readings:
        raise DataError("time column holds values that are neither numbers, timestamps nor durations "
                        "(h:mm:ss)", file=file, column=header)
    _, delta, how = min(readings, key=lambda r: r[0])
    return delta, f"{how}, hours since the first row"


#: Words that make a header a time column when its name holds one as a word (after the rules
#: above): ``Culture age [d]``, ``Duration``, and the usual words of other languages' exports
#: (``Zeitstempel``, ``Prozesszeit [h]``, ``Datum``, ``Temps``, ``Tiempo``).
_TIME_TOKENS = ("timestamp", "elapsed", "age", "duration", "eft", "date", "datetime", "hours", "minutes",
                "seconds", "days", "zeit", "zeitstempel", "prozesszeit", "kultivierungszeit", "laufzeit", "datum",
                "uhrzeit", "temps", "horodatage", "tiempo", "tempo", "tijd")


def _is_time_unit(unit: str | None) -> bool:
    if unit is None:
        return False
    try:
        units.convert(1.0, unit, "h")
    except units.UnitError:
        return False
    return True


def find_time_column(columns: Sequence[str]) -> str | None:
    """The column that looks most like culture time: ``time_h`` and other usual names first, then
    a header whose name is a time word (``EFT [h]``, ``Process time [min]``), then any header
    with "time" in its name, then one whose name holds a time word of :data:`_TIME_TOKENS`
    (``Culture age [d]``, ``Zeitstempel``), then the first whose unit is a unit of time
    (``Tag [d]``); None if there is none."""
    cols = [str(c).strip() for c in columns]
    found = [c for c in _TIME_GUESSES if c in cols]
    found += [c for c in cols if _header_unit(c)[0].strip().lower().replace(" ", "_") in _TIME_WORDS]
    found += [c for c in cols if "time" in _header_unit(c)[0].lower()]
    found += [c for c in cols if set(re.split(r"[^a-z]+", _header_unit(c)[0].lower())) & set(_TIME_TOKENS)]
    found += [c for c in cols if _is_time_unit(_header_unit(c)[1])]
    return found[0] if found else None


def to_frame(frame: pd.DataFrame, time_col: str | None = None, *, file: str = "<frame>") -> pd.DataFrame:
    """Normalise an in-memory wide frame: ``time_h`` [h] first, numeric columns, sorted.

    Parameters
    ----------
    frame : DataFrame, shape (n_rows, n_columns)
        A time column and variables.
    time_col : str, optional
        The time column (default ``time_h`` or the first column that looks like time).

    Returns
    -------
    DataFrame, shape (n_rows, 1 + n_variables)
        ``time_h`` then every numeric column, rows sorted by time; rows sharing a time are
        merged (each column keeps its last non-missing value there).
    """
    cols = [str(c).strip() for c in frame.columns]
    frame = frame.set_axis(cols, axis=1)
    if frame.empty:
        raise DataError(f"batch has no rows (columns {cols})", file=file)
    twins = [c for c in cols if (m := re.fullmatch(r"(.+)\.(\d+)", c)) and m.group(1) in cols]
    if twins:  # pandas renames a header's repeats "X.1", "X.2": say so, they are not other variables
        warnings.warn(f"{file}: {len(twins)} header(s) repeat an earlier one and are read under a suffix: "
                      f"{', '.join(repr(c) for c in twins[:5])}; check the export", stacklevel=3)
    # the units on a row under the header: the row is no data, and the names stay as written
    # (the user names columns by the header); the time column's unit there is its unit
    row_units = frame.attrs.get(UNITS_ROW)
    if row_units is None:
        row_units = _units_row(frame)
        if row_units is not None:
            frame = frame.iloc[1:].reset_index(drop=True).infer_objects()
    if time_col is None:
        time_col = find_time_column(cols)
        if time_col is None:
            raise DataError(f"no time column: expected {DEFAULT_TIME_COLUMN!r} or pass --time-col; "
                            f"columns are {cols}", file=file)
    elif time_col not in cols:
        raise DataError(f"no time column {time_col!r}; columns are {cols}", file=file)
    t, time_read = _time_hours(frame[time_col], time_col, file, (row_units or {}).get(time_col) or None)
    out = {TIME: t}
    text_cols = []
    for c in cols:
        if c == time_col or c == TIME:
            continue
        s = frame[c]
        if not pd.api.types.is_numeric_dtype(s):
            num = pd.to_numeric(s, errors="coerce")
            if num.isna().any():  # 1,234.5 or 1.234,5: thousands separators
                num = num.fillna(_thousands(s))
            if num.isna().any() and frame.attrs.get("decimal") == ",":
                # a decimal-comma file's column that its reader left as text (another cell had
                # thousands separators): its plain decimal-comma numbers too
                plain = s.astype(str).str.strip()
                plain = plain.where(plain.str.fullmatch(r"[+-]?\d+,\d+"))
                num = num.fillna(pd.to_numeric(plain.str.replace(",", ".", regex=False), errors="coerce"))
            if num.notna().sum() == 0:
                text_cols.append(c)
                continue  # a text column (operator, phase name): not a variable
            text = s.notna() & num.isna() & (s.astype(str).str.strip() != "")
            if text.any():  # e.g. "<LOQ" in an assay column: say so rather than drop it silently
                k = int(np.argmax(text.to_numpy()))
                warnings.warn(f"{file}: column {c!r} holds {int(text.sum())} non-numeric value(s), "
                              f"read as missing (first {s.iloc[k]!r} on data row {k + 1})", stacklevel=3)
            s = num
        x = s.to_numpy(dtype=float)
        bad = np.isinf(x)
        if bad.any():  # an overflow code from a PLC or historian: a bad reading, not a value
            k = int(np.argmax(bad))
            warnings.warn(f"{file}: column {c!r} holds {int(bad.sum())} infinite value(s), read as missing "
                          f"(first on data row {k + 1})", stacklevel=3)
            x = np.where(bad, np.nan, x)
        out[c] = x
    res = pd.DataFrame(out)
    timed = np.isfinite(res[TIME].to_numpy())
    if not timed.all():
        k = int(np.argmin(timed))
        warnings.warn(f"{file}: {int((~timed).sum())} row(s) without a time in {time_col!r} are left out "
                      f"(first on data row {k + 1})", stacklevel=3)
    res = res[timed]
    _refuse_restarts(res, file)
    res = _merge_same_time(res.sort_values(TIME, kind="stable"), file)
    if res.empty:
        raise DataError("batch has no rows", file=file)
    # the text columns left out, so that an --exclude naming one is known (warn_unknown)
    res.attrs[TEXT_COLUMNS] = text_cols
    # each data row of the file, in file order, by its time (NaN for one without): a result
    # per row of the frame can be given back per row of the file (:func:`to_file_rows`)
    res.attrs[ROW_TIMES] = np.asarray(t, dtype=float)
    res.attrs[TIME_SOURCE] = {"column": time_col, "read_as": time_read}
    if row_units is not None:
        res.attrs[UNITS_ROW] = {c: u for c, u in row_units.items() if c in res.columns or c == time_col}
    return res


def to_file_rows(result: pd.DataFrame, frame: pd.DataFrame) -> pd.DataFrame:
    """``result`` (one row per row of ``frame``, with ``time_h``) given back per data row of the
    file ``frame`` was read from, in the file's order.

    :func:`to_frame` sorts rows by time and merges rows that share one (an assay written on a
    row of its own); a command that answers "one entry per row of the file" maps each file row
    to the merged row of its time. A file row without a time gets missing values (``in_domain``
    False, other booleans False too).

    Parameters
    ----------
    result : DataFrame, shape (n_rows, n_columns)
        Rows aligned with ``frame``'s, with a ``time_h`` column.
    frame : DataFrame
        As returned by :func:`read_batch` (its ``attrs`` name the file's row times); a frame
        without them is taken as the file's own rows.

    Returns
    -------
    DataFrame, shape (n_file_rows, n_columns)
    """
    rows = frame.attrs.get(ROW_TIMES)
    if rows is None:
        return result
    rows = np.asarray(rows, dtype=float)
    t = result[TIME].to_numpy(dtype=float)
    if len(rows) == len(t) and np.array_equal(rows, t):
        return result
    pos = np.clip(np.searchsorted(t, rows), 0, len(t) - 1)
    found = np.isfinite(rows) & (t[pos] == rows)
    out = result.iloc[pos].reset_index(drop=True)
    if not found.all():
        out = out.astype({c: float for c in out.columns if out[c].dtype.kind in "iuf"})
        for c in out.columns:
            if out[c].dtype == bool:
                out[c] = np.where(found, out[c].to_numpy(), False)
            else:
                out.loc[~found, c] = np.nan
    return out


def _refuse_restarts(frame: pd.DataFrame, file: str, min_rows: int = 10) -> None:
    """Refuse a file whose time starts again over the same span (two batches written one after
    the other with no batch column, or a clock reset), which sorting by time would merge into one
    batch, the later rows overwriting the earlier ones.

    The rows are cut where time goes back. Two runs of at least ``min_rows`` rows that each carry
    most of the columns logged on most rows, and whose time spans overlap by more than half the
    shorter one, are a restart. Rows out of order here and there (an unsorted export), a
    duplicated row, or assay rows appended at the end (only their own columns filled) are not.
    """
    t = frame[TIME].to_numpy(float)
    if len(t) < 2 * min_rows or not (np.diff(t) < 0).any():
        return
    cols = [c for c in frame.columns if c != TIME]
    filled = frame[cols].notna().to_numpy()
    dense = filled.mean(axis=0) >= 0.5
    if not dense.any():
        return
    cuts = np.flatnonzero(np.diff(t) < 0) + 1
    runs = []
    for a, b in zip(np.r_[0, cuts], np.r_[cuts, len(t)], strict=True):
        if b - a >= min_rows and filled[a:b][:, dense].mean() >= 0.5:
            runs.append((a, b, float(t[a:b].min()), float(t[a:b].max())))
    for i, (a1, b1, lo1, hi1) in enumerate(runs):
        for a2, _, lo2, hi2 in runs[i + 1:]:
            overlap = min(hi1, hi2) - max(lo1, lo2)
            if overlap > 0.5 * min(hi1 - lo1, hi2 - lo2) > 0:
                raise DataError(f"time starts again at data row {a2 + 1} ({float(t[a2 - 1]):g} -> {float(t[a2]):g} h) "
                                f"over the span of rows {a1 + 1}-{b1}: two batches one after the other, or a clock "
                                f"reset; split the file or add a batch column", file=file)


def _merge_same_time(frame: pd.DataFrame, file: str) -> pd.DataFrame:
    """One row per time: rows sharing a time (e.g. an online row and an assay row) are merged.

    Each column keeps its last non-missing value at that time, so no measurement is lost;
    where two rows disagree on a value, the later row wins and a warning names the file,
    column and time.
    """
    t = frame[TIME].to_numpy()
    if len(t) < 2 or not (t[1:] == t[:-1]).any():
        return frame.reset_index(drop=True)
    dup = frame[frame.duplicated(TIME, keep=False)]
    for c in dup.columns.drop(TIME):
        n_distinct = dup.groupby(TIME)[c].nunique(dropna=True)
        if (n_distinct > 1).any():
            warnings.warn(f"{file}: column {c!r} holds different values at the same time "
                          f"{float(n_distinct.index[n_distinct > 1][0]):g} h; the later row is kept",
                          stacklevel=3)
    return frame.groupby(TIME, sort=True, as_index=False).last()


def _read_raw(path: Path, time_col: str | None = None) -> pd.DataFrame:
    sheets = _read_sheets(path, time_col)
    if len(sheets) > 1:
        names = ", ".join(repr(s) for s, _ in sheets[:5]) + (", ..." if len(sheets) > 5 else "")
        raise DataError(f"holds {len(sheets)} sheets with a time column ({names}); this takes one batch: "
                        f"write each batch to its own file", file=str(path))
    return sheets[0][1]


def _read_sheets(path: Path, time_col: str | None = None) -> list[tuple[str | None, pd.DataFrame]]:
    """The tables of a batch file: ``[(None, table)]`` for a CSV or Parquet file, and for a
    workbook ``(sheet name, table)`` for its one non-empty sheet or, when it has several, for
    each that has a time column.

    Empty sheets are ignored. Beside batch sheets, a workbook's sheets without a time column
    (notes, a recipe) are skipped with a warning naming them; a workbook with none is refused.
    """
    if not path.exists():
        raise DataError("file not found", file=str(path))
    suffix = path.suffix.lower()
    if suffix in (".xls", ".ods"):
        raise DataError(f"cannot read {suffix} workbooks; save the file as .xlsx, CSV or Parquet", file=str(path))
    try:
        if is_workbook(path):
            filled = {name: table.reset_index(drop=True) for name, table in workbook_sheets(path).items()}
        elif is_parquet(path):
            return [(None, pd.read_parquet(path))]
        else:
            return [(None, _read_text(path))]
    except (ValueError, OSError, UnicodeDecodeError, pd.errors.ParserError, KeyError, zipfile.BadZipFile) as exc:
        raise DataError(f"cannot read batch file: {exc}", file=str(path)) from exc
    if len(filled) == 1:  # one table: read as a CSV file would be (its time column checked there)
        return list(filled.items())
    tables: list[tuple[str | None, pd.DataFrame]] = []
    skipped: list[str] = []
    for name, table in filled.items():
        cols = [str(c).strip() for c in table.columns]
        if time_col in cols or find_time_column(cols) is not None:
            tables.append((name, table))
        else:
            skipped.append(name)
    if not tables:
        raise DataError(f"no sheet of the workbook has a time column (sheets: {', '.join(map(repr, filled))})",
                        file=str(path))
    if skipped:
        warnings.warn(f"{path.name}: sheets without a time column not read: {', '.join(map(repr, skipped))}",
                      stacklevel=3)
    return tables


def _read_text(path: Path) -> pd.DataFrame:
    """A delimited text export as a table (its layout from :func:`_text_layout`).

    UTF-8 (with or without a byte-order mark) and UTF-16 with one (spreadsheets' "Unicode
    text") are read as such; a file that is not valid UTF-8 is read as Windows-1252, the
    encoding of many plant PCs' exports (``Temperatur [°C]``), with a warning.
    """
    encoding = _encoding(path)
    dialect, skip = _text_layout(path, encoding)

    def read(skiprows: int | list[int], enc: str) -> pd.DataFrame:
        # index_col=False: a separator at the end of each row (one field more than the
        # header) must not shift the columns onto the row labels
        return pd.read_csv(path, sep=dialect.sep, decimal=dialect.decimal, skiprows=skiprows,
                           index_col=False, encoding=enc)

    try:
        table = read(skip, encoding)
    except UnicodeDecodeError:
        if encoding != "utf-8":
            raise
        encoding = "cp1252"
        table = read(skip, encoding)
        warnings.warn(f"{path.name}: not UTF-8; read as Windows-1252", stacklevel=5)
    row_units = _units_row(table)
    if row_units is not None:  # read again without the units row, so its numbers are numbers
        table = read([*range(skip), skip + 1], encoding)
        table.attrs[UNITS_ROW] = row_units
    table.attrs["decimal"] = dialect.decimal
    return table


def _encoding(path: Path) -> str:
    """``utf-16`` for a file that starts with a UTF-16 byte-order mark, else ``utf-8``."""
    with open_binary(path) as fh:
        head = fh.read(2)
    return "utf-16" if head in (b"\xff\xfe", b"\xfe\xff") else "utf-8"


_SEPARATORS = (",", ";", "\t", "|")


def _text_layout(path: Path, encoding: str = "utf-8", n_lines: int = 40) -> tuple[Dialect, int]:
    """Separator, decimal mark and the number of lines before the header of a text export.

    The separator is the one of ``,``, ``;``, tab and ``|`` that the header holds most often;
    with ``;``, tab or ``|``, a digit-comma-digit in the first 20 lines makes the decimal mark
    a comma (as :func:`~biotwin.connect.rows.sniff_dialect`). Some exports open with a few
    lines of their own (a report title, the export date) before the header. The header is then
    the first line with a separator whose field count the next line repeats; the lines before
    it, each at most half as wide, are skipped, with a warning that quotes the first.
    """
    lines: list[str] = []
    try:
        with io.TextIOWrapper(open_binary(path), encoding=encoding, errors="replace") as fh:
            for raw in fh:
                lines.append(raw.lstrip("\ufeff").rstrip("\r\n"))
                if len(lines) >= n_lines:
                    break
    except (OSError, EOFError, ValueError, zlib.error):
        pass  # the reader names the problem

    def dialect_from(header: int) -> Dialect:
        counts = {sep: lines[header].count(sep) for sep in _SEPARATORS} if lines else {}
        sep = max(counts, key=counts.__getitem__) if counts and max(counts.values()) > 0 else ","
        decimal = "," if sep != "," and re.search(r"\d,\d", "".join(lines[header:header + 20])) else "."
        return Dialect(sep, decimal)

    def width(line: str, sep: str) -> int:
        return len(next(csv.reader([line], delimiter=sep), [])) if line.strip() else 0

    dialect = dialect_from(0)
    if len(lines) < 2 or (width(lines[0], dialect.sep) > 1
                          and width(lines[1], dialect.sep) == width(lines[0], dialect.sep)):
        return dialect, 0
    for i, line in enumerate(lines[:-1]):
        counts = {sep: line.count(sep) for sep in _SEPARATORS}
        sep = max(counts, key=counts.__getitem__)
        if counts[sep] and width(lines[i + 1], sep) == width(line, sep):
            # the lines before must be much narrower than the header (a title, a date): a
            # header one field short of its rows (a trailing separator on each row) is no preamble
            if i == 0 or any(width(x, sep) > max(1, width(line, sep) // 2) for x in lines[:i]):
                return dialect, 0
            warnings.warn(f"{path.name}: {i} line(s) before the header on line {i + 1} skipped "
                          f"(first: {lines[0][:60]!r})", stacklevel=5)
            return dialect_from(i), i
    return dialect, 0


def _units_row(frame: pd.DataFrame) -> dict[str, str] | None:
    """Each header's unit (``""`` if none) when the first row under the header holds the units,
    else None.

    Many exports write the units on a row of their own (``Time,pH,DO`` then ``h,-,%``). It is
    taken as a units row when none of its cells is a number and, in at least half of the
    columns (two at least), its cell is short text and the cells below it are numbers (90 % of
    those filled). A first row with empty cells (an assay on its own row) is data.
    """
    if len(frame) < 2:
        return None
    first, rest = frame.iloc[0], frame.iloc[1:]
    need = max(2, (len(frame.columns) + 1) // 2)
    texts = {}
    for c in frame.columns:  # the first row alone first: a number there ends it
        cell_text = "" if pd.isna(first[c]) else str(first[c]).strip()
        if cell_text:
            if pd.notna(pd.to_numeric(cell_text.replace(",", "."), errors="coerce")):
                return None  # a number on the first row: data
            if len(cell_text) <= 16:
                texts[c] = cell_text
    if len(texts) < need:
        return None
    hits = 0
    for c in texts:
        below = rest[c].astype(str).str.strip()
        below = below[rest[c].notna() & (below != "")].str.replace(",", ".", regex=False)  # 7,01 too
        hits += bool(len(below) and pd.to_numeric(below, errors="coerce").notna().mean() >= 0.9)
    if hits < need:
        return None
    return {str(c).strip(): "" if pd.isna(first[c]) else str(first[c]).strip().strip("[]()").strip()
            for c in frame.columns}


#: A number written with thousands separators: ``1,234.5``, ``1.234,5``, ``1 234,5``, ``1'234.5``.
_THOUSANDS = re.compile(r"^\s*([+-]?\d{1,3}(?:([,.\u00a0\u202f' ])\d{3})+)(?:([.,])(\d+))?\s*$")


def _thousands(values: pd.Series) -> pd.Series:
    """The values that are numbers written with thousands separators, as numbers (others NaN)."""
    def one(text: object) -> float:
        m = _THOUSANDS.match(str(text))
        if m is None or (m.group(3) is not None and m.group(3) == m.group(2)):
            return np.nan
        whole = re.sub(r"[^\d+-]", "", m.group(1))
        return float(f"{whole}.{m.group(4)}" if m.group(4) else whole)

    return values.map(one).astype(float)


def _time_column(raw: pd.DataFrame, path: Path, time_col: str | None, fallback: bool) -> str | None:
    if fallback and time_col is not None and time_col not in [str(c).strip() for c in raw.columns]:
        found = find_time_column([str(c) for c in raw.columns])
        if found is not None:
            warnings.warn(f"{path.name}: no time column {time_col!r} (that of the training files); "
                          f"reading time from {found!r}", stacklevel=3)
            return found
    return time_col


def stacked_batches(raw: pd.DataFrame, time_col: str | None = None) -> tuple[str, list[tuple[str, np.ndarray]]] | None:
    """The batches of a file that stacks several, one after the other, or None for one batch.

    A file stacks batches when a column other than time (a batch id or reference, numbers or
    text) holds two or more values, each on one contiguous block of rows with no row missing
    it, and culture time goes back at every boundary between two blocks (each batch starts its
    own clock), as in the IndPenSim data set's single CSV file. A column that only marks the
    phases of one batch does not qualify (time runs on across its boundaries), nor does an
    assay appended at the end of a file (no block column).

    Parameters
    ----------
    raw : DataFrame
        The file as read, with its own headers.
    time_col : str, optional
        Its time column (default: found by name).

    Returns
    -------
    (column, [(value, row positions), ...]) or None
        The identifying column and, per batch in file order, its value (as text) and rows.
    """
    cols = [str(c).strip() for c in raw.columns]
    raw = raw.set_axis(cols, axis=1)
    tc = time_col if time_col is not None and time_col in cols else find_time_column(cols)
    if tc is None or len(raw) < 4 or not pd.api.types.is_numeric_dtype(raw[tc]):
        return None
    t = raw[tc].to_numpy(dtype=float)
    with np.errstate(invalid="ignore"):
        if not (np.diff(t) < 0).any():
            return None
    # batch-like names first, then file order
    order = sorted((c for c in cols if c != tc), key=lambda c: "batch" not in c.lower())
    for c in order:
        v = raw[c]
        if v.isna().any():
            continue
        change = np.flatnonzero(v.to_numpy()[1:] != v.to_numpy()[:-1]) + 1
        if len(change) == 0 or len(change) > len(raw) // 4:
            continue
        starts = np.concatenate([[0], change])
        values = v.to_numpy()[starts]
        if len(set(map(str, values))) != len(values):  # a value comes back: phases, not batches
            continue
        with np.errstate(invalid="ignore"):
            if not (t[change] < t[change - 1]).all():  # each batch restarts its clock
                continue
        ends = np.concatenate([change, [len(raw)]])
        return c, [(_label(x), np.arange(a, b)) for x, a, b in zip(values, starts, ends, strict=True)]
    return None


def _label(value: object) -> str:
    """A batch column's value as text: ``101`` for 101.0."""
    return f"{value:g}" if isinstance(value, (float, np.floating)) else str(value)


def read_batch(path: str | Path, time_col: str | None = None, *, fallback: bool = False) -> pd.DataFrame:
    """Read one wide batch file (``.csv``, ``.csv.gz``, ``.parquet``, ``.xlsx``; ``,``, ``;``, tab or
    ``|`` separated, decimal comma recognised) into a frame.

    Parameters
    ----------
    path : str or Path
    time_col : str, optional
        The time column (default: found by name, see :func:`find_time_column`).
    fallback : bool
        When the file has no column ``time_col``, find one by name instead (with a warning):
        a model remembers the time column of its training files, and a later export may name
        time differently.

    Returns
    -------
    DataFrame, shape (n_rows, 1 + n_variables)
        ``time_h`` [h] then the file's numeric columns under their original headers.

    Raises
    ------
    DataError
        When the file stacks several batches (:func:`stacked_batches`): one batch is expected
        here; :func:`read_batches` splits such a file.
    """
    path = Path(path)
    raw = _read_raw(path, time_col)
    time_col = _time_column(raw, path, time_col, fallback)
    stacked = stacked_batches(raw, time_col)
    if stacked is not None:
        key, blocks = stacked
        shown = ", ".join(v for v, _ in blocks[:5]) + (", ..." if len(blocks) > 5 else "")
        raise DataError(f"holds {len(blocks)} batches (column {key!r}: {shown}, time restarting at each); "
                        f"this takes one batch: write each batch to its own file", file=str(path), column=key)
    return to_frame(raw, time_col, file=str(path))


def read_batches(paths: Sequence[str | Path], time_col: str | None = None) -> BatchSet:
    """Read several batch files into a :class:`BatchSet`: one batch per file, each sheet of a
    workbook that has a time column (ids ``<file>:<sheet>`` when there are several), or each
    batch of a file that stacks several (:func:`stacked_batches`; ids ``<file>:<value>``)."""
    if not paths:
        raise DataError("no batch files given")
    frames, ids = [], []
    for p in paths:
        path = Path(p)
        sheets = _read_sheets(path, time_col)
        for sheet, raw in sheets:
            # a workbook with several batch sheets: one batch per sheet, id <file>:<sheet>
            one = sheet is None or len(sheets) == 1
            file = str(path) if one else f"{path} (sheet {sheet})"
            stem = batch_id_from_path(path) if one else f"{batch_id_from_path(path)}:{sheet}"
            stacked = stacked_batches(raw, time_col)
            if stacked is None:
                frames.append(to_frame(raw, time_col, file=file))
                ids.append(stem)
                continue
            key, blocks = stacked
            for value, rows in blocks:
                frames.append(to_frame(raw.iloc[rows].reset_index(drop=True), time_col,
                                       file=f"{file} ({key} {value})"))
                ids.append(f"{stem}:{value}")
    return BatchSet(frames, ids)


def _natural_key(text: str) -> tuple[tuple[int, int | str], ...]:
    """Sort key of a name with its digit runs compared as numbers (``B9`` before ``B10``)."""
    return tuple((0, int(part)) if part.isdigit() else (1, part) for part in re.split(r"(\d+)", text) if part)


def id_ranks(ids: Sequence[str]) -> np.ndarray:
    """Each batch's rank among ``ids`` in natural order (ties in the order listed), shape (n_batches,).

    Cross-validation folds assigned by these ranks rather than by the position in the list make
    a fit independent of the order its batches were given in (``monitor fit --batches`` with
    the files in another order gives the same monitor).
    """
    order = sorted(range(len(ids)), key=lambda i: (_natural_key(str(ids[i])), i))
    ranks = np.empty(len(ids), dtype=int)
    ranks[order] = np.arange(len(ids))
    return ranks


def _as_frames(batches: BatchSet | Sequence[pd.DataFrame]) -> tuple[list[pd.DataFrame], list[str]]:
    if isinstance(batches, BatchSet):
        return batches.frames, batches.ids
    frames = [f if TIME in f.columns else to_frame(f) for f in batches]
    return frames, [f"batch{i:03d}" for i in range(len(frames))]


def is_identifier(frames: Sequence[pd.DataFrame], column: str) -> bool:
    """Whether ``column`` looks like a batch identifier rather than a process variable.

    True when, over at least 3 batches, it holds one integer per batch (constant within each
    batch) and a different one in every batch: a batch number, a lot code or a start date
    written as a number. Such a column carries no information that generalises to a new batch
    and would put every new batch outside the training range.
    """
    values = []
    for f in frames:
        if column not in f:
            return False
        v = f[column].to_numpy(float)
        v = v[np.isfinite(v)]
        if v.size == 0 or np.ptp(v) > 0 or v[0] != np.round(v[0]):
            return False
        values.append(float(v[0]))
    return len(values) >= 3 and len(set(values)) == len(values)


_ROW_LABELS = ("", "index", "idx", "row", "rows", "no", "no.", "nr", "nr.", "#", "n")


def is_row_number(frames: Sequence[pd.DataFrame], column: str) -> bool:
    """Whether ``column`` is a written row number rather than a process variable.

    True when its header is empty, pandas' ``Unnamed: k`` for one, or a row label (``index``,
    ``No.``, ``#``) and in every batch it counts up from 0 or 1 in whole steps: the row labels a
    spreadsheet or ``DataFrame.to_csv`` writes. They only restate the sampling, which differs
    between batches logged at other intervals.
    """
    name = str(column).strip().lower()
    if not (name in _ROW_LABELS or re.fullmatch(r"unnamed: \d+", name)):
        return False
    for f in frames:
        if column not in f:
            return False
        v = f[column].to_numpy(float)
        if len(v) < 2 or not np.isfinite(v).all() or v[0] not in (0.0, 1.0) or (v != np.round(v)).any() \
                or (np.diff(v) < 1).any():
            return False
    return bool(frames)


def warn_unknown(frames: Sequence[pd.DataFrame], names: Sequence[str], what: str = "--exclude") -> None:
    """Warn about ``names`` that are a column of none of ``frames``, with the nearest headers.

    A column left out by name must be named exactly: ``Titre [mg/L]`` for a file's
    ``titre [mg/L]`` would leave the assay among the inputs, silently.
    """
    import difflib

    present = set().union(*(map(str, f.columns) for f in frames)) if frames else set()
    # a text column (a batch label, a phase name) was read and left out: naming it is no mistake
    present |= set().union(*(f.attrs.get(TEXT_COLUMNS, ()) for f in frames)) if frames else set()
    lower = {c.lower(): c for c in present}
    for n in names:
        if n in present:
            continue
        near = difflib.get_close_matches(n.lower(), list(lower), n=3, cutoff=0.6)
        hint = f"; did you mean {', '.join(repr(lower[c]) for c in near)}?" if near else ""
        warnings.warn(f"{what} {n!r} names no column of the batches{hint}", stacklevel=3)


def _varies(frames: Sequence[pd.DataFrame], columns: list[str]) -> dict[str, bool]:
    """Whether each of ``columns`` (in every frame) has two different finite values over the frames.

    Each frame's columns are read as one array: a column at a time, 2200 spectral channels of
    30 batches cost 12 s of pandas' per-column overhead."""
    def bounds(a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        fin = np.isfinite(a)
        return (np.where(fin, a, np.inf).min(axis=0, initial=np.inf),
                np.where(fin, a, -np.inf).max(axis=0, initial=-np.inf))

    lo, hi = np.full(len(columns), np.inf), np.full(len(columns), -np.inf)
    for f in frames:
        if f.columns.has_duplicates:  # a name twice: each name over all its columns
            pairs = [bounds(f[c].to_numpy(float).reshape(-1)) for c in columns]
            flo, fhi = np.array([p[0] for p in pairs]), np.array([p[1] for p in pairs])
        else:
            flo, fhi = bounds(f[columns].to_numpy(float).reshape(len(f), len(columns)))
        lo, hi = np.minimum(lo, flo), np.maximum(hi, fhi)
    return {c: bool(h > lo_) for c, lo_, h in zip(columns, lo, hi, strict=True)}


def column_roles(frames: Sequence[pd.DataFrame], drop: Sequence[str] = ()) -> dict[str, str]:
    """Each column of the batches but time, in order of first appearance: ``"input"``, or why a
    model leaves it out: ``"excluded"`` (in ``drop``), ``"not_in_every_batch"``,
    ``"constant_or_empty"``, ``"batch_identifier"`` (:func:`is_identifier`) or ``"row_number"``
    (:func:`is_row_number`)."""
    common = set.intersection(*(set(f.columns) for f in frames))
    order = list(dict.fromkeys(c for f in frames for c in f.columns if c != TIME))
    varies = _varies(frames, [c for c in order if c not in drop and c in common])
    roles: dict[str, str] = {}
    for c in order:
        if c in drop:
            roles[c] = "excluded"
        elif c not in common:
            roles[c] = "not_in_every_batch"
        elif not varies[c]:
            roles[c] = "constant_or_empty"
        elif is_identifier(frames, c):
            roles[c] = "batch_identifier"
        elif is_row_number(frames, c):
            roles[c] = "row_number"
        else:
            roles[c] = "input"
    return roles


def input_columns(frames: Sequence[pd.DataFrame], drop: Sequence[str],
                  ids: Sequence[str] | None = None) -> list[str]:
    """Numeric columns in every batch, not in ``drop``, not all-missing, not constant, not
    batch identifiers (:func:`is_identifier`) and not row numbers (:func:`is_row_number`), in
    the first batch's order (:func:`column_roles` says why each other column is left out).

    A column that only some batches have is left out with a warning naming it and the batches
    (``ids``) that lack it: a model learns from the columns every batch can give it, and a file
    of another kind among the batches (a truth or assay export next to the online files)
    otherwise shrinks the model to the few columns they share without a word.
    """
    roles = column_roles(frames, drop)
    partial = [c for c, r in roles.items() if r == "not_in_every_batch"]
    if partial:
        names = list(ids) if ids is not None else [f"batch{i:03d}" for i in range(len(frames))]
        parts = []
        for c in partial[:5]:
            lack = [names[i] for i, f in enumerate(frames) if c not in f.columns]
            more = f" and {len(lack) - 3} more" if len(lack) > 3 else ""
            parts.append(f"{c!r} (not in {', '.join(lack[:3])}{more})")
        rest = f"; and {len(partial) - 5} more columns" if len(partial) > 5 else ""
        warnings.warn(f"{len(partial)} column(s) not in every one of the {len(frames)} training batches are not "
                      f"used: {'; '.join(parts)}{rest}", UserWarning, stacklevel=3)
    return [c for c in frames[0].columns if roles.get(c) == "input"]

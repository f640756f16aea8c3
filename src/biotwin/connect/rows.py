"""Exact, line-by-line reading of CSV exports, for error messages that name line and column.

The importers read a file at full speed with Arrow first; only when that fails or a check
finds a bad value do they scan it again here, line by line, to say exactly where the
problem is (and, in quarantine mode, which rows to keep). Also checks the things a fast
reader glosses over: encodings, truncated compressed streams, blank lines.
"""

from __future__ import annotations

import csv
import gzip
import math
import re
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, cast

import pandas as pd

from biotwin.errors import DataError

_BOM = b"\xef\xbb\xbf"


@dataclass(frozen=True)
class RawRow:
    """One physical line: its number (from 1), its fields, or why it could not be read."""

    line: int
    fields: list[str] | None
    error: str | None = None
    field_index: int | None = None
    text: str | None = None


def is_gzip(path: Path) -> bool:
    """Whether ``path`` is gzip-compressed (by its magic bytes)."""
    with open(path, "rb") as fh:
        return fh.read(2) == b"\x1f\x8b"


def open_binary(path: Path) -> IO[bytes]:
    """Open a plain or gzip-compressed file for reading bytes."""
    if not path.is_file():
        raise DataError("file not found", file=str(path))
    return cast(IO[bytes], gzip.open(path, "rb") if is_gzip(path) else open(path, "rb"))


@dataclass(frozen=True)
class Dialect:
    """How a delimited text export is written: field separator and decimal mark."""

    sep: str = ","
    decimal: str = "."


def sniff_dialect(path: Path) -> Dialect:
    """Field separator and decimal mark of a text export (plain or gzip), from its first lines.

    The separator is the one of ``,``, ``;``, tab and ``|`` that the header line holds most
    often (``,`` if none); with ``;``, tab or ``|`` a decimal comma (``7,01``) is recognised
    when a digit-comma-digit appears in the first 20 lines, as spreadsheet exports in
    many plants write them.
    """
    lines: list[str] = []
    with open_binary(path) as fh:
        try:
            for raw in fh:
                lines.append(raw.decode("utf-8", errors="replace"))
                if len(lines) >= 20:
                    break
        except (EOFError, gzip.BadGzipFile, zlib.error):
            pass  # the scan names the place
    header = lines[0].lstrip("\ufeff") if lines else ""
    counts = {sep: header.count(sep) for sep in (",", ";", "\t", "|")}
    sep = max(counts, key=counts.__getitem__) if max(counts.values()) > 0 else ","
    decimal = "," if sep != "," and re.search(r"\d,\d", "".join(lines)) else "."
    return Dialect(sep, decimal)


def scan_csv(path: Path, *, encoding: str = "utf-8", delimiter: str = ",") -> Iterator[RawRow]:
    """Yield every non-blank line of a CSV file (plain or gzip) with its line number.

    Undecodable bytes and a truncated or corrupt compressed stream come back as rows with
    ``error`` set, so the caller can name the place. Quoted fields may not span lines.
    """
    line = 0
    with open_binary(path) as fh:
        try:
            for raw in fh:
                line += 1
                if line == 1 and raw.startswith(_BOM):
                    raw = raw[len(_BOM):]
                try:
                    text = raw.decode(encoding)
                except UnicodeDecodeError as exc:
                    yield RawRow(line, None, f"byte 0x{raw[exc.start]:02x} is not valid {encoding} "
                                 "(wrong encoding?)", raw[: exc.start].count(delimiter.encode()))
                    continue
                text = text.rstrip("\r\n")
                if not text.strip():
                    continue
                try:
                    fields = next(csv.reader([text], delimiter=delimiter, strict=True))
                except csv.Error as exc:
                    yield RawRow(line, None, f"malformed CSV: {exc}", None, text)
                    continue
                yield RawRow(line, [f.strip() for f in fields], text=text)
        except (EOFError, gzip.BadGzipFile, zlib.error) as exc:
            yield RawRow(line + 1, None, f"file is truncated or corrupt ({exc})")


def scan_csv_with_header(path: Path, *, encoding: str = "utf-8",
                         delimiter: str = ",") -> tuple[list[str], Iterator[RawRow]]:
    """The header fields of a CSV file and an iterator over its data rows.

    Raises :class:`DataError` naming the file (and line) when the file is empty or its
    header line cannot be read.
    """
    file = str(path)
    rows = scan_csv(path, encoding=encoding, delimiter=delimiter)
    first = next(rows, None)
    if first is None:
        raise DataError("empty file: expected a header line", file=file, line=1)
    if first.fields is None:
        raise DataError(f"cannot read the header: {first.error}", file=file, line=first.line)
    return first.fields, rows


def parse_float(text: str, decimal: str = ".") -> tuple[float | None, str | None]:
    """Parse a numeric cell: ``(value, None)``; ``(None, None)`` if empty; ``(None, why)``.

    With ``decimal=","`` the cell's one comma is its decimal mark (``7,01``); a cell with a
    point as well (``1.234,5``, a thousands separator) is refused rather than guessed.
    """
    if text == "":
        return None, None
    if decimal == "," and "," in text:
        if "." in text or text.count(",") > 1:
            return None, f"ambiguous number {text!r} (decimal comma expected, no thousands separator)"
        text = text.replace(",", ".")
    try:
        value = float(text)
    except ValueError:
        return None, f"non-numeric value {text!r}"
    if not math.isfinite(value):
        return None, f"value {text!r} is not finite (NaN or inf)"
    return value, None


def parse_timestamp(value: object) -> tuple[datetime | None, str | None]:
    """Parse an ISO 8601 timestamp to aware UTC; naive times are taken as UTC."""
    if isinstance(value, datetime):
        ts = value
    else:
        text = str(value).strip()
        if not text:
            return None, "missing timestamp"
        try:
            ts = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            return None, f"cannot read timestamp {text!r}; expected ISO 8601"
    if ts.tzinfo is None:
        ts = ts.replace(tzinfo=UTC)
    return ts.astimezone(UTC), None


def timestamps_to_us(values: pd.Series) -> pd.Series:
    """Vectorised ISO 8601 parse to UTC microseconds since the epoch (int64).

    Raises ``ValueError`` on any cell it cannot read; callers then fall back to the exact
    line-by-line scan.
    """
    parsed = pd.to_datetime(values, utc=True, format="ISO8601")
    if parsed.isna().any():
        raise ValueError("missing timestamp")
    return parsed.astype("datetime64[us, UTC]").astype("int64")

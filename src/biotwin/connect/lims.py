"""LIMS sample tables: one offline result per line::

    batch_id,assay,value,unit,sample_time,result_time,method,lims_id
    B042,Glc,3.1,g/L,2024-03-02T08:00:00Z,2024-03-02T10:30:00Z,YSI 2950,LIMS-000123

Required: ``batch_id``, ``assay``, ``value``, ``unit`` and the sample time, either as
``sample_time`` (ISO 8601 UTC; culture time then counts from the batch start) or as culture
time ``sample_time_h`` [h]. Optional: ``result_time``, ``method``, ``lims_id``, ``std``.
Values are converted with pint to the glossary's unit of the assay (``Glc`` in [mM]).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from biotwin import units
from biotwin.connect.rows import parse_float, parse_timestamp, scan_csv_with_header, sniff_dialect
from biotwin.errors import DataError
from biotwin.lake.records import SAMPLE_COLUMNS, Batch, Bundle, Rejection

REQUIRED = ("batch_id", "assay", "value", "unit")
OPTIONAL = ("sample_time", "sample_time_h", "result_time", "method", "lims_id", "std")


def read_lims_samples(path: str | Path, *, quarantine: bool = False) -> Bundle:
    """Read a LIMS sample table (CSV or CSV.gz) into a bundle of samples.

    Raises
    ------
    DataError
        Naming file, line and column of the first bad row (unless ``quarantine``).
    """
    path = Path(path)
    file = str(path)
    dialect = sniff_dialect(path)
    fields, rows = scan_csv_with_header(path, delimiter=dialect.sep)
    header = [h.strip().lower() for h in fields]
    missing = [c for c in REQUIRED if c not in header]
    if "sample_time" not in header and "sample_time_h" not in header:
        missing.append("sample_time or sample_time_h")
    if missing:
        raise DataError(f"missing column(s) {missing}; found {fields}", file=file, line=1)
    col = {c: header.index(c) for c in (*REQUIRED, *OPTIONAL) if c in header}
    rejections: list[Rejection] = []
    records: list[dict[str, object]] = []
    seen: set[tuple[str, str, object]] = set()

    def reject(line: int, column: str | None, reason: str, raw: str | None) -> None:
        if not quarantine:
            raise DataError(reason, file=file, line=line, column=column)
        rejections.append(Rejection(file, line, column, reason, raw))

    for row in rows:
        if row.fields is None:
            reject(row.line, None, row.error or "unreadable line", row.text)
            continue
        f = row.fields
        if len(f) != len(header):
            reject(row.line, None, f"malformed row: expected {len(header)} fields, found {len(f)}",
                   row.text)
            continue
        rec, problem = _record(f, col, dialect.decimal)
        if problem is not None:
            reject(row.line, problem[0], problem[1], row.text)
            continue
        key = (str(rec["batch_id"]), str(rec["assay"]),
               rec["sample_time_h"] if rec["sample_time_utc"] is None else rec["sample_time_utc"])
        if key in seen:
            reject(row.line, "assay", f"duplicated sample {key[1]!r} of batch {key[0]!r} at "
                   "the same time", row.text)
            continue
        seen.add(key)
        records.append(rec)
    frame = pd.DataFrame(records, columns=SAMPLE_COLUMNS)
    for c in ("sample_time_utc", "result_time_utc"):
        frame[c] = pd.to_datetime(frame[c], utc=True)
    frame["sample_time_h"] = frame["sample_time_h"].astype(float)
    batches = []
    for bid, group in frame.groupby("batch_id", sort=True):
        t = group["sample_time_utc"].dropna()
        batches.append(Batch(str(bid), start_utc=t.min() if len(t) else None, status="unknown",
                             source=file))
    return Bundle(source=file, kind="samples", batches=batches, samples=frame,
                  rejections=rejections)


def _record(f: list[str], col: dict[str, int],
            decimal: str = ".") -> tuple[dict[str, object], tuple[str, str] | None]:
    def get(name: str) -> str:
        return f[col[name]].strip() if name in col else ""

    rec: dict[str, object] = {c: None for c in SAMPLE_COLUMNS}
    for name in ("batch_id", "assay"):
        if not get(name):
            return rec, (name, f"missing {name}")
        rec[name] = get(name)
    value, why = parse_float(get("value"), decimal)
    if value is None:
        return rec, ("value", why or "missing value")
    std, why = parse_float(get("std"), decimal)
    if why is not None:
        return rec, ("std", why)
    try:
        unit = units.parse_unit(get("unit")) if get("unit") else None
    except units.UnitError as exc:
        return rec, ("unit", str(exc))
    if unit is None:
        return rec, ("unit", "missing unit ('-' if dimensionless)")
    assay = str(rec["assay"])
    target = units.canonical_unit(assay) or unit
    if target != unit:
        try:
            mm = units.MOLAR_MASS_G_PER_MOL.get(assay)
            value = float(units.convert(value, unit, target, molar_mass_g_per_mol=mm))
            std = None if std is None else float(units.convert(std, unit, target, molar_mass_g_per_mol=mm))
        except units.UnitError:
            return rec, ("unit", f"unit {unit!r} cannot be converted to {assay}'s unit {target!r}")
    rec.update(value=value, std=np.nan if std is None else std, unit=target,
               method=get("method") or None, lims_id=get("lims_id") or None)
    if get("sample_time"):
        ts, why = parse_timestamp(get("sample_time"))
        if ts is None:
            return rec, ("sample_time", why or "missing sample time")
        rec["sample_time_utc"] = ts
        rec["sample_time_h"] = np.nan
    else:
        t, why = parse_float(get("sample_time_h"), decimal)
        if t is None:
            return rec, ("sample_time_h", why or "missing sample time")
        rec["sample_time_h"] = t
    if get("result_time"):
        ts, why = parse_timestamp(get("result_time"))
        if ts is None:
            return rec, ("result_time", why or "bad result time")
        rec["result_time_utc"] = ts
    return rec, None

"""Wide batch files: good input round-trips; every kind of bad input is named precisely."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from biotwin.connect.wide import batch_id_from_path, read_wide_batch
from biotwin.errors import DataError

HEADER = "time_h,pH [-],DO2 [mg/L]\n"


def _write(tmp_path: Path, name: str, text: str | bytes) -> Path:
    path = tmp_path / name
    data = text.encode() if isinstance(text, str) else text
    if name.endswith(".gz"):
        data = gzip.compress(data)
    path.write_bytes(data)
    return path


def test_reads_csv_converts_units_and_drops_missing(tmp_path):
    f = _write(tmp_path, "R1.csv", "time_h,Glc [g/L],T [degF],pH [-]\n0,1.80156,98.6,7\n1,,212,7.1\n")
    b = read_wide_batch(f)
    ts = b.timeseries.to_pandas()
    assert b.batches[0].batch_id == "R1"
    glc = ts[ts.tag == "Glc"]
    np.testing.assert_allclose(glc.value, [10.0])  # g/L -> mM with the molar mass
    np.testing.assert_allclose(ts[ts.tag == "T"].value, [37.0, 100.0])
    assert {t.name: t.unit for t in b.tags} == {"Glc": "mM", "T": "degC", "pH": "-"}
    assert list(ts.tag) == sorted(ts.tag)


def test_same_data_from_csv_gz_and_parquet(tmp_path):
    text = HEADER + "".join(f"{i * 0.1:.1f},{7 + i / 100},{6 - i / 10}\n" for i in range(50))
    a = read_wide_batch(_write(tmp_path, "X.csv.gz", text)).timeseries
    frame = pa.table({"time_h": [i * 0.1 for i in range(50)],
                      "pH [-]": [7 + i / 100 for i in range(50)],
                      "DO2 [mg/L]": [6 - i / 10 for i in range(50)]})
    pq.write_table(frame, tmp_path / "X.parquet")
    b = read_wide_batch(tmp_path / "X.parquet").timeseries
    assert a.drop(["time_h"]).equals(b.drop(["time_h"]))
    np.testing.assert_allclose(a["time_h"].to_numpy(), b["time_h"].to_numpy())


def test_timestamps_as_time_column(tmp_path):
    f = _write(tmp_path, "TS.csv", "timestamp,pH [-]\n2024-01-01T00:00:00Z,7\n"
               "2024-01-01T00:30:00+00:00,7.1\n2024-01-01 01:00:00,7.2\n")
    b = read_wide_batch(f)
    assert str(b.batches[0].start_utc) == "2024-01-01 00:00:00+00:00"
    assert b.timeseries["time_utc"].null_count == 0


BAD = [
    ("non-numeric", HEADER + "0,7,6\n1,abc,6\n", 3, "pH [-]", "non-numeric"),
    ("nan", HEADER + "0,7,6\n1,7,NaN\n", 3, "DO2 [mg/L]", "not finite"),
    ("inf", HEADER + "0,7,6\n1,inf,6\n", 3, "pH [-]", "not finite"),
    ("duplicated time", HEADER + "0,7,6\n1,7,6\n1,7,6\n", 4, "time_h", "duplicated"),
    ("backwards time", HEADER + "0,7,6\n2,7,6\n1,7,6\n", 4, "time_h", "earlier"),
    ("missing time", HEADER + "0,7,6\n,7,6\n", 3, "time_h", "missing"),
    ("too few fields", HEADER + "0,7,6\n1,7\n", 3, "DO2 [mg/L]", "expected 3 fields"),
    ("too many fields", HEADER + "0,7,6\n1,7,6,5\n", 3, None, "expected 3 fields"),
    ("unknown unit", "time_h,pH [-],DO2 [blorbs]\n0,7,6\n", 1, "DO2 [blorbs]", "unknown unit"),
    ("no unit", "time_h,pH,DO2 [mg/L]\n0,7,6\n", 1, "pH", "no unit"),
    ("wrong unit", "time_h,Glc [cells/L]\n0,7\n", 1, "Glc [cells/L]", "cannot be converted"),
    ("blank line kept in count", HEADER + "0,7,6\n\n1,7,x\n", 4, "DO2 [mg/L]", "non-numeric"),
]


@pytest.mark.parametrize("suffix", [".csv", ".csv.gz"])
@pytest.mark.parametrize(("case", "text", "line", "column", "words"), BAD, ids=[b[0] for b in BAD])
def test_bad_input_names_file_line_and_column(tmp_path, suffix, case, text, line, column, words):
    f = _write(tmp_path, "bad" + suffix, text)
    with pytest.raises(DataError) as err:
        read_wide_batch(f)
    e = err.value
    assert e.file == str(f) and e.line == line and words in str(e)
    if column is not None:
        assert e.column == column


def test_wrong_encoding(tmp_path):
    f = _write(tmp_path, "enc.csv", HEADER.encode() + "0,7,6\n1,7,6\xb0\n".encode("latin-1"))
    with pytest.raises(DataError) as err:
        read_wide_batch(f)
    assert err.value.line == 3 and err.value.column == "DO2 [mg/L]"
    assert "utf-8" in str(err.value)


def test_empty_and_truncated_files(tmp_path):
    with pytest.raises(DataError, match="empty file"):
        read_wide_batch(_write(tmp_path, "e.csv", ""))
    data = gzip.compress((HEADER + "".join(f"{i},7,6\n" for i in range(5000))).encode())
    f = tmp_path / "t.csv.gz"
    f.write_bytes(data[: len(data) // 2])
    with pytest.raises(DataError, match="truncated") as err:
        read_wide_batch(f)
    assert err.value.line is not None and err.value.line > 2
    p = tmp_path / "t.parquet"
    pq.write_table(pa.table({"time_h": [0.0, 1.0], "pH [-]": [7.0, 7.1]}), p)
    p.write_bytes(p.read_bytes()[:-20])
    with pytest.raises(DataError, match="Parquet"):
        read_wide_batch(p)


def test_parquet_nan_names_row_and_column(tmp_path):
    p = tmp_path / "n.parquet"
    pq.write_table(pa.table({"time_h": [0.0, 1.0, 2.0], "pH [-]": [7.0, float("nan"), 7.1]}), p)
    with pytest.raises(DataError) as err:
        read_wide_batch(p)
    assert err.value.line == 2 and err.value.column == "pH [-]"


def test_quarantine_keeps_good_rows(tmp_path):
    f = _write(tmp_path, "q.csv", HEADER + "0,7,6\n1,x,6\n2,7,6\n1.5,7,6\n3,7,\n")
    b = read_wide_batch(f, quarantine=True)
    assert [(r.line, r.column) for r in b.rejections] == [(3, "pH [-]"), (5, "time_h")]
    ts = b.timeseries.to_pandas()
    assert sorted(set(ts.time_h)) == [0.0, 2.0, 3.0]
    assert len(ts) == 5  # the empty DO2 cell at 3 h is a missing value, not an error


def test_batch_id_from_path():
    assert batch_id_from_path(Path("a/B-17.csv.gz")) == "B-17"
    assert batch_id_from_path(Path("B-17.parquet")) == "B-17"


@settings(max_examples=30, deadline=None)
@given(st.lists(st.floats(-1e6, 1e6, allow_nan=False), min_size=1, max_size=30))
def test_round_trip_values(tmp_path_factory, values):
    tmp = tmp_path_factory.mktemp("rt")
    text = "time_h,V [L]\n" + "".join(f"{i},{v!r}\n" for i, v in enumerate(values))
    ts = read_wide_batch(_write(tmp, "rt.csv", text)).timeseries
    assert ts["value"].to_pylist() == values


@pytest.mark.parametrize("sep", [";", "\t", "|"])
def test_other_separators_and_decimal_commas_read_as_the_comma_file(tmp_path, sep):
    rows = [(i * 0.5, 7 + i / 100, 6 - i / 10) for i in range(20)]
    ref = read_wide_batch(_write(tmp_path, "A.csv", HEADER + "".join(f"{t},{p},{d}\n" for t, p, d in rows)))
    head = HEADER.replace(",", sep)
    point = head + "".join(f"{t}{sep}{p}{sep}{d}\n" for t, p, d in rows)
    comma = point.replace(".", ",") if sep != "," else point
    for name, text in (("A.csv", point), ("A.csv.gz", comma)):
        b = read_wide_batch(_write(tmp_path, name, text))
        assert b.timeseries.drop(["time_h"]).equals(ref.timeseries.drop(["time_h"]))
        np.testing.assert_allclose(b.timeseries["time_h"].to_numpy(), ref.timeseries["time_h"].to_numpy())


def test_decimal_comma_file_names_a_bad_cell_and_quarantines_it(tmp_path):
    text = "time_h;pH [-];DO2 [mg/L]\n0;7,01;6\n0,5;7,02;x\n1;1.234,5;6\n1,5;7,03;5,9\n"
    f = _write(tmp_path, "dc.csv", text)
    with pytest.raises(DataError) as err:
        read_wide_batch(f)
    assert err.value.line == 3 and err.value.column == "DO2 [mg/L]"
    b = read_wide_batch(f, quarantine=True)
    assert [(r.line, r.column) for r in b.rejections] == [(3, "DO2 [mg/L]"), (4, "pH [-]")]
    assert "ambiguous" in b.rejections[1].reason
    ts = b.timeseries.to_pandas()
    np.testing.assert_allclose(ts[ts.tag == "pH"].value, [7.01, 7.03])


def test_a_time_column_named_with_its_unit_as_a_suffix_is_read_in_that_unit(tmp_path):
    # it used to be read as timestamps and refused ("cannot read timestamp '0'")
    f = _write(tmp_path, "M.csv", "time_min,pH [-]\n0,7\n30,7.1\n60,7.2\n")
    ts = read_wide_batch(f, time_col="time_min").timeseries.to_pandas()
    np.testing.assert_allclose(ts.time_h, [0.0, 0.5, 1.0])


def test_an_xlsx_workbook_reads_as_the_csv_and_names_the_spreadsheet_row_of_a_bad_cell(tmp_path):
    import pandas as pd

    text = HEADER + "".join(f"{i * 0.1:.1f},{7 + i / 100},{6 - i / 10}\n" for i in range(20))
    a = read_wide_batch(_write(tmp_path, "W.csv", text)).timeseries
    frame = pd.read_csv(tmp_path / "W.csv")
    with pd.ExcelWriter(tmp_path / "W.xlsx") as book:
        frame.to_excel(book, sheet_name="Run W", index=False)
        pd.DataFrame().to_excel(book, sheet_name="empty")
    bundle = read_wide_batch(tmp_path / "W.xlsx")
    assert bundle.batches[0].batch_id == "W"
    b = bundle.timeseries
    assert a.drop(["time_h"]).equals(b.drop(["time_h"]))
    np.testing.assert_allclose(a["time_h"].to_numpy(), b["time_h"].to_numpy())
    # a text cell in a numeric column: named by sheet, spreadsheet row and column
    bad = frame.astype({"pH [-]": object})
    bad.loc[4, "pH [-]"] = "n.a."
    bad.to_excel(tmp_path / "bad.xlsx", sheet_name="Run W", index=False)
    with pytest.raises(DataError, match=r"bad.xlsx \(sheet 'Run W'; line = spreadsheet row\), line 6, "
                                        r"column 'pH \[-\]'.*non-numeric"):
        read_wide_batch(tmp_path / "bad.xlsx")
    # timestamps typed as dates in the sheet
    stamped = pd.DataFrame({"timestamp": pd.date_range("2024-01-01", periods=3, freq="30min"),
                            "pH [-]": [7.0, 7.1, 7.2]})
    stamped.to_excel(tmp_path / "ts.xlsx", index=False)
    assert str(read_wide_batch(tmp_path / "ts.xlsx").batches[0].start_utc) == "2024-01-01 00:00:00+00:00"
    # a workbook of several batches is refused by name
    with pd.ExcelWriter(tmp_path / "two.xlsx") as book:
        frame.to_excel(book, sheet_name="A", index=False)
        frame.to_excel(book, sheet_name="B", index=False)
    with pytest.raises(DataError, match=r"two.xlsx.*2 non-empty sheets \('A', 'B'\)"):
        read_wide_batch(tmp_path / "two.xlsx")

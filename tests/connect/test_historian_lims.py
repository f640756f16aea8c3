"""Long historian exports and LIMS sample tables, into a lake."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from biotwin.connect import (
    import_sample_files,
    import_timeseries_files,
    read_historian,
    read_lims_samples,
)
from biotwin.errors import DataError
from biotwin.lake import Lake

PI = """timestamp,tag,value,quality,unit
2024-03-01T08:00:00Z,pH,7.02,Good,-
2024-03-01T08:00:00Z,DO2,6.91,Good,mg/L
2024-03-01T09:00:00Z,pH,7.00,Uncertain,-
2024-03-01T09:00:00Z,DO2,0.00650,192,g/L
2024-03-01T10:30:00+01:00,pH,6.98,Bad,-
"""


def test_historian_culture_time_quality_and_units(tmp_path):
    f = tmp_path / "BR01-B7.csv"
    f.write_text(PI)
    lake = Lake(tmp_path / "lake")
    (r,) = import_timeseries_files(lake, [f], unit="BR01")
    assert r.n_points == 5 and r.batches == ["BR01-B7"]
    ph = lake.trajectory("BR01-B7", "pH")
    np.testing.assert_allclose(ph["time_h"], [0.0, 1.0, 1.5])
    do2 = lake.trajectory("BR01-B7", "DO2")
    np.testing.assert_allclose(do2["value"], [6.91, 6.5])  # g/L -> the tag's mg/L
    q = lake.sql("SELECT quality FROM timeseries WHERE tag = 'pH' ORDER BY time_h")
    assert q["quality"].to_pylist() == [192, 64, 0]
    (b,) = lake.batches()
    assert b["start"] == "2024-03-01T08:00:00.000000Z"
    assert import_timeseries_files(lake, [f])[0].n_points == 0


@pytest.mark.parametrize(("line", "column", "words"), [
    ("2024-03-01T09:00:00Z,pH,seven,Good,-", "value", "non-numeric"),
    ("yesterday,pH,7,Good,-", "timestamp", "ISO 8601"),
    ("2024-03-01T07:00:00Z,pH,7,Good,-", "timestamp", "earlier"),
    ("2024-03-01T08:00:00Z,pH,7.1,Good,-", "timestamp", "duplicated"),
    ("2024-03-01T09:00:00Z,pH,7,Splendid,-", "quality", "unknown quality"),
    ("2024-03-01T09:00:00Z,pH,7,Good,blorbs", "unit", "unknown unit"),
    ("2024-03-01T09:00:00Z,pH,7", None, "expected 5 fields"),
])
def test_historian_bad_rows(tmp_path, line, column, words):
    f = tmp_path / "h.csv"
    f.write_text("timestamp,tag,value,quality,unit\n2024-03-01T08:00:00Z,pH,7,Good,-\n" + line + "\n")
    with pytest.raises(DataError) as err:
        read_historian(f)
    assert err.value.line == 3 and words in str(err.value)
    if column:
        assert err.value.column == column
    b = read_historian(f, quarantine=True)
    assert len(b.rejections) == 1 and b.timeseries.num_rows == 1


LIMS = """batch_id,assay,value,unit,sample_time,result_time,method,lims_id
B1,Glc,1.80156,g/L,2024-03-01T08:00:00Z,2024-03-01T09:00:00Z,YSI,L-1
B1,Glc,5.0,mM,2024-03-02T08:00:00Z,,YSI,L-2
B1,titer,0.5,g/L,2024-03-02T08:00:00Z,,HPLC,L-3
B2,Xv,2.0,1e6 cells/mL,2024-03-05T08:00:00Z,,Vi-CELL,L-4
"""


def test_lims_samples_units_and_culture_time(tmp_path):
    f = tmp_path / "lims.csv"
    f.write_text(LIMS)
    lake = Lake(tmp_path / "lake")
    (r,) = import_sample_files(lake, [f])
    assert r.n_samples == 4
    s = lake.samples("B1", "Glc")
    np.testing.assert_allclose(s["value"], [10.0, 5.0])
    assert list(s["unit"]) == ["mM", "mM"] and list(s["sample_time_h"]) == [0.0, 24.0]
    assert list(s["lims_id"]) == ["L-1", "L-2"]
    xv = lake.samples("B2", "Xv")
    assert xv["value"].iloc[0] == pytest.approx(2e9) and xv["unit"].iloc[0] == "cells/L"
    assert import_sample_files(lake, [f])[0].n_samples == 0
    g = tmp_path / "lims2.csv"
    g.write_text(LIMS.replace("5.0,mM", "6.0,mM"))
    with pytest.raises(DataError, match="conflicts"):
        import_sample_files(lake, [g])
    assert len(lake.samples()) == 4


def test_lims_bad_rows(tmp_path):
    f = tmp_path / "lims.csv"
    f.write_text(LIMS.replace("B2,Xv,2.0", "B2,Xv,abc"))
    with pytest.raises(DataError) as err:
        read_lims_samples(f)
    assert err.value.line == 5 and err.value.column == "value"
    f.write_text("batch_id,assay,value\nB1,Glc,1\n")
    with pytest.raises(DataError, match="missing column"):
        read_lims_samples(f)


def _semicolon_decimal_comma(text: str) -> str:
    """The same export as a spreadsheet in a decimal-comma locale writes it."""
    return "\n".join(line.replace(",", ";").replace(".", ",") for line in text.splitlines()) + "\n"


def test_semicolon_and_decimal_comma_exports_read_as_the_comma_ones(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir()
    b.mkdir()
    (a / "BR01-B7.csv").write_text(PI)
    (b / "BR01-B7.csv").write_text(_semicolon_decimal_comma(PI))
    ref, got = read_historian(a / "BR01-B7.csv"), read_historian(b / "BR01-B7.csv")
    pd.testing.assert_frame_equal(got.timeseries.to_pandas(), ref.timeseries.to_pandas())
    (a / "lims.csv").write_text(LIMS)
    (b / "lims.csv").write_text(_semicolon_decimal_comma(LIMS))
    ref_s, got_s = read_lims_samples(a / "lims.csv").samples, read_lims_samples(b / "lims.csv").samples
    np.testing.assert_allclose(got_s["value"], ref_s["value"])
    assert list(got_s["unit"]) == list(ref_s["unit"])
    # a value with a point and a comma in such a file is refused, named by line and column
    bad = b / "bad.csv"
    bad.write_text("timestamp;tag;value\n2024-03-01T08:00:00Z;pH;7,02\n2024-03-01T09:00:00Z;pH;1.007,5\n")
    with pytest.raises(DataError) as err:
        read_historian(bad)
    assert err.value.line == 3 and err.value.column == "value" and "ambiguous" in str(err.value)

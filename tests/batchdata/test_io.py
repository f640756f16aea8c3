"""Reading generic wide batch files: separators, decimal marks, rows sharing a time."""

import gzip
import re
import warnings

import numpy as np
import pandas as pd
import pytest

from biotwin.batchdata.io import (
    TIME_SOURCE,
    input_columns,
    read_batch,
    read_batches,
    stacked_batches,
    to_file_rows,
    warn_unknown,
)
from biotwin.errors import DataError


def test_semicolon_and_decimal_comma_with_minutes(tmp_path):
    path = tmp_path / "run7.csv"
    path.write_text("Time (min);pH [-];OD600 [-]\n0;7,01;\n30;7,02;0,5\n60;6,99;1,25\n")
    frame = read_batch(path)
    np.testing.assert_allclose(frame["time_h"], [0.0, 0.5, 1.0])
    np.testing.assert_allclose(frame["pH [-]"], [7.01, 7.02, 6.99])
    np.testing.assert_allclose(frame["OD600 [-]"], [np.nan, 0.5, 1.25])


def test_tab_separated_gzip(tmp_path):
    path = tmp_path / "run8.csv.gz"
    with gzip.open(path, "wt") as fh:
        fh.write("time_h\tpO2 [%]\n0\t100.0\n2\t81.5\n")
    np.testing.assert_allclose(read_batch(path)["pO2 [%]"], [100.0, 81.5])


def test_online_and_assay_rows_at_the_same_time_are_merged(tmp_path):
    # an export that writes the assay on its own row at the sample time loses nothing
    path = tmp_path / "run9.csv"
    path.write_text("time_h,pH [-],titre [mg/L]\n0,7.0,\n1,7.1,\n1,,55\n2,7.2,\n")
    frame = read_batch(path)
    assert len(frame) == 3
    np.testing.assert_allclose(frame["pH [-]"], [7.0, 7.1, 7.2])
    np.testing.assert_allclose(frame["titre [mg/L]"], [np.nan, 55.0, np.nan])


def test_conflicting_values_at_one_time_warn_naming_file_column_and_time(tmp_path):
    path = tmp_path / "run10.csv"
    path.write_text("time_h,pH [-]\n0,7.0\n1,7.1\n1,7.3\n")
    with pytest.warns(UserWarning, match=r"run10.csv: column 'pH \[-\]' .* 1 h"):
        frame = read_batch(path)
    np.testing.assert_allclose(frame["pH [-]"], [7.0, 7.3])


def test_single_column_file_names_the_file(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text("pH\n7.0\n7.1\n")
    with pytest.raises(DataError, match=r"bad\.csv"):
        read_batch(path)


def test_header_only_file_names_the_file(tmp_path):
    path = tmp_path / "empty.csv"
    path.write_text("time_h,pH [-]\n")
    with pytest.raises(DataError, match=r"empty\.csv: batch has no rows"):
        read_batch(path)


def test_batch_identifiers_are_not_inputs():
    import pandas as pd

    from biotwin.batchdata.io import input_columns

    t = np.arange(5.0)
    frames = [pd.DataFrame({"time_h": t, "Batch ref": float(k + 101), "T_set [C]": 30.0 + (k % 2),
                            "pH [-]": 7 + 0.01 * t * k}) for k in range(4)]
    # one integer per batch, different in every batch: an identifier; a setpoint that repeats is kept
    assert input_columns(frames, []) == ["T_set [C]", "pH [-]"]
    assert input_columns(frames[:2], []) == ["Batch ref", "T_set [C]", "pH [-]"]  # too few batches to tell


def test_non_numeric_values_in_a_numeric_column_are_reported(tmp_path):
    path = tmp_path / "run11.csv"
    path.write_text("time_h,titre [mg/L],operator\n0,<LOQ,ann\n1,12.5,bob\n2,20.1,ann\n")
    expected = r"run11.csv: column 'titre \[mg/L\]' holds 1 non-numeric .*'<LOQ' on data row 1"
    with pytest.warns(UserWarning, match=expected):
        frame = read_batch(path)
    np.testing.assert_allclose(frame["titre [mg/L]"], [np.nan, 12.5, 20.1])
    assert "operator" not in frame  # a text column is not a variable


def test_an_infinite_reading_is_read_as_missing_with_a_warning(tmp_path):
    # an overflow code ("inf") from a historian export: a bad reading, not a value that would
    # turn every running integral after it infinite
    path = tmp_path / "run12.csv"
    path.write_text("time_h,T [degC],pH [-]\n0,37.0,7.0\n1,inf,7.1\n2,37.1,-inf\n3,37.0,7.0\n")
    with pytest.warns(UserWarning) as caught:
        frame = read_batch(path)
    said = [str(w.message) for w in caught]
    assert any(re.search(r"run12.csv: column 'T \[degC\]' holds 1 infinite value\(s\), read as missing "
                         r"\(first on data row 2\)", m) for m in said)
    assert any("column 'pH [-]' holds 1 infinite value(s), read as missing (first on data row 3)" in m for m in said)
    np.testing.assert_allclose(frame["T [degC]"], [37.0, np.nan, 37.1, 37.0])
    np.testing.assert_allclose(frame["pH [-]"], [7.0, 7.1, np.nan, 7.0])


def test_a_row_without_a_time_is_left_out_with_a_warning(tmp_path):
    path = tmp_path / "run13.csv"
    path.write_text("time_h,pH [-]\n0,7.0\n,7.1\n2,7.2\n")
    with pytest.warns(UserWarning, match=r"run13.csv: 1 row\(s\) without a time in 'time_h' are left out "
                                         r"\(first on data row 2\)"):
        frame = read_batch(path)
    np.testing.assert_allclose(frame["pH [-]"], [7.0, 7.2])


def test_a_file_whose_time_starts_again_is_refused_not_merged(tmp_path):
    t = np.arange(40) * 0.5
    one = pd.DataFrame({"time_h": t, "pH [-]": 7.0 - 0.01 * t, "DO [%]": 50.0 + t})
    two = one.assign(**{"pH [-]": 6.8 - 0.01 * t})
    path = tmp_path / "two_runs.csv"
    pd.concat([one, two]).to_csv(path, index=False)
    # sorted by time, the second batch's rows would overwrite the first's at every time
    with pytest.raises(DataError, match=r"two_runs.csv.*time starts again at data row 41 \(19.5 -> 0 h\) over the "
                                        r"span of rows 1-40.*split the file or add a batch column"):
        read_batch(path)
    with pytest.raises(DataError, match="time starts again"):
        read_batches([path])
    # rows out of order, a duplicated row, assays appended at the end: one batch, as before
    shuffled = tmp_path / "shuffled.csv"
    one.sample(frac=1.0, random_state=0).to_csv(shuffled, index=False)
    assert len(read_batch(shuffled)) == 40
    dup = tmp_path / "dup.csv"
    pd.concat([one, one.iloc[[10]]]).to_csv(dup, index=False)
    assert len(read_batch(dup)) == 40
    assays = tmp_path / "assays.csv"
    late = pd.DataFrame({"time_h": [2.0, 6.0, 12.0], "titre [mg/L]": [1.0, 3.0, 9.0]})
    pd.concat([one, late]).to_csv(assays, index=False)
    assert read_batch(assays)["titre [mg/L]"].notna().sum() == 3


def test_a_time_column_named_otherwise_than_at_fit_is_found_with_a_warning(tmp_path):
    # a model remembers its training files' time column; a later export writes timestamps
    p = tmp_path / "later.csv"
    p.write_text("Timestamp,pH [-]\n2026-03-01T08:00:00Z,7.0\n2026-03-01T08:15:00Z,6.9\n")
    with pytest.raises(DataError, match="no time column 'Process time \\[min\\]'"):
        read_batch(p, "Process time [min]")
    with pytest.warns(UserWarning, match="reading time from 'Timestamp'"):
        f = read_batch(p, "Process time [min]", fallback=True)
    assert np.allclose(f["time_h"], [0.0, 0.25])
    # a file with no time column at all is still refused by name
    q = tmp_path / "none.csv"
    q.write_text("pH [-],DO [%]\n7.0,40\n6.9,41\n")
    with pytest.raises(DataError, match=r"none\.csv"):
        read_batch(q, "Process time [min]", fallback=True)


def test_an_exclude_that_names_no_column_is_warned_with_the_nearest_header():
    frames = [pd.DataFrame({"time_h": [0.0, 1.0], "titre [mg/L]": [1.0, 2.0], "pH [-]": [7.0, 7.1]})]
    with pytest.warns(UserWarning, match=r"'Titre \[mg/l\]' names no column.*did you mean 'titre \[mg/L\]'"):
        warn_unknown(frames, ["Titre [mg/l]", "pH [-]"])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        warn_unknown(frames, ["pH [-]", "titre [mg/L]"])  # all present: silent


def test_an_exclude_that_names_a_text_column_of_the_files_is_not_warned_as_unknown(tmp_path):
    # a batch label or phase name is read and left out (not a variable); excluding it by name
    # is no mistake, and the warning "names no column of the batches" would be false
    p = tmp_path / "b1.csv"
    p.write_text("Charge;Zeit [h];pH [-];Phase\nB1;0,0;7,0;Anzucht\nB1;0,5;6,9;Produktion\n")
    f = read_batch(p, "Zeit [h]")
    assert "Charge" not in f.columns and "Phase" not in f.columns
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        warn_unknown([f], ["Charge", "Phase"])
    with pytest.warns(UserWarning, match="'Charg' names no column"):
        warn_unknown([f], ["Charg"])  # a misspelt name is still warned


def test_a_column_only_some_training_batches_have_is_left_out_with_a_warning_naming_them():
    t = np.arange(5.0)
    full = [pd.DataFrame({"time_h": t, "pH [-]": 7 + 0.01 * t + k, "DO [%]": 40 - t + k}) for k in range(3)]
    truth = pd.DataFrame({"time_h": t, "pH [-]": 7 + 0.02 * t})  # an assay export among the online files
    with pytest.warns(UserWarning, match=r"1 column\(s\) not in every one of the 4 training batches.*"
                                         r"'DO \[%\]' \(not in run3_truth\)"):
        cols = input_columns([*full, truth], [], ids=["run0", "run1", "run2", "run3_truth"])
    assert cols == ["pH [-]"]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert input_columns(full, []) == ["pH [-]", "DO [%]"]  # all alike: no warning


def _stacked(ids: list, rows: int = 12) -> pd.DataFrame:
    """Batches one after the other in one table, each with its own clock from 0 h."""
    parts = []
    for k, b in enumerate(ids):
        t = np.arange(rows) * 0.5
        parts.append(pd.DataFrame({"Time (h)": t, "pH(pH:pH)": 6.5 + 0.01 * k + 0.001 * t,
                                   "Batch ID": b, "OD [-]": np.where(t % 2 == 0, 1.0 + k + t, np.nan)}))
    return pd.concat(parts, ignore_index=True)


def test_a_file_stacking_several_batches_is_split_by_its_batch_column(tmp_path):
    f = tmp_path / "all.csv"
    table = _stacked([101, 102, 205])
    table.to_csv(f, index=False)
    data = read_batches([f])
    assert data.ids == ["all:101", "all:102", "all:205"]
    for k, frame in enumerate(data.frames):
        block = table.iloc[12 * k:12 * (k + 1)]
        np.testing.assert_allclose(frame["time_h"], block["Time (h)"])
        np.testing.assert_allclose(frame["pH(pH:pH)"], block["pH(pH:pH)"])  # nothing merged across batches
        np.testing.assert_allclose(frame["OD [-]"], block["OD [-]"])
    # text ids work too, and a command that takes one batch refuses the file by name
    g = tmp_path / "text.csv"
    _stacked(["B-1", "B-2"]).to_csv(g, index=False)
    assert read_batches([g]).ids == ["text:B-1", "text:B-2"]
    with pytest.raises(DataError, match=r"holds 2 batches \(column 'Batch ID': B-1, B-2"):
        read_batch(g)


def test_a_phase_column_or_assays_appended_at_the_end_keep_one_batch():
    t = np.arange(20) * 0.5
    phases = pd.DataFrame({"time_h": t, "phase": np.repeat([1, 2, 3, 4], 5), "pH": 6.5 + 0.0 * t})
    assert stacked_batches(phases) is None  # time runs on across the phase boundaries
    appended = pd.concat([phases, pd.DataFrame({"time_h": [2.0, 6.0], "phase": [1, 2], "titre": [0.1, 0.3]})],
                         ignore_index=True)
    assert stacked_batches(appended) is None  # an assay row written at the end goes back in time only


def test_id_ranks_follow_the_natural_order_of_the_ids_not_the_listing():
    from biotwin.batchdata.io import id_ranks

    # digit runs compare as numbers (B9 before B10); a repeated id keeps the order listed
    assert id_ranks(["B10", "B9", "A2", "B9"]).tolist() == [3, 1, 0, 2]
    ids = [f"run{i}" for i in (7, 12, 3, 100, 1)]
    perm = [3, 0, 4, 2, 1]
    ranks = id_ranks(ids)
    assert id_ranks([ids[i] for i in perm]).tolist() == [int(ranks[i]) for i in perm]


@pytest.mark.parametrize("header, factor", [("time_min", 1 / 60), ("EFT_s", 1 / 3600), ("age_d", 24.0),
                                            ("batch_time_hrs", 1.0), ("Zeit [min]", 1 / 60), ("time", 1.0)])
def test_a_time_column_named_with_its_unit_as_a_suffix_is_read_in_that_unit(tmp_path, header, factor):
    # "time_min" read as hours would stretch the batch 60-fold without a word
    p = tmp_path / "b.csv"
    p.write_text(f"{header},pH [-]\n0,7.0\n30,7.1\n60,7.2\n")
    f = read_batch(p, header)
    np.testing.assert_allclose(f["time_h"], np.array([0.0, 30.0, 60.0]) * factor)
    if header == "time_min":  # found by name as well
        np.testing.assert_allclose(read_batch(p)["time_h"], [0.0, 0.5, 1.0])


def test_a_workbook_of_one_sheet_reads_as_the_same_csv_would(tmp_path):
    t = np.arange(0, 6, 0.5)
    table = pd.DataFrame({"Process time [min]": t * 60, "pH [-]": 7 + 0.01 * t,
                          "OD600 [-]": np.where(t % 2 == 0, 1 + t, np.nan), "operator": "A"})
    table.to_csv(tmp_path / "r1.csv", index=False)
    with pd.ExcelWriter(tmp_path / "r1.xlsx") as book:
        table.to_excel(book, sheet_name="Run 1", index=False)
        pd.DataFrame().to_excel(book, sheet_name="empty")  # an empty sheet is no batch and no warning
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        frame = read_batch(tmp_path / "r1.xlsx")
    pd.testing.assert_frame_equal(frame, read_batch(tmp_path / "r1.csv"))
    assert read_batches([tmp_path / "r1.xlsx"]).ids == ["r1"]
    # timestamps written by the spreadsheet as dates
    stamped = table.drop(columns="Process time [min]").assign(
        Timestamp=pd.Timestamp("2026-03-01 08:00") + pd.to_timedelta(t, unit="h"))
    stamped.to_excel(tmp_path / "r2.xlsx", index=False)
    np.testing.assert_allclose(read_batch(tmp_path / "r2.xlsx")["time_h"], t)


def test_a_workbook_with_a_sheet_per_batch_gives_one_batch_per_sheet(tmp_path):
    t = np.arange(0, 4, 0.5)
    path = tmp_path / "campaign.xlsx"
    with pd.ExcelWriter(path) as book:
        for k in (1, 2):
            pd.DataFrame({"EFT [h]": t, "pH [-]": 7 + 0.1 * k + 0 * t}).to_excel(book, sheet_name=f"B{k}", index=False)
        pd.DataFrame({"note": ["probe recalibrated"]}).to_excel(book, sheet_name="notes", index=False)
    with pytest.warns(UserWarning, match="sheets without a time column not read: 'notes'"):
        data = read_batches([path])
    assert data.ids == ["campaign:B1", "campaign:B2"]
    np.testing.assert_allclose([f["pH [-]"].iloc[0] for f in data.frames], [7.1, 7.2])
    # a command that takes one batch refuses the workbook, naming its batch sheets
    with pytest.raises(DataError, match=r"campaign.xlsx.*holds 2 sheets with a time column \('B1', 'B2'\)"), \
            pytest.warns(UserWarning):
        read_batch(path)


def test_an_unreadable_workbook_is_refused_naming_the_file(tmp_path):
    bad = tmp_path / "run.xlsx"
    bad.write_text("time_h,pH\n0,7\n")  # a CSV file named .xlsx
    with pytest.raises(DataError, match=r"run.xlsx: cannot read batch file"):
        read_batch(bad)
    old = tmp_path / "run.xls"
    old.write_bytes(b"\xd0\xcf\x11\xe0")
    with pytest.raises(DataError, match=r"run.xls: cannot read .xls workbooks; save the file as .xlsx"):
        read_batches([old])
    notes = tmp_path / "notes.xlsx"
    with pd.ExcelWriter(notes) as book:
        pd.DataFrame({"note": ["a"]}).to_excel(book, sheet_name="a", index=False)
        pd.DataFrame({"comment": ["b"]}).to_excel(book, sheet_name="b", index=False)
    with pytest.raises(DataError, match=r"no sheet of the workbook has a time column \(sheets: 'a', 'b'\)"):
        read_batch(notes)


@pytest.mark.parametrize("header, values", [
    ("Zeitstempel", ["01.11.2026 23:45:00", "02.11.2026 00:00:00", "02.11.2026 23:45:00"]),  # day first
    ("Date/Time", ["01/11/2026 23:45", "02/11/2026 00:00", "02/11/2026 23:45"]),  # UK, day first
    ("Date/Time", ["11/01/2026 11:45 PM", "11/02/2026 12:00 AM", "11/02/2026 11:45 PM"]),  # US, month first
    ("Elapsed time", ["23:45:00", "24:00:00", "47:45:00"]),  # a duration past 24 h
    ("Duration", ["0 days 23:45:00", "1 days 00:00:00", "1 days 23:45:00"]),
    ("Culture age [d]", [23.75 / 24, 1.0, 47.75 / 24]),
])
def test_time_written_as_local_dates_or_durations_is_read_in_hours(tmp_path, header, values):
    path = tmp_path / "run.csv"
    pd.DataFrame({header: values, "pH [-]": [7.0, 7.1, 7.2]}).to_csv(path, index=False)
    frame = read_batch(path)
    np.testing.assert_allclose(frame["time_h"] - frame["time_h"].iloc[0], [0.0, 0.25, 24.0], atol=1e-9)


def test_a_time_column_of_words_is_refused_naming_what_it_can_read(tmp_path):
    path = tmp_path / "run.csv"
    path.write_text("time_h,pH [-]\nstart,7.0\nmiddle,7.1\n")
    with pytest.raises(DataError, match=r"run.csv.*'time_h'.*neither numbers, timestamps nor durations"):
        read_batch(path)


def test_a_units_row_under_the_header_is_no_data_and_gives_the_time_its_unit(tmp_path):
    plain = tmp_path / "units.csv"
    plain.write_text("Time,pH,DO,Feed\nh,-,%,L\n0,7.0,40,0\n0.25,7.1,39,0.1\n24,7.2,30,2\n")
    frame = read_batch(plain)
    assert list(frame.columns) == ["time_h", "pH", "DO", "Feed"]  # named as the header, which users quote
    assert frame.attrs["units_row"] == {"Time": "h", "pH": "-", "DO": "%", "Feed": "L"}
    np.testing.assert_allclose(frame["time_h"], [0.0, 0.25, 24.0])
    np.testing.assert_allclose(frame["Feed"], [0.0, 0.1, 2.0])
    minutes = tmp_path / "units_min.csv"  # the time unit on the units row is applied; decimal commas
    minutes.write_text("Zeit;pH;pO2\n[min];[-];[%]\n0;7,0;40\n15;7,1;39\n1440;7,2;30\n")
    frame = read_batch(minutes, time_col="Zeit")
    np.testing.assert_allclose(frame["time_h"], [0.0, 0.25, 24.0])
    np.testing.assert_allclose(frame["pH"], [7.0, 7.1, 7.2])
    # a workbook with a units row, read as the CSV is
    pd.DataFrame({"Zeit": ["[min]", 0, 15, 1440], "pH": ["[-]", 7.0, 7.1, 7.2]}).to_excel(
        tmp_path / "units.xlsx", index=False)
    np.testing.assert_allclose(read_batch(tmp_path / "units.xlsx")["time_h"], [0.0, 0.25, 24.0])
    # a first row of data with empty cells (an assay on its own row) is not a units row
    assay = tmp_path / "assay.csv"
    assay.write_text("time_h,pH [-],titre [g/L]\n0,,0.1\n1,7.1,\n2,7.2,0.3\n")
    np.testing.assert_allclose(read_batch(assay)["titre [g/L]"], [0.1, np.nan, 0.3])


def test_numbers_with_thousands_separators_are_read_not_dropped(tmp_path):
    comma = tmp_path / "a.csv"
    comma.write_text('time_h,Stirrer [rpm],Weight [kg]\n0,"1,200.5",980\n1,950,"1,001"\n')
    frame = read_batch(comma)
    np.testing.assert_allclose(frame["Stirrer [rpm]"], [1200.5, 950.0])
    np.testing.assert_allclose(frame["Weight [kg]"], [980.0, 1001.0])
    semi = tmp_path / "b.csv"
    semi.write_text("time_h;Stirrer [rpm]\n0;1.200,5\n1;950,25\n")
    np.testing.assert_allclose(read_batch(semi)["Stirrer [rpm]"], [1200.5, 950.25])


def test_lines_before_the_header_are_skipped_with_a_warning(tmp_path):
    path = tmp_path / "report.csv"
    path.write_text("Batch report B-17\nExported 2026-11-28 by QA\n\ntime_h;pH [-]\n0;7,0\n1;7,1\n2;7,2\n")
    with pytest.warns(UserWarning, match=r"report.csv: 3 line\(s\) before the header on line 4 skipped"):
        frame = read_batch(path)
    np.testing.assert_allclose(frame["pH [-]"], [7.0, 7.1, 7.2])


def test_a_separator_at_the_end_of_each_row_does_not_shift_the_columns(tmp_path):
    path = tmp_path / "trailing.csv"
    path.write_text("time_h;pH [-];DO [%]\n0;7,0;40;\n1;7,1;39;\n")
    frame = read_batch(path)
    np.testing.assert_allclose(frame["time_h"], [0.0, 1.0])
    np.testing.assert_allclose(frame["pH [-]"], [7.0, 7.1])
    np.testing.assert_allclose(frame["DO [%]"], [40.0, 39.0])


def test_a_written_row_number_is_not_an_input(tmp_path):
    frames = []
    for k, n in enumerate((12, 20, 16)):
        t = np.arange(n) * (0.25 if k else 0.5)
        pd.DataFrame({"time_h": t, "pH [-]": 7 + 0.01 * np.sin(t + k), "count [-]": np.arange(n)}).to_csv(
            tmp_path / f"b{k}.csv")  # pandas writes its row labels as an unnamed first column
        frames.append(read_batch(tmp_path / f"b{k}.csv"))
    assert "Unnamed: 0" in frames[0]
    # a measured count that happens to go up in ones is kept: only a row label's name qualifies
    assert input_columns(frames, []) == ["pH [-]", "count [-]"]


def test_windows_1252_and_utf16_exports_are_read_with_their_names(tmp_path):
    latin = tmp_path / "latin.csv"
    latin.write_bytes("Zeit [h];Temperatur [°C];Leitfähigkeit [µS/cm]\n0;37,0;12\n1;37,1;13\n".encode("cp1252"))
    with pytest.warns(UserWarning, match="latin.csv: not UTF-8; read as Windows-1252"):
        frame = read_batch(latin)
    np.testing.assert_allclose(frame["Temperatur [°C]"], [37.0, 37.1])
    np.testing.assert_allclose(frame["Leitfähigkeit [µS/cm]"], [12.0, 13.0])
    wide = tmp_path / "unicode.txt"  # a spreadsheet's "Unicode text": UTF-16, tab separated
    wide.write_bytes("Zeit [h]\tTemperatur [°C]\n0\t37,0\n1\t37,1\n".encode("utf-16"))
    np.testing.assert_allclose(read_batch(wide)["Temperatur [°C]"], [37.0, 37.1])


def test_a_result_per_frame_row_is_given_back_per_row_of_the_file(tmp_path):
    path = tmp_path / "run.csv"
    path.write_text("time_h,pH [-],titre [g/L]\n1,7.1,\n0,7.0,\n1,,0.4\n,7.3,\n2,7.2,\n")
    frame = read_batch(path)
    assert list(frame["time_h"]) == [0.0, 1.0, 2.0]
    result = pd.DataFrame({"time_h": frame["time_h"], "value": [10.0, 11.0, 12.0], "ok": [True, True, True]})
    rows = to_file_rows(result, frame)
    np.testing.assert_allclose(rows["time_h"], [1.0, 0.0, 1.0, np.nan, 2.0])
    np.testing.assert_allclose(rows["value"], [11.0, 10.0, 11.0, np.nan, 12.0])
    assert list(rows["ok"]) == [True, True, True, False, True]
    # a frame made in memory, not read from a file, is its own rows
    assert to_file_rows(result, pd.DataFrame({"time_h": [0.0, 1.0, 2.0]})) is result


def test_a_repeated_header_is_warned(tmp_path):
    path = tmp_path / "dup.csv"
    path.write_text("time_h,pH [-],pH [-]\n0,7.0,7.1\n1,7.0,7.2\n")
    with pytest.warns(UserWarning, match=r"dup.csv: 1 header\(s\) repeat an earlier one .*'pH \[-\]\.1'"):
        frame = read_batch(path)
    np.testing.assert_allclose(frame["pH [-].1"], [7.1, 7.2])  # read, not lost


def test_a_time_column_without_a_unit(tmp_path):
    # read as hours, and said so; a column named by its unit takes that unit
    short = tmp_path / "short.csv"
    short.write_text("Time,pH [-]\n" + "".join(f"{0.25 * i},{7 + 0.01 * (i % 3)}\n" for i in range(200)))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        frame = read_batch(short)
    assert frame["time_h"].iloc[-1] == pytest.approx(49.75)
    assert frame.attrs[TIME_SOURCE]["read_as"] == "numbers with no unit, read as h"
    named = tmp_path / "named.csv"
    named.write_text("Minutes,pH [-]\n" + "".join(f"{15 * i},{7 + 0.01 * (i % 3)}\n" for i in range(200)))
    assert read_batch(named)["time_h"].iloc[-1] == pytest.approx(49.75)
    # minutes in a column without a unit: read as hours they span 124 days, and the reader says so,
    # naming the file and the column (a 1-h alarm delay would otherwise read as 60 h)
    long = tmp_path / "long.csv"
    long.write_text("Time,pH [-]\n" + "".join(f"{15 * i},{7 + 0.01 * (i % 3)}\n" for i in range(200)))
    with pytest.warns(UserWarning, match=r"long\.csv: time column 'Time' gives no unit.*2985 h.*'Time \[min\]'"):
        frame = read_batch(long)
    assert frame["time_h"].iloc[-1] == pytest.approx(2985.0)  # warned, not altered


def test_column_roles_read_every_batch_for_a_constant_or_empty_column():
    from biotwin.batchdata.io import column_roles

    t = np.arange(5.0)
    a = pd.DataFrame({"time_h": t, "T [C]": 37.0, "pH [-]": np.nan, "feed [mL]": t, "O2 [%]": 21.0})
    b = pd.DataFrame({"time_h": t, "T [C]": 36.0, "pH [-]": np.nan, "feed [mL]": t, "O2 [%]": 21.0})
    roles = column_roles([a, b])
    # constant within each batch but not over them: an input; no finite value: empty
    assert roles == {"T [C]": "input", "pH [-]": "constant_or_empty", "feed [mL]": "input",
                     "O2 [%]": "constant_or_empty"}
    # a name twice in one batch: judged over both of its columns
    c = pd.concat([a[["time_h", "O2 [%]"]], pd.Series(t, name="O2 [%]")], axis=1)
    assert column_roles([c, a[["time_h", "O2 [%]"]]]) == {"O2 [%]": "input"}

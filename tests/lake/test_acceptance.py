"""The issue's acceptance points, through the CLI."""

from __future__ import annotations

import json

import duckdb
import numpy as np

from biotwin.datasets import MEASURED_STATES, load_culture


def test_cho_import_twice_gives_identical_batches(cli, cho_dir):
    code, _, err = cli("import", "cho-dataset", str(cho_dir))
    assert code == 0, err
    first = cli.json("batches")
    code, _, err = cli("import", "cho-dataset", str(cho_dir))
    assert code == 0, err
    assert cli.json("batches") == first
    assert len(first) == 6
    for row in first:
        assert {"batch_id", "n_points", "n_samples", "start", "end"} <= set(row)


def test_every_measurement_is_present_with_its_unit(cli, cho_dir):
    cli("import", "cho-dataset", str(cho_dir))
    samples = cli.json("samples")
    by_key = {(s["batch_id"], s["assay"], s["sample_time_h"]): s for s in samples}
    n_expected = 0
    for folder in sorted(p for p in cho_dir.iterdir() if (p / "measurements.csv").is_file()):
        m = load_culture(folder).measurements
        for col in m.columns:
            if col == "time_h" or col.endswith("_std"):
                continue
            for t, v in zip(m["time_h"], m[col], strict=True):
                if np.isnan(v):
                    continue
                n_expected += 1
                s = by_key[(folder.name, col, t)]
                assert s["value"] == v
                if col in MEASURED_STATES:
                    assert s["unit"] == MEASURED_STATES[col]
    assert len(samples) == n_expected


def test_wide_file_with_a_non_numeric_cell_is_refused_whole(cli, tmp_path):
    good = tmp_path / "B001.csv"
    good.write_text("time_h,pH [-],DO2 [mg/L]\n0,7.0,6.9\n1,7.0,6.8\n")
    assert cli("import", "batch", str(good))[0] == 0
    before = cli.json("batches")
    bad = tmp_path / "B002.csv"
    bad.write_text("time_h,pH [-],DO2 [mg/L]\n0,7.0,6.9\n1,7.0,6.8\n2,seven,6.7\n3,7.1,6.6\n")
    code, _, err = cli("import", "batch", str(bad))
    assert code != 0
    assert "line 4" in err and "pH [-]" in err and "B002.csv" in err
    assert cli.json("batches") == before


def test_batches_and_query_json(cli, tmp_path):
    f = tmp_path / "run7.csv"
    f.write_text("time_h,pH [-],DO2 [mg/L]\n0,7.0,6.9\n0.5,7.1,\n1,7.2,6.8\n")
    assert cli("import", "batch", str(f), "--unit", "BR01")[0] == 0
    (row,) = cli.json("batches")
    assert row["batch_id"] == "run7" and row["n_points"] == 5 and row["n_samples"] == 0
    assert cli.json("query", "--batch", "run7", "--tag", "pH") == {
        "time_h": [0.0, 0.5, 1.0], "value": [7.0, 7.1, 7.2]}
    assert cli.json("query", "--batch", "run7", "--tag", "DO2") == {
        "time_h": [0.0, 1.0], "value": [6.9, 6.8]}
    assert cli.json("query", "--batch", "run7", "--tag", "pH", "--every", "1") == {
        "time_h": [0.0, 1.0], "value": [7.05, 7.2]}


def test_batch_id_and_time_col_options(cli, tmp_path):
    f = tmp_path / "export.csv"
    f.write_text("t [min],Temp [degF]\n0,98.6\n30,96.8\n")
    code, _, err = cli("import", "batch", str(f), "--batch-id", "B9", "--time-col", "t [min]")
    assert code == 0, err
    traj = cli.json("query", "--batch", "B9", "--tag", "Temp")
    assert traj["time_h"] == [0.0, 0.5]
    np.testing.assert_allclose(traj["value"], [98.6, 96.8])


def test_quarantine_keeps_good_rows_and_reasons(cli, tmp_path):
    f = tmp_path / "B3.csv"
    f.write_text("time_h,pH [-]\n0,7.0\n1,abc\n2,7.2\n2,7.3\n3,nan\n4,7.4\n")
    code, _, err = cli("import", "batch", str(f), "--quarantine")
    assert code == 0, err
    assert cli.json("query", "--batch", "B3", "--tag", "pH")["value"] == [7.0, 7.2, 7.4]
    q = cli.json("lake", "quarantine")
    assert [r["line"] for r in q] == [3, 5, 6]
    assert all(r["reason"] for r in q)


def test_sql_for_power_users(cli, cho_dir):
    cli("import", "cho-dataset", str(cho_dir))
    rows = cli.json("sql", "SELECT count(DISTINCT batch_id) AS n FROM samples")
    assert rows == [{"n": 6}]
    code, out, _ = cli("sql", "SELECT count(*) AS n FROM timeseries")
    assert code == 0 and "0" in out
    code, _, err = cli("sql", "DELETE FROM samples")
    assert code != 0 and "error" in err


def test_audit_verify_and_tampering_is_detected(cli, lake_dir, cho_dir, tmp_path):
    cli("import", "cho-dataset", str(cho_dir))
    code, out, _ = cli("audit", "verify")
    assert code == 0 and "OK" in out
    con = duckdb.connect(str(lake_dir / "catalog.duckdb"))
    n = con.execute("SELECT count(*) FROM audit").fetchall()[0][0]
    assert n > 5
    con.execute("UPDATE audit SET why = 'nothing to see' WHERE seq = 4")
    con.close()
    code, _, err = cli("audit", "verify")
    assert code == 1
    assert "row 4" in err
    code, out, _ = cli("audit", "verify", "--json")
    assert code == 1
    assert json.loads(out) == {
        "ok": False, "n_rows": n, "bad_seq": 4,
        "reason": "row 4: content does not match its hash (edited)"}

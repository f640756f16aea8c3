"""The lake's Python API: idempotency, conflicts, units, unfolding, records, migrations."""

from __future__ import annotations

import duckdb
import numpy as np
import pandas as pd
import pytest

from biotwin.connect import import_batch_files, import_timeseries_files
from biotwin.errors import DataError
from biotwin.lake import Lake, resample
from biotwin.lake.schema import MIGRATIONS, Migration, current_version, migrate


def _wide(tmp_path, name, text):
    f = tmp_path / name
    f.write_text(text)
    return f


def test_empty_lake_reads_empty_without_creating_files(tmp_path):
    lake = Lake(tmp_path / "nothing")
    assert lake.batches() == [] and len(lake.samples()) == 0
    assert not (tmp_path / "nothing").exists()


def test_extending_a_batch_and_refusing_conflicts(tmp_path):
    lake = Lake(tmp_path / "lake")
    import_batch_files(lake, [_wide(tmp_path, "B.csv", "time_h,pH [-]\n0,7\n1,7.1\n")])
    more = _wide(tmp_path, "B2.csv", "time_h,pH [-]\n1,7.1\n2,7.2\n")
    (r,) = import_batch_files(lake, [more], batch_id="B")
    assert r.n_points == 1
    assert lake.trajectory("B", "pH")["value"].tolist() == [7.0, 7.1, 7.2]
    clash = _wide(tmp_path, "B3.csv", "time_h,pH [-]\n2,6.5\n3,7.3\n")
    with pytest.raises(DataError, match="conflicts with the stored value"):
        import_batch_files(lake, [clash], batch_id="B")
    assert lake.batches()[0]["n_points"] == 3
    (r,) = import_batch_files(lake, [clash], batch_id="B", quarantine=True)
    assert r.n_points == 1 and r.n_rejected == 1
    assert lake.trajectory("B", "pH")["value"].tolist() == [7.0, 7.1, 7.2, 7.3]


def test_values_are_converted_to_the_stored_tag_unit(tmp_path):
    lake = Lake(tmp_path / "lake")
    import_batch_files(lake, [_wide(tmp_path, "A.csv", "time_h,DO2 [mg/L]\n0,7\n")])
    import_batch_files(lake, [_wide(tmp_path, "C.csv", "time_h,DO2 [g/L]\n0,0.0065\n")])
    assert lake.trajectory("C", "DO2")["value"].tolist() == pytest.approx([6.5])
    with pytest.raises(DataError, match="cannot convert"):
        import_batch_files(lake, [_wide(tmp_path, "D.csv", "time_h,DO2 [h]\n0,1\n")])


def test_unfold_batch_time_variable(tmp_path):
    lake = Lake(tmp_path / "lake")
    for i in range(3):
        text = "time_h,pH [-],T [degC]\n" + "".join(
            f"{t},{7 + i / 10 + t / 100},{36.5 - t / 10}\n" for t in range(0, 10 + i))
        import_batch_files(lake, [_wide(tmp_path, f"U{i}.csv", text)])
    u = lake.unfold(["pH", "T"], np.arange(0.0, 11.5, 0.5))
    assert u.values.shape == (3, 23, 2)
    assert u.batch_ids == ["U0", "U1", "U2"]
    assert u.values[0, 2, 0] == pytest.approx(7.01)
    assert np.isnan(u.values[0, -1, 0]) and not np.isnan(u.values[2, 20, 0])
    assert u.batchwise().shape == (3, 46)


def test_resample_bins():
    t, v = resample(np.array([0.0, 0.4, 1.2, 3.0]), np.array([1.0, 3.0, 5.0, 7.0]), 1.0)
    assert t.tolist() == [0.0, 1.0, 3.0] and v.tolist() == [2.0, 5.0, 7.0]


def test_update_batch_and_records_are_audited(tmp_path):
    lake = Lake(tmp_path / "lake", who="alice")
    import_batch_files(lake, [_wide(tmp_path, "P.csv", "time_h,pH [-]\n0,7\n")])
    lake.update_batch("P", status="released", why="QA review done")
    assert lake.batches()[0]["status"] == "released"
    pred = pd.DataFrame({"model_id": ["cho"], "model_version": ["1.0"], "batch_id": ["P"],
                         "target": ["mAb"], "time_h": [24.0], "value": [100.0],
                         "lower": [90.0], "upper": [110.0], "unit": ["mg/L"]})
    assert lake.add_records("predictions", pred, why="twin forecast") == 1
    assert lake.add_records("predictions", pred, why="twin forecast") == 0
    alarm = pd.DataFrame({"batch_id": ["P"], "tag": ["pH"], "time_h": [0.0],
                          "severity": ["high"], "message": ["pH high"]})
    assert lake.add_records("alarms", alarm, why="monitor") == 1
    audit = lake.sql("SELECT who, action, entity, why, old_value, new_value FROM audit "
                     "WHERE entity = 'batches' AND action = 'update'").to_pylist()
    assert audit == [{"who": "alice", "action": "update", "entity": "batches",
                      "why": "QA review done", "old_value": '{"status":"complete"}',
                      "new_value": '{"status":"released"}'}]
    assert lake.verify_audit().ok


def test_migrations_apply_once_and_in_order(tmp_path):
    con = duckdb.connect(str(tmp_path / "c.duckdb"))
    n = len(MIGRATIONS)
    assert migrate(con) == list(range(1, n + 1))
    assert migrate(con) == []
    extra = (*MIGRATIONS, Migration(n + 1, "add a column", "ALTER TABLE batches ADD COLUMN site VARCHAR"))
    assert migrate(con, extra) == [n + 1]
    assert current_version(con) == n + 1
    bad = (*extra, Migration(n + 2, "broken", "ALTER TABLE nope ADD COLUMN x INT"))
    with pytest.raises(duckdb.Error):
        migrate(con, bad)
    assert current_version(con) == n + 1


def test_orphan_files_are_cleaned_by_the_next_writer(tmp_path):
    lake_dir = tmp_path / "lake"
    import_batch_files(Lake(lake_dir), [_wide(tmp_path, "O.csv", "time_h,pH [-]\n0,7\n")])
    orphan = lake_dir / "timeseries" / "unit=x" / "batch=y" / "part-dead.parquet"
    orphan.parent.mkdir(parents=True)
    orphan.write_bytes(b"half")
    (lake_dir / "_tmp").mkdir(exist_ok=True)
    (lake_dir / "_tmp" / "abc.part").write_bytes(b"half")
    lake = Lake(lake_dir)
    assert lake.sql("SELECT count(*) AS n FROM timeseries").to_pylist() == [{"n": 1}]
    import_batch_files(lake, [_wide(tmp_path, "O2.csv", "time_h,pH [-]\n0,7\n")])
    assert not orphan.exists() and not list((lake_dir / "_tmp").iterdir())


def test_timeseries_keeps_culture_time_of_existing_batch(tmp_path):
    lake = Lake(tmp_path / "lake")
    a = _wide(tmp_path, "H.csv", "timestamp,tag,value\n2024-01-01T00:00:00Z,pH,7\n"
              "2024-01-01T02:00:00Z,pH,7.1\n")
    b = _wide(tmp_path, "H2.csv", "timestamp,tag,value\n2024-01-01T03:00:00Z,pH,7.2\n")
    import_timeseries_files(lake, [a])
    import_timeseries_files(lake, [b], batch_id="H")
    assert lake.trajectory("H", "pH")["time_h"].tolist() == [0.0, 2.0, 3.0]

"""Streamed appends: exactly once without re-reading files, one file per write, compaction."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from biotwin.errors import DataError
from biotwin.lake import Batch, Lake, Tag
from biotwin.lake.records import TIMESERIES_SCHEMA, Equipment
from biotwin.lake.stream import StreamIndex


def _frame(batches, tags, times, offset=0.0):
    rows = [(b, t, float(x), 7.0 + x + offset) for b in batches for t in tags for x in times]
    return pa.table({
        "batch_id": [r[0] for r in rows], "tag": [r[1] for r in rows],
        "time_h": [r[2] for r in rows], "time_utc": [None] * len(rows),
        "value": [r[3] for r in rows], "quality": [192] * len(rows)}, schema=TIMESERIES_SCHEMA)


def _ctx(batches):
    return {"source": "test", "batches": [Batch(b, unit_id=f"U{b}", status="running") for b in batches],
            "tags": [Tag("pH", "-"), Tag("DO", "%")],
            "equipment": [Equipment(f"U{b}", "unit", "bioreactor") for b in batches]}


def _counts(lake):
    return {b["batch_id"]: b["n_points"] for b in lake.batches()}


def test_index_classifies_and_evicts():
    idx = StreamIndex(0, floors={"B": 0.5})
    g = idx.groups(np.array(["B"] * 3), np.array(["pH"] * 3))
    new, conflict, unknown, _ = idx.classify(g, np.array([0.5, 1.0, 2.0]), np.array([1.0, 1.0, 2.0]))
    assert unknown.tolist() == [True, False, False] and new.tolist() == [False, True, True]
    idx.add(g[1:], np.array([1.0, 2.0]), np.array([1.0, 2.0]), keep=2)
    g2 = idx.groups(np.array(["B"] * 3), np.array(["pH"] * 3))
    new, conflict, unknown, stored = idx.classify(g2, np.array([1.0, 2.0, 3.0]), np.array([1.0, 9.0, 3.0]))
    assert new.tolist() == [False, False, True] and conflict.tolist() == [False, True, False]
    assert stored[1] == 2.0 and not unknown.any()
    idx.add(g2[2:], np.array([3.0]), np.array([3.0]), keep=2)  # evicts the chunk of 1.0, 2.0
    assert idx.classify(g2[:1], np.array([2.0]), np.array([2.0]))[2].tolist() == [True]


def test_one_file_per_write_exactly_once_and_one_audit_row(tmp_path):
    lake = Lake(tmp_path / "lake")
    ids = ["B1", "B2", "B3"]
    r = lake.append_timeseries(_frame(ids, ["pH", "DO"], range(5)), **_ctx(ids))
    assert r.n_points == 30 and len(r.files) == 1 and r.files[0].startswith("stream/date=")
    audit_before = lake.sql("SELECT count(*) AS n FROM audit").to_pylist()[0]["n"]
    # Overlapping write: 0-4 again plus 5-9; only 5-9 are new.
    r = lake.append_timeseries(_frame(ids, ["pH", "DO"], range(10)), **_ctx(ids))
    assert r.n_points == 30
    audit_after = lake.sql("SELECT count(*) AS n FROM audit").to_pylist()[0]["n"]
    assert audit_after == audit_before + 1  # one row per write, not per value or batch
    assert _counts(lake) == {"B1": 20, "B2": 20, "B3": 20}
    assert lake.trajectory("B2", "pH")["time_h"].tolist() == list(map(float, range(10)))
    assert lake.sql("SELECT count(*) AS n FROM timeseries").to_pylist()[0]["n"] == 60
    assert lake.verify_audit(check_files=True).ok


def test_restart_rechecks_old_values_against_the_files(tmp_path):
    ids = ["B1", "B2"]
    Lake(tmp_path / "lake").append_timeseries(_frame(ids, ["pH"], range(10)), **_ctx(ids))
    lake = Lake(tmp_path / "lake")  # a new process: empty index
    r = lake.append_timeseries(_frame(ids, ["pH"], range(5, 15)), **_ctx(ids))
    assert r.n_points == 10 and _counts(lake) == {"B1": 15, "B2": 15}
    r = lake.append_timeseries(_frame(ids, ["pH"], range(3, 8), offset=1.0), **_ctx(ids))
    assert r.n_points == 0 and r.n_rejected == 10
    assert len(lake.quarantine()) == 10
    with pytest.raises(DataError, match="conflicts"):
        lake.append_timeseries(_frame(ids, ["pH"], [12], offset=1.0), quarantine=False, **_ctx(ids))


def test_another_writer_invalidates_the_index(tmp_path):
    a, b = Lake(tmp_path / "lake"), Lake(tmp_path / "lake")
    a.append_timeseries(_frame(["B1"], ["pH"], range(5)), **_ctx(["B1"]))
    b.append_timeseries(_frame(["B1"], ["pH"], range(5, 10)), **_ctx(["B1"]))
    assert a.append_timeseries(_frame(["B1"], ["pH"], range(10)), **_ctx(["B1"])).n_points == 0
    assert _counts(a) == {"B1": 10}


def test_compaction_is_invisible_to_readers(tmp_path):
    lake = Lake(tmp_path / "lake")
    ids = ["B1", "B2"]
    for i in range(4):
        lake.append_timeseries(_frame(ids, ["pH", "DO"], range(i * 5, i * 5 + 5)), **_ctx(ids))
    before = (_counts(lake), lake.trajectory("B1", "DO")["value"].tolist(),
              lake.sql("SELECT sum(value) AS s FROM timeseries").to_pylist())
    out = lake.compact()
    assert out == {"batches": 2, "files_replaced": 8, "rows": 80, "deleted": 0}
    after = (_counts(lake), lake.trajectory("B1", "DO")["value"].tolist(),
             lake.sql("SELECT sum(value) AS s FROM timeseries").to_pylist())
    assert after == before
    paths = lake.sql("SELECT path FROM timeseries_files").column("path").to_pylist()
    assert len(paths) == 2 and all(p.startswith("timeseries/unit=") for p in paths)
    # Still exactly once after compaction (the index is kept), and again in a new process.
    assert lake.append_timeseries(_frame(ids, ["pH", "DO"], range(25)), **_ctx(ids)).n_points == 20
    assert Lake(tmp_path / "lake").append_timeseries(
        _frame(ids, ["pH", "DO"], range(25)), **_ctx(ids)).n_points == 0
    assert lake.compact()["deleted"] == 4  # the first compaction's stream files
    assert not list((tmp_path / "lake" / "stream").rglob("part-*.parquet"))[:-1]
    assert _counts(lake) == {"B1": 50, "B2": 50}
    assert lake.verify_audit(check_files=True).ok


def test_ingest_after_stream_reads_only_its_batch(tmp_path):
    from biotwin.lake import Bundle

    lake = Lake(tmp_path / "lake")
    lake.append_timeseries(_frame(["B1", "B2"], ["pH"], range(5)), **_ctx(["B1", "B2"]))
    ts = _frame(["B1"], ["pH"], range(3, 8))
    r = lake.ingest(Bundle("file", "timeseries", batches=[Batch("B1")], tags=[Tag("pH", "-")], timeseries=ts))
    assert r.n_points == 3 and _counts(lake) == {"B1": 8, "B2": 5}


def test_partial_compaction_keeps_counts_and_sql_exact(tmp_path):
    lake = Lake(tmp_path / "lake")
    ids = ["B1", "B2", "B3"]
    for i in range(3):
        lake.append_timeseries(_frame(ids, ["pH"], range(i * 4, i * 4 + 4)), **_ctx(ids))
        lake.compact(max_batches=1)  # each round leaves the stream files partly listed
    lake.compact(max_batches=2)
    lake.compact(max_batches=1)
    assert _counts(lake) == {"B1": 12, "B2": 12, "B3": 12}
    row = lake.sql("SELECT count(*) AS n, count(DISTINCT (batch_id, tag, time_h)) AS d "
                   "FROM timeseries").to_pylist()[0]
    assert row == {"n": 36, "d": 36}
    assert lake.trajectory("B3", "pH")["time_h"].tolist() == list(map(float, range(12)))


def test_a_streamed_batch_reads_back_as_a_wide_frame(tmp_path):
    # two batches in the same stream files, each tag logged at its own times (an OPC UA ingest)
    lake = Lake(tmp_path / "lake")
    ids = ["B1", "B2"]
    lake.append_timeseries(_frame(ids, ["pH"], range(4)), **_ctx(ids))
    lake.append_timeseries(_frame(ids, ["DO"], [0.5, 1.5, 2.5], offset=10.0), **_ctx(ids))
    lake.append_timeseries(_frame(["B2"], ["pH"], [4.0, 5.0]), **_ctx(["B2"]))  # B2 runs on, B1 does not
    f = lake.batch_frame("B1")
    assert list(f.columns) == ["time_h", "DO [%]", "pH [-]"]
    np.testing.assert_allclose(f["time_h"], [0.0, 0.5, 1.0, 1.5, 2.0, 2.5, 3.0])
    np.testing.assert_allclose(f["pH [-]"], [7.0, np.nan, 8.0, np.nan, 9.0, np.nan, 10.0])
    np.testing.assert_allclose(f["DO [%]"], [np.nan, 17.5, np.nan, 18.5, np.nan, 19.5, np.nan])
    # on shared rows: each tag's mean over 1-h bins, labelled by their start
    g = lake.batch_frame("B1", every_h=1.0)
    np.testing.assert_allclose(g["time_h"], [0.0, 1.0, 2.0, 3.0])
    np.testing.assert_allclose(g["DO [%]"], [17.5, 18.5, 19.5, np.nan])
    assert lake.batch_frame("B2")["time_h"].iloc[-1] == 5.0
    with pytest.raises(DataError, match="unknown batch 'B9'"):
        lake.batch_frame("B9")

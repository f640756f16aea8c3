"""The same lake layout on S3-compatible object storage (moto's S3 server on loopback),
and readable without biotwin (plain pyarrow / DuckDB)."""

from __future__ import annotations

import duckdb
import numpy as np
import pyarrow.dataset as pads
import pyarrow.fs as pafs
import pytest

from biotwin.connect import import_batch_files, import_cultures
from biotwin.lake import Lake

CSV = "time_h,pH [-],DO2 [mg/L]\n0,7.0,6.9\n0.5,7.1,6.8\n1,7.2,6.7\n"


@pytest.fixture
def s3(monkeypatch):
    moto_server = pytest.importorskip("moto.server")
    boto3 = pytest.importorskip("boto3")
    for k, v in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                 "AWS_DEFAULT_REGION": "us-east-1", "AWS_EC2_METADATA_DISABLED": "true"}.items():
        monkeypatch.setenv(k, v)
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    boto3.client("s3", endpoint_url=f"http://{host}:{port}",
                 region_name="us-east-1").create_bucket(Bucket="plant")
    yield f"{host}:{port}"
    server.stop()


@pytest.mark.integration
def test_lake_on_s3_round_trip_and_external_readers(s3, tmp_path, cho_dir):
    f = tmp_path / "B1.csv"
    f.write_text(CSV)
    uri = f"s3://plant/lake?endpoint_override={s3}&scheme=http&region=us-east-1"
    lake = Lake(uri, catalog=tmp_path / "catalog.duckdb")
    (r,) = import_batch_files(lake, [f], unit="BR01")
    assert r.n_points == 6
    import_cultures(lake, cho_dir / "kotidis2019_flask_T127")
    assert import_batch_files(lake, [f], unit="BR01")[0].n_points == 0
    np.testing.assert_allclose(lake.trajectory("B1", "DO2")["value"], [6.9, 6.8, 6.7])
    assert {b["batch_id"] for b in lake.batches()} == {"B1", "kotidis2019_flask_T127"}
    assert lake.verify_audit(check_files=True).ok

    # Without biotwin: pyarrow reads the time series and the catalog snapshots from S3.
    fs = pafs.S3FileSystem(endpoint_override=s3, scheme="http", region="us-east-1")
    ts = pads.dataset("plant/lake/timeseries", filesystem=fs, format="parquet",
                      partitioning="hive")
    table = ts.to_table()
    assert table.num_rows == 6
    assert set(table.column_names) >= {"batch_id", "tag", "time_h", "value", "unit", "batch"}
    batches = pads.dataset("plant/lake/catalog/batches.parquet", filesystem=fs).to_table()
    assert sorted(batches["batch_id"].to_pylist()) == ["B1", "kotidis2019_flask_T127"]
    samples = pads.dataset("plant/lake/catalog/samples.parquet", filesystem=fs).to_table()
    assert samples.num_rows == 113
    con = duckdb.connect()
    con.register("ts", ts)
    assert con.execute("SELECT avg(value) FROM ts WHERE tag = 'pH'").fetchall()[0][0] == \
        pytest.approx(7.1)


def test_local_lake_is_readable_by_plain_duckdb(tmp_path):
    f = tmp_path / "B2.csv"
    f.write_text(CSV)
    lake_dir = tmp_path / "lake"
    import_batch_files(Lake(lake_dir), [f])
    con = duckdb.connect()
    rows = con.execute(
        f"SELECT batch_id, tag, count(*) FROM read_parquet('{lake_dir}/timeseries/**/*.parquet',"
        " hive_partitioning = true) GROUP BY ALL ORDER BY ALL").fetchall()
    assert rows == [("B2", "DO2", 3), ("B2", "pH", 3)]
    con.execute(f"ATTACH '{lake_dir}/catalog.duckdb' AS cat (READ_ONLY)")
    assert con.execute("SELECT batch_id FROM cat.batches").fetchall() == [("B2",)]
    snap = con.execute(f"SELECT count(*) FROM '{lake_dir}/catalog/tags.parquet'").fetchall()
    assert snap == [(2,)]

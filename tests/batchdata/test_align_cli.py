"""`biotwin align`: batches of different lengths on one axis, written unfolded."""

import json

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from biotwin.batchdata import read_batches
from biotwin.batchdata.align import align_batches
from biotwin.cli import _register, app, expand_multi_values
from biotwin.monitoring.synthetic import frames, monod_campaign

OFFLINE = ["biomass [g/L]", "product [g/L]", "glucose [g/L]"]


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp("align")
    paths = []
    for i, f in enumerate(frames(monod_campaign(4, seed=2))):  # batches of different lengths
        paths.append(root / f"A{i}.csv")
        f.to_csv(paths[-1], index=False)
    return root, paths


def _align(*args):
    _register()
    return CliRunner().invoke(app, expand_multi_values(["align", *args]))


def test_observationwise_rows_are_each_batch_at_each_point_of_the_axis(files):
    root, paths = files
    out = root / "obs.csv"
    r = _align("--batches", *map(str, paths), "--exclude", *OFFLINE, "--n-points", "25", "--out", str(out), "--json")
    assert r.exit_code == 0, r.output
    s = json.loads(r.stdout)
    data = read_batches(paths)
    assert len({len(f) for f in data.frames}) > 1  # the batches differ in length
    X, grid = align_batches(data.frames, s["variables"], n_points=25)
    t = pd.read_csv(out)
    assert s["shape"] == list(t.shape) == [4 * 25, 2 + len(s["variables"])]
    assert list(t.columns[:2]) == ["batch_id", "time_h"] and not set(OFFLINE) & set(t.columns)
    assert list(t["batch_id"]) == [f"A{i}" for i in range(4) for _ in range(25)]
    np.testing.assert_allclose(t["time_h"][:25], grid)
    # row b * n_points + k is batch b at point k
    np.testing.assert_allclose(t[s["variables"]].to_numpy()[2 * 25 + 7], X[2, 7])
    assert s["axis_range"] == [pytest.approx(grid[0]), pytest.approx(grid[-1])]
    assert grid[-1] == pytest.approx(min(f["time_h"].iloc[-1] for f in data.frames))


def test_batchwise_columns_are_each_variable_at_each_point_on_an_indicator(files):
    root, paths = files
    out = root / "bw.parquet"
    r = _align("--batches", *map(str, paths), "--by", "OUR [mmol/L/h]", "--cumulative", "--variables", "DOT [%]",
               "--variables", "temp [degC]", "--n-points", "10", "--unfold", "batchwise", "--out", str(out), "--json")
    assert r.exit_code == 0, r.output
    s = json.loads(r.stdout)
    assert s["axis"] == "cum(OUR [mmol/L/h])" and s["variables"] == ["DOT [%]", "temp [degC]"]
    t = pd.read_parquet(out)
    assert t.shape == (4, 1 + 10 * 2)
    X, grid = align_batches(read_batches(paths).frames, ["DOT [%]", "temp [degC]"], n_points=10,
                            by="OUR [mmol/L/h]", cumulative=True)
    # variables fastest: column 1 + k * n_variables + j is variable j at point k
    assert t.columns[1 + 3 * 2 + 1] == f"temp [degC] @ {grid[3]:.6g}"
    np.testing.assert_allclose(t.iloc[:, 1:].to_numpy(), X.reshape(4, -1))


def test_dtw_and_refusals(files):
    root, paths = files
    r = _align("--batches", *map(str, paths), "--method", "dtw", "--variables", "OUR [mmol/L/h]",
               "--out", str(root / "dtw.csv"))
    assert r.exit_code == 0, r.output
    assert len(pd.read_csv(root / "dtw.csv")) == 4 * 100
    for args, said in ((["--unfold", "sideways"], "--unfold must be"), (["--method", "warp"], "--method must be"),
                       (["--method", "dtw", "--by", "OUR [mmol/L/h]"], "give --by only with --method interp"),
                       (["--by", "stirrer [rpm]"], "'A0' has no column 'stirrer [rpm]'"),
                       (["--variables", "pH"], "not a numeric column of every batch: ['pH']"),
                       (["--n-points", "1"], "--n-points must be 2 or more")):
        r = _align("--batches", *map(str, paths), *args, "--out", str(root / "x.csv"))
        assert r.exit_code == 2 and said in r.output, (args, r.output)
    r = _align("--batches", *map(str, paths), "--out", str(root / "x.txt"))
    assert r.exit_code == 2 and ".csv or .parquet" in r.output

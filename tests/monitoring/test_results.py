"""Results to the lake through the console: predictions, alarms and golden-band excursions."""

import json

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from biotwin.cli import _register, app, expand_multi_values
from biotwin.lake import Lake
from biotwin.monitoring.synthetic import MONOD_FAULTS, frames, monod_campaign

OFFLINE = ["biomass [g/L]", "product [g/L]", "glucose [g/L]"]


def _run(runner, args):
    res = runner.invoke(app, expand_multi_values(args))
    assert res.exit_code == 0, res.output
    return res


def _write_batches(root, n, *, fault_seed, fault_name):
    """``n`` normal Monod batches as M00.csv ... (their paths) and a feed-stop batch as ``fault_name``."""
    paths = []
    for i, f in enumerate(frames(monod_campaign(n, seed=5))):
        p = root / f"M{i:02d}.csv"
        f.to_csv(p, index=False)
        paths.append(str(p))
    faulty = next(b for b in monod_campaign(4, faults=MONOD_FAULTS, seed=fault_seed) if b.fault == "feed_stop")
    faulty.frame.to_csv(root / fault_name, index=False)
    return paths


def _count(lake_dir, query):
    return int(Lake(lake_dir).sql(query).to_pandas().iloc[0, 0])


@pytest.fixture(scope="module")
def fitted(tmp_path_factory):
    _register()
    root = tmp_path_factory.mktemp("results")
    runner = CliRunner()
    paths = _write_batches(root, 16, fault_seed=6, fault_name="fault.csv")
    _run(runner, ["softsensor", "fit", "--batches", *paths, "--target", "product [g/L]", "--exclude", "biomass [g/L]",
                  "glucose [g/L]", "--candidates", "pls,ridge", "--out", str(root / "ss.bt")])
    _run(runner, ["monitor", "fit", "--batches", *paths, "--exclude", *OFFLINE, "--out", str(root / "mon.bt")])
    _run(runner, ["monitor", "golden", "--batches", *paths, "--quality", "product [g/L]", "--exclude", "biomass [g/L]",
                  "glucose [g/L]", "--out", str(root / "gold.bt")])
    return root, runner


def test_predictions_alarms_and_excursions_reach_the_lake_once(fitted):
    root, runner = fitted
    lake = str(root / "lake")
    batch = str(root / "fault.csv")
    pred = json.loads(_run(runner, ["--lake", lake, "softsensor", "predict", "--model", str(root / "ss.bt"),
                                    "--batch", batch, "--json", "--to-lake"]).stdout)
    score = json.loads(_run(runner, ["--lake", lake, "monitor", "score", "--monitor", str(root / "mon.bt"),
                                     "--batch", batch, "--json", "--to-lake"]).stdout)
    gold = json.loads(_run(runner, ["--lake", lake, "monitor", "golden-score", "--envelope", str(root / "gold.bt"),
                                    "--batch", batch, "--json", "--to-lake"]).stdout)
    assert score["alarms"] and gold["excursions"]
    n_pred = _count(lake, "SELECT count(*) FROM predictions WHERE batch_id = 'fault.csv' AND target = 'product'")
    assert n_pred == len(pred["time_h"])
    n_alarm = _count(lake, "SELECT count(*) FROM alarms WHERE batch_id = 'fault.csv'")
    assert n_alarm == len({(next(iter(a["contributions"])), a["time_h"]) for a in score["alarms"]})
    ev = Lake(lake).events("fault.csv", "golden_excursion")
    assert len(ev) == len(gold["excursions"])
    first = gold["excursions"][0]
    row = ev[(ev["name"] == first["variable"]) & (ev["time_h"] == first["from_h"])].iloc[0]
    assert row["end_h"] == first["to_h"] and row["unit"] == "sd"
    assert json.loads(row["description"]) == {"side": first["side"], "rows": first["rows"],
                                              "worst_h": first["worst_h"], "envelope": "gold"}
    # the same results again add nothing
    for args in (["softsensor", "predict", "--model", str(root / "ss.bt")],
                 ["monitor", "score", "--monitor", str(root / "mon.bt")],
                 ["monitor", "golden-score", "--envelope", str(root / "gold.bt")]):
        _run(runner, ["--lake", lake, *args, "--batch", batch, "--to-lake"])
    assert _count(lake, "SELECT count(*) FROM predictions WHERE batch_id = 'fault.csv'") == n_pred
    assert _count(lake, "SELECT count(*) FROM alarms WHERE batch_id = 'fault.csv'") == n_alarm
    assert len(Lake(lake).events("fault.csv", "golden_excursion")) == len(gold["excursions"])


def test_models_fit_on_lake_batches_as_on_their_files(tmp_path):
    """--lake-batches / --lake-batch read the batches the lake holds as the files they came from."""
    _register()
    runner = CliRunner()
    lake = str(tmp_path / "lake")
    paths = _write_batches(tmp_path, 12, fault_seed=3, fault_name="F00.csv")
    _run(runner, ["--lake", lake, "import", "batch", *paths, str(tmp_path / "F00.csv")])
    frame = Lake(lake).batch_frame("M00")
    original = frames(monod_campaign(12, seed=5))[0]
    assert sorted(frame.columns) == sorted(original.columns)
    pd.testing.assert_frame_equal(frame[original.columns], original, check_exact=False, rtol=1e-12)
    assert len(Lake(lake).batch_frame("M00", every_h=1.0)) < len(frame)
    fit = ["softsensor", "fit", "--target", "product [g/L]", "--exclude", "biomass [g/L]", "glucose [g/L]",
           "--candidates", "pls,ridge"]
    _run(runner, [*fit, "--batches", *paths, "--out", str(tmp_path / "files.bt")])
    _run(runner, ["--lake", lake, *fit, "--lake-batches", "M*", "--out", str(tmp_path / "lake.bt")])
    assert json.loads((tmp_path / "lake.bt.json").read_text())["batches"] == [f"M{i:02d}" for i in range(12)]
    by_file = json.loads(_run(runner, ["softsensor", "predict", "--model", str(tmp_path / "files.bt"), "--batch",
                                       str(tmp_path / "F00.csv"), "--json"]).stdout)
    by_lake = json.loads(_run(runner, ["--lake", lake, "softsensor", "predict", "--model", str(tmp_path / "lake.bt"),
                                       "--lake-batch", "F00", "--json"]).stdout)
    np.testing.assert_allclose(by_lake["prediction"], by_file["prediction"], rtol=1e-9, atol=1e-9)
    mon = ["monitor", "fit", "--exclude", *OFFLINE]
    _run(runner, [*mon, "--batches", *paths, "--out", str(tmp_path / "mf.bt")])
    _run(runner, ["--lake", lake, *mon, "--lake-batches", "M0*", "M1*", "--out", str(tmp_path / "ml.bt")])
    a = json.loads(_run(runner, ["monitor", "score", "--monitor", str(tmp_path / "mf.bt"), "--batch",
                                 str(tmp_path / "F00.csv"), "--json"]).stdout)
    b = json.loads(_run(runner, ["--lake", lake, "monitor", "score", "--monitor", str(tmp_path / "ml.bt"),
                                 "--lake-batch", "F00", "--json"]).stdout)
    assert b["first_alarm_h"] == a["first_alarm_h"] and [x["statistic"] for x in b["alarms"]] == [
        x["statistic"] for x in a["alarms"]]
    # refused by name: both sources, neither, a pattern that matches nothing, an unknown batch
    for args, said in ((["--batches", paths[0], "--lake-batches", "M*"], "not both"), ([], "no batches"),
                       (["--lake-batches", "X*"], "'X*'")):
        res = runner.invoke(app, expand_multi_values(["--lake", lake, *mon, *args, "--out", str(tmp_path / "x.bt")]))
        assert res.exit_code == 2 and said in res.output, res.output
    res = runner.invoke(app, ["--lake", lake, "monitor", "score", "--monitor", str(tmp_path / "ml.bt"),
                              "--lake-batch", "NOPE"])
    assert res.exit_code == 2 and "NOPE" in res.output
    # validations read lake batches as the files: the same numbers
    val = ["softsensor", "validate", "--model", str(tmp_path / "lake.bt"), "--json"]
    v_file = json.loads(_run(runner, [*val, "--batches", str(tmp_path / "F00.csv")]).stdout)
    v_lake = json.loads(_run(runner, ["--lake", lake, *val, "--lake-batches", "F00"]).stdout)
    assert v_lake["rmse"] == pytest.approx(v_file["rmse"], rel=1e-9) and v_lake["n_rows"] == v_file["n_rows"] > 0
    mval = ["monitor", "validate", "--monitor", str(tmp_path / "ml.bt"), "--json", "--onset", "F00=0"]
    m_file = json.loads(_run(runner, [*mval, "--faulty", str(tmp_path / "F00.csv")]).stdout)
    m_lake = json.loads(_run(runner, ["--lake", lake, *mval, "--lake-faulty", "F00"]).stdout)
    assert b["first_alarm_h"] is not None
    assert m_lake["faulty"]["batches"][0]["detected_h"] == m_file["faulty"]["batches"][0]["detected_h"] == b[
        "first_alarm_h"]
    # each validated batch recorded in the lake's events, once however often it is written
    for _ in range(2):
        _run(runner, ["--lake", lake, *val, "--lake-batches", "F00", "M0*", "--to-lake"])
        _run(runner, ["--lake", lake, *mval, "--lake-faulty", "F00", "--lake-batches", "M1*", "--to-lake"])
    ev = Lake(lake).events(kind="softsensor_validation")
    assert sorted(ev["batch_id"]) == sorted(["F00", *[f"M{i:02d}" for i in range(10)]])
    f00 = ev[ev["batch_id"] == "F00"].iloc[0]
    assert f00["name"] == "lake" and f00["unit"] == "g/L" and f00["value"] == pytest.approx(v_lake["rmse"])
    assert json.loads(f00["description"])["overall"]["rmse"] > 0
    mv = Lake(lake).events(kind="monitor_validation")
    assert sorted(mv["batch_id"]) == ["F00", "M10", "M11"]
    row = mv[mv["batch_id"] == "F00"].iloc[0]
    assert row["time_h"] == b["first_alarm_h"] and row["value"] == pytest.approx(b["first_alarm_h"])
    assert json.loads(row["description"])["set"] == "faulty"

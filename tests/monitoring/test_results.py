"""Results to the lake through the console: predictions, alarms and golden-band excursions."""

import json

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


def _count(lake_dir, query):
    return int(Lake(lake_dir).sql(query).to_pandas().iloc[0, 0])


@pytest.fixture(scope="module")
def fitted(tmp_path_factory):
    _register()
    root = tmp_path_factory.mktemp("results")
    runner = CliRunner()
    paths = []
    for i, f in enumerate(frames(monod_campaign(16, seed=5))):
        p = root / f"M{i:02d}.csv"
        f.to_csv(p, index=False)
        paths.append(str(p))
    faulty = next(b for b in monod_campaign(4, faults=MONOD_FAULTS, seed=6) if b.fault == "feed_stop")
    faulty.frame.to_csv(root / "fault.csv", index=False)
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

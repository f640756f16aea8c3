import json

from typer.testing import CliRunner

from biotwin.cli import _register, app

_register()
runner = CliRunner()


def test_help_everywhere():
    for args in (["--help"], ["simulate", "--help"], ["validate", "--help"], ["bench", "ensemble", "--help"]):
        res = runner.invoke(app, args)
        assert res.exit_code == 0, res.output


def test_validate_json_contract(flask_dir):
    res = runner.invoke(app, ["validate", "--dataset", str(flask_dir), "--params", "cho_t127_kotidis2019", "--json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert out["dataset"] == "kotidis2019_flask_T127"
    for s in ("Xv", "mAb", "Glc", "Amm", "Gln", "Lac", "Glu", "Asn"):
        assert {"rmse", "r2"} <= set(out["states"][s])
    assert out["states"]["Xv"]["r2"] >= 0.9 and out["states"]["mAb"]["r2"] >= 0.95
    assert abs(out["final_mAb"] / 503.33 - 1) <= 0.1
    assert out["peak_Xv"] > 5e9


def test_simulate_writes_csv_and_plot(tmp_path, flask_dir):
    csv = tmp_path / "traj.csv"
    png = tmp_path / "traj.png"
    res = runner.invoke(app, ["simulate", "--recipe", str(flask_dir), "--out", str(csv), "--plot", str(png)])
    assert res.exit_code == 0, res.output
    import pandas as pd

    frame = pd.read_csv(csv)
    assert "mAb [mg/L]" in frame.columns and frame["time_h"].iloc[-1] == 288.0
    assert png.stat().st_size > 1000


def test_bad_dataset_gives_clear_error(tmp_path):
    res = runner.invoke(app, ["validate", "--dataset", str(tmp_path / "nope")])
    assert res.exit_code == 2
    assert "nope" in res.output


def test_bench_ensemble_json_contract():
    res = runner.invoke(app, ["bench", "ensemble", "--n", "400", "--n-baseline", "2", "--json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    for key in ("n", "seconds", "sims_per_s", "baseline", "baseline_sims_per_s", "speedup",
                "max_rel_err_final_mAb"):
        assert key in out
    assert out["n"] == 400 and out["failed"] == 0
    assert out["max_rel_err_final_mAb"] <= 1e-6

import json

import pandas as pd
from typer.testing import CliRunner

import biotwin.cli.design_commands  # noqa: F401  (registers the design commands)
from biotwin.cli import app

runner = CliRunner()


def _space_args(control_path, out, *extra):
    return ["design", "space", "--recipe", str(control_path), "--params", "cho_t127_kotidis2019",
            "--factor", "feed_scale=0.5:2", "--factor", "feed_interval_h=24:72", "--grid", "4", "--mc", "12",
            "--spec", "mAb >= 450", "--spec", "Amm_peak <= 6", "--spec", "GI >= 0.2", "--seed", "3",
            "--json", "--no-progress", "--out", str(out), *extra]


def test_space_json_contract_and_lake(control_path, tmp_path):
    lake = tmp_path / "lake"
    res = runner.invoke(app, ["--lake", str(lake), *_space_args(control_path, tmp_path / "o")])
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert {"n_simulations", "seconds", "factors", "probability", "design_space_fraction"} <= set(out)
    assert out["n_simulations"] == 16 * 12 and out["factors"] == ["feed_scale", "feed_interval_h"]
    p = out["probability"]
    assert len(p) == 4 and all(len(r) == 4 for r in p) and all(0 <= v <= 1 for r in p for v in r)
    table = pd.read_parquet(tmp_path / "o" / "design_space.parquet")
    assert len(table) == 16 and "P(Amm_peak <= 6)" in table.columns
    assert (tmp_path / "o" / "design_space.png").stat().st_size > 1000
    assert out["lake_rows"] == 16
    from biotwin.lake import Lake

    with Lake(lake)._read() as con:
        n = con.execute("SELECT count(*) FROM predictions WHERE model_id = 'biotwin.design.space'").fetchone()[0]
    assert n == 16


def test_space_bad_spec_is_a_clean_error(control_path, tmp_path):
    args = _space_args(control_path, tmp_path)
    args[args.index("mAb >= 450")] = "__import__('os') >= 1"
    res = runner.invoke(app, args)
    assert res.exit_code == 2 and "expected QUANTITY OP NUMBER" in res.output


def test_optimize_json_contract(control_path, tmp_path):
    res = runner.invoke(app, [
        "design", "optimize", "--recipe", str(control_path), "--factor", "feed_scale=0.8:1.5",
        "--factor", "harvest_h=264:312", "--spec", "Amm_peak <= 8", "--mc", "16", "--confirm", "64",
        "--maxiter", "2", "--popsize", "3", "--seed", "1", "--out", str(tmp_path), "--json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert {"recipe", "expected_mAb", "p_spec", "baseline_expected_mAb"} <= set(out)
    assert set(out["recipe"]["settings"]) == {"feed_scale", "harvest_h"}
    assert "Harvest at" in out["recipe"]["explanation"]
    assert out["expected_mAb"] > 0 and out["baseline_expected_mAb"] > 0 and 0 <= out["p_spec"] <= 1
    from biotwin.recipes import load_recipe

    golden = load_recipe(tmp_path / "golden_recipe.yaml")
    assert golden.duration_h == out["recipe"]["settings"]["harvest_h"]


def test_doe_and_sensitivity(control_path):
    res = runner.invoke(app, ["design", "doe", "--recipe", str(control_path), "--design", "fractional",
                              "--factor", "feed_scale=0.5:1.5", "--factor", "harvest_h=240:288",
                              "--factor", "seed_density=1.5e8:2.5e8", "--generators", "a b ab", "--mc", "8",
                              "--no-progress", "--json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert len(out["points"]) == 4 and len(out["mean"]["mAb"]) == 4
    res = runner.invoke(app, ["design", "sensitivity", "--recipe", str(control_path),
                              "--factor", "feed_scale=0.5:1.5", "--factor", "harvest_h=240:288",
                              "--n", "16", "--no-progress", "--json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert out["factors"] == ["feed_scale", "harvest_h"] and len(out["ST"]) == 2

"""Validating a fitted soft sensor on batches it has not seen (softsensors.validate, `softsensor validate`)."""

import json

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from biotwin.errors import DataError
from biotwin.monitoring.synthetic import frames, monod_campaign
from biotwin.softsensors import SoftSensor
from biotwin.softsensors.validate import ROW_COLUMNS, judge, validate

OFFLINE = ["biomass [g/L]", "product [g/L]", "glucose [g/L]"]
TARGET = "product [g/L]"


@pytest.fixture(scope="module")
def fitted():
    train = frames(monod_campaign(8, seed=1))
    test = frames(monod_campaign(3, seed=2))
    # assays every 2 h, as a lab would take them, NaN between
    for f in test:
        f.loc[(f["time_h"] % 2.0) > 1e-9, OFFLINE] = np.nan
    ss = SoftSensor(target=TARGET, exclude=OFFLINE, candidates=("lasso", "rawpls")).fit(train)
    return ss, test


def test_validation_puts_each_assay_beside_its_prediction_and_the_baseline(fitted):
    ss, test = fitted
    found = validate(ss, test, ["a", "b", "c"])
    rows = found.rows
    assert tuple(rows.columns) == ROW_COLUMNS
    n_assays = sum(int(f[TARGET].notna().sum()) for f in test)
    assert len(rows) == n_assays and n_assays > 30
    # the predictions are predict_frame's at the assayed rows, the baseline predict_baseline's
    f = test[1]
    m = f[TARGET].notna().to_numpy()
    np.testing.assert_allclose(rows.loc[rows["batch_id"] == "b", "prediction"], ss.predict(f)[m])
    np.testing.assert_allclose(rows.loc[rows["batch_id"] == "b", "baseline"], ss.predict_baseline(f)[m])
    s = found.summary()
    e = rows["prediction"] - rows["assay"]
    assert s["rmse"] == pytest.approx(float(np.sqrt(np.mean(e**2))))
    assert s["bias"] == pytest.approx(float(e.mean()))
    assert s["rmse_pct_range"] == pytest.approx(100 * s["rmse"] / np.ptp(rows["assay"]))
    inside = (rows["assay"] >= rows["lower"]) & (rows["assay"] <= rows["upper"])
    assert s["coverage"] == pytest.approx(inside.mean()) and s["nominal_coverage"] == pytest.approx(0.9)
    b = s["baseline"]
    assert b["name"] == ss.baseline_ and b["name"].startswith("rawpls")
    assert b["rmse"] == pytest.approx(float(np.sqrt(np.mean((rows["baseline"] - rows["assay"]) ** 2))))
    assert b["gain_pct"] == pytest.approx(100 * (1 - s["rmse"] / b["rmse"]))
    # the baseline is the PLS the fit measured: on new batches its error is of the size its
    # cross-validation said, and the soft sensor chosen over it does better here too
    assert 0.4 * ss.baseline_rmse_ < b["rmse"] < 2.5 * ss.baseline_rmse_
    assert s["rmse"] < b["rmse"]
    assert [x["batch_id"] for x in s["batches"]] == ["a", "b", "c"]
    assert sum(x["n_rows"] for x in s["batches"]) == s["n_rows"] == n_assays
    assert s["skipped_batches"] == [] and s["n_batches"] == 3


def test_a_soft_sensor_doing_worse_than_at_fit_is_flagged(fitted):
    from biotwin.softsensors.validate import _batch_bootstrap

    ss, test = fitted
    s = validate(ss, test, ["a", "b", "c"]).summary()
    lo, hi = s["rmse_interval95"]
    assert lo <= s["rmse"] <= hi
    assert s["fit_cv_rmse"] == pytest.approx(ss.cv_rmse_[ss.chosen_])
    # new batches like the training ones: the error at fit is not below the interval
    assert s["worse_than_fit"] is False
    # the lab's assay moved by 10 % of the range (a new method, a new standard): flagged
    shift = 0.1 * s["assay_range"]
    moved = [f.assign(**{TARGET: f[TARGET] + shift}) for f in test]
    s2 = validate(ss, moved, ["a", "b", "c"]).summary()
    assert s2["rmse"] > s["rmse"] and s2["worse_than_fit"] is True
    # the bootstrap resamples whole batches: with one batch's errors 0 and the other's 2, the interval
    # runs from 0 (only the first drawn) to 2 (only the second)
    rows = pd.DataFrame({"batch_id": ["x"] * 4 + ["y"] * 4, "prediction": [1.0] * 4 + [3.0] * 4, "assay": [1.0] * 8})
    lo, hi = _batch_bootstrap(rows)
    assert lo == pytest.approx(0.0) and hi == pytest.approx(2.0)
    assert np.isnan(_batch_bootstrap(rows.iloc[:4])[0])


def test_the_baseline_comes_from_the_same_rows_as_the_prediction_also_on_a_finer_log(fitted):
    ss, test = fitted
    f = test[0]
    # logged twice as often as the training batches: predicted on their interval, both columns alike
    t = np.arange(f["time_h"].iloc[0], f["time_h"].iloc[-1], ss.dt_ / 2)
    fine = pd.DataFrame({"time_h": t, **{c: np.interp(t, f["time_h"], f[c]) for c in ss.variables_}})
    plain = ss.predict_frame(fine)
    both = ss.predict_frame(fine, baseline=True)
    assert list(both.columns) == [*plain.columns, "baseline"]
    pd.testing.assert_frame_equal(both[plain.columns], plain)
    assert np.isfinite(both["baseline"]).all()
    np.testing.assert_allclose(ss.predict_baseline(fine), both["baseline"])
    # on the training interval the baseline tracks the soft sensor's target like a PLS: same scale
    coarse = ss.predict_frame(f, baseline=True)
    assert np.corrcoef(coarse["baseline"], coarse["prediction"])[0, 1] > 0.9


def test_bad_validation_sets_are_refused_by_name_and_unassayed_batches_left_out(fitted):
    ss, test = fitted
    with pytest.raises(DataError, match="'nolab' has no column 'product"):
        validate(ss, [test[0], test[1].drop(columns=[TARGET])], ["a", "nolab"])
    blank = test[1].assign(**{TARGET: np.nan})
    found = validate(ss, [test[0], blank], ["a", "blank"])
    assert found.skipped == ["blank"] and set(found.rows["batch_id"]) == {"a"}
    with pytest.raises(DataError, match="no validation batch has an assay"):
        validate(ss, [blank], ["blank"])


def test_judge_meets_and_fails_each_criterion():
    s = {"rmse_pct_range": 4.0, "coverage": 0.85, "baseline": {"gain_pct": 30.0}}
    assert judge(s) == {}
    assert judge(s, max_rmse_pct=5, min_gain_pct=40, min_coverage=0.8) == {
        "rmse<=5%": True, "gain>=40%": False, "coverage>=0.8": True}
    assert judge({**s, "baseline": None}, min_gain_pct=0) == {"gain>=0%": False}


def test_a_soft_sensor_saved_without_its_baseline_validates_without_it(fitted):
    import copy

    ss, test = fitted
    old = copy.deepcopy(ss)
    del old.baseline_model_
    s = validate(old, test[:1], ["a"]).summary()
    assert s["baseline"] is None and np.isfinite(s["rmse"])
    with pytest.raises(DataError, match="fit it again"):
        old.predict_baseline(test[0])


def test_cli_validate_reports_and_exits_1_when_a_criterion_fails(tmp_path, fitted):
    from biotwin.cli import (
        app,
        monitor_commands,  # noqa: F401
    )

    _, test = fitted
    train = frames(monod_campaign(8, seed=1))
    args = ["softsensor", "fit", "--target", TARGET, "--out", str(tmp_path / "ss.bt"), "--candidates", "lasso,rawpls"]
    for i, f in enumerate(train):
        f.rename(columns={"time_h": "t [min]"}).assign(**{"t [min]": f["time_h"] * 60}).to_csv(
            tmp_path / f"t{i}.csv", index=False)
        args += ["--batches", str(tmp_path / f"t{i}.csv")]
    for c in OFFLINE:
        args += ["--exclude", c]
    r = CliRunner().invoke(app, [*args, "--time-col", "t [min]"])
    assert r.exit_code == 0, r.output
    val = []
    for i, f in enumerate(test):
        p = tmp_path / f"v{i}.csv"
        f.rename(columns={"time_h": "t [min]"}).assign(**{"t [min]": f["time_h"] * 60}).to_csv(p, index=False)
        val += ["--batches", str(p)]
    base = ["softsensor", "validate", "--model", str(tmp_path / "ss.bt"), *val]
    r = CliRunner().invoke(app, [*base, "--json", "--csv", str(tmp_path / "rows.csv"),
                                 "--plot-dir", str(tmp_path / "plots"), "--max-rmse-pct", "50"])
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    assert out["criteria"] == {"rmse<=50%": True} and out["passed"] is True
    assert out["training_batches_in_validation"] == []
    assert out["n_batches"] == 3 and [b["batch_id"] for b in out["batches"]] == ["v0", "v1", "v2"]
    # the file's time column in minutes was read as at fit: the rows' times are hours
    rows = pd.read_csv(tmp_path / "rows.csv")
    assert len(rows) == out["n_rows"] and rows["time_h"].max() < 50
    assert (tmp_path / "plots" / "validation.png").stat().st_size > 10_000
    # a criterion the soft sensor cannot meet: the report, then exit status 1
    r = CliRunner().invoke(app, [*base, "--min-gain-pct", "99", "--min-coverage", "0.5"])
    assert r.exit_code == 1
    assert "gain>=99%: NOT met" in r.output and "coverage>=0.5: met" in r.output and "baseline rawpls" in r.output
    # a validation batch that lost an input: predicted on its training median, the warning names the batch
    lost = tmp_path / "lost.csv"
    pd.read_csv(tmp_path / "v0.csv").drop(columns=["OUR [mmol/L/h]"]).to_csv(lost, index=False)
    with pytest.warns(UserWarning, match=r"lost: batch has no values of \['OUR \[mmol/L/h\]'\]") as caught:
        r = CliRunner().invoke(app, ["softsensor", "validate", "--model", str(tmp_path / "ss.bt"),
                                     "--batches", str(lost)])
    assert r.exit_code == 0, r.output
    # once per batch: the soft sensor and its baseline are predicted from the same features
    assert sum("has no values" in str(w.message) for w in caught) == 1
    # a batch the soft sensor was fitted on is named: it does not validate anything
    r = CliRunner().invoke(app, ["softsensor", "validate", "--model", str(tmp_path / "ss.bt"),
                                 "--batches", str(tmp_path / "t0.csv"), *val, "--json"])
    assert r.exit_code == 0, r.output
    assert "warning: t0 is one of the batches the soft sensor was fitted on" in r.output
    r = CliRunner().invoke(app, ["softsensor", "validate", "--model", str(tmp_path / "ss.bt"),
                                 "--batches", str(tmp_path / "t0.csv"), "--batches", str(tmp_path / "missing.csv")])
    assert r.exit_code == 2 and "missing.csv" in r.output


def test_a_final_value_model_is_fitted_predicted_and_validated_from_the_console(tmp_path):
    from biotwin.cli import (
        app,
        expand_multi_values,
        monitor_commands,  # noqa: F401
    )
    from biotwin.softsensors import FinalQualityPredictor

    train, test = frames(monod_campaign(8, seed=1)), frames(monod_campaign(3, seed=2))
    paths, val = [], []
    for i, f in enumerate(train):
        paths.append(str(tmp_path / f"t{i}.csv"))
        f.to_csv(paths[-1], index=False)
    for i, f in enumerate(test):
        val.append(str(tmp_path / f"v{i}.csv"))
        f.to_csv(val[-1], index=False)
    model = str(tmp_path / "final.bt")
    r = CliRunner().invoke(app, expand_multi_values(
        ["softsensor", "fit", "--batches", *paths, "--target", TARGET, "--exclude", "biomass [g/L]",
         "glucose [g/L]", "--candidates", "pls,ridge", "--final", "--out", model, "--json"]))
    assert r.exit_code == 0, r.output
    meta = json.loads(r.stdout)
    assert meta["final_of"] == TARGET and meta["target"] == f"final({TARGET})"
    # the same forecasts as the Python class, one per row of the file
    fq = FinalQualityPredictor(TARGET, exclude=["biomass [g/L]", "glucose [g/L]"], candidates=("pls", "ridge")).fit(
        [pd.read_csv(p) for p in paths])
    r = CliRunner().invoke(app, ["softsensor", "predict", "--model", model, "--batch", val[0], "--json"])
    assert r.exit_code == 0, r.output
    np.testing.assert_allclose(json.loads(r.stdout)["prediction"], fq.predict_frame(test[0])["prediction"])
    # validated against each batch's final value, on every row
    r = CliRunner().invoke(app, expand_multi_values(["softsensor", "validate", "--model", model, "--batches", *val,
                                                     "--json"]))
    assert r.exit_code == 0, r.output
    s = json.loads(r.stdout)
    assert s["n_rows"] == sum(len(f) for f in test)
    finals = [f[TARGET].dropna().iloc[-1] for f in test]
    assert s["assay_range"] == pytest.approx(max(finals) - min(finals))
    pred = np.concatenate([fq.predict_frame(f)["prediction"] for f in test])
    truth = np.concatenate([np.full(len(f), v) for f, v in zip(test, finals, strict=True)])
    assert s["rmse"] == pytest.approx(float(np.sqrt(np.mean((pred - truth) ** 2))))

"""Soft sensor on a process biotwin was not built for (Monod E. coli-like), and the CLI."""

import json

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from biotwin.monitoring.synthetic import frames, monod_campaign
from biotwin.softsensors import FinalQualityPredictor, SoftSensor, engineer

OFFLINE = ["biomass [g/L]", "product [g/L]", "glucose [g/L]"]


@pytest.fixture(scope="module")
def campaign():
    return monod_campaign(14, seed=1), monod_campaign(4, seed=2)


def test_features_shapes_and_causality():
    f = monod_campaign(1, seed=0)[0].frame
    F = engineer(f, ["OUR [mmol/L/h]", "DOT [%]"])
    assert F.shape == (len(f), 1 + 2 * 3)
    F2 = engineer(f.iloc[:50], ["OUR [mmol/L/h]", "DOT [%]"])
    np.testing.assert_allclose(F.iloc[:50].to_numpy(), F2.to_numpy())  # no future used


def test_softsensor_beats_raw_pls_on_biomass(campaign):
    train, test = campaign
    ss = SoftSensor(target="biomass [g/L]", exclude=OFFLINE, candidates=("pls", "gbm")).fit(frames(train))
    assert not any(c in ss.variables_ for c in OFFLINE)
    err = np.concatenate([ss.predict(b.frame) - b.frame["biomass [g/L]"].to_numpy() for b in test])
    rmse = float(np.sqrt(np.mean(err**2)))
    assert rmse < 0.6 * ss.baseline_rmse_
    rng = np.ptp(np.concatenate([b.frame["biomass [g/L]"] for b in train]))
    assert rmse < 0.05 * rng
    res = ss.predict_frame(test[0].frame)
    y = test[0].frame["biomass [g/L]"].to_numpy()
    assert np.mean((y >= res["lower"]) & (y <= res["upper"])) > 0.6
    assert res["in_domain"].mean() > 0.9
    far = test[0].frame.assign(**{"OUR [mmol/L/h]": test[0].frame["OUR [mmol/L/h]"] + 300.0})
    assert ss.predict_frame(far)["in_domain"].mean() < res["in_domain"].mean() - 0.2


def test_rows_before_the_first_assay_are_outside_the_domain_and_predictions_bounded(campaign):
    # assays only from 10 h on: the regressor is calibrated there, and earlier rows (culture
    # time and running integrals below anything it saw) are extrapolation
    train, test = campaign
    late = [b.frame.assign(**{"product [g/L]": b.frame["product [g/L]"].where(b.frame["time_h"] >= 10.0)})
            for b in train]
    ss = SoftSensor(target="product [g/L]", exclude=OFFLINE, candidates=("pls",)).fit(late)
    assert ss.progress_range_["time_h"][0] == pytest.approx(10.0, abs=0.1 * np.ptp(test[0].frame["time_h"]))
    res = ss.predict_frame(test[0].frame)
    early = res["time_h"] < 5.0
    assert early.any() and not res.loc[early, "in_domain"].any()
    assert res.loc[res["time_h"] >= 12.0, "in_domain"].mean() > 0.9
    lo, hi = ss.target_bounds_
    ys = np.concatenate([f["product [g/L]"].dropna() for f in late])
    assert lo == max(0.0, ys.min() - 0.25 * np.ptp(ys)) and hi == pytest.approx(ys.max() + 0.25 * np.ptp(ys))
    assert (res[["prediction", "lower", "upper"]].to_numpy() >= lo).all()
    assert (res[["prediction", "lower", "upper"]].to_numpy() <= hi).all()
    assert ss.metadata()["target_bounds"] == [lo, hi]


def test_batch_logged_more_often_is_predicted_on_the_training_interval(campaign):
    # trained on rows every 15 min: a batch logged every minute gets one prediction per row,
    # each from a grid of 15-min ticks ending at or just before it, as calibrated
    from biotwin.batchdata import regrid

    train, _ = campaign
    ss = SoftSensor(target="biomass [g/L]", exclude=OFFLINE, candidates=("pls",)).fit(frames(train))
    assert ss.dt_ == pytest.approx(0.25)
    fine = monod_campaign(1, seed=7, dt_h=1.0 / 60.0)[0].frame
    res = ss.predict_frame(fine)
    assert len(res) == len(fine) and np.array_equal(res["time_h"], fine["time_h"])
    on_ticks = ss.predict_frame(regrid(fine, 0.25))
    ticks = np.isin(np.round(fine["time_h"], 9), np.round(on_ticks["time_h"], 9))
    # the same as on one 15-min grid at its ticks (but its last, partial one: the last row
    # closes a full interval on another phase's grid)
    np.testing.assert_allclose(res["prediction"][ticks][:-1], on_ticks["prediction"][:-1])
    y = fine["biomass [g/L]"].to_numpy()
    rmse = float(np.sqrt(np.mean((res["prediction"] - y) ** 2)))
    assert rmse < 0.05 * np.ptp(y)


def test_a_model_with_other_features_than_this_version_makes_is_refused_by_name(campaign):
    from biotwin.errors import DataError

    train, test = campaign
    ss = SoftSensor(target="biomass [g/L]", exclude=OFFLINE, candidates=("pls",)).fit(frames(train))
    ss.feature_names_ = [*ss.feature_names_, "dil(OUR [mmol/L/h])/V [L]"]  # as if saved by another version
    with pytest.raises(DataError, match=r"fitted on \d+ features .* 'dil\(OUR .*fit it again"):
        ss.predict(test[0].frame)


def test_an_input_outage_is_bridged(campaign):
    # two hours without OUR: held flat, its running integral lagged for the rest of the batch
    train, test = campaign
    ss = SoftSensor(target="biomass [g/L]", exclude=OFFLINE, candidates=("pls",)).fit(frames(train))
    assert "OUR [mmol/L/h]" in ss.dense_
    f = test[0].frame
    gap = f.assign(**{"OUR [mmol/L/h]": f["OUR [mmol/L/h]"].where((f["time_h"] < 8.0) | (f["time_h"] > 10.0))})
    after = f["time_h"].to_numpy() > 10.0
    full, bridged = ss.predict(f)[after], ss.predict(gap)[after]
    held = ss.predict(gap.assign(**{"OUR [mmol/L/h]": gap["OUR [mmol/L/h]"].ffill()}))[after]
    assert np.abs(bridged - full).max() < 0.3 * np.abs(held - full).max()
    # the outage's own rows are predicted (bridged) but outside the domain; the rows after it
    # are flagged as in the complete batch
    t = f["time_h"].to_numpy()
    inside = (t >= 8.0) & (t <= 10.0)
    res, ref = ss.predict_frame(gap), ss.predict_frame(f)
    assert inside.sum() >= 2 and not res.loc[inside, "in_domain"].any()
    assert (res.loc[after, "in_domain"] == ref.loc[after, "in_domain"]).all()


def test_an_input_far_beyond_training_is_limited_and_flagged(campaign):
    # a probe reading 20 times its largest training value for an hour: limited to the
    # training range widened by its width, those rows out of the domain, and the running
    # integrals after it no longer carry the excursion
    train, test = campaign
    ss = SoftSensor(target="biomass [g/L]", exclude=OFFLINE, candidates=("pls",)).fit(frames(train))
    col = "OUR [mmol/L/h]"
    x = np.concatenate([b.frame[col].to_numpy(float) for b in train])
    x = x[np.isfinite(x)]
    lo, hi = ss.input_bounds_[col]
    assert lo == pytest.approx(x.min() - np.ptp(x)) and hi == pytest.approx(x.max() + np.ptp(x))
    assert ss.metadata()["input_bounds"][col] == [lo, hi]
    f = test[0].frame
    t = f["time_h"].to_numpy()
    spike = (t >= 8.0) & (t < 9.0)
    bad = f.assign(**{col: np.where(spike, 20.0 * x.max(), f[col])})
    res = ss.predict_frame(bad)
    assert not res.loc[spike, "in_domain"].any()
    assert res.loc[~spike & (t > 12.0), "in_domain"].mean() > 0.9
    at_bound = ss.predict(bad.assign(**{col: np.where(spike, hi, f[col])}))
    np.testing.assert_allclose(res["prediction"], at_bound)
    clean = ss.predict(f)
    after = t > 9.0
    ss.input_bounds_ = {}
    unlimited = ss.predict(bad)
    assert np.abs(at_bound - clean)[after].max() < 0.5 * np.abs(unlimited - clean)[after].max()


def test_final_quality(campaign):
    train, test = campaign
    fq = FinalQualityPredictor("product [g/L]", exclude=OFFLINE, candidates=("pls",)).fit(frames(train))
    out = fq.predict_frame(test[0].frame)
    assert len(out) == len(test[0].frame)


def test_cli_fit_predict(tmp_path, campaign):
    from biotwin.cli import (
        app,
        monitor_commands,  # noqa: F401
    )

    train, test = campaign
    paths = []
    for i, b in enumerate(train[:8]):
        p = tmp_path / f"b{i}.csv"
        minutes = b.frame.rename(columns={"time_h": "t [min]"})
        minutes.assign(**{"t [min]": b.frame["time_h"] * 60}).to_csv(p, index=False)
        paths.append(p)
    tp = tmp_path / "test.csv.gz"
    test[0].frame.rename(columns={"time_h": "t [min]"}).assign(**{"t [min]": test[0].frame["time_h"] * 60}).to_csv(
        tp, index=False)
    model = tmp_path / "ss.joblib"
    args = ["softsensor", "fit", "--target", "biomass [g/L]", "--time-col", "t [min]", "--out", str(model),
            "--candidates", "pls,gbm"]
    for p in paths:
        args += ["--batches", str(p)]
    for c in OFFLINE:
        args += ["--exclude", c]
    r = CliRunner().invoke(app, args)
    assert r.exit_code == 0, r.output
    meta = json.loads((tmp_path / "ss.joblib.json").read_text())
    assert meta["target"] == "biomass [g/L]" and "versions" in meta
    r = CliRunner().invoke(app, ["softsensor", "predict", "--model", str(model), "--batch", str(tp), "--json"])
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    assert set(out) == {"time_h", "prediction", "lower", "upper", "in_domain"}
    assert all(len(v) == len(test[0].frame) for v in out.values())
    # --update re-anchors on the file's own earlier biomass assays: the first row has none
    r = CliRunner().invoke(app, ["softsensor", "predict", "--model", str(model), "--batch", str(tp), "--json",
                                 "--update"])
    assert r.exit_code == 0, r.output
    upd = json.loads(r.stdout)
    assert upd["prediction"][0] == out["prediction"][0] and len(upd["prediction"]) == len(out["prediction"])
    assert meta["update"]["mode"] in ("none", "offset", "ratio")
    y = test[0].frame["biomass [g/L]"].to_numpy()
    err = [float(np.sqrt(np.mean((np.array(o["prediction"]) - y) ** 2))) for o in (out, upd)]
    assert err[1] <= err[0] * 1.05
    blind = tmp_path / "blind.csv"
    pd.read_csv(tp).drop(columns=["biomass [g/L]"]).to_csv(blind, index=False)
    r = CliRunner().invoke(app, ["softsensor", "predict", "--model", str(model), "--batch", str(blind), "--update"])
    assert r.exit_code == 0 and "blind.csv has no values of 'biomass [g/L]': nothing to re-anchor on" in r.output
    r = CliRunner().invoke(app, ["softsensor", "predict", "--model", str(tmp_path / "nope"), "--batch", str(tp)])
    assert r.exit_code == 2


def test_too_few_assays_to_cross_validate_is_refused_by_name():
    import pandas as pd

    from biotwin.batchdata.io import BatchSet
    from biotwin.errors import DataError

    t = np.arange(10.0)
    good = pd.DataFrame({"time_h": t, "OUR [mM/h]": t, "titre [mg/L]": 2 * t})
    tiny = good.iloc[:1]
    with pytest.raises(DataError, match=r"holding out \['run01'\] leaves 1"):
        SoftSensor(target="titre [mg/L]", candidates=("pls",)).fit(BatchSet([good, tiny], ["run01", "run02"]))


def test_missing_target_names_the_batch():
    import pandas as pd

    from biotwin.batchdata.io import BatchSet
    from biotwin.errors import DataError
    from biotwin.softsensors import SoftSensor

    t = np.arange(10.0)
    good = pd.DataFrame({"time_h": t, "OUR [mM/h]": t, "titre [mg/L]": 2 * t})
    bad = pd.DataFrame({"time_h": t, "OUR [mM/h]": t})
    with pytest.raises(DataError, match="'run07' has no target column"):
        SoftSensor(target="titre [mg/L]").fit(BatchSet([good, bad], ["run06", "run07"]))


def test_spectrum_channels_get_values_and_a_derivative_not_integrals(campaign):
    # 60 channels named by their wavenumber: each a band whose height follows the biomass,
    # on an offset that differs by batch; the derivative along the channels removes the offset
    from biotwin.batchdata.spectra import spectral_derivative

    train, test = campaign
    nu = np.linspace(800.0, 1800.0, 60)
    band = np.exp(-0.5 * ((nu - 1300.0) / 60.0) ** 2)
    rng = np.random.default_rng(0)

    def with_spectrum(b):
        f = b.frame.copy()
        x = f["biomass [g/L]"].interpolate().bfill().ffill().to_numpy()
        s = np.outer(x, band) + rng.normal(0.0, 50.0) + rng.normal(0.0, 0.2, (len(f), len(nu)))
        return f.join(pd.DataFrame(s, columns=[f"{v:.0f}" for v in nu], index=f.index))

    ss = SoftSensor(target="biomass [g/L]", exclude=OFFLINE, candidates=("pls", "rawpls")).fit(
        [with_spectrum(b) for b in train])
    assert ss.spectra_ == {"spectrum": [f"{v:.0f}" for v in nu]}
    assert ss.metadata()["spectra"] == {"spectrum": 60}
    assert ss.metadata()["spectra_used"] is True  # the band follows the biomass
    names = set(ss.feature_names_)
    assert "d1(800)" in names and "800" in names and "cum(800)" not in names and "rate(800)" not in names
    assert "cum(OUR [mmol/L/h])" in names
    f = with_spectrum(test[0])
    err = ss.predict(f) - f["biomass [g/L]"].to_numpy()
    assert float(np.sqrt(np.nanmean(err**2))) < 0.05 * float(np.nanmax(f["biomass [g/L]"]))
    # an offset (fluorescence) adds nothing to the derivative, a band's slope survives
    S = np.outer([1.0, 2.0], band)
    np.testing.assert_allclose(spectral_derivative(S + 100.0), spectral_derivative(S), atol=1e-9)
    assert np.abs(spectral_derivative(S)).max() > 0


def test_a_spectrum_blind_to_the_target_does_not_drown_the_process_signals(campaign, tmp_path):
    # 300 channels of a smooth random-walk baseline, drawn anew on every row and blind to the
    # biomass (IndPenSim's spectral noise): each candidate is also tried on the process
    # features alone (``proc_``), and that is what cross-validation keeps
    train, test = campaign
    rng = np.random.default_rng(3)
    names = [f"{v:.0f}" for v in np.linspace(400.0, 1900.0, 300)]

    def with_noise(b):
        f = b.frame.copy()
        walk = np.cumsum(rng.choice([-50.0, 0.0, 50.0], (len(f), len(names))), axis=1)
        return f.join(pd.DataFrame(walk, columns=names, index=f.index))

    kw = {"target": "biomass [g/L]", "exclude": OFFLINE, "candidates": ("pls", "ridge", "rawpls")}
    plain = SoftSensor(**kw).fit(frames(train))
    assert not any(n.startswith("proc_") for n in plain.cv_rmse_)
    ss = SoftSensor(**kw).fit([with_noise(b) for b in train])
    assert {"proc_pls1", "proc_ridge0.01"} <= set(ss.cv_rmse_) and "proc_rawpls1" not in ss.cv_rmse_
    assert "proc_" in ss.chosen_
    assert ss.metadata()["spectra"] == {"spectrum": 300} and ss.metadata()["spectra_used"] is False
    with_spectrum = min(v for n, v in ss.cv_rmse_.items() if "proc_" not in n)
    assert ss.cv_rmse_[ss.chosen_] < 0.9 * with_spectrum
    assert ss.cv_rmse_[ss.chosen_] < 1.1 * plain.cv_rmse_[plain.chosen_]
    # the same features as without the spectrum: as good on a new batch
    f = test[0].frame
    y = f["biomass [g/L]"].to_numpy()
    err = {k: float(np.sqrt(np.nanmean((m.predict(g) - y) ** 2)))
           for k, m, g in (("plain", plain, f), ("noisy", ss, with_noise(test[0])))}
    assert err["noisy"] < 1.25 * err["plain"]
    # the console says so, and the sidecar
    from biotwin.cli import (
        app,
        monitor_commands,  # noqa: F401
    )

    args = ["softsensor", "fit", "--target", "biomass [g/L]", "--out", str(tmp_path / "ss.model"),
            "--candidates", "pls,ridge,rawpls"]
    for c in OFFLINE:
        args += ["--exclude", c]
    for i, b in enumerate(train):
        with_noise(b).to_csv(tmp_path / f"b{i}.csv", index=False)
        args += ["--batches", str(tmp_path / f"b{i}.csv")]
    r = CliRunner().invoke(app, args)
    assert r.exit_code == 0, r.output
    assert "process features only, not the spectrum" in r.output
    assert json.loads((tmp_path / "ss.model.json").read_text())["spectra_used"] is False


def _assayed_at_fixed_hours(n: int, seed: int) -> list[pd.DataFrame]:
    """Batches assayed every 6 h whose cooling demand follows the biomass at every assay, but
    whose controller kicks it far up for the hour before each assay-free half-day mark
    (a set-point step the assays never see, as with recipe steps between fixed-hour samples)."""
    rng = np.random.default_rng(seed)
    out = []
    t = np.arange(0.0, 60.0 + 1e-9, 0.25)
    for _ in range(n):
        mu = rng.uniform(0.08, 0.14)
        x = 20.0 / (1.0 + 19.0 * np.exp(-mu * t))  # biomass [g/L], logistic
        cooling = 10.0 + 2.0 * x + rng.normal(0.0, 0.3, len(t))
        kick = (t % 12.0 >= 8.0) & (t % 12.0 < 9.0)
        cooling[kick] += 60.0
        our = mu * x * (1.0 - x / 20.0) * 10.0 + rng.normal(0.0, 0.05, len(t))
        assay = np.where(np.isclose(t % 6.0, 0.0) & (t > 0), x * (1.0 + rng.normal(0.0, 0.01, len(t))), np.nan)
        out.append(pd.DataFrame({"time_h": t, "cooling [%]": cooling, "OUR [mmol/L/h]": our, "X [g/L]": assay,
                                 "X_true": x}))
    return out


def test_a_feature_never_seen_at_an_assayed_row_is_limited_to_the_assayed_range():
    train, test = _assayed_at_fixed_hours(16, seed=1), _assayed_at_fixed_hours(4, seed=2)
    ss = SoftSensor(target="X [g/L]", exclude=["X_true"], candidates=("ridge",)).fit(train)
    # instantaneous features are bounded by the assayed rows; culture time and integrals are not
    assert "cooling [%]" in ss.feature_bounds_ and "rate(cooling [%])" in ss.feature_bounds_
    assert not any(n == "time_h" or n.startswith("cum") for n in ss.feature_bounds_)
    lo, hi = ss.feature_bounds_["cooling [%]"]
    assert 0.0 < lo < hi < 60.0  # the kicks (70-80 %) lie between the assays only
    assert ss.metadata()["feature_bounds"]["cooling [%]"] == [lo, hi]
    t = test[0]["time_h"].to_numpy()
    kick = (t % 12.0 >= 8.0) & (t % 12.0 < 9.0)
    assay_rows = np.isfinite(test[0]["X [g/L]"].to_numpy())
    err = np.concatenate([np.abs(ss.predict(f) - f["X_true"].to_numpy()) for f in test])
    kicked = np.tile(kick, len(test))
    bounded = float(np.sqrt(np.mean(err[kicked] ** 2)))
    assert bounded < 1.0  # g/L, on a 1-20 g/L range
    # the regressor does not know the kicked value: those rows are outside the domain, the
    # quiet rows between the assays (after the rate window has let go of the kick) inside
    res = ss.predict_frame(test[0])
    phase = t % 12.0
    quiet = (t >= 6.0) & (t <= 60.0) & ((phase < 8.0) | (phase >= 11.5))
    assert not res["in_domain"][kick].any()
    assert res["in_domain"][quiet].mean() > 0.95
    # without the bounds the kicks swing the prediction; the assayed rows are the same either way
    p_assay = ss.predict(test[0])[assay_rows]
    ss.feature_bounds_ = {}
    err_free = np.concatenate([np.abs(ss.predict(f) - f["X_true"].to_numpy()) for f in test])
    assert float(np.sqrt(np.mean(err_free[kicked] ** 2))) > 2.5 * bounded
    np.testing.assert_allclose(ss.predict(test[0])[assay_rows], p_assay)


def test_the_same_batches_listed_in_another_order_give_the_same_soft_sensor():
    from biotwin.batchdata import BatchSet

    # every batch assayed as often: with groups of equal size the folds followed the listing
    fs = _assayed_at_fixed_hours(12, seed=3)
    ids = [f"X{i + 1}" for i in range(len(fs))]
    perm = np.random.default_rng(0).permutation(len(fs))
    kw = dict(target="X [g/L]", exclude=["X_true"], candidates=("ridge", "rawpls"))
    a = SoftSensor(**kw).fit(BatchSet(fs, ids))
    b = SoftSensor(**kw).fit(BatchSet([fs[i] for i in perm], [ids[i] for i in perm]))
    assert a.chosen_ == b.chosen_
    assert a.cv_rmse_ == pytest.approx(b.cv_rmse_, rel=1e-6)
    f = _assayed_at_fixed_hours(1, seed=4)[0]
    assert np.allclose(a.predict(f), b.predict(f), rtol=1e-6)


def test_pls_components_reach_96_only_for_wide_inputs():
    """Wide inputs (a spectrum) get PLS candidates of 48, 64 and 96 components, each once the
    PLS sees four columns per component; narrow ones keep the grid to 32 (their choices stay)."""
    from biotwin.softsensors.sensor import make_candidates, pls_components

    assert pls_components(30) == [1, 2, 3, 5, 8, 12, 16, 24]
    assert pls_components(150) == [1, 2, 3, 5, 8, 12, 16, 24, 32]
    assert pls_components(200)[-2:] == [32, 48]
    assert pls_components(4600)[-3:] == [48, 64, 96]
    names = make_candidates(["pls", "rawpls"], 500, raw_columns=list(range(300)))
    assert "pls96" in names and "rawpls64" in names and "rawpls96" not in names

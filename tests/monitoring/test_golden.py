"""The golden-batch envelope: which batches are golden, where a batch leaves the band, the CLI."""

import json

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from biotwin.cli import _register, app, expand_multi_values
from biotwin.errors import DataError
from biotwin.monitoring import GoldenEnvelope, golden_envelope
from biotwin.monitoring.synthetic import frames, monod_campaign

OFFLINE = ["biomass [g/L]", "product [g/L]", "glucose [g/L]"]
DOT = "DOT [%]"


@pytest.fixture(scope="module")
def campaign():
    train = frames(monod_campaign(20, seed=1))
    return train, GoldenEnvelope(quality="product [g/L]", exclude=OFFLINE[:1] + OFFLINE[2:]).fit(train)


def _finals(train):
    return np.array([f["product [g/L]"].dropna().iloc[-1] for f in train])


def test_the_golden_batches_are_the_best_by_their_final_quality(campaign):
    train, env = campaign
    finals = _finals(train)
    assert env.golden_ == [int(i) for i in np.argsort(-finals)[:6]]  # 30 % of 20
    assert env.golden_ids_ == [f"batch{i:03d}" for i in env.golden_]
    assert env.quality_["batch000"] == pytest.approx(finals[0])
    assert DOT in env.variables_ and not set(OFFLINE) & set(env.variables_)
    assert env.envelope_.shape == (100, 1 + 3 * len(env.variables_))
    # the band is the golden batches' mean +- 3 sd; the function gives the same envelope
    same, idx = golden_envelope(train, "product [g/L]", env.variables_)
    assert idx == env.golden_
    pd.testing.assert_frame_equal(same, env.envelope_)
    low = GoldenEnvelope(quality="product [g/L]", exclude=OFFLINE, higher_is_better=False, fraction=0.2).fit(train)
    assert low.golden_ == [int(i) for i in np.argsort(finals)[:4]]


def test_a_golden_batch_stays_inside_and_a_dip_is_named_with_its_side_and_span(campaign):
    train, env = campaign
    # a member of n = 6 lies within (n - 1) / sqrt(n) = 2.04 sd of the golden mean at each of its
    # rows (judged against the golden batches at the row, not a line between envelope points)
    for i in env.golden_:
        assert env.excursions(train[i], persistence=1) == []
    b = train[env.golden_[0]].copy()
    t = b["time_h"].to_numpy()
    dip = (t >= 20.0) & (t <= 22.0)
    b.loc[dip, DOT] = b.loc[dip, DOT] - 25.0
    found = env.excursions(b)
    assert [(e["variable"], e["side"]) for e in found] == [(DOT, "below")]
    e = found[0]
    assert e["from_h"] == pytest.approx(20.0) and e["to_h"] == pytest.approx(22.0) and e["rows"] == 9
    assert e["worst_sd"] < -3.0 and 20.0 <= e["worst_h"] <= 22.0
    # one row out is noise under the persistence rule; with persistence 1 it counts
    one = train[env.golden_[0]].copy()
    one.loc[np.flatnonzero(t >= 20.0)[0], DOT] -= 25.0
    assert env.excursions(one) == []
    assert [(e["variable"], e["from_h"], e["rows"]) for e in env.excursions(one, persistence=1)] == [(DOT, 20.0, 1)]


def test_rows_beyond_the_envelope_are_not_judged(campaign):
    train, env = campaign
    longest = max(train, key=lambda f: f["time_h"].iloc[-1])
    ov = env.overlay(longest)
    end = env.envelope_["time_h"].iloc[-1]
    beyond = ov["time_h"] > end + 1e-9
    assert beyond.any() and ov.loc[beyond, f"{DOT} mean"].isna().all()
    assert ov.loc[~beyond, f"{DOT} mean"].notna().all()
    # far off there, yet no excursion
    far = longest.copy()
    far.loc[far["time_h"] > end + 1e-9, DOT] = -1e3
    assert env.excursions(far) == env.excursions(longest)


def test_an_indicator_axis(campaign):
    train, _ = campaign
    env = GoldenEnvelope(quality="product [g/L]", exclude=OFFLINE, by="OUR [mmol/L/h]", cumulative=True).fit(train)
    assert env.envelope_.columns[0] == "OUR [mmol/L/h]" and "OUR [mmol/L/h]" not in env.variables_
    assert np.all(np.diff(env.envelope_["OUR [mmol/L/h]"]) > 0)
    assert env.excursions(train[env.golden_[0]], persistence=1) == []
    # a feed total flat until feeding starts: the rows where it does not advance are not judged
    fed = GoldenEnvelope(quality="product [g/L]", exclude=OFFLINE, by="feed_total [L]").fit(train)
    ov = fed.overlay(train[0])
    flat = np.r_[False, np.diff(train[0]["feed_total [L]"].to_numpy()) <= 0]
    assert flat.sum() > 10 and ov.loc[flat, f"{DOT} mean"].isna().all()


def test_bad_input_is_refused_by_name(campaign):
    train, _ = campaign
    with pytest.raises(DataError, match="titre"):
        GoldenEnvelope(quality="titre [g/L]").fit(train)
    few = [f.assign(**{"product [g/L]": np.nan}) for f in train[:18]] + train[18:]
    with pytest.raises(DataError, match="at least 3"):
        GoldenEnvelope(quality="product [g/L]").fit(few)
    with pytest.raises(DataError, match="fraction"):
        GoldenEnvelope(quality="product [g/L]", fraction=0.0).fit(train)
    env = GoldenEnvelope(quality="product [g/L]", exclude=OFFLINE).fit(train[:17] + few[:3])
    assert env.unranked_ids_ == ["batch017", "batch018", "batch019"] and len(env.quality_) == 17
    with pytest.raises(DataError, match="DOT"):
        env.excursions(train[0].drop(columns=[DOT]))


def test_golden_commands(tmp_path, campaign):
    _register()
    runner = CliRunner()
    train, _ = campaign
    paths = []
    for i, f in enumerate(train[:12]):
        p = tmp_path / f"B{i:02d}.csv"
        f.to_csv(p, index=False)
        paths.append(str(p))
    model = tmp_path / "golden.bt"
    table = tmp_path / "envelope.csv"
    res = runner.invoke(app, expand_multi_values([
        "monitor", "golden", "--batches", *paths, "--quality", "product [g/L]", "--exclude", "biomass [g/L]",
        "glucose [g/L]", "--out", str(model), "--csv", str(table), "--json"]))
    assert res.exit_code == 0, res.output
    meta = json.loads(res.stdout)
    finals = _finals(train[:12])
    assert meta["golden_batch_ids"] == [f"B{i:02d}" for i in np.argsort(-finals)[:4]]
    assert meta["golden_quality"] == pytest.approx(sorted(finals, reverse=True)[:4])
    assert meta["kind"] == "golden" and DOT in meta["variables"]
    assert list(pd.read_csv(table).columns[:4]) == ["time_h", meta["variables"][0], f"{meta['variables'][0]} lower",
                                                    f"{meta['variables'][0]} upper"]
    b = train[int(np.argmax(finals))].copy()
    dip = (b["time_h"] >= 20.0) & (b["time_h"] <= 22.0)
    b.loc[dip, DOT] -= 25.0
    b.to_csv(tmp_path / "new.csv", index=False)
    res = runner.invoke(app, ["monitor", "golden-score", "--envelope", str(model), "--batch",
                              str(tmp_path / "new.csv"), "--plot-dir", str(tmp_path / "plots"), "--json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert [(e["variable"], e["side"]) for e in out["excursions"]] == [(DOT, "below")]
    assert out["inside_share"][DOT] < 1.0 and (tmp_path / "plots" / "golden_DOT.png").stat().st_size > 1000
    res = runner.invoke(app, ["monitor", "golden-score", "--envelope", str(model), "--batch", paths[0]])
    assert res.exit_code == 0, res.output
    # on cumulative O2 uptake, the batch drawn on that axis too
    res = runner.invoke(app, expand_multi_values([
        "monitor", "golden", "--batches", *paths, "--quality", "product [g/L]", "--exclude", "biomass [g/L]",
        "glucose [g/L]", "--by", "OUR [mmol/L/h]", "--cumulative", "--out", str(tmp_path / "o2.bt")]))
    assert res.exit_code == 0, res.output
    res = runner.invoke(app, ["monitor", "golden-score", "--envelope", str(tmp_path / "o2.bt"), "--batch",
                              str(tmp_path / "new.csv"), "--plot-dir", str(tmp_path / "o2plots"), "--json"])
    assert res.exit_code == 0, res.output
    assert (DOT, "below") in [(e["variable"], e["side"]) for e in json.loads(res.stdout)["excursions"]]
    assert (tmp_path / "o2plots" / "golden_DOT.png").exists()
    # the wrong kind of model and an unknown quality column are refused by name
    res = runner.invoke(app, expand_multi_values(["monitor", "golden", "--batches", *paths, "--quality", "titre",
                                                  "--out", str(tmp_path / "x.bt")]))
    assert res.exit_code != 0 and "titre" in res.output


def test_a_band_the_golden_batches_agree_on_exactly_keeps_a_width(campaign):
    train, env0 = campaign
    # a pump the golden batches all hold at 0 and the others run now and then
    rng = np.random.default_rng(4)
    pumped = [f.assign(**{"acid [L/h]": 0.0 if i in env0.golden_ else np.abs(rng.normal(0, 1, len(f)))})
              for i, f in enumerate(train)]
    env = GoldenEnvelope(quality="product [g/L]", exclude=OFFLINE).fit(pumped)
    j = env.variables_.index("acid [L/h]")
    assert env.golden_ == env0.golden_
    spread = np.sqrt(np.mean(np.std([np.interp(env.envelope_["time_h"], f["time_h"], f["acid [L/h]"])
                                     for f in pumped], axis=0, ddof=1) ** 2))
    assert env.sd_floor_[j] == pytest.approx(0.1 * spread, rel=1e-6)
    b = pumped[env.golden_[0]].copy()
    on = (b["time_h"] >= 15.0) & (b["time_h"] <= 16.0)
    b.loc[on, "acid [L/h]"] = 2.0
    (e,) = [e for e in env.excursions(b) if e["variable"] == "acid [L/h]"]
    assert e["side"] == "above" and e["worst_sd"] == pytest.approx(2.0 / env.sd_floor_[j], rel=1e-3)
    assert 5.0 < e["worst_sd"] < 1e3


def test_spectra_are_left_out_of_the_default_variables(campaign):
    train, _ = campaign
    rng = np.random.default_rng(2)
    wide = [pd.concat([f, pd.DataFrame(rng.normal(1.0, 0.01, (len(f), 60)),
                                       columns=[f"{400 + k} nm" for k in range(60)])], axis=1) for f in train]
    env = GoldenEnvelope(quality="product [g/L]", exclude=OFFLINE).fit(wide)
    assert env.variables_ == GoldenEnvelope(quality="product [g/L]", exclude=OFFLINE).fit(train).variables_
    assert env.spectra_left_out_ == {"spectrum nm": 60} and env.metadata()["spectra_left_out"] == {"spectrum nm": 60}
    named = GoldenEnvelope(quality="product [g/L]", variables=[DOT, "450 nm"]).fit(wide)
    assert named.variables_ == [DOT, "450 nm"] and named.spectra_left_out_ == {}

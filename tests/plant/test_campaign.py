"""The offline virtual-plant campaign: files, ground truth, and faults that act when the plant says so."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from biotwin.plant.campaign import (
    DRIFT_SPEC,
    CampaignSpec,
    PlannedBatch,
    load_campaign,
    plan_campaign,
    run_batch,
    run_campaign,
)
from biotwin.plant.faults import Fault
from biotwin.plant.reactor import (
    ATLINE_TAGS,
    CONTAM_CELL_G,
    CONTAM_MU_1_H,
    CONTAM_QO2,
    CONTAM_SEED_PER_L,
    OFFLINE_TAGS,
    ONLINE_TAGS,
    PH_DRIFT_PER_H,
)

SPEC = CampaignSpec(n_train=1, n_test=1, faults_per_kind=1, kinds=("contamination", "co2_accumulation", "missed_feed"),
                    duration_h=96.0, dt_h=0.5, substep_h=1 / 30, onset_h=(30.0, 50.0))


@pytest.fixture(scope="module")
def campaign(tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, object]]:
    out = tmp_path_factory.mktemp("campaign")
    run_campaign(out, SPEC, workers=1)
    return load_campaign(out)


def test_plan_is_deterministic_and_complete() -> None:
    a, b = plan_campaign(SPEC), plan_campaign(SPEC)
    assert [(p.batch_id, p.seed) for p in a] == [(p.batch_id, p.seed) for p in b]
    assert [p.split for p in a] == ["train", "test", "fault", "fault", "fault"]
    bp = plan_campaign(CampaignSpec(n_train=0, n_test=0, faults_per_kind=3, kinds=("base_pump_failure",)))
    assert all(80.0 <= p.faults[0].onset_h <= 200.0 for p in bp)


def test_files_and_ground_truth(campaign: list[dict[str, object]]) -> None:
    assert len(campaign) == 5
    import pandas as pd

    for m in campaign:
        f = pd.read_csv(str(m["path"]))
        assert list(f.columns[:1]) == ["time_h"] and len(f) == 192
        assert {f"{k} [{v[0]}]" for k, v in ONLINE_TAGS.items()} <= set(f.columns)
        assert {f"{k} [{v[0]}]" for k, v in OFFLINE_TAGS.items()} <= set(f.columns)
        side = json.loads((__import__("pathlib").Path(str(m["path"])).with_suffix(".json")).read_text())
        assert side["batch_id"] == m["batch_id"]
    faults = {m["faults"][0]["kind"]: m["faults"][0] for m in campaign if m["split"] == "fault"}  # type: ignore[index]
    for f in faults.values():
        assert set(f) >= {"kind", "onset_h", "effect_h", "effect_rule", "spec_h", "failure_h", "severity"}
    # contamination: effect when the contaminant's O2 uptake, from its seeding load, reaches the
    # off-gas OUR noise (0.02 mM/h): ln(0.02 / (15 * 3e-13 * 1e6)) / 1.0 = 8.4 h after seeding
    c = faults["contamination"]
    lag = math.log(0.02 / (CONTAM_QO2 * CONTAM_CELL_G * CONTAM_SEED_PER_L)) / CONTAM_MU_1_H
    assert c["effect_h"] - c["onset_h"] == pytest.approx(lag, abs=0.05)
    assert c["effect_rule"].startswith("contaminant")
    # CO2 stripping loss acts at once; a missed feed acts at the next feed
    co2 = faults["co2_accumulation"]
    assert co2["effect_h"] == pytest.approx(co2["onset_h"], abs=SPEC.substep_h + 1e-6)
    mf = faults["missed_feed"]
    assert mf["effect_h"] >= mf["onset_h"] and mf["effect_rule"] == "first feed after onset"


def test_fault_changes_nothing_before_it_acts() -> None:
    spec = CampaignSpec(duration_h=60.0, dt_h=0.5, substep_h=1 / 30)
    ref, _ = run_batch(PlannedBatch("ref", "test", 7), spec)
    bad, _ = run_batch(PlannedBatch("bad", "fault", 7, [Fault("co2_accumulation", 1, 30.0, 1.0, 48.0)]), spec)
    before, after = ref["time_h"] < 30.0, ref["time_h"] >= 31.0
    cols = [c for c in ref.columns if c != "time_h"]
    assert np.allclose(ref.loc[before, cols].fillna(0), bad.loc[before, cols].fillna(0))
    # the pH loop answers the CO2 that is no longer stripped by sparging less CO2
    assert (bad.loc[after, "CO2_sparge [%]"].mean() < ref.loc[after, "CO2_sparge [%]"].mean() - 0.1)
    assert bad.attrs["fault_log"]["co2_accumulation"] == pytest.approx(30.0, abs=0.05)
    # a base pump that fails is logged only once the base it did not deliver reaches the balance noise
    bp, _ = run_batch(PlannedBatch("bp", "fault", 7, [Fault("base_pump_failure", 1, 20.0, 1.0, 0.0)]), spec)
    t_ask = bp.attrs["fault_log"].get("base_pump_failure")
    if t_ask is not None:
        same = ref["time_h"] < t_ask
        assert np.allclose(ref.loc[same, cols].fillna(0), bp.loc[same, cols].fillna(0))


def test_base_balance_diverges_from_the_totaliser_after_a_pump_failure() -> None:
    # the totaliser counts what the pH loop commands, the balance under the base bottle weighs
    # what left it: equal (within the balance noise) while the pump works, apart once it fails
    spec = CampaignSpec(duration_h=106.0, dt_h=0.5, substep_h=1 / 30)
    bp, _ = run_batch(PlannedBatch("bp", "fault", 7, [Fault("base_pump_failure", 1, 100.0, 1.0, 0.0)]), spec)
    t_ask = bp.attrs["fault_log"]["base_pump_failure"]
    assert t_ask == pytest.approx(100.0, abs=0.1)  # base is being added at 100 h in this batch
    gap = bp["base_total [mL]"] - bp["base_delivered [mL]"]
    t = bp["time_h"]
    assert gap[t < t_ask].abs().max() < 0.1  # the balance noise is 0.02 mL
    assert gap[t >= t_ask + 1.0].min() > 0.3  # > 10 noise sd one hour after the failure acts
    delivered = bp["base_delivered [mL]"][t >= t_ask]
    assert delivered.max() - delivered.min() < 0.1  # nothing leaves the bottle
    # and nothing differs from the same batch without the fault before the failed pump is asked
    ref, _ = run_batch(PlannedBatch("ref", "test", 7), spec)
    cols = [c for c in ref.columns if c != "time_h"]
    same = ref["time_h"] < t_ask
    assert np.allclose(ref.loc[same, cols].fillna(0), bp.loc[same, cols].fillna(0))


def test_normal_batch_carbonate_chemistry_is_realistic() -> None:
    # a bicarbonate-buffered medium: pCO2 of tens of mmHg, never clipped at 0, pH held at its
    # setpoint by CO2 sparging early and by base once lactate has used up the bicarbonate
    spec = CampaignSpec(duration_h=150.0, dt_h=0.5, substep_h=1 / 30)
    f, _ = run_batch(PlannedBatch("n", "test", 7), spec)
    pco2 = f["dCO2 [mmHg]"]
    assert pco2.min() > 10.0 and pco2.max() < 110.0
    assert ((pco2 >= 30.0) & (pco2 <= 100.0)).mean() > 0.5
    assert (f["pH [-]"] - 7.0).abs().max() < 0.05
    assert f["CO2_sparge [%]"].iloc[:20].min() > 5.0  # the medium needs CO2 to stay at pH 7.0
    assert f["base_total [mL]"].iloc[-1] > 1.0  # and base later
    assert 2.0 < f["offgas_CO2 [%]"].min() and f["offgas_CO2 [%]"].max() < 15.0


def test_ph_drift_moves_the_dissolved_co2() -> None:
    # the pH loop holds the drifting reading at setpoint, so the true pH falls PH_DRIFT_PER_H
    # (0.002 pH/h); at the same bicarbonate the dissolved CO2 rises 26 % per 0.1 pH
    # (Henderson-Hasselbalch): it departs from the same batch without the fault by > 12 % before the
    # drift reaches 0.1 pH (50 h)
    assert DRIFT_SPEC["ph_drift"] == ("pH", PH_DRIFT_PER_H, 0.1)
    spec = CampaignSpec(duration_h=100.0, dt_h=0.5, substep_h=1 / 30)
    ref, _ = run_batch(PlannedBatch("ref", "test", 7), spec)
    bad, _ = run_batch(PlannedBatch("bad", "fault", 7, [Fault("ph_drift", 1, 50.0, 1.0)]), spec)
    t = ref["time_h"]
    rel = (bad["dCO2 [mmHg]"] - ref["dCO2 [mmHg]"]) / ref["dCO2 [mmHg]"]
    assert rel[t <= 50.0].abs().max() < 1e-9
    assert rel[(t > 50.0) & (t < 100.0)].max() > 0.12
    assert (bad["pH [-]"] - 7.0)[t > 50.0].abs().max() < 0.05  # the reading stays at setpoint


def test_atline_ph_is_sampled_and_shows_a_drifting_probe() -> None:
    # the blood-gas pH and pCO2 of the daily samples: a value on each sampling row only, close to the
    # true pH and the online reading of a healthy probe; a drifting online pH departs from it
    spec = CampaignSpec(duration_h=120.0, dt_h=0.5, substep_h=1 / 30)
    ref, truth = run_batch(PlannedBatch("ref", "test", 7), spec)
    bad, _ = run_batch(PlannedBatch("bad", "fault", 7, [Fault("ph_drift", 1, 50.0, 1.0)]), spec)
    assert set(ATLINE_TAGS) <= set(OFFLINE_TAGS)
    for f in (ref, bad):
        for col in ("pH_atline [-]", "pCO2_atline [mmHg]"):
            rows = f.loc[f[col].notna(), "time_h"].to_numpy()
            assert np.allclose(rows, 1.0 + spec.sample_every_h * np.arange(len(rows)))
            assert len(rows) == 10
    s = ref["pH_atline [-]"].notna()
    err = ref.loc[s, "pH_atline [-]"] - truth.loc[s, "pH_atline [-]"]
    assert err.abs().max() < 0.04  # the analyser: sd 0.01
    assert (ref.loc[s, "pH [-]"] - ref.loc[s, "pH_atline [-]"]).abs().max() < 0.08
    co2 = ref.loc[s, "pCO2_atline [mmHg]"] / truth.loc[s, "pCO2_atline [mmHg]"] - 1.0
    assert co2.abs().max() < 0.12  # 3 % sd
    # before the onset the samples agree with the healthy batch's exactly (their own random stream)
    before = s & (ref["time_h"] < 50.0)
    assert np.array_equal(ref.loc[before, "pH_atline [-]"], bad.loc[before, "pH_atline [-]"])
    # after it the gap between the online and the at-line pH grows with the drift (0.002 pH/h)
    gap_ref = ref.loc[s, "pH [-]"] - ref.loc[s, "pH_atline [-]"]
    gap_bad = bad.loc[s, "pH [-]"] - bad.loc[s, "pH_atline [-]"]
    late = ref.loc[s, "time_h"] >= 97.0
    assert (gap_bad - gap_ref)[late].min() > 0.05
    assert (bad.loc[s, "pH_atline [-]"] - ref.loc[s, "pH_atline [-]"])[late].max() < -0.05

"""The demo's virtual-plant part: a faulty batch followed by the twin, a soft sensor and the monitor."""

from __future__ import annotations

import json

import pytest

from biotwin.report import _img
from biotwin.service.plant_demo import plant_demo_html, run_plant_demo


def test_plant_demo_catches_the_missed_feed_and_tracks_the_batch(tmp_path):
    demo = run_plant_demo(tmp_path, members=64)
    fault = demo.fault
    assert fault["kind"] == "missed_feed"
    # caught after the fault acted, within a few hours, with the feed signals named
    assert demo.first_alarm_h is not None
    assert fault["effect_h"] <= demo.first_alarm_h <= fault["effect_h"] + 4.0
    assert any("feed" in k for k in demo.alarms[0]["contributions"])
    # titre soft sensor from online signals only, within 10 % of the range on this batch
    assert demo.softsensor["rmse_pct_range"] < 10.0
    # beside the tuned PLS on the raw inputs it was chosen over, on the same assays
    base = demo.softsensor["baseline"]
    assert base["name"].startswith("rawpls")
    assert base["gain_pct"] == pytest.approx(100 * (1 - demo.softsensor["rmse_mg_L"] / base["rmse"]))
    assert 0.0 <= demo.softsensor["coverage"] <= 1.0
    # the twin's late forecast brackets the measured harvest titre
    last = demo.twin["day7_forecast"]
    assert last["final_mAb_lo"] < last["final_mAb_pred"] < last["final_mAb_hi"]
    assert demo.twin["posterior_rmse"]["mAb"] < 0.1 * demo.twin["final_mAb_measured"]
    # the golden batches by final titre, and the batch leaving their band once the feed is missed
    g = demo.golden
    assert g["n_golden"] == 6 and g["golden_final_mAb"] == sorted(g["golden_final_mAb"], reverse=True)
    assert g["after_fault"] and g["after_fault"][0]["from_h"] <= fault["effect_h"] + 4.0
    assert 0.8 < g["inside_before_fault"] < 1.0
    html = plant_demo_html(demo, _img)
    assert "missed_feed" in html and html.count("<img") == 4 and "Golden batch" in html
    assert f"for the tuned PLS on the raw inputs ({base['name']}" in html
    saved = json.loads((tmp_path / "plant_demo.json").read_text())
    assert saved["first_alarm_h"] == demo.first_alarm_h

"""``monitor fit --equipment`` / ``monitor score``: degradation alarms with lead time and RUL through the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from typer.testing import CliRunner

from biotwin.monitoring.synthetic import monod_campaign

OFFLINE = ["biomass [g/L]", "product [g/L]", "glucose [g/L]"]
VIB = "vibration [mm/s]"


def _with_vibration(frame, rng, onset_h=None, fail_h=None):  # type: ignore[no-untyped-def]
    """A bearing vibration column: 1.5 mm/s healthy, rising exponentially to 11 mm/s at ``fail_h``."""
    f = frame.drop(columns=OFFLINE).copy()
    t = f["time_h"].to_numpy(float)
    v = np.full(len(t), 1.5)
    if onset_h is not None and fail_h is not None:
        wear = np.clip((t - onset_h) / (fail_h - onset_h), 0.0, None)
        v = 1.5 + 9.5 * np.expm1(4 * wear) / np.expm1(4)
    f[VIB] = v + rng.normal(0.0, 0.05, len(t))
    return f


def test_monitor_score_equipment(tmp_path: Path) -> None:
    from biotwin.cli import app, monitor_commands  # noqa: F401

    rng = np.random.default_rng(0)
    args = ["monitor", "fit", "--out", str(tmp_path / "m.joblib"), "--equipment", "vibration>11", "--json"]
    for i, b in enumerate(monod_campaign(8, seed=1)):
        p = tmp_path / f"b{i}.csv"
        _with_vibration(b.frame, rng).to_csv(p, index=False)
        args += ["--batches", str(p)]
    r = CliRunner().invoke(app, args)
    assert r.exit_code == 0, r.output
    meta = json.loads(r.stdout)
    assert meta["equipment"][VIB]["threshold"] == 11.0
    assert abs(meta["equipment"][VIB]["baseline"] - 1.5) < 0.02

    def score(frame) -> dict:  # type: ignore[no-untyped-def]
        p = tmp_path / "x.csv"
        frame.to_csv(p, index=False)
        r = CliRunner().invoke(app, ["monitor", "score", "--monitor", str(tmp_path / "m.joblib"), "--batch", str(p),
                                     "--json"])
        assert r.exit_code == 0, r.output
        return json.loads(r.stdout)

    healthy = monod_campaign(1, seed=7)[0].frame
    assert not [a for a in score(_with_vibration(healthy, rng))["alarms"] if a["kind"] == "equipment"]
    onset, fail = 8.0, 30.0
    out = score(_with_vibration(healthy, rng, onset, fail))
    eq = [a for a in out["alarms"] if a["kind"] == "equipment"]
    assert len(eq) == 1
    a = eq[0]
    assert a["statistic"] == "degradation" and list(a["contributions"]) == [VIB]
    assert a["contributions"][VIB] > meta["equipment"][VIB]["k_sd"]
    # alarmed within 4 h of the wear starting (10.5 h here), >= 15 h before the failure level
    assert onset < a["time_h"] <= onset + 4.0 and fail - a["time_h"] >= 15.0
    assert a["rul_h"] is not None and a["rul_h"] > 0
    assert out["first_alarm_h"] <= a["time_h"]

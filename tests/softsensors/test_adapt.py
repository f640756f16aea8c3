"""Re-anchoring a soft sensor on a batch's own earlier assays."""

import numpy as np
import pytest

from biotwin.monitoring.synthetic import monod_campaign
from biotwin.softsensors import SoftSensor
from biotwin.softsensors.adapt import apply, choose, corrections

OFFLINE = ["biomass [g/L]", "product [g/L]", "glucose [g/L]"]


def test_corrections_by_hand():
    y, p = np.array([12.0, 14.0, 9.0]), np.array([10.0, 10.0, 10.0])
    off, sc = corrections(3, y, p, "offset", 1.0)
    np.testing.assert_allclose(off, [0.0, 2.0, 3.0, 5.0 / 3.0])
    np.testing.assert_allclose(sc, 1.0)
    off, _ = corrections(3, y, p, "offset", 0.5)
    np.testing.assert_allclose(off[2], (0.5 * 2.0 + 4.0) / 1.5)
    _, sc = corrections(2, np.array([22.0, 33.0]), np.array([20.0, 30.0]), "ratio", 1.0)
    np.testing.assert_allclose(sc, [1.0, 1.1, 1.1])
    assert corrections(2, y[:2], p[:2], "none", 1.0)[0].tolist() == [0.0, 0.0, 0.0]
    with pytest.raises(ValueError, match="update mode"):
        corrections(1, y, p, "bogus", 1.0)


def test_apply_uses_only_assays_strictly_before_a_row():
    t_rows = np.array([0.0, 1.0, 1.5, 2.0, 3.0])
    (out,) = apply(t_rows, [np.full(5, 10.0)], np.array([1.0, 2.0]), np.array([12.0, 16.0]),
                   np.array([10.0, 10.0]), "offset", 1.0)
    np.testing.assert_allclose(out, [10.0, 10.0, 12.0, 12.0, 14.0])


def test_choose_finds_a_per_batch_offset_and_none_without_one():
    rng = np.random.default_rng(0)
    p = np.linspace(1.0, 10.0, 8)
    shifted = [(p + off + rng.normal(0, 0.05, 8), p) for off in rng.normal(0, 2.0, 20)]
    best = choose(shifted)
    assert best["mode"] == "offset" and best["rmse"] < 0.5 * best["rmse_none"]
    noise = [(p + rng.normal(0, 1.0, 8), p) for _ in range(20)]
    assert choose(noise)["mode"] in ("none", "offset") and choose(noise)["forget"] in (0.5, 0.8, 1.0)


def test_softsensor_update_removes_a_per_batch_offset_the_signals_cannot_show():
    # each batch's product assay carries its own offset (a calibration lot, a medium lot):
    # online signals cannot show it, the batch's earlier assays can
    rng = np.random.default_rng(3)

    def shifted(batches):
        out = []
        for b in batches:
            f = b.frame.copy()
            y = f["product [g/L]"].to_numpy(float) + rng.normal(0.0, 1.5)
            keep = np.zeros(len(f), bool)
            keep[::8] = True  # an assay every 2 h
            f["product [g/L]"] = np.where(keep, y, np.nan)
            out.append(f)
        return out

    train, test = shifted(monod_campaign(14, seed=1)), shifted(monod_campaign(4, seed=2))
    ss = SoftSensor(target="product [g/L]", exclude=OFFLINE, candidates=("pls", "ridge")).fit(train)
    assert ss.update_["mode"] == "offset" and ss.update_["rmse"] < ss.update_["rmse_none"]
    assert ss.metadata()["update"] == ss.update_

    def rmse(update):
        e = [ss.predict(f, update=update) - f["product [g/L]"].to_numpy() for f in test]
        e = np.concatenate(e)
        return float(np.sqrt(np.nanmean(e**2)))

    assert rmse(True) < 0.6 * rmse(False)
    # without the target column there is nothing to re-anchor on
    f = test[0].drop(columns=["product [g/L]"])
    np.testing.assert_allclose(ss.predict(f, update=True), ss.predict(f))

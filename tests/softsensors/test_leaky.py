"""Leaky running integrals (first-order loss) as soft-sensor features."""

import json

import numpy as np
import pandas as pd
import pytest

from biotwin.softsensors import SoftSensor, engineer
from biotwin.softsensors.features import ewma, hold, leaky_integral
from biotwin.softsensors.sensor import _uses_leaks, family

UNEVEN = np.sort(np.r_[0.0, np.random.default_rng(0).uniform(0, 50, 400)])


@pytest.mark.parametrize("t", [np.linspace(0.0, 50.0, 501), UNEVEN])
def test_leaky_integral_of_a_constant_is_exact(t):
    # I' = x - I / tau, I(0) = 0, x = 2: I = tau x (1 - exp(-t / tau)), on even and uneven steps
    out = leaky_integral(t, np.full(len(t), 2.0), 5.0)
    np.testing.assert_allclose(out, 5.0 * 2.0 * (1.0 - np.exp(-t / 5.0)), rtol=1e-12, atol=1e-12)


def test_leaky_integral_tends_to_a_plain_integral_for_long_time_constants():
    t = np.linspace(0.0, 10.0, 1001)
    x = np.sin(t) + 2.0
    np.testing.assert_allclose(leaky_integral(t, x, 1e6), 2.0 * t + 1.0 - np.cos(t), atol=0.01)
    with pytest.raises(ValueError, match="tau_h"):
        leaky_integral(t, x, 0.0)


def test_leak_features_are_causal_and_named():
    t = np.linspace(0.0, 20.0, 201)
    f = pd.DataFrame({"time_h": t, "u": np.cos(t)})
    F = engineer(f, ["u"], leaks_h=(2.0, 7.5))
    assert list(F.columns)[-2:] == ["leak2h(u)", "leak7.5h(u)"]
    np.testing.assert_allclose(engineer(f.iloc[:80], ["u"], leaks_h=(2.0, 7.5)).to_numpy(), F.iloc[:80].to_numpy())


def _batches(n: int, seed: int) -> list[pd.DataFrame]:
    """A product formed at a rate set by a feed that steps up and down at random times, and
    hydrolysed with a 10-h time constant (a tenth of the 100-h batch), assayed every 6 h."""
    rng = np.random.default_rng(seed)
    t = np.arange(0.0, 100.0 + 1e-9, 0.2)
    out = []
    for _ in range(n):
        steps = np.sort(rng.uniform(0, 100, 6))
        level = rng.uniform(0.5, 2.0, 7)
        feed = level[np.searchsorted(steps, t)]
        p = leaky_integral(t, feed, 10.0)
        assay = np.full(len(t), np.nan)
        assay[::30] = p[::30]
        out.append(pd.DataFrame({"time_h": t, "feed [L/h]": feed, "stirrer [rpm]": 300 + rng.normal(0, 5, len(t)),
                                 "product [g/L]": assay}))
    return out


def test_a_decaying_product_is_learnt_with_leak_features():
    # the product's concentration forgets the feed rate of more than a few 10 h back: the
    # running integrals (which remember the whole batch) cannot express it, a leaky integral
    # with the product's time constant can
    train, test = _batches(12, 1), _batches(4, 2)
    errs = {}
    for fractions in ((), (0.1, 0.35)):
        ss = SoftSensor(target="product [g/L]", candidates=("pls", "ridge", "rawpls"),
                        leak_fractions=fractions).fit(train)
        assert ss.leaks_h_ == tuple(100.0 * a for a in fractions)
        # only the linear candidates named leak_ see the leaky integrals, and CV chooses one
        assert ("leak_" in ss.chosen_) == bool(fractions)
        leak_families = {family(n) for n in ss.cv_rmse_ if n.startswith("leak_")}
        assert leak_families == ({"leak_pls", "leak_ridge"} if fractions else set())
        e = np.concatenate([ss.predict(f) - f["product [g/L]"].to_numpy() for f in test])
        errs[fractions] = float(np.sqrt(np.nanmean(e ** 2)))
    assert errs[(0.1, 0.35)] < 0.3 * errs[()]
    with pytest.raises(Exception, match="leak_fractions"):
        SoftSensor(target="product [g/L]", leak_fractions=(0.0,)).fit(train)


def test_cli_sets_the_leak_fractions(tmp_path):
    from typer.testing import CliRunner

    from biotwin.cli import (
        app,
        monitor_commands,  # noqa: F401
    )

    paths = []
    for i, f in enumerate(_batches(6, 3)):
        paths.append(str(tmp_path / f"b{i}.csv"))
        f.to_csv(paths[-1], index=False)
    base = ["softsensor", "fit", *[a for p in paths for a in ("--batches", p)], "--target", "product [g/L]",
            "--candidates", "pls,ridge", "--json", "--out"]
    cases = (([], [10.0, 35.0]), (["--leak-fractions", "none"], []), (["--leak-fractions", "0.2"], [20.0]))
    for option, leaks in cases:
        r = CliRunner().invoke(app, [*base, str(tmp_path / "m.joblib"), *option])
        assert r.exit_code == 0, r.output
        meta = json.loads(r.stdout)
        assert meta["leaks_h"] == leaks
        assert sum(f.startswith("leak") for f in meta["features"]) == 2 * len(leaks)  # feed and stirrer
    r = CliRunner().invoke(app, [*base, str(tmp_path / "m.joblib"), "--leak-fractions", "0.1;0.3"])
    assert r.exit_code != 0 and "--leak-fractions" in r.output


def _plain_batches(n: int, seed: int) -> list[pd.DataFrame]:
    """As :func:`_batches`, but the product is never lost (a plain running integral of the feed),
    assayed with 5 % noise."""
    rng = np.random.default_rng(seed)
    t = np.arange(0.0, 100.0 + 1e-9, 0.2)
    out = []
    for _ in range(n):
        steps = np.sort(rng.uniform(0, 100, 6))
        feed = rng.uniform(0.5, 2.0, 7)[np.searchsorted(steps, t)]
        p = np.cumsum(feed) * 0.2 * 0.05
        assay = np.full(len(t), np.nan)
        assay[::30] = p[::30] * (1 + rng.normal(0, 0.05, len(p[::30])))
        out.append(pd.DataFrame({"time_h": t, "feed [L/h]": feed, "stirrer [rpm]": 300 + rng.normal(0, 5, len(t)),
                                 "product [g/L]": assay}))
    return out


def test_leak_candidates_must_win_by_more_than_one_standard_error():
    # nothing is lost here: the leaky integrals' candidates beat the others out of fold by
    # chance only (1.7 %), and the soft sensor keeps a candidate without them
    ss = SoftSensor(target="product [g/L]", candidates=("pls", "ridge", "rawpls")).fit(_plain_batches(10, 6))
    leak = min(v for k, v in ss.cv_rmse_.items() if _uses_leaks(k))
    plain = min(v for k, v in ss.cv_rmse_.items() if not _uses_leaks(k))
    assert leak < 0.99 * plain
    assert not _uses_leaks(ss.chosen_) and ss.cv_rmse_[ss.chosen_] == plain


def test_which_candidates_use_the_leaky_integrals():
    assert _uses_leaks("leak_ridge0.01") and _uses_leaks("proc_leak_lasso0.001")
    assert _uses_leaks("mean(lasso0.003,leak_pls16)") and _uses_leaks("mean(leak_lasso0.003,pls12)")
    assert not _uses_leaks("mean(lasso0.003,proc_pls16)") and not _uses_leaks("rawpls8")


@pytest.mark.parametrize("even", [True, False])
def test_hold_and_ewma_of_a_block_of_columns_equal_each_column_on_its_own(even):
    # the spectra are held and smoothed as one array: the same numbers as column by column
    rng = np.random.default_rng(3)
    x = rng.normal(size=(200, 6))
    x[rng.random(x.shape) < 0.3] = np.nan
    x[:4, 1] = np.nan  # leading gap: the first value fills it
    x[:, 5] = np.nan  # never measured: zeros
    t = np.arange(200) * 0.2 if even else np.cumsum(rng.uniform(0.1, 0.3, 200))
    h = hold(x)
    assert np.array_equal(h, np.column_stack([hold(x[:, j]) for j in range(6)]))
    first = x[np.isfinite(x[:, 1]), 1][0]
    assert (h[:4, 1] == first).all() and not h[:, 5].any() and np.isfinite(h).all()
    e = ewma(t, h, 0.5)
    assert np.array_equal(e, np.column_stack([ewma(t, h[:, j], 0.5) for j in range(6)]))
    assert hold(np.array([])).shape == (0,)

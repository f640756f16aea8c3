"""The bioreactor model: CHO kinetics with dynamic DO, CO2, pH and their controllers."""

from __future__ import annotations

import numpy as np
import pytest

from biotwin.models import MODELS, cho, convert_recipe, environment, get_model
from biotwin.models.bioreactor import bioreactor_recipe
from biotwin.parameters import get_parameter_set
from biotwin.recipes import Event, Recipe, Stream, recipe_from_culture
from biotwin.simulation import simulate
from biotwin.simulation.ensemble import build_inputs, run_ensemble

MODEL = get_model("cho_bioreactor")
PS = get_parameter_set("cho_t127_bioreactor")
K1 = 10**-6.1
KB = 10**-6.8


@pytest.fixture(scope="module")
def flask_recipe(flask_dir):
    return recipe_from_culture(flask_dir)


@pytest.fixture(scope="module")
def controlled(flask_recipe):
    """kLa 4 1/h: DO reaches its 40% setpoint on day 3-4 and the O2 controller takes over."""
    rec = bioreactor_recipe(flask_recipe, kla=4.0, ph0=7.1)
    return rec, simulate(MODEL, PS, rec, method="dp5", rtol=1e-7)


def test_layout_extends_the_cho_model():
    assert MODELS["cho_bioreactor"] is MODEL
    base = cho.CHO_KOTIDIS2019
    n = len(base.states)
    assert MODEL.state_names[:n] == base.state_names
    assert MODEL.input_names[: len(base.inputs)] == base.input_names
    assert MODEL.parameter_names[: len(base.parameters)] == base.parameter_names
    assert MODEL.state_names[n:] == ["O2", "TIC", "Z_bg", "I_DO", "I_pH"]
    PS.check(MODEL)  # every parameter present with the model's unit
    kin = get_parameter_set("cho_t127_kotidis2019")
    assert PS["mu_max"] == kin["mu_max"]  # inherited
    for name in MODEL.parameter_names[len(base.parameters):]:
        assert PS.parameters[name].source, name


def test_recipe_conversion(flask_recipe):
    rec = convert_recipe(flask_recipe, MODEL)
    assert rec.model == "cho_bioreactor"
    assert rec.events == flask_recipe.events
    assert rec.inputs["DO_sp"] == 40.0 and rec.inputs["gas_vvm"] > 0
    for s in rec.streams.values():
        assert s.composition["TIC"] == 0.0 and s.composition["O2"] > 0
    with pytest.raises(ValueError):
        bioreactor_recipe(rec)


def test_initial_state_is_the_requested_equilibrium(flask_recipe):
    rec = bioreactor_recipe(flask_recipe, ph0=7.15)
    res = simulate(MODEL, PS, rec, t_out=np.array([0.0]), method="dp5")
    assert res["pH"][0] == pytest.approx(7.15, abs=1e-9)
    assert res["DO"][0] == pytest.approx(100.0)
    assert res["pCO2"][0] == pytest.approx(0.05 * 760.0)  # Henry equilibrium with 5% CO2


def test_do_falls_with_growth_then_is_held_at_setpoint(controlled):
    _, res = controlled
    t, do, y_o2 = res.t, res["DO"], res["y_O2_gas"]
    before = t < 80
    assert do[0] == pytest.approx(100.0)
    assert np.all(np.diff(do[before]) < 0.05)  # falls as the cells grow
    assert do[t == 48][0] < 80
    assert np.all(y_o2[before] == pytest.approx(0.2095))  # no enrichment needed yet
    after = t >= 100
    dev = np.abs(do[after] - 40.0)
    assert np.median(dev) < 1.0 and np.quantile(dev, 0.9) < 2.0
    # a feed bolus lifts growth and OUR in a step: DO dips to ~27% and recovers in hours
    # (the controller is tuned moderate, closed-loop pole ~1 1/h, to stay non-stiff)
    assert dev.max() < 15.0
    assert y_o2[after].max() > 0.35 and y_o2.max() <= 1.0


def test_ph_held_by_base_rising_with_lactate(controlled):
    rec, res = controlled
    ph, lac, na, amm = res["pH"], res["Lac"], res["Na"], res["Amm"]
    t = res.t
    acid = t <= 100  # lactate production phase
    assert np.all(np.abs(ph[acid & (t >= 12)] - 7.0) < 0.03)
    assert np.all(np.abs(ph[t >= 12] - 7.0) < 0.1)
    assert np.all(np.diff(na[t < 48]) >= -1e-12)  # base only added (until the first feed)
    assert np.all(res["base rate"] >= 0.0)
    # base neutralises the acid made: Na+ added ~ lactate made - ammonia made, minus the
    # initial 0.1 pH drop from 7.1 to 7.0 and the CO2 taken up
    made = (lac[acid] - lac[0]) - (amm[acid] - amm[0])
    assert np.corrcoef(made, na[acid])[0, 1] > 0.99
    assert na[t == 96][0] == pytest.approx(made[-1], rel=0.15)
    # more lactate, more base
    more_lac = PS.with_values(Y_lac_glc=1.8)
    res2 = simulate(MODEL, more_lac, rec, t_out=np.array([0.0, 96.0]), method="dp5", rtol=1e-7)
    assert res2["Lac"][-1] > lac[t == 96][0] and res2["Na"][-1] > na[t == 96][0]


def test_charge_balance_and_signals_consistent(controlled):
    _, res = controlled
    out = res.outputs()
    y = res.y
    z = y[:, MODEL.state_index("Z_bg")] + res["Na"] + res["Amm"] - res["Lac"]
    h = 10.0 ** -out["pH [-]"]
    kb = PS["K_buf"]
    buf = PS["B_buf"] * kb / (kb + h)
    np.testing.assert_allclose(out["HCO3 [mM]"] + buf, z, rtol=1e-9)
    np.testing.assert_allclose(out["HCO3 [mM]"] / out["dCO2 [mM]"], out["pH [-]"] * 0 + PS["K1_CO2"] / h,
                               rtol=1e-6)
    for key in cho.outputs(y[:, : len(cho.STATES)], res.p[: len(cho.PARAMETERS)], res.u[:, : len(cho.INPUTS)]):
        assert key in out
    for key, val in out.items():
        assert np.all(np.isfinite(val)), key
    assert np.all(out["offgas_O2 [-]"] < 0.2095 + 1e-12) or np.any(out["y_O2_gas [-]"] > 0.21)
    assert np.all(out["offgas_CO2 [-]"][1:] > 0.05)  # CO2 leaves with the gas
    rq_off = out["RQ_offgas [-]"][24:]
    assert 0.8 < np.median(rq_off) < 1.0
    assert rq_off[-1] == pytest.approx(PS["RQ"], rel=0.05)  # slow change: CTR ~ CER


def _no_cell_recipe(events):
    initial = {"V": 1.0, "Xv": 0.0, "Glc": 30.0, "Gln": 0.5, "Glu": 2.0, "Asn": 6.0,
               "Asp": 1.0, "Lac": 1.0, "Amm": 0.1, "mAb": 1.0, "Mn": 0.1, "mAb_gal": 0.5,
               "Osm_bg": 230.0}
    streams = {
        "feed": Stream("feed", {"Glc": 144.0, "Glu": 12.0, "Asn": 27.0, "Lac": 3.0,
                                "Amm": 0.06, "Mn": 2.0, "Osm_bg": 900.0}),
        "glucose": Stream("glucose", {"Glc": 2775.0}),
    }
    inputs = {"T": 36.5, "pH_sp": 7.0, "kLa": 10.0, "gas_vvm": 0.0, "y_O2_in": 0.2095,
              "y_CO2_in": 0.05}
    rec = Recipe("nocells", "cho_kotidis2019", 100.0, initial, inputs, streams, tuple(events))
    return bioreactor_recipe(rec, params=PS)


def test_mass_balance_without_cells():
    """No cells: every conserved solute's amount = initial + fed - withdrawn, exactly."""
    events = [Event(10.0, "bolus", "feed", 0.05), Event(20.0, "withdraw", "", 0.02),
              Event(30.0, "bolus", "glucose", 0.01), Event(50.0, "rate", "feed", 0.002),
              Event(70.0, "rate", "feed", 0.0), Event(80.0, "withdraw", "", 0.03)]
    rec = _no_cell_recipe(events)
    res = simulate(MODEL, PS, rec, t_out=np.array([0.0, 100.0]), method="dp5", rtol=1e-9)
    vol = 1.0 + 0.05 - 0.02 + 0.01 + 0.002 * 20 - 0.03
    assert res["V"][-1] == pytest.approx(vol, rel=1e-12)
    conc_feed = rec.streams["feed"].composition
    conc_glc = rec.streams["glucose"].composition
    for name in ("Glc", "Glu", "Asn", "Mn", "Osm_bg", "Z_bg", "Lac", "Amm"):
        c = res[name]
        c0 = rec.initial.get(name, 0.0)
        # withdrawals take the concentration they meet; recompute the amounts step by step
        amount = c0 * 1.0 + conc_feed.get(name, 0.0) * 0.05
        v = 1.05
        amount -= amount / v * 0.02
        v -= 0.02
        amount += conc_glc.get(name, 0.0) * 0.01
        v += 0.01
        amount += conc_feed.get(name, 0.0) * 0.04
        v += 0.04
        amount -= amount / v * 0.03
        assert c[-1] * res["V"][-1] == pytest.approx(amount, rel=1e-7), name
    # the gas keeps DO at air saturation; CO2 relaxes back to Henry equilibrium
    assert res["DO"][-1] == pytest.approx(100.0, rel=1e-6)
    assert res["pCO2"][-1] == pytest.approx(38.0, rel=1e-3)


@pytest.mark.parametrize("method", ["LSODA", "Radau"])
def test_dp5_agrees_with_scipy(flask_recipe, method):
    rec = bioreactor_recipe(flask_recipe, kla=4.0)
    t = np.array([0.0, 100.0, 288.0])
    a = simulate(MODEL, PS, rec, t_out=t, method="dp5", rtol=1e-9)
    b = simulate(MODEL, PS, rec, t_out=t, method=method, rtol=1e-9)
    scale = np.abs(b.y[-1]) + 1e-3 * np.maximum(np.abs(b.y).max(axis=0), MODEL.state_scales)
    assert np.max(np.abs(a.y[-1] - b.y[-1]) / scale) < 1e-5


def test_ensemble_matches_single_runs(flask_recipe):
    rec = bioreactor_recipe(flask_recipe)
    inputs = build_inputs(MODEL, rec, PS, n=3)
    params = inputs.params.copy()
    params[:, 0] *= [0.8, 1.0, 1.2]
    from dataclasses import replace

    inputs = replace(inputs, params=params).scale_events(np.array([0.7, 1.0, 1.3]), "bolus")
    ens = run_ensemble(MODEL, inputs, rtol=1e-6)
    assert np.all(ens.ok)
    for m in range(3):
        one = simulate(MODEL, params[m], inputs.member_recipe(m), t_out=ens.t, rtol=1e-6)
        np.testing.assert_allclose(ens.y[m, -1], one.y[-1], rtol=1e-12, atol=1e-15)


# --- pure environment helpers: scalars, arrays, NaN ------------------------------------


def test_hydrogen_ion_solves_the_charge_balance():
    tic = np.array([25.0, 25.0, 10.0, 11.0, np.nan])
    z = np.array([22.0, 10.0, 9.9, 10.0, 9.0])
    h = environment.hydrogen_ion(tic, z, K1, 1.0, KB)
    resid = tic * K1 / (K1 + h) + 1.0 * KB / (KB + h) - z
    np.testing.assert_allclose(resid[:4], 0.0, atol=1e-12)
    assert np.isnan(h[-1])
    scalar = environment.hydrogen_ion(11.0, 10.0, K1, 0.0, KB)
    assert -np.log10(scalar) == pytest.approx(6.1 + np.log10(10.0 / 1.0))  # H-H, no buffer
    assert environment.hydrogen_ion(10.0, 20.0, K1, 1.0, KB) == 1e-10  # out of range: clipped


def test_pi_law_and_anti_windup():
    out = environment.clipped_pi(np.array([-1.0, 0.0, 1.0]), 0.1, 0.05, 0.2, 1.0)
    np.testing.assert_allclose(out, [0.2, 0.25, 0.35])
    # unsaturated: plain integral action; saturated low: the integral tracks the limit
    assert environment.pi_integral_rate(0.5, 0.1, 2.0, 0.0, 0.0, 10.0, 1.0) == 1.0
    rate = environment.pi_integral_rate(-1.0, 0.1, 2.0, 0.0, 0.0, 10.0, 1.0)
    assert rate == pytest.approx(-2.0 + 0.1)
    assert np.isnan(environment.pi_integral_rate(np.nan, 0.1, 2.0, 0.0, 0.0, 10.0, 1.0))


def test_o2_helpers():
    assert environment.o2_saturation(0.2095, 0.21) == pytest.approx(0.21)
    assert environment.o2_saturation(1.0, 0.21) == pytest.approx(1.0024, rel=1e-3)
    up = environment.o2_limited_uptake(np.array([1.0, 1.0, 1.0]), np.array([-0.1, 0.005, 1e3]), 0.005)
    np.testing.assert_allclose(up, [0.0, 0.5, 1.0], atol=1e-5)
    assert environment.gas_transfer_rate(10.0, 0.21, 0.1) == pytest.approx(1.1)
    assert environment.co2_fraction(K1, K1) == pytest.approx(0.5)

import numpy as np
import pytest

from biotwin.errors import SimulationError
from biotwin.models import get_model
from biotwin.parameters import get_parameter_set
from biotwin.recipes import Event, recipe_from_culture
from biotwin.simulation import simulate

MODEL = get_model("cho_kotidis2019")
PS = get_parameter_set("cho_t127_kotidis2019")


@pytest.fixture(scope="module")
def recipe(flask_dir):
    return recipe_from_culture(flask_dir)


def test_dp5_agrees_with_scipy(recipe):
    t = np.array([0.0, 50.0, 144.0, 288.0])
    ref = simulate(MODEL, PS, recipe, t_out=t, method="DOP853", rtol=1e-11)
    fast = simulate(MODEL, PS, recipe, t_out=t, method="dp5", rtol=1e-8)
    lsoda = simulate(MODEL, PS, recipe, t_out=t, method="LSODA", rtol=1e-8)
    np.testing.assert_allclose(fast.y, ref.y, rtol=1e-5, atol=1e-9)  # Na has a kink (max(0, acid))
    np.testing.assert_allclose(lsoda.y, ref.y, rtol=1e-5, atol=1e-6)


def test_bolus_is_an_instantaneous_jump(recipe):
    # feed at 48.01 h: state just before and just after
    res = simulate(MODEL, PS, recipe, t_out=np.array([48.01, 48.0100001]), rtol=1e-10)
    v0, v1 = res["V"]
    assert v1 - v0 == pytest.approx(0.01, rel=1e-4)
    glc0, glc1 = res["Glc"]
    expected = (glc0 * v0 + 144.37 * 0.01) / (v0 + 0.01)
    assert glc1 == pytest.approx(expected, rel=1e-4)


def test_temperature_shift_switches_parameters(recipe):
    ps = PS.with_values(f_mu_low=0.5)
    shifted = recipe.with_events([*recipe.events, Event(100.0, "set", "T", 32.0)])
    a = simulate(MODEL, ps, recipe, t_out=np.array([100.0, 150.0]))
    b = simulate(MODEL, ps, shifted, t_out=np.array([100.0, 150.0]))
    assert a["Xv"][0] == pytest.approx(b["Xv"][0], rel=1e-9)  # identical before the shift
    assert b["Xv"][1] < a["Xv"][1]
    assert b.u[1, MODEL.input_index("T")] == 32.0


def test_withdrawing_more_than_the_volume_fails(recipe):
    bad = recipe.with_events([*recipe.events, Event(10.0, "withdraw", "", 5.0)])
    with pytest.raises(SimulationError, match="withdrawal"):
        simulate(MODEL, PS, bad)


def test_outputs_are_finite_and_plausible(recipe):
    res = simulate(MODEL, PS, recipe)
    frame = res.to_frame()
    assert frame["DO [%]"].between(0, 100.1).all()
    assert (frame["OUR [mM/h]"] > 0).all()
    assert frame["viability [%]"].iloc[0] == pytest.approx(97.0)
    gi = frame["GI [-]"].iloc[-1]
    assert 0.0 < gi < 1.0
    assert frame["Osmolality [mOsm/kg]"].between(250, 500).all()

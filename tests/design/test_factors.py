import numpy as np
import pytest

from biotwin.design import RecipeTemplate
from biotwin.errors import DataError
from biotwin.recipes.recipe import compile_recipe
from biotwin.simulation.ensemble import build_inputs, run_ensemble


@pytest.fixture(scope="module")
def tpl(control, flask_set):
    return RecipeTemplate(flask_set.get_model(), control)


def test_baseline_of_the_control(tpl):
    b = tpl.baseline()
    assert b["feed_interval_h"] == 48.0 and abs(b["feed_start_h"] - 48.01) < 1e-9 and b["harvest_h"] == 288.0
    assert np.isnan(b["shift_time_h"])
    assert np.isclose(tpl.bolus_volume.sum(), 0.01)


def test_no_factor_is_the_recipe(tpl, control, flask_set):
    m = flask_set.get_model()
    p = np.tile(flask_set.vector(m), (2, 1))
    a = tpl.inputs({}, p)
    b = build_inputs(m, control, p)
    for name in ("ev_time", "ev_kind", "ev_index", "ev_value", "y0", "u0", "t_end"):
        assert np.array_equal(getattr(a, name), getattr(b, name)), name


def test_settings_per_member(tpl, flask_set):
    m = flask_set.get_model()
    p = np.tile(flask_set.vector(m), (3, 1))
    inp = tpl.inputs({"feed_scale": np.array([1.0, 2.0, 0.0]), "feed_interval_h": np.array([48.0, 24.0, 48.0]),
                      "shift_time_h": np.array([400.0, 120.0, 150.0]), "harvest_h": np.array([288.0, 240.0, 300.0]),
                      "seed_density": 3e8}, p)
    bol = inp.ev_kind == 0
    t1 = inp.ev_time[1][bol[1] & np.isfinite(inp.ev_time[1])]
    assert np.allclose(t1, 48.01 + 24.0 * np.arange(8))  # every 24 h before 240 h
    assert np.allclose(inp.ev_value[1][bol[1] & np.isfinite(inp.ev_time[1])], 0.02)
    assert np.all(inp.ev_value[2][bol[2]] == 0.0)
    sets = inp.ev_kind == 2
    assert inp.ev_time[1][sets[1]].tolist() == [120.0] and inp.ev_value[1][sets[1]].tolist() == [32.0]
    assert inp.t_end.tolist() == [288.0, 240.0, 300.0]
    assert np.all(inp.y0[:, m.state_index("Xv")] == 3e8)
    assert np.all(np.diff(np.where(np.isfinite(inp.ev_time), inp.ev_time, 1e9), axis=1) >= 0)


def test_to_recipe_agrees_with_the_arrays(tpl, flask_set):
    m = flask_set.get_model()
    s = {"feed_scale": 1.3, "feed_start_h": 36.0, "feed_interval_h": 40.0, "shift_time_h": 150.0,
         "shift_temperature_C": 33.0, "harvest_h": 300.0}
    p = flask_set.vector(m)[None, :]
    arrays = tpl.inputs(s, p)
    rec = tpl.to_recipe(s)
    compiled = build_inputs(m, compile_recipe(rec, m), p)
    t = np.array([0.0, 150.0, 300.0])
    y1 = run_ensemble(m, arrays, t, rtol=1e-7).y
    y2 = run_ensemble(m, compiled, t, rtol=1e-7).y
    assert np.allclose(y1, y2, rtol=1e-9, atol=0)
    assert rec.duration_h == 300.0 and sum(e.kind == "bolus" for e in rec.events) == 7


def test_generic_and_bad_factors(tpl, flask_set):
    m = flask_set.get_model()
    p = np.tile(flask_set.vector(m), (2, 1))
    inp = tpl.inputs({"param.mu_max": np.array([0.05, 0.07]), "input.pH_sp": 6.9, "initial.Glc": 40.0}, p)
    assert inp.params[:, m.parameter_names.index("mu_max")].tolist() == [0.05, 0.07]
    assert np.all(inp.u0[:, m.input_index("pH_sp")] == 6.9) and np.all(inp.y0[:, m.state_index("Glc")] == 40.0)
    with pytest.raises(DataError):
        tpl.inputs({"param.nope": 1.0}, p)
    with pytest.raises(DataError):
        tpl.inputs({"feed_interval_h": 0.0}, p)
    with pytest.raises(DataError):
        tpl.inputs({"feed_scale.nostream": 1.0}, p)

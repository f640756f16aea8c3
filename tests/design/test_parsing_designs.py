import numpy as np
import pytest

from biotwin.design import (
    fractional_factorial,
    full_factorial,
    latin_hypercube,
    make_design,
    parse_factor,
    parse_fixed,
    parse_spec,
    sobol_sequence,
)
from biotwin.design.executor import parse_scheduler
from biotwin.errors import DataError
from biotwin.models import get_model


def test_parse_spec_and_met():
    s = parse_spec("Amm_peak <= 6", get_model("cho_kotidis2019"))
    assert (s.quantity, s.op, s.value) == ("Amm_peak", "<=", 6.0)
    assert parse_spec("GI>=0.2").value == 0.2 and parse_spec("mAb > 4.5e2").value == 450.0
    assert s.met(np.array([5.0, 6.0, 7.0, np.nan])).tolist() == [True, True, False, False]


@pytest.mark.parametrize("bad", ["__import__('os').system('x') >= 1", "mAb >= 1; rm", "mAb == 3", "mAb >= abc",
                                 "mAb"])
def test_parse_spec_rejects_code(bad):
    with pytest.raises(DataError):
        parse_spec(bad)


def test_parse_spec_unknown_quantity():
    with pytest.raises(DataError, match="unknown quantity"):
        parse_spec("titer_max >= 3", get_model("cho_kotidis2019"))


def test_parse_factor_fixed():
    f = parse_factor("feed_scale=0.5:2")
    assert (f.name, f.low, f.high) == ("feed_scale", 0.5, 2.0)
    assert parse_factor("param.mu_max=0.05:0.08").name == "param.mu_max"
    assert parse_fixed("shift_temperature_C=32") == ("shift_temperature_C", 32.0)
    for bad in ("nope=1:2", "feed_scale=2:1", "feed_scale=1"):
        with pytest.raises(DataError):
            parse_factor(bad)


def test_scheduler_parsing():
    assert parse_scheduler(None) == ("inprocess", None)
    assert parse_scheduler("local:3") == ("local", 3)
    assert parse_scheduler("tcp://127.0.0.1:8786") == ("tcp", "tcp://127.0.0.1:8786")
    for bad in ("local:0", "local:x", "http://x"):
        with pytest.raises(DataError):
            parse_scheduler(bad)


def test_full_and_fractional_factorial():
    assert full_factorial([3, 3]).shape == (9, 2)
    d = fractional_factorial("a b c abc")
    assert d.shape == (8, 4)
    pm = 2 * d - 1
    assert np.allclose(pm[:, 3], pm[:, 0] * pm[:, 1] * pm[:, 2])
    assert np.allclose(pm.T @ pm, 8 * np.eye(4))  # orthogonal main effects
    with pytest.raises(DataError):
        fractional_factorial("a c ac")


def test_space_filling_designs():
    lhs = latin_hypercube(10, 3, seed=1)
    # one point per stratum in every dimension
    assert all(sorted(np.floor(lhs[:, j] * 10).astype(int)) == list(range(10)) for j in range(3))
    sob = sobol_sequence(16, 2, seed=1)
    assert sob.shape == (16, 2) and np.all((sob >= 0) & (sob < 1))
    assert np.array_equal(latin_hypercube(10, 3, seed=1), lhs)
    x = make_design("full", [parse_factor("feed_scale=1:2"), parse_factor("harvest_h=240:288")], levels=2)
    assert x.tolist() == [[1, 240], [1, 288], [2, 240], [2, 288]]

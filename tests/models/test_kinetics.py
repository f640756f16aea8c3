import numpy as np
import pytest

from biotwin.models import kinetics as k


def test_monod_scalar_array_nan():
    assert k.monod(2.0, 2.0) == pytest.approx(0.5)
    np.testing.assert_allclose(k.monod(np.array([0.0, 1.0, 3.0]), 1.0), [0.0, 0.5, 0.75])
    assert np.isnan(k.monod(np.nan, 1.0))


def test_inhibition_halves_at_ki():
    assert k.noncompetitive_inhibition(3.0, 3.0) == pytest.approx(0.5)
    assert k.noncompetitive_inhibition(0.0, 3.0) == pytest.approx(1.0)


def test_growth_rate_kotidis_numbers():
    # mu at Glc = K_glc, Asn = K_asn, no inhibitors: mu_max / 4 (KI_lac large)
    mu = k.specific_growth_rate(14.0378, 2.62371, 0.0, 0.0, 0.065, 14.0378, 2.62371, 3.16935, 1000.0)
    assert mu == pytest.approx(0.065 / 4)


def test_asn_asp_exchange_solves_both_balances():
    mu, yxn, yxp, a, b = 0.03, 7.6824e8, 3.59e9, 0.1, 0.126
    q_asn, q_asp = k.asn_asp_exchange(mu, yxn, yxp, a, b)
    assert q_asn == pytest.approx(-mu / yxn - a * q_asp, rel=1e-12)
    assert q_asp == pytest.approx(-mu / yxp - b * q_asn, rel=1e-12)
    assert q_asn < 0


def test_lactate_switches_to_uptake_above_lac_max():
    args = (0.0, -1e-11, 0.0, 5.45539e7, 1.56, 1.87e-10, 21.2, 16.0)
    assert k.lactate_rate(*args) > 0
    high = (*args[:2], 30.0, *args[3:])
    assert k.lactate_rate(*high) < 0


def test_temperature_factor_endpoints():
    assert k.temperature_factor(36.5, 0.5, 36.5, 32.0) == pytest.approx(1.0)
    assert k.temperature_factor(32.0, 0.5, 36.5, 32.0) == pytest.approx(0.5)
    mid = k.temperature_factor(34.25, 0.5, 36.5, 32.0)
    assert mid == pytest.approx(np.sqrt(0.5))


def test_galactosylation_falls_with_ammonium_and_rises_with_mn():
    base = k.galactosylation_fraction(1.0, 2.0, 7.0, 0.75, 0.5, 10.0, 7.0, 0.8)
    assert k.galactosylation_fraction(1.0, 8.0, 7.0, 0.75, 0.5, 10.0, 7.0, 0.8) < base
    assert k.galactosylation_fraction(5.0, 2.0, 7.0, 0.75, 0.5, 10.0, 7.0, 0.8) > base
    assert 0.0 < base < 0.75


def test_substrate_guard():
    assert k.substrate_guard(0.0, 0.01) == 0.0
    assert k.substrate_guard(-1.0, 0.01) == 0.0
    assert k.substrate_guard(10.0, 0.01) > 0.999


def test_growth_arrest_factor_halves_at_k_age_and_is_off_at_zero():
    assert k.growth_arrest_factor(2.5e12, 2.5e12) == pytest.approx(0.5)
    assert k.growth_arrest_factor(5e12, 2.5e12) == pytest.approx(0.2)
    assert k.growth_arrest_factor(0.0, 2.5e12) == 1.0
    assert k.growth_arrest_factor(1e13, 0.0) == 1.0  # K_age = 0: the published model

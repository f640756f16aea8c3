"""Control limits of the monitor's charts: time-varying quantiles and extreme-value factors."""

import numpy as np
import pytest


def test_batch_factor_takes_the_heavy_tail_when_the_maxima_have_one():
    from scipy import stats

    from biotwin.monitoring.limits import batch_factor

    rng = np.random.default_rng(0)
    light = stats.gumbel_r.rvs(loc=1.0, scale=0.1, size=40, random_state=rng)
    heavy = np.exp(stats.gumbel_r.rvs(loc=0.0, scale=0.5, size=40, random_state=rng))  # Frechet-like
    g_loc, g_sc = stats.gumbel_r.fit(heavy)
    gumbel_only = stats.gumbel_r.ppf(1 - 0.005, g_loc, g_sc)
    # bursty maxima: the factor follows the heavy tail, above what a Gumbel fit would give
    assert batch_factor(heavy, 0.005) > 1.2 * gumbel_only
    # light-tailed maxima keep (about) the Gumbel quantile
    l_loc, l_sc = stats.gumbel_r.fit(light)
    assert batch_factor(light, 0.005) == pytest.approx(max(light.max(), stats.gumbel_r.ppf(1 - 0.005, l_loc, l_sc)),
                                                       rel=0.05)


def test_batch_factor_of_maxima_equal_to_within_rounding_is_their_value():
    from biotwin.monitoring.limits import batch_factor

    # 27 out-of-fold maxima of one PenSimPy chart, equal but for the last bit: scipy's Gumbel fit
    # overflowed ("int too large to convert to float") and the monitor's fit crashed
    lo, hi = float.fromhex("0x1.cfb9c8695314ap-1"), float.fromhex("0x1.cfb9c8695314fp-1")
    m = np.array([hi if i % 5 in (3, 4) else lo for i in range(27)])
    assert np.ptp(m) > 0
    assert batch_factor(m, 0.001) == 1.0
    assert batch_factor(m * 3.0, 0.001) == pytest.approx(3.0 * m.max())


def test_sided_limits_keep_the_quiet_side_tight():
    from biotwin.monitoring.limits import tv_limit, tv_limit_sided

    rng = np.random.default_rng(0)
    t = np.tile(np.arange(0.0, 50.0, 0.5), 30)
    lopsided = rng.normal(0, 1, t.size)
    lopsided[rng.random(t.size) < 0.05] -= 20.0  # a long tail below, none above
    both = np.column_stack([lopsided, rng.normal(0, 1, t.size)])
    grid = np.linspace(0.0, 50.0, 20)
    up, low = tv_limit_sided(t, both, grid, 0.99, mask=np.array([True, False]))
    two = tv_limit(t, np.abs(both), grid, 0.99)
    # the quiet side's limit is that of the noise; the tail's side and the one-limit chart see the tail
    assert np.all(up[:, 0] < 4.0) and np.all(low[:, 0] > 15.0) and np.all(two[:, 0] > 15.0)
    # a column outside the mask keeps the two-sided limit on both sides
    np.testing.assert_allclose(up[:, 1], two[:, 1])
    np.testing.assert_allclose(low[:, 1], two[:, 1])


def test_a_limit_whose_quantiles_are_zero_is_floored_at_a_tenth_of_the_overall_one():
    from biotwin.monitoring.limits import tv_limit

    t = np.tile(np.arange(0.0, 50.0, 0.5), 30)
    cus = np.zeros(t.size)
    cus[t > 45.0] = np.random.default_rng(0).uniform(0.0, 50.0, int((t > 45.0).sum()))  # a CUSUM, 0 until late
    lim = tv_limit(t, cus, np.linspace(0.0, 50.0, 20), 0.99)
    # zero limits made any positive value an alarm with a ratio of 1e12 and more
    assert np.all(lim > 0.0)
    assert lim.min() == pytest.approx(0.1 * np.quantile(cus, 0.99))

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


def test_batch_factor_is_never_below_the_margin_times_the_largest_maximum():
    from biotwin.monitoring.limits import batch_factor

    rng = np.random.default_rng(1)
    tight = 2.0 + 0.01 * rng.standard_normal(27)  # maxima that cluster: a thin fitted tail
    plain = batch_factor(tight, 2e-4)
    assert plain < 1.2 * tight.max()  # the law's quantile sits just above the largest maximum
    assert batch_factor(tight, 2e-4, margin=1.75) == pytest.approx(1.75 * tight.max())
    # a wide law's quantile above the margin is kept as it is
    wide = 1.0 + rng.gumbel(0.0, 1.0, 27) ** 2
    assert batch_factor(wide, 2e-4, margin=1.2) == pytest.approx(batch_factor(wide, 2e-4))
    assert batch_factor(tight, 2e-4, margin=1.0) == plain


def test_loo_margin_is_what_a_left_out_batch_says_the_factors_lack():
    from biotwin.monitoring.limits import batch_factor, loo_margin

    rng = np.random.default_rng(3)
    calm = 1.0 + rng.gumbel(0.0, 0.3, (30, 4))  # four charts of a well-modelled family
    assert loo_margin(calm, 2e-4) == 1.0
    # one batch far beyond the others on one chart: the margin is its ratio to the factor the
    # other batches give that chart
    odd = calm.copy()
    odd[7, 2] = 4.0 * batch_factor(np.delete(calm[:, 2], 7), 2e-4)
    assert loo_margin(odd, 2e-4) == pytest.approx(4.0)
    assert loo_margin(odd[:, 2], 2e-4) == pytest.approx(4.0)  # one chart as a vector
    assert loo_margin(odd, 0.0) == 1.0 and loo_margin(odd[:5], 2e-4) == 1.0  # no budget, too few
    assert loo_margin(np.zeros((30, 3)), 2e-4) == 1.0  # a chart that never moves

"""A spectrum's channels smoothed in time without lag (Brown's local-linear exponential smoothing)."""

import numpy as np
import pandas as pd
import pytest

from biotwin.errors import DataError
from biotwin.softsensors import SoftSensor
from biotwin.softsensors.features import ewma, hold, local_linear_ewma

UNEVEN = np.sort(np.r_[0.0, np.random.default_rng(1).uniform(0.0, 30.0, 300)])


@pytest.mark.parametrize(("t", "atol"), [(np.linspace(0.0, 30.0, 151), 1e-6), (UNEVEN, 0.1)])
def test_local_linear_smoothing_follows_a_line_where_the_single_smooth_lags(t, atol):
    # exact on even steps; on uneven ones within a tenth of the single smooth's lag
    x = 3.0 + 2.0 * t
    late = t > 10.0  # twenty time constants: the start-up has died away
    np.testing.assert_allclose(local_linear_ewma(t, x, 0.5)[late], x[late], atol=atol)
    lag = x[late] - ewma(t, x, 0.5)[late]
    assert lag.min() > 0.5 and lag.max() < 1.2  # about the slope times the time constant
    # a constant stays, 0 leaves the values as they are, columns are smoothed on their own
    np.testing.assert_allclose(local_linear_ewma(t, np.full(len(t), 7.0), 0.5), 7.0)
    np.testing.assert_array_equal(local_linear_ewma(t, x, 0.0), x)
    two = local_linear_ewma(t, np.column_stack([x, 2.0 * x]), 0.5)
    np.testing.assert_allclose(two[:, 1], 2.0 * two[:, 0])


def test_local_linear_smoothing_damps_noise_less_than_the_single_smooth_but_damps_it():
    t = np.arange(0.0, 2000.0, 0.2)
    e = np.random.default_rng(0).normal(0.0, 1.0, len(t))
    single, double = float(np.std(ewma(t, e, 0.5))), float(np.std(local_linear_ewma(t, e, 0.5)))
    assert 0.35 < single < 0.5 < double < 0.75  # 1 - exp(-0.4) = 0.33: sd sqrt(a / (2 - a)) = 0.44


NU = np.linspace(800.0, 1800.0, 60)
BAND = np.exp(-0.5 * ((NU - 1300.0) / 60.0) ** 2)


def _batch(rng: np.random.Generator, delay_h: float = 0.0) -> pd.DataFrame:
    """A product formed at a rate that swings with a batch's own period and phase (feeds,
    phases), seen by a band of a spectrum with a little noise on every row; its column holds
    the product ``delay_h`` before the row (a lab record of an earlier sample)."""
    t = np.arange(0.0, 40.0, 0.2)
    period, phase = rng.uniform(6.0, 14.0), rng.uniform(0.0, 2.0 * np.pi)
    rate = rng.uniform(0.8, 1.2) * (1.0 + 0.8 * np.sin(2.0 * np.pi * t / period + phase))
    product = np.r_[0.0, np.cumsum(0.5 * (rate[1:] + rate[:-1]) * np.diff(t))]
    spectrum = np.outer(product, BAND) + rng.normal(0.0, 0.3, (len(t), len(NU)))
    f = pd.DataFrame(spectrum, columns=[f"{v:.0f}" for v in NU])
    f.insert(0, "time_h", t)
    f["temperature [degC]"] = 36.5 + rng.normal(0.0, 0.05, len(t))
    f["product [g/L]"] = np.interp(t - delay_h, t, product)
    return f


def _rmse(ss: SoftSensor, test: list[pd.DataFrame]) -> float:
    return float(np.sqrt(np.mean(np.concatenate([ss.predict(f) - f["product [g/L]"].to_numpy() for f in test]) ** 2)))


KW = {"target": "product [g/L]", "candidates": ("ridge",), "smooth_h": 0.5}


def test_a_spectrum_smoothed_without_lag_predicts_a_rising_product_better():
    rng = np.random.default_rng(2)
    train, test = [_batch(rng) for _ in range(12)], [_batch(rng) for _ in range(3)]
    brown = SoftSensor(spectra_smoothing="local-linear", **KW).fit(train)
    single = SoftSensor(spectra_smoothing="ewma", **KW).fit(train)
    assert brown.metadata()["spectra_smoothing"] == "local-linear" and brown.spectra_smoothing_cv_ == {}
    assert single.metadata()["spectra_smoothing"] == "ewma"
    # the single smooth lags the product's rise by half an hour (0.2-2.2 g/L/h)
    assert _rmse(brown, test) < 0.6 * _rmse(single, test)
    # ``auto`` (the default) finds that out of fold
    auto = SoftSensor(**KW).fit(train)
    assert auto.spectra_smoothing_ == "local-linear"
    assert auto.spectra_smoothing_cv_["local-linear"] < 0.6 * auto.spectra_smoothing_cv_["ewma"]
    assert auto.metadata()["spectra_smoothing_cv_rmse"] == auto.spectra_smoothing_cv_
    np.testing.assert_allclose(auto.predict(test[0]), brown.predict(test[0]))
    # a model saved before the option existed smooths as it did: the single smooth
    f = test[0]
    cols = [f"{v:.0f}" for v in NU]
    t = f["time_h"].to_numpy()
    np.testing.assert_allclose(brown._features(f)[cols].to_numpy(),
                               local_linear_ewma(t, hold(f[cols].to_numpy()), 0.5))
    del brown.spectra_smoothing_
    np.testing.assert_allclose(brown._features(f)[cols].to_numpy(), ewma(t, hold(f[cols].to_numpy()), 0.5))
    assert brown.metadata()["spectra_smoothing"] == "ewma"


def test_auto_reuses_the_ridges_it_chose_the_smoothing_with(monkeypatch):
    # the ridge path that chooses the smoothing runs on the candidates' features, rows and
    # folds: the fit takes its out-of-fold predictions instead of fitting the ridges again
    from biotwin.softsensors import estimators

    rng = np.random.default_rng(2)
    train = [_batch(rng) for _ in range(12)]
    calls = []
    path = estimators.RidgeRegressor._path
    monkeypatch.setattr(estimators.RidgeRegressor, "_path",
                        staticmethod(lambda *a, **k: calls.append(1) or path(*a, **k)))
    auto = SoftSensor(**KW).fit(train)
    n_auto = len(calls)
    calls.clear()
    fixed = SoftSensor(spectra_smoothing=auto.spectra_smoothing_, **KW).fit(train)
    # one path per fold for the other smoothing, none again for the chosen one
    assert n_auto == len(calls) + 5
    ridges = [n for n in fixed.cv_rmse_ if n.startswith("ridge")]
    assert len(ridges) == 6
    np.testing.assert_allclose([auto.cv_rmse_[n] for n in ridges], [fixed.cv_rmse_[n] for n in ridges],
                               rtol=1e-12)
    assert auto.chosen_ == fixed.chosen_
    assert min(auto.cv_rmse_[n] for n in ridges) == auto.spectra_smoothing_cv_[auto.spectra_smoothing_]


def test_a_record_of_the_sample_half_an_hour_before_the_row_keeps_the_single_smooth():
    # the single smooth's lag of one time constant matches a record of an earlier sample
    # (IndPenSim's offline assays report the sample of 0.8 h before their row): ``auto`` keeps it
    rng = np.random.default_rng(2)
    train, test = [_batch(rng, 0.5) for _ in range(12)], [_batch(rng, 0.5) for _ in range(3)]
    auto = SoftSensor(**KW).fit(train)
    assert auto.spectra_smoothing_ == "ewma"
    assert auto.spectra_smoothing_cv_["ewma"] < auto.spectra_smoothing_cv_["local-linear"]
    assert _rmse(auto, test) < _rmse(SoftSensor(spectra_smoothing="local-linear", **KW).fit(train), test)


def test_an_unknown_spectra_smoothing_is_refused():
    with pytest.raises(DataError, match="spectra_smoothing must be one of"):
        SoftSensor(target="product [g/L]", spectra_smoothing="savgol").fit([_batch(np.random.default_rng(0))] * 2)

"""scikit-learn estimator checks and unit tests of the soft-sensor estimators."""

import numpy as np
import pytest
from sklearn.utils.estimator_checks import parametrize_with_checks

from biotwin.softsensors.estimators import (
    ApplicabilityDomain,
    BoostingRegressor,
    ColumnsRegressor,
    ConformalRegressor,
    GPRegressor,
    HybridRegressor,
    LassoRegressor,
    MeanRegressor,
    PLSRegressor,
    RidgeRegressor,
)

ESTIMATORS = [
    PLSRegressor(n_components=2),
    BoostingRegressor(max_iter=20),
    GPRegressor(max_samples=60, n_latent=2),
    HybridRegressor(PLSRegressor(n_components=2)),
    ConformalRegressor(PLSRegressor(n_components=2), cv=3),
    ApplicabilityDomain(),
    RidgeRegressor(alpha=1e-3),
    LassoRegressor(alpha=1e-3),
    ColumnsRegressor(PLSRegressor(n_components=1)),
    MeanRegressor([PLSRegressor(n_components=1), RidgeRegressor()]),
]


@parametrize_with_checks(ESTIMATORS)
def test_sklearn_compatible(estimator, check):
    check(estimator)


def test_conformal_coverage_and_domain():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(600, 4))
    y = X @ [1.0, -2.0, 0.5, 0.0] + rng.normal(0, 0.3, 600)
    groups = np.repeat(np.arange(30), 20)
    cr = ConformalRegressor(PLSRegressor(n_components=3), alpha=0.1).fit(X[:400], y[:400], groups=groups[:400])
    _, lo, hi = cr.predict_interval(X[400:])
    cover = np.mean((y[400:] >= lo) & (y[400:] <= hi))
    assert 0.8 <= cover <= 0.98
    ad = ApplicabilityDomain().fit(X)
    assert np.mean(ad.predict(X) == 1) > 0.95
    assert np.all(ad.predict(X[:5] + 20.0) == -1)


def test_hybrid_learns_residual():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(300, 3))
    mech = 2 * X[:, 0]
    y = mech + 0.5 * X[:, 1]
    Xh = np.column_stack([X, mech])
    h = HybridRegressor(PLSRegressor(n_components=2)).fit(Xh, y)
    assert np.sqrt(np.mean((h.predict(Xh) - y) ** 2)) < 0.05


@pytest.mark.parametrize("n", [1, 3])
def test_pls_caps_components(n):
    X = np.arange(12.0).reshape(6, 2) ** 1.5
    assert PLSRegressor(n_components=10).fit(X, np.arange(6.0)).pls_.n_components <= 2


def test_ridge_and_mean_fit_linear_data():
    rng = np.random.default_rng(2)
    X = rng.normal(size=(200, 5)) * [1.0, 10.0, 0.1, 1.0, 1.0]
    y = X @ [1.0, 0.2, 5.0, 0.0, -1.0] + 3.0
    r = RidgeRegressor(alpha=1e-6).fit(X, y)
    assert np.sqrt(np.mean((r.predict(X) - y) ** 2)) < 1e-3
    c = ColumnsRegressor(RidgeRegressor(alpha=1e-6), columns=[0, 1, 2, 4]).fit(X, y)
    assert np.allclose(c.predict(X), y, atol=1e-3)
    m = MeanRegressor([RidgeRegressor(alpha=1e-6), PLSRegressor(n_components=5)]).fit(X, y)
    assert np.allclose(m.predict(X), y, atol=1e-3)


def test_lasso_keeps_the_informative_features_under_label_noise():
    # 600 noisy rows, 120 features of which 3 carry the target: ridge spreads the noise over
    # every feature, the lasso keeps few and predicts the noise-free target closer
    rng = np.random.default_rng(5)
    X = rng.normal(size=(900, 120)) * rng.uniform(0.1, 10.0, 120)
    clean = 2.0 * X[:, 0] / np.std(X[:, 0]) - X[:, 7] / np.std(X[:, 7]) + 0.5 * X[:, 40] / np.std(X[:, 40]) + 10.0
    y = clean + rng.normal(0.0, 1.0, 900)
    lasso = LassoRegressor(alpha=3e-2).fit(X[:600], y[:600])
    ridge = RidgeRegressor(alpha=1e-4).fit(X[:600], y[:600])
    err_lasso = np.sqrt(np.mean((lasso.predict(X[600:]) - clean[600:]) ** 2))
    err_ridge = np.sqrt(np.mean((ridge.predict(X[600:]) - clean[600:]) ** 2))
    assert err_lasso < 0.7 * err_ridge
    assert {0, 7, 40} <= set(np.flatnonzero(lasso.coef_)) and lasso.n_selected_ < 20
    # the penalty is in units of the target's spread: the same fit for the target in other units
    scaled = LassoRegressor(alpha=3e-2).fit(X[:600], 1000.0 * y[:600])
    np.testing.assert_allclose(scaled.predict(X[600:]), 1000.0 * lasso.predict(X[600:]), rtol=1e-6)


def test_lasso_screens_wide_inputs_to_the_correlated_columns():
    # 3000 columns, 200 rows: the lasso sees the 512 columns most correlated with the target
    rng = np.random.default_rng(6)
    X = rng.normal(size=(260, 3000))
    y = 3.0 * X[:, 10] - 2.0 * X[:, 2500] + rng.normal(0.0, 0.3, 260)
    lasso = LassoRegressor(alpha=3e-2).fit(X[:200], y[:200])
    assert len(lasso.inputs_) == 512 and lasso.coef_.shape == (3000,)
    assert {10, 2500} <= set(np.flatnonzero(lasso.coef_))
    assert np.sqrt(np.mean((lasso.predict(X[200:]) - y[200:]) ** 2)) < 0.6
    narrow = LassoRegressor(alpha=3e-2).fit(X[:200, :300], y[:200])  # no more columns than 512: all seen
    assert len(narrow.inputs_) == 300


def test_ridge_dual_form_matches_primal_on_wide_data():
    rng = np.random.default_rng(3)
    X = rng.normal(size=(40, 300))  # more columns than rows: the dual system is solved
    y = X[:, 0] - 2 * X[:, 5] + rng.normal(0, 0.1, 40)
    wide = RidgeRegressor(alpha=0.01).fit(X, y)
    Z = (X - wide.x_mean_) / wide.x_scale_
    primal = np.linalg.solve(Z.T @ Z + 0.01 * 40 * np.eye(300), Z.T @ (y - y.mean()))
    np.testing.assert_allclose(wide.coef_, primal, rtol=1e-6, atol=1e-9)


def test_boosting_screens_wide_inputs_to_the_informative_columns():
    rng = np.random.default_rng(4)
    X = rng.normal(size=(300, 2000))
    y = np.sin(X[:, 7]) * 3 + np.tanh(X[:, 1500]) * 2
    est = BoostingRegressor(max_inputs=50, linear_base=False).fit(X, y)
    assert est.inputs_.shape == (50,)
    assert {7, 1500} <= set(est.inputs_.tolist())
    Xt = rng.normal(size=(200, 2000))
    yt = np.sin(Xt[:, 7]) * 3 + np.tanh(Xt[:, 1500]) * 2
    assert np.sqrt(np.mean((est.predict(Xt) - yt) ** 2)) < 0.5 * np.std(yt)


def test_domain_on_wide_inputs_uses_leading_components():
    rng = np.random.default_rng(5)
    scores = rng.normal(size=(3000, 5))
    X = scores @ rng.normal(size=(5, 400)) + rng.normal(0, 0.05, (3000, 400))
    ad = ApplicabilityDomain(n_components=0.95, alpha=0.01).fit(X)
    assert ad.components_.shape[1] <= 60
    inside = ad.predict(scores[:50] @ np.zeros((5, 400)) + X[:50])
    far = ad.predict(X[:50] + 10.0 * rng.normal(size=(50, 400)))
    assert (inside > 0).mean() > 0.9 and (far < 0).all()


@pytest.mark.parametrize("shape", [(300, 20), (120, 400), (40, 3)])
def test_out_of_fold_many_equals_each_regressor_on_its_own(shape):
    """PLS of several sizes share one fit per fold, ridges and lassos one Gram matrix; each
    regressor's out-of-fold predictions are still its own (up to rounding), also on a subset
    of columns, with more components asked than the data allow, with screened inputs, and for
    regressors that share nothing."""
    from biotwin.softsensors.estimators import out_of_fold, out_of_fold_many

    n, p = shape
    rng = np.random.default_rng(1)
    X = rng.normal(size=(n, p))
    y = 2 * X[:, 0] + np.sin(X[:, 1]) + 0.1 * rng.normal(size=n)
    groups = np.arange(n) % 8
    ests = {f"pls{k}": PLSRegressor(n_components=k) for k in (1, 2, 5, 32)}
    ests.update({f"ridge{a:g}": RidgeRegressor(alpha=a) for a in (1e-5, 1e-2, 1.0)})
    ests.update({f"cols_pls{k}": ColumnsRegressor(PLSRegressor(n_components=k), [2, 0, 1]) for k in (1, 3)})
    ests["cols_ridge"] = ColumnsRegressor(RidgeRegressor(alpha=1e-3), [0, 1])
    ests.update({f"lasso{a:g}": LassoRegressor(alpha=a) for a in (1e-3, 1e-1)})
    ests.update({f"screened_lasso{a:g}": LassoRegressor(alpha=a, max_inputs=8) for a in (1e-3, 1e-2)})
    ests["gbm"] = BoostingRegressor(max_iter=10)
    many = out_of_fold_many(ests, X, y, groups, cv=4)
    assert list(many) == list(ests)
    for name, est in ests.items():
        np.testing.assert_allclose(many[name], out_of_fold(est, X, y, groups, cv=4), rtol=1e-9, atol=1e-9)
    # the sizes differ: the shared fit did not hand one model's predictions to every size
    assert not np.allclose(many["pls1"], many["pls5"])
    assert not np.allclose(many["ridge1e-05"], many["ridge1"])
    assert not np.allclose(many["lasso0.001"], many["lasso0.1"])


def test_out_of_fold_many_groups_only_what_differs_in_the_path_parameter():
    from biotwin.softsensors.estimators import _path_key

    assert _path_key(PLSRegressor(n_components=2)) == _path_key(PLSRegressor(n_components=32))
    assert _path_key(ColumnsRegressor(PLSRegressor(3), [0, 1])) == _path_key(ColumnsRegressor(PLSRegressor(8), [0, 1]))
    assert _path_key(ColumnsRegressor(PLSRegressor(3), [0, 1])) != _path_key(ColumnsRegressor(PLSRegressor(3), [0, 2]))
    assert _path_key(RidgeRegressor(alpha=1e-3)) == _path_key(RidgeRegressor(alpha=1.0))
    assert _path_key(LassoRegressor(alpha=1e-3)) != _path_key(LassoRegressor(alpha=1e-3, max_inputs=8))
    assert _path_key(PLSRegressor(2)) != _path_key(RidgeRegressor())
    assert _path_key(BoostingRegressor()) is None and _path_key(ColumnsRegressor(GPRegressor(), [0])) is None

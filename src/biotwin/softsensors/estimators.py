"""Soft-sensor regressors and their companions, as scikit-learn estimators.

- :class:`PLSRegressor`: scaled PLS, the industry baseline (Wold, Sjöström & Eriksson 2001,
  Chemom Intell Lab Syst 58:109, doi:10.1016/S0169-7439(01)00155-1);
- :class:`RidgeRegressor`: ridge regression on autoscaled inputs (Hoerl & Kennard 1970,
  Technometrics 12:55, doi:10.1080/00401706.1970.10488634);
- :class:`LassoRegressor`: the lasso on autoscaled inputs and target (Tibshirani 1996,
  J R Stat Soc B 58:267, doi:10.1111/j.2517-6161.1996.tb02080.x), solved by coordinate
  descent (Friedman, Hastie & Tibshirani 2010, J Stat Softw 33(1), doi:10.18637/jss.v033.i01);
- :class:`ColumnsRegressor`: any regressor on a subset of the columns (e.g. PLS on the raw
  inputs only, next to models on the engineered features);
- :class:`MeanRegressor`: the mean of several regressors' predictions (model averaging,
  Breiman 1996, Mach Learn 24:49, doi:10.1007/BF00117832; Wolpert 1992 stacking with equal
  weights);
- :class:`BoostingRegressor`: histogram gradient boosting (Friedman 2001, Ann Stat 29:1189,
  doi:10.1214/aos/1013203451; Ke et al. 2017, LightGBM, NeurIPS);
- :class:`GPRegressor`: Gaussian process with an ARD squared-exponential kernel and white
  noise (Rasmussen & Williams 2006, Gaussian Processes for Machine Learning, MIT Press);
- :class:`HybridRegressor`: learns the residual of a mechanistic prediction carried in one
  input column (serial grey-box; Psichogios & Ungar 1992, AIChE J 38:1499,
  doi:10.1002/aic.690381003);
- :class:`ConformalRegressor`: prediction intervals from out-of-fold residuals (CV+ in the
  sense of Barber et al. 2021, Ann Stat 49:486, doi:10.1214/20-AOS1965), Mondrian by bins of
  the prediction (Vovk, Gammerman & Shafer 2005, Algorithmic Learning in a Random World);
- :class:`ApplicabilityDomain`: PCA on the inputs with Hotelling T2 and DModX limits,
  flags extrapolation;
- :func:`out_of_fold` and :func:`out_of_fold_many`: grouped out-of-fold predictions, the
  latter sharing one fit per fold among PLS sizes, ridge penalties and lasso penalties.
"""

from __future__ import annotations

import numbers
import warnings
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
from scipy.linalg import cho_factor, cho_solve, pinv
from sklearn.base import BaseEstimator, OutlierMixin, RegressorMixin, clone
from sklearn.cross_decomposition import PLSRegression
from sklearn.ensemble import HistGradientBoostingRegressor
from sklearn.exceptions import ConvergenceWarning
from sklearn.feature_selection import SelectKBest, f_regression
from sklearn.gaussian_process import GaussianProcessRegressor
from sklearn.gaussian_process.kernels import RBF, ConstantKernel, WhiteKernel
from sklearn.linear_model import Lasso
from sklearn.model_selection import GroupKFold, KFold
from sklearn.utils.extmath import randomized_svd
from sklearn.utils.validation import check_is_fitted, validate_data

from biotwin.monitoring.stats import dmodx, hotelling_t2, t2_limit


def _scale(X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    mean = X.mean(axis=0)
    sd = X.std(axis=0)
    sd[~np.isfinite(sd) | (sd < 1e-12)] = 1.0
    return mean, sd


class PLSRegressor(RegressorMixin, BaseEstimator):
    """Partial least squares on autoscaled inputs; ``n_components`` is capped by the data.

    Parameters
    ----------
    n_components : int
        Latent variables (capped at ``min(n_samples - 1, n_features)``).
    """

    def __init__(self, n_components: int = 5) -> None:
        self.n_components = n_components

    def fit(self, X: Any, y: Any) -> PLSRegressor:
        """Fit on ``X`` of shape (n_samples, n_features) and ``y`` of shape (n_samples,)."""
        X, y = validate_data(self, X, y, y_numeric=True)
        self.x_mean_, self.x_scale_ = _scale(X)
        k = int(max(1, min(self.n_components, X.shape[1], max(X.shape[0] - 1, 1))))
        Z = (X - self.x_mean_) / self.x_scale_
        self.z_mean_ = Z.mean(axis=0)  # what PLSRegression centres on (about 0): for predict_components
        self.pls_ = PLSRegression(n_components=k, scale=False).fit(Z, y)
        return self

    def predict(self, X: Any) -> np.ndarray:
        """Predictions, shape (n_samples,)."""
        check_is_fitted(self, "pls_")
        X = validate_data(self, X, reset=False)
        return np.asarray(self.pls_.predict((X - self.x_mean_) / self.x_scale_)).reshape(-1)

    def predict_components(self, X: Any, n_components: Sequence[int]) -> np.ndarray:
        """Predictions of the PLS with only its first ``k`` components, for each ``k`` in
        ``n_components`` (capped at the components fitted), shape (n_samples, len(n_components)).

        NIPALS extracts the components one at a time, each from what the previous ones left
        (Wold, Sjöström & Eriksson 2001, section 3), so the first ``k`` components of a fit
        with more are those of a fit with ``k``; their regression coefficients are
        ``W_k (P_k' W_k)^-1 q_k'`` (the same formula as PLSRegression's ``coef_``). One fit
        thus gives every smaller model's predictions: cross-validating nine numbers of
        components costs one fit per fold instead of nine.
        """
        check_is_fitted(self, "pls_")
        X = validate_data(self, X, reset=False)
        Zc = (X - self.x_mean_) / self.x_scale_ - getattr(self, "z_mean_", 0.0)
        W, P, Q = self.pls_.x_weights_, self.pls_.x_loadings_, self.pls_.y_loadings_
        out = np.empty((X.shape[0], len(n_components)))
        for j, k in enumerate(n_components):
            k = int(max(1, min(k, W.shape[1])))
            coef = W[:, :k] @ pinv(P[:, :k].T @ W[:, :k], check_finite=False) @ Q[:, :k].T
            out[:, j] = (Zc @ coef).reshape(-1) + float(np.ravel(self.pls_.intercept_)[0])
        return out

    @staticmethod
    def _path(X: np.ndarray, y: np.ndarray, n_components: Sequence[int]) -> Callable[[np.ndarray], np.ndarray]:
        """Predictor of the PLS with each number of components (for :func:`out_of_fold_many`)."""
        model = PLSRegressor(n_components=max(n_components)).fit(X, y)
        return lambda Xn: model.predict_components(Xn, n_components)


class RidgeRegressor(RegressorMixin, BaseEstimator):
    """Ridge regression on autoscaled inputs (every feature to unit variance before the penalty).

    Parameters
    ----------
    alpha : float
        Penalty on the squared coefficients, per training row (scaled by ``n_samples`` so one
        value suits small and large training sets).
    """

    def __init__(self, alpha: float = 1e-2) -> None:
        self.alpha = alpha

    def fit(self, X: Any, y: Any) -> RidgeRegressor:
        """Fit on ``X`` of shape (n_samples, n_features) and ``y`` of shape (n_samples,)."""
        X, y = validate_data(self, X, y, y_numeric=True)
        self.x_mean_, self.x_scale_ = _scale(X)
        Z = (X - self.x_mean_) / self.x_scale_
        self.intercept_ = float(np.mean(y))
        self.coef_ = self._solve(Z, y - self.intercept_, [self.alpha])[:, 0]
        return self

    @staticmethod
    def _solve(Z: np.ndarray, yc: np.ndarray, alphas: Sequence[float]) -> np.ndarray:
        """Coefficients for each penalty in ``alphas`` (per row), shape (n_features, len(alphas)).

        The primal (p x p) or, with more features than rows, the dual (n x n) system: the same
        solution, coef = Z' (Z Z' + lam I)^-1 y (Hastie, Tibshirani & Friedman 2009, ESL,
        18.3.5). The Gram matrix, the costly part, is formed once for every penalty.
        """
        dual = Z.shape[1] > Z.shape[0]
        G = Z @ Z.T if dual else Z.T @ Z
        b = yc if dual else Z.T @ yc
        out = np.empty((Z.shape[1], len(alphas)))
        for j, alpha in enumerate(alphas):
            A = G.copy()
            A[np.diag_indices_from(A)] += alpha * Z.shape[0]
            # symmetric positive definite for alpha > 0: Cholesky, half the cost of LU (on 4800
            # rows, 6 penalties: 12 s per fold with LU)
            try:
                w = cho_solve(cho_factor(A, check_finite=False), b, check_finite=False)
            except np.linalg.LinAlgError:
                w = np.linalg.lstsq(A, b, rcond=None)[0]
            out[:, j] = Z.T @ w if dual else w
        return out

    @staticmethod
    def _path(X: np.ndarray, y: np.ndarray, alphas: Sequence[float]) -> Callable[[np.ndarray], np.ndarray]:
        """Predictor of the ridge fitted with each penalty in ``alphas`` (for :func:`out_of_fold_many`)."""
        mean, scale = _scale(X)
        intercept = float(np.mean(y))
        coef = RidgeRegressor._solve((X - mean) / scale, y - intercept, alphas)
        return lambda Xn: intercept + ((Xn - mean) / scale) @ coef

    def predict(self, X: Any) -> np.ndarray:
        """Predictions, shape (n_samples,)."""
        check_is_fitted(self, "coef_")
        X = validate_data(self, X, reset=False)
        return self.intercept_ + ((X - self.x_mean_) / self.x_scale_) @ self.coef_


class LassoRegressor(RegressorMixin, BaseEstimator):
    """The lasso on autoscaled inputs and target: a sparse linear model.

    Ridge and PLS spread weight over every feature, so with noisy assays each of the many
    engineered features (values, integrals, rates, ratios) carries some of the noise into the
    prediction; the lasso keeps a few and sets the others to zero. Measured on PenSimPy
    biomass assayed with 3 % noise (bench/penicillin_process.py, 125 features, 600 assayed
    rows): test RMSE against the noise-free truth 0.24 g/L for the best ridge, 0.10 g/L for
    the lasso at ``alpha`` 3e-3 (the soft sensor's choice; 0.21 g/L before it competed).

    Parameters
    ----------
    alpha : float
        L1 penalty, in units of the target's standard deviation (the features are autoscaled
        too), so one grid suits every target.
    max_iter : int
        Coordinate-descent sweeps at most.
    max_inputs : int
        With more columns than this, the lasso sees only the ``max_inputs`` columns most
        correlated with the target (sure independence screening, Fan & Lv 2008, J R Stat Soc
        B 70:849, doi:10.1111/j.1467-9868.2008.00674.x), chosen inside ``fit`` so that
        cross-validation stays honest. A sweep costs rows x columns without the Gram matrix
        and columns squared with it, and a lasso keeps at most as many features as it has
        rows. Until the twenty-fifth session the screening waited for more columns than rows
        too; on 4800 rows of 4600 features (IndPenSim with its Raman spectrum, the dense
        penicillin column as the target) the seven penalties then took 90 s of a 356-s
        soft-sensor fit, 302 s with the screening, the same choice (ridge) and test RMSE.
    """

    def __init__(self, alpha: float = 1e-3, max_iter: int = 5000, max_inputs: int = 512) -> None:
        self.alpha = alpha
        self.max_iter = max_iter
        self.max_inputs = max_inputs

    def fit(self, X: Any, y: Any) -> LassoRegressor:
        """Fit on ``X`` of shape (n_samples, n_features) and ``y`` of shape (n_samples,)."""
        X, y = validate_data(self, X, y, y_numeric=True)
        self.x_mean_, self.x_scale_ = _scale(X)
        Z = (X - self.x_mean_) / self.x_scale_
        self.y_mean_, self.y_scale_, self.inputs_, Zs, ys = self._prepare(Z, y, self.max_inputs)
        coef, n_iter = self._descend(Zs, ys, [self.alpha], self.max_iter)
        self.coef_ = np.zeros(X.shape[1])
        self.coef_[self.inputs_] = coef[:, 0] * self.y_scale_
        self.n_selected_ = int(np.count_nonzero(coef[:, 0]))
        self.n_iter_ = int(n_iter[0])
        return self

    @staticmethod
    def _prepare(Z: np.ndarray, y: np.ndarray,
                 max_inputs: int) -> tuple[float, float, np.ndarray, np.ndarray, np.ndarray]:
        """The target's mean and scale, the inputs kept (screened when wide), those columns of
        the autoscaled ``Z`` and the scaled target."""
        y_mean = float(np.mean(y))
        sd = float(np.std(y))
        y_scale = sd if np.isfinite(sd) and sd > 1e-12 else 1.0
        wide = Z.shape[1] > max_inputs
        inputs = _screen(Z, y, max_inputs) if wide else np.arange(Z.shape[1])
        return y_mean, y_scale, inputs, Z[:, inputs], (y - y_mean) / y_scale

    @staticmethod
    def _descend(Z: np.ndarray, ys: np.ndarray, alphas: Sequence[float],
                 max_iter: int) -> tuple[np.ndarray, np.ndarray]:
        """Coordinate descent from zero for each penalty in ``alphas``: coefficients, shape
        (n_features, len(alphas)), and sweeps, shape (len(alphas),)."""
        # with more rows than features the sweeps run on the Gram matrix: the same solution,
        # some 50 times faster on 6000 rows of 85 features; formed once for every penalty (on
        # 4800 rows of 4600 features (a spectrum), 2.6 s of a 5-s fit)
        gram: np.ndarray | bool = Z.T @ Z if Z.shape[0] > Z.shape[1] else False
        coefs = np.empty((Z.shape[1], len(alphas)))
        sweeps = np.empty(len(alphas), dtype=int)
        with warnings.catch_warnings():
            # a sweep limit reached leaves a usable, slightly less sparse fit; grouped CV judges it
            warnings.simplefilter("ignore", ConvergenceWarning)
            # Z is centred, so the Gram matrix stands (sklearn would warn and recompute otherwise)
            warnings.filterwarnings("ignore", message="Gram matrix was provided")
            for j, alpha in enumerate(alphas):
                lasso = Lasso(alpha=alpha, max_iter=max_iter, tol=1e-4, selection="cyclic", precompute=gram)
                lasso.fit(Z, ys)
                coefs[:, j] = lasso.coef_
                sweeps[j] = int(lasso.n_iter_)
        return coefs, sweeps

    @staticmethod
    def _path(X: np.ndarray, y: np.ndarray, alphas: Sequence[float], max_iter: int = 5000,
              max_inputs: int = 512) -> Callable[[np.ndarray], np.ndarray]:
        """Predictor of the lasso fitted with each penalty in ``alphas`` (for :func:`out_of_fold_many`)."""
        mean, scale = _scale(X)
        y_mean, y_scale, inputs, Zs, ys = LassoRegressor._prepare((X - mean) / scale, y, max_inputs)
        coef = LassoRegressor._descend(Zs, ys, alphas, max_iter)[0] * y_scale
        return lambda Xn: y_mean + ((Xn[:, inputs] - mean[inputs]) / scale[inputs]) @ coef

    def predict(self, X: Any) -> np.ndarray:
        """Predictions, shape (n_samples,)."""
        check_is_fitted(self, "coef_")
        X = validate_data(self, X, reset=False)
        return self.y_mean_ + ((X - self.x_mean_) / self.x_scale_) @ self.coef_


class ColumnsRegressor(RegressorMixin, BaseEstimator):
    """A regressor fitted on some columns of ``X`` only.

    Parameters
    ----------
    estimator : regressor, optional
        Default :class:`PLSRegressor`.
    columns : sequence of int, optional
        Columns it sees (default all).
    """

    def __init__(self, estimator: Any = None, columns: Any = None) -> None:
        self.estimator = estimator
        self.columns = columns

    def _cols(self, X: np.ndarray) -> np.ndarray:
        return X if self.columns is None else X[:, list(self.columns)]

    def fit(self, X: Any, y: Any) -> ColumnsRegressor:
        """Fit on ``X`` of shape (n_samples, n_features) and ``y`` of shape (n_samples,)."""
        X, y = validate_data(self, X, y, y_numeric=True)
        base = self.estimator if self.estimator is not None else PLSRegressor()
        self.estimator_ = clone(base).fit(self._cols(X), y)
        return self

    def predict(self, X: Any) -> np.ndarray:
        """Predictions, shape (n_samples,)."""
        check_is_fitted(self, "estimator_")
        X = validate_data(self, X, reset=False)
        return np.asarray(self.estimator_.predict(self._cols(X)), float).reshape(-1)


class MeanRegressor(RegressorMixin, BaseEstimator):
    """The mean prediction of several regressors, each fitted on all of ``X``.

    Parameters
    ----------
    estimators : sequence of regressors, optional
        Default a 3- and a 5-component :class:`PLSRegressor`.
    """

    def __init__(self, estimators: Any = None) -> None:
        self.estimators = estimators

    def fit(self, X: Any, y: Any) -> MeanRegressor:
        """Fit on ``X`` of shape (n_samples, n_features) and ``y`` of shape (n_samples,)."""
        X, y = validate_data(self, X, y, y_numeric=True)
        base = self.estimators if self.estimators is not None else [PLSRegressor(3), PLSRegressor(5)]
        self.estimators_ = [clone(e).fit(X, y) for e in base]
        return self

    def predict(self, X: Any) -> np.ndarray:
        """Predictions, shape (n_samples,)."""
        check_is_fitted(self, "estimators_")
        X = validate_data(self, X, reset=False)
        return np.mean([np.asarray(e.predict(X), float).reshape(-1) for e in self.estimators_], axis=0)


def _screen(X: np.ndarray, y: np.ndarray, k: int) -> np.ndarray:
    """Indices of the ``k`` columns of ``X`` most correlated (absolute) with ``y``, in column order."""
    if X.shape[1] <= k:
        return np.arange(X.shape[1])
    return np.asarray(SelectKBest(f_regression, k=k).fit(X, y).get_support(indices=True))


class BoostingRegressor(RegressorMixin, BaseEstimator):
    """Histogram gradient boosting with soft-sensor defaults (shallow trees, L2 loss).

    With ``linear_base`` the trees learn the residual of a 3-component PLS, so predictions
    extrapolate linearly beyond the training range instead of saturating.

    Parameters
    ----------
    max_iter : int
        Boosting iterations.
    learning_rate : float
    max_leaf_nodes : int
    min_samples_leaf : int
    l2_regularization : float
    linear_base : bool
    max_inputs : int
        With more columns than this, the trees see only the ``max_inputs`` columns most
        correlated with what they learn (sure independence screening, Fan & Lv 2008, J R Stat
        Soc B 70:849, doi:10.1111/j.1467-9868.2008.00674.x), chosen inside ``fit`` so that
        cross-validation stays honest; wide inputs (spectra) then cost no more than narrow ones.
    random_state : int, optional
    """

    def __init__(self, max_iter: int = 300, learning_rate: float = 0.06, max_leaf_nodes: int = 15,
                 min_samples_leaf: int = 10, l2_regularization: float = 1e-3,
                 linear_base: bool = True, max_inputs: int = 256, random_state: int | None = 0) -> None:
        self.max_iter = max_iter
        self.learning_rate = learning_rate
        self.max_leaf_nodes = max_leaf_nodes
        self.min_samples_leaf = min_samples_leaf
        self.l2_regularization = l2_regularization
        self.linear_base = linear_base
        self.max_inputs = max_inputs
        self.random_state = random_state

    def fit(self, X: Any, y: Any) -> BoostingRegressor:
        """Fit on ``X`` of shape (n_samples, n_features) and ``y`` of shape (n_samples,)."""
        X, y = validate_data(self, X, y, y_numeric=True)
        self.base_ = PLSRegressor(n_components=3).fit(X, y) if self.linear_base and X.shape[0] > 3 else None
        if self.base_ is not None:
            y = y - self.base_.predict(X)
        self.inputs_ = _screen(X, y, self.max_inputs)
        X = X[:, self.inputs_]
        self.model_ = HistGradientBoostingRegressor(
            max_iter=self.max_iter, learning_rate=self.learning_rate, max_leaf_nodes=self.max_leaf_nodes,
            min_samples_leaf=min(self.min_samples_leaf, max(1, X.shape[0] // 4)),
            l2_regularization=self.l2_regularization, random_state=self.random_state,
            early_stopping=False,
        ).fit(X, y)
        self.n_iter_ = self.model_.n_iter_
        return self

    def predict(self, X: Any) -> np.ndarray:
        """Predictions, shape (n_samples,)."""
        check_is_fitted(self, "model_")
        X = validate_data(self, X, reset=False)
        base = self.base_.predict(X) if self.base_ is not None else 0.0
        return base + self.model_.predict(X[:, getattr(self, "inputs_", slice(None))])


class GPRegressor(RegressorMixin, BaseEstimator):
    """Gaussian process on a PLS latent space: linear PLS mean plus a GP on its residuals.

    The inputs are projected on ``n_latent`` PLS components (autoscaled), the PLS prediction
    is the mean function and a GP with an ARD squared-exponential kernel plus white noise
    models what is left; this keeps the kernel low-dimensional (cheap, well-conditioned
    hyperparameter fit) and lets the model extrapolate linearly.

    Parameters
    ----------
    n_latent : int
        PLS components spanning the GP's input space.
    max_samples : int
        Training rows kept (evenly spaced) for the GP to bound its O(n^3) cost.
    n_restarts_optimizer : int
    random_state : int, optional
    """

    def __init__(self, n_latent: int = 6, max_samples: int = 400, n_restarts_optimizer: int = 0,
                 random_state: int | None = 0) -> None:
        self.n_latent = n_latent
        self.max_samples = max_samples
        self.n_restarts_optimizer = n_restarts_optimizer
        self.random_state = random_state

    def fit(self, X: Any, y: Any) -> GPRegressor:
        """Fit on ``X`` of shape (n_samples, n_features) and ``y`` of shape (n_samples,)."""
        import warnings

        from sklearn.exceptions import ConvergenceWarning

        X, y = validate_data(self, X, y, y_numeric=True)
        self.pls_ = PLSRegressor(n_components=self.n_latent).fit(X, y)
        T = self._latent(X)
        r = y - self.pls_.predict(X)
        idx = np.arange(X.shape[0])
        if X.shape[0] > self.max_samples:
            idx = np.unique(np.linspace(0, X.shape[0] - 1, self.max_samples).astype(int))
        k = T.shape[1]
        kernel = (ConstantKernel(1.0, (1e-3, 1e3)) * RBF(np.ones(k), (1e-2, 1e3))
                  + WhiteKernel(0.1, (1e-5, 1e1)))
        self.gp_ = GaussianProcessRegressor(kernel, normalize_y=True, n_restarts_optimizer=self.n_restarts_optimizer,
                                            random_state=self.random_state)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            self.gp_.fit(T[idx], r[idx])
        return self

    def _latent(self, X: np.ndarray) -> np.ndarray:
        T = self.pls_.pls_.transform((X - self.pls_.x_mean_) / self.pls_.x_scale_)
        return np.atleast_2d(T.T).T

    def predict(self, X: Any, return_std: bool = False) -> Any:
        """Predictions, shape (n_samples,) (and the GP posterior standard deviation)."""
        check_is_fitted(self, "gp_")
        X = validate_data(self, X, reset=False)
        mean = self.pls_.predict(X)
        if return_std:
            r, sd = self.gp_.predict(self._latent(X), return_std=True)
            return mean + r, sd
        return mean + self.gp_.predict(self._latent(X))


class HybridRegressor(RegressorMixin, BaseEstimator):
    """Serial grey-box: ``y = x[:, prior_index] + f(X)``; ``f`` learns what the mechanistic model misses.

    The column ``prior_index`` holds the twin's prediction of the target (e.g. simulated titre
    from :func:`biotwin.softsensors.hybrid.add_mechanistic_states`); every other column stays
    a feature too.

    Parameters
    ----------
    estimator : regressor, optional
        The data-driven part (default :class:`BoostingRegressor`).
    prior_index : int
        Column of ``X`` with the mechanistic prediction (default the last).
    """

    def __init__(self, estimator: Any = None, prior_index: int = -1) -> None:
        self.estimator = estimator
        self.prior_index = prior_index

    def fit(self, X: Any, y: Any) -> HybridRegressor:
        """Fit the residual model on ``X`` (n_samples, n_features), ``y`` (n_samples,)."""
        X, y = validate_data(self, X, y, y_numeric=True)
        base = self.estimator if self.estimator is not None else BoostingRegressor()
        self.estimator_ = clone(base).fit(X, y - X[:, self.prior_index])
        return self

    def predict(self, X: Any) -> np.ndarray:
        """Mechanistic prediction plus the learned correction, shape (n_samples,)."""
        check_is_fitted(self, "estimator_")
        X = validate_data(self, X, reset=False)
        return X[:, self.prior_index] + self.estimator_.predict(X)


def _folds(n: int, groups: np.ndarray | None, cv: int) -> list[tuple[np.ndarray, np.ndarray]]:
    if groups is not None and len(np.unique(groups)) >= 2:
        k = min(cv, len(np.unique(groups)))
        return list(GroupKFold(n_splits=k).split(np.zeros(n), groups=groups))
    k = max(2, min(cv, n))
    return list(KFold(n_splits=k, shuffle=True, random_state=0).split(np.zeros(n)))


def out_of_fold(estimator: Any, X: np.ndarray, y: np.ndarray, groups: np.ndarray | None = None,
                cv: int = 5) -> np.ndarray:
    """Out-of-fold predictions, folds grouped by batch when ``groups`` is given; shape (n_samples,)."""
    pred = np.empty(len(y), dtype=float)
    for tr, te in _folds(len(y), groups, cv):
        pred[te] = clone(estimator).fit(X[tr], y[tr]).predict(X[te])
    return pred


def _inner(estimator: Any) -> Any:
    """The regressor a :class:`ColumnsRegressor` wraps (its default too), else ``estimator``."""
    if type(estimator) is ColumnsRegressor:
        return estimator.estimator if estimator.estimator is not None else PLSRegressor()
    return estimator


#: Regressors whose fits with several values of one parameter share work, and that parameter
#: (their ``_path`` fits every value at once; :func:`out_of_fold_many`).
PATHS: dict[type, str] = {PLSRegressor: "n_components", RidgeRegressor: "alpha", LassoRegressor: "alpha"}


def _path_key(estimator: Any) -> tuple[Any, ...] | None:
    """What a regressor shares with others (its class, columns and every parameter but the
    path's), or None for one that shares nothing."""
    inner = _inner(estimator)
    if type(inner) not in PATHS:
        return None
    cols = estimator.columns if type(estimator) is ColumnsRegressor else None
    params = inner.get_params()
    if not isinstance(params.pop(PATHS[type(inner)]), numbers.Real):
        return None
    return type(inner), None if cols is None else tuple(int(c) for c in cols), tuple(sorted(params.items()))


def out_of_fold_many(estimators: Mapping[str, Any], X: np.ndarray, y: np.ndarray,
                     groups: np.ndarray | None = None, cv: int = 5,
                     known: Mapping[str, np.ndarray] | None = None) -> dict[str, np.ndarray]:
    """Out-of-fold predictions of each regressor in ``estimators`` on the same folds as
    :func:`out_of_fold`, each of shape (n_samples,), with shared work done once per fold.

    Regressors of one class on the same columns that differ only in one parameter share their
    fits: PLS of several sizes one fit with the most components
    (:meth:`PLSRegressor.predict_components`), ridges one Gram matrix, lassos one scaling,
    screening and Gram matrix (``PATHS``). Their predictions equal each regressor's own
    :func:`out_of_fold` up to rounding. Every other regressor is cross-validated on its own.
    Measured in :class:`~biotwin.softsensors.sensor.SoftSensor` on 6000 rows of 4647 features
    (IndPenSim with its Raman spectrum, the dense penicillin column as the target, 2 cores),
    each on its own: PLS with 1 to 32 components on the features 195 s and on the raw inputs
    124 s, ridge with 6 penalties 113 s, lasso with 7 penalties 172 s, of a 773-s fit; shared,
    the fit took 332 s, with the same choice and out-of-fold RMSE.

    ``known`` gives the out-of-fold predictions of some of ``estimators`` by name, already
    computed by the caller on these rows and folds: they are returned as given, not refitted.
    """
    X = np.asarray(X, float)
    y = np.asarray(y, float)
    folds = _folds(len(y), groups, cv)
    shared: dict[tuple[Any, ...], list[str]] = {}
    out: dict[str, np.ndarray] = {}
    known = known or {}
    for name, est in estimators.items():
        key = _path_key(est)
        if name in known:
            out[name] = np.asarray(known[name], float)
        elif key is None:
            out[name] = out_of_fold(est, X, y, groups, cv)
        else:
            shared.setdefault(key, []).append(name)
    for (cls, cols, params), names in shared.items():
        inner = [_inner(estimators[n]) for n in names]
        values = [getattr(e, PATHS[cls]) for e in inner]
        preds = np.empty((len(y), len(names)))
        for tr, te in folds:
            Xtr = X[tr] if cols is None else X[np.ix_(tr, cols)]
            Xte = X[te] if cols is None else X[np.ix_(te, cols)]
            preds[te] = cls._path(Xtr, y[tr], values, **dict(params))(Xte)
        out.update({n: preds[:, j] for j, n in enumerate(names)})
    return {name: out[name] for name in estimators}


class ConformalRegressor(RegressorMixin, BaseEstimator):
    """Wraps a regressor with conformal prediction intervals from out-of-fold residuals.

    Parameters
    ----------
    estimator : regressor, optional
        Default :class:`BoostingRegressor`.
    alpha : float
        Miscoverage: intervals aim at ``1 - alpha`` coverage.
    cv : int
        Folds (grouped by ``groups`` passed to :meth:`fit`, i.e. by batch).
    n_bins : int
        Mondrian bins of the predicted value, each with its own residual quantile.
    """

    def __init__(self, estimator: Any = None, alpha: float = 0.1, cv: int = 5, n_bins: int = 4) -> None:
        self.estimator = estimator
        self.alpha = alpha
        self.cv = cv
        self.n_bins = n_bins

    def fit(self, X: Any, y: Any, groups: Any = None, oof: np.ndarray | None = None) -> ConformalRegressor:
        """Fit the regressor on all rows and calibrate the intervals out of fold.

        Parameters
        ----------
        X : array, shape (n_samples, n_features)
        y : array, shape (n_samples,)
        groups : array, shape (n_samples,), optional
            Batch of each row: folds never split a batch.
        oof : array, shape (n_samples,), optional
            Out-of-fold predictions computed already (skips the refits).
        """
        X, y = validate_data(self, X, y, y_numeric=True)
        base = self.estimator if self.estimator is not None else BoostingRegressor()
        g = None if groups is None else np.asarray(groups)
        pred = out_of_fold(base, X, y, g, self.cv) if oof is None else np.asarray(oof, float)
        self.estimator_ = clone(base).fit(X, y)
        res = np.abs(y - pred)
        n_bins = int(max(1, min(self.n_bins, len(y) // 20)))
        self.bin_edges_ = np.quantile(pred, np.linspace(0, 1, n_bins + 1)[1:-1]) if n_bins > 1 else np.array([])
        which = np.searchsorted(self.bin_edges_, pred)
        self.quantiles_ = np.empty(n_bins)
        for b in range(n_bins):
            r = np.sort(res[which == b]) if np.any(which == b) else np.sort(res)
            level = min(1.0, np.ceil((len(r) + 1) * (1 - self.alpha)) / len(r))
            self.quantiles_[b] = float(np.quantile(r, level, method="higher"))
        self.oof_rmse_ = float(np.sqrt(np.mean((y - pred) ** 2)))
        return self

    def predict(self, X: Any) -> np.ndarray:
        """Point predictions, shape (n_samples,)."""
        check_is_fitted(self, "estimator_")
        X = validate_data(self, X, reset=False)
        return self.estimator_.predict(X)

    def predict_interval(self, X: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Prediction, lower and upper bound, each shape (n_samples,)."""
        p = self.predict(X)
        q = self.quantiles_[np.searchsorted(self.bin_edges_, p)]
        return p, p - q, p + q


class ApplicabilityDomain(OutlierMixin, BaseEstimator):
    """Flags inputs outside the training domain: PCA Hotelling T2 and DModX against limits.

    ``predict`` returns +1 inside the domain and -1 outside (scikit-learn's outlier convention).

    Parameters
    ----------
    n_components : int or float
        PCA components, or the fraction of variance to keep (0 < float < 1).
    alpha : float
        Significance of the limits.
    margin : float
        Factor on the limits (1 = the limit itself).
    max_components : int
        At most this many components; when the data have many more rows and columns than
        that, only the leading ones are computed (randomized SVD).
    """

    def __init__(self, n_components: int | float = 0.95, alpha: float = 0.01, margin: float = 1.0,
                 max_components: int = 60) -> None:
        self.n_components = n_components
        self.alpha = alpha
        self.margin = margin
        self.max_components = max_components

    def fit(self, X: Any, y: Any = None) -> ApplicabilityDomain:
        """Fit on ``X`` of shape (n_samples, n_features)."""
        X = validate_data(self, X)
        self.mean_, self.scale_ = _scale(X)
        Z = (X - self.mean_) / self.scale_
        total = float((Z**2).sum()) / max(X.shape[0] - 1, 1)
        if min(Z.shape) > 2 * self.max_components:
            # wide or tall inputs: the leading components only (Halko, Martinsson & Tropp 2011,
            # SIAM Rev 53:217, doi:10.1137/090771806); the variance fraction is of the total
            _, s, vt = randomized_svd(Z, self.max_components, random_state=0)
        else:
            _, s, vt = np.linalg.svd(Z, full_matrices=False)
        var = s**2 / max(X.shape[0] - 1, 1)
        if isinstance(self.n_components, float) and 0 < self.n_components < 1:
            frac = np.cumsum(var) / max(total, 1e-300)
            k = int(np.searchsorted(frac, self.n_components) + 1)
        else:
            k = int(self.n_components)
        k = max(1, min(k, len(s), self.max_components, max(X.shape[0] - 1, 1)))
        self.components_ = vt[:k].T
        self.explained_variance_ = np.maximum(var[:k], 1e-12)
        t2, dm = self._stats(X)
        # empirical limits (training rows of batches are autocorrelated, so the F limit of
        # Tracy et al. is reported but not used)
        self.t2_limit_f_ = t2_limit(k, X.shape[0], self.alpha)
        self.t2_limit_ = self.margin * max(float(np.quantile(t2, 1 - self.alpha)), 1e-12)
        self.dmodx_limit_ = self.margin * max(float(np.quantile(dm, 1 - self.alpha)), 1e-12)
        self.offset_ = -1.0
        return self

    def _stats(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        Z = (X - self.mean_) / self.scale_
        T = Z @ self.components_
        E = Z - T @ self.components_.T
        return hotelling_t2(T, self.explained_variance_), dmodx(E, self.components_.shape[1], Z.shape[1])

    def score_samples(self, X: Any) -> np.ndarray:
        """Minus the larger of T2 / limit and DModX / limit, shape (n_samples,) (higher is more normal)."""
        check_is_fitted(self, "components_")
        X = validate_data(self, X, reset=False)
        t2, dm = self._stats(X)
        return -np.maximum(t2 / self.t2_limit_, dm / self.dmodx_limit_)

    def decision_function(self, X: Any) -> np.ndarray:
        """Positive inside the domain, negative outside; shape (n_samples,)."""
        return self.score_samples(X) - self.offset_

    def predict(self, X: Any) -> np.ndarray:
        """+1 inside the domain, -1 outside; shape (n_samples,)."""
        return np.where(self.decision_function(X) >= 0, 1, -1)

    def statistics(self, X: Any) -> tuple[np.ndarray, np.ndarray]:
        """T2 and DModX of each row, each shape (n_samples,)."""
        check_is_fitted(self, "components_")
        return self._stats(validate_data(self, X, reset=False))

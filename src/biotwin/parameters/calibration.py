"""Parameter estimation: weighted nonlinear least squares with confidence intervals.

:class:`ParameterEstimator` fits chosen parameters of a model to one or more measured
cultures at once (shared parameters, one simulation per culture), in log-parameter space
with :func:`scipy.optimize.least_squares`, and reports the linearised (Wald) confidence
intervals of the estimates from the Jacobian covariance ``s^2 (J^T J)^-1`` (Bates & Watts
1988), their correlation matrix and the fit per state before and after.

It follows scikit-learn's conventions: settings in ``__init__`` (no logic there),
``fit(datasets) -> self``, learned attributes end with ``_``, ``score`` is higher-is-better.

References
----------
Bates D.M., Watts D.G. (1988) Nonlinear Regression Analysis and Its Applications. Wiley,
New York, ch. 2.3 (linear approximation inference regions). doi:10.1002/9780470316757

Brun R., Reichert P., Kuensch H.R. (2001) Practical identifiability analysis of large
environmental simulation models. Water Resour Res 37:1015-1030. doi:10.1029/2000WR900350

Examples
--------
>>> from biotwin.parameters.calibration import ParameterEstimator
>>> est = ParameterEstimator(names=["mu_max", "m_mAb"], max_nfev=20)  # doctest: +SKIP
>>> est.fit(["sou2015_bioreactor_T127_36p5"]).ci_  # doctest: +SKIP
"""

from __future__ import annotations

import inspect
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy import optimize, stats
from scipy.optimize._numdiff import approx_derivative

from biotwin.datasets import MEASURED_STATES, CultureDataset, load_culture
from biotwin.errors import BiotwinError, ModelError
from biotwin.models import get_model
from biotwin.models.base import Model
from biotwin.parameters import Parameter, ParameterSet, get_parameter_set
from biotwin.recipes import Recipe, compile_recipe, recipe_from_culture
from biotwin.recipes.recipe import CompiledRecipe
from biotwin.simulation.solve import simulate

#: The shared CHO cultures next to the repository (``<repo>/../shared/data/cho_fedbatch``).
SHARED_DATA_ROOT = Path(__file__).resolve().parents[4] / "shared" / "data" / "cho_fedbatch"


def default_data_root() -> Path:
    """Folder of the CHO cultures: the copy shipped in ``biotwin.data`` if present, else the
    shared folder next to the repository."""
    try:
        shipped = Path(str(resources.files("biotwin.data") / "cho_fedbatch"))
    except ModuleNotFoundError:
        return SHARED_DATA_ROOT
    return shipped if (shipped / "datasets.csv").is_file() else SHARED_DATA_ROOT

#: Penalty residual [-] returned for every point when a simulation fails.
FAILED_RESIDUAL = 1e3


@dataclass(frozen=True)
class Observations:
    """One culture to fit: its recipe and its measured samples.

    Attributes
    ----------
    name : str
    recipe : Recipe
        What the operator did (initial state, feeds, samples, shifts).
    measurements : pandas.DataFrame
        ``time_h [h]`` then one column per measured state, in the model's units; NaN where
        not measured. Rows at ``time_h == 0`` are the initial condition and are not fitted.
    """

    name: str
    recipe: Recipe
    measurements: pd.DataFrame


def as_observations(
    item: Observations | CultureDataset | str | Path | tuple[Recipe, pd.DataFrame],
    data_root: str | Path | None = None,
) -> Observations:
    """Normalise one culture: an :class:`Observations`, a :class:`CultureDataset`, a folder
    path, a culture name under ``data_root`` or a ``(recipe, measurements)`` pair."""
    if isinstance(item, Observations):
        return item
    if isinstance(item, tuple):
        recipe, frame = item
        return Observations(recipe.name, recipe, frame)
    if not isinstance(item, CultureDataset):
        path = Path(item)
        if not path.is_dir():
            path = Path(data_root or default_data_root()) / str(item)
        item = load_culture(path)
    return Observations(item.name, recipe_from_culture(item), item.measurements)


def fit_metrics(measured: np.ndarray, predicted: np.ndarray) -> tuple[float, float]:
    """Coefficient of determination R2 [-] and RMSE [unit of the data] over finite pairs."""
    ok = np.isfinite(measured) & np.isfinite(predicted)
    y, yh = measured[ok], predicted[ok]
    if y.size == 0:
        return np.nan, np.nan
    ss_tot = float(np.sum((y - y.mean()) ** 2))
    ss_res = float(np.sum((y - yh) ** 2))
    r2 = 1.0 - ss_res / ss_tot if ss_tot > 0 else np.nan
    return r2, float(np.sqrt(ss_res / y.size))


def collinearity_index(jac: np.ndarray) -> float:
    """Collinearity index gamma [-] of the columns of a sensitivity matrix (Brun et al. 2001).

    ``gamma = 1/sqrt(min eig(S^T S))`` with the columns of ``S`` scaled to unit length;
    values above ~10-15 mean the parameters cannot be identified together.

    Parameters
    ----------
    jac : ndarray, shape (n_residuals, n_parameters)
    """
    jac = np.asarray(jac, dtype=float)
    norms = np.linalg.norm(jac, axis=0)
    if jac.shape[1] == 0 or np.any(norms == 0):
        return np.inf
    s = jac / norms
    lam = np.linalg.eigvalsh(s.T @ s)[0]
    return float(1.0 / np.sqrt(lam)) if lam > 0 else np.inf


class ParameterEstimator:
    """Fit model parameters to measured cultures by weighted nonlinear least squares.

    The parameters ``theta`` are estimated as ``ln(theta)`` (positive, scale-free).
    Residuals are ``(measured - simulated) / scale_state`` for every measured state and
    sample after time 0, stacked over all cultures; ``scale_state`` is the standard
    deviation (``scaling="std"``) or range (``"range"``) of that state's measurements pooled
    over the cultures, optionally multiplied by ``weights``.

    Parameters
    ----------
    model : Model or str, optional
        Default: the model of ``base_set``.
    base_set : ParameterSet or str
        Start values and every parameter that is not fitted.
    names : sequence of str
        Parameters to estimate (shared by all cultures).
    states : sequence of str, optional
        Measured states to fit; default every state of :data:`MEASURED_STATES`.
    scaling : {"std", "range"}
        How each state's residuals are made dimensionless.
    weights : dict, optional
        Extra weight per state (default 1).
    bounds : dict, optional
        ``{name: (low, high)}`` in the parameter's unit; default ``(x0/100, x0*100)``.
    x0 : dict, optional
        Start values overriding those of ``base_set``.
    confidence : float
        Level of the confidence intervals (0.95).
    max_nfev : int, optional
        Budget of residual evaluations of :func:`scipy.optimize.least_squares`.
    loss : str
        Loss of :func:`scipy.optimize.least_squares` ("linear" for the classical CIs).
    diff_step : float
        Relative finite-difference step in ln(theta).
    rtol : float
        Relative tolerance of the simulations.
    data_root : path, optional
        Where culture names are looked up (default the shared CHO folder).
    verbose : int
        Passed to :func:`scipy.optimize.least_squares`.

    Attributes
    ----------
    names_ : list of str
    params_ : dict[str, float]
        Estimates in the parameters' units.
    x0_ : dict[str, float]
        Start values.
    std_ : dict[str, float]
        Standard errors (delta method, ``theta * se(ln theta)``), same units.
    ci_ : dict[str, tuple[float, float]]
        ``confidence`` intervals ``exp(ln theta +- t * se(ln theta))`` (asymmetric).
    cov_ : ndarray, shape (n_params, n_params)
        Covariance of ``ln(theta)``: ``s^2 (J^T J)^-1`` (pseudo-inverse when singular).
    corr_ : pandas.DataFrame
        Correlation matrix of the estimates.
    jac_ : ndarray, shape (n_residuals, n_params)
        Jacobian of the scaled residuals with respect to ``ln(theta)`` at the optimum.
    s2_ : float
        Residual variance ``SSR / (n_residuals - n_params)`` [-].
    dof_ : int
    collinearity_ : float
        :func:`collinearity_index` of ``jac_``.
    scales_ : dict[str, float]
        Residual scale per state, in the state's unit.
    result_ : scipy.optimize.OptimizeResult
    report_ : pandas.DataFrame
        R2 and RMSE per culture and state, before (``x0``) and after the fit.
    """

    def __init__(
        self,
        model: Model | str | None = None,
        base_set: ParameterSet | str = "cho_t127_kotidis2019",
        names: Sequence[str] = ("mu_max", "m_mAb"),
        states: Sequence[str] | None = None,
        scaling: str = "std",
        weights: dict[str, float] | None = None,
        bounds: dict[str, tuple[float, float]] | None = None,
        x0: dict[str, float] | None = None,
        confidence: float = 0.95,
        max_nfev: int | None = None,
        loss: str = "linear",
        diff_step: float = 1e-3,
        rtol: float = 1e-8,
        data_root: str | Path | None = None,
        verbose: int = 0,
    ) -> None:
        self.model = model
        self.base_set = base_set
        self.names = names
        self.states = states
        self.scaling = scaling
        self.weights = weights
        self.bounds = bounds
        self.x0 = x0
        self.confidence = confidence
        self.max_nfev = max_nfev
        self.loss = loss
        self.diff_step = diff_step
        self.rtol = rtol
        self.data_root = data_root
        self.verbose = verbose

    # ------------------------------------------------------------------ sklearn API
    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """The ``__init__`` settings by name (scikit-learn's ``clone`` uses this)."""
        names = inspect.signature(type(self).__init__).parameters
        return {k: getattr(self, k) for k in names if k != "self"}

    def set_params(self, **params: Any) -> ParameterEstimator:
        """Change settings; unknown names raise :class:`ModelError`."""
        valid = self.get_params()
        for key, value in params.items():
            if key not in valid:
                raise ModelError(f"invalid setting {key!r} for ParameterEstimator; valid: {sorted(valid)}")
            setattr(self, key, value)
        return self

    def __repr__(self) -> str:
        base = self.base_set if isinstance(self.base_set, str) else self.base_set.name
        return f"ParameterEstimator(base_set={base!r}, names={list(self.names)!r})"

    # ------------------------------------------------------------------ set-up helpers
    def _base(self) -> ParameterSet:
        base = self.base_set
        return get_parameter_set(base) if isinstance(base, str | Path) else base

    def _model(self, base: ParameterSet) -> Model:
        if self.model is None:
            return base.get_model()
        return get_model(self.model) if isinstance(self.model, str) else self.model

    def _prepare(
        self, datasets: Iterable[Any]
    ) -> tuple[Model, ParameterSet, list[Observations], list[str], list[dict[str, Any]]]:
        base = self._base()
        model = self._model(base)
        obs = [as_observations(d, self.data_root) for d in datasets]
        if not obs:
            raise ModelError("fit needs at least one culture")
        states = list(self.states) if self.states is not None else list(MEASURED_STATES)
        unknown = [s for s in states if s not in model.state_names]
        if unknown:
            raise ModelError(f"states {unknown} are not states of model {model.name}")
        runs = []
        for o in obs:
            frame = o.measurements
            keep = frame["time_h"].to_numpy(dtype=float) > 0
            t = frame["time_h"].to_numpy(dtype=float)[keep]
            y = np.column_stack(
                [
                    frame[s].to_numpy(dtype=float)[keep] if s in frame else np.full(t.size, np.nan)
                    for s in states
                ]
            )
            runs.append({"name": o.name, "cr": compile_recipe(o.recipe, model), "t": t, "y": y})
        return model, base, obs, states, runs

    def _scales(self, states: list[str], runs: list[dict[str, Any]]) -> np.ndarray:
        if self.scaling not in ("std", "range"):
            raise ModelError(f"scaling must be 'std' or 'range', got {self.scaling!r}")
        pooled = np.vstack([r["y"] for r in runs])
        scales = np.empty(len(states))
        for j, s in enumerate(states):
            col = pooled[:, j][np.isfinite(pooled[:, j])]
            sc = np.std(col, ddof=1) if self.scaling == "std" and col.size > 1 else np.ptp(col)
            if not np.isfinite(sc) or sc <= 0:
                sc = max(float(np.max(np.abs(col), initial=0.0)), 1.0)
            scales[j] = sc / (self.weights or {}).get(s, 1.0)
        return scales

    # ------------------------------------------------------------------ residuals
    def _simulate_runs(self, p: np.ndarray, runs: list[dict[str, Any]], states: list[str],
                       model: Model) -> list[np.ndarray]:
        idx = [model.state_index(s) for s in states]
        return [simulate(model, p, r["cr"], r["t"], rtol=self.rtol).y[:, idx] for r in runs]

    def _residuals(self, logx: np.ndarray, p_base: np.ndarray, index: np.ndarray,
                   runs: list[dict[str, Any]], states: list[str], model: Model,
                   scales: np.ndarray) -> np.ndarray:
        p = p_base.copy()
        p[index] = np.exp(logx)
        out = []
        for r in runs:
            mask = np.isfinite(r["y"])
            try:
                (pred,) = self._simulate_runs(p, [r], states, model)
                res = ((pred - r["y"]) / scales)[mask]
                if not np.all(np.isfinite(res)):
                    raise BiotwinError("non-finite prediction")
            except BiotwinError:
                res = np.full(int(mask.sum()), FAILED_RESIDUAL)
            out.append(res)
        return np.concatenate(out)

    # ------------------------------------------------------------------ fit
    def fit(self, datasets: Iterable[Any], y: None = None) -> ParameterEstimator:
        """Estimate the parameters jointly on all cultures.

        Parameters
        ----------
        datasets : iterable
            Cultures: names of shared culture folders, folder paths,
            :class:`~biotwin.datasets.CultureDataset`, :class:`Observations` or
            ``(recipe, measurements)`` pairs.
        y : None
            Ignored (scikit-learn signature).

        Returns
        -------
        self
        """
        model, base, _obs, states, runs = self._prepare(datasets)
        names = list(self.names)
        missing = [n for n in names if n not in model.parameter_names]
        if missing:
            raise ModelError(f"unknown parameter(s) {missing} for model {model.name}")
        index = np.array([model.parameter_names.index(n) for n in names], dtype=int)
        p_base = base.vector(model)
        start = {n: float(p_base[i]) for n, i in zip(names, index, strict=True)}
        start.update({k: float(v) for k, v in (self.x0 or {}).items() if k in start})
        if any(v <= 0 for v in start.values()):
            raise ModelError("estimated parameters must be positive (fit is in log space)")
        x0 = np.log([start[n] for n in names])
        bounds = self.bounds or {}
        lo = np.array([np.log(bounds[n][0]) if n in bounds else x - np.log(100.0)
                       for n, x in zip(names, x0, strict=True)])
        hi = np.array([np.log(bounds[n][1]) if n in bounds else x + np.log(100.0)
                       for n, x in zip(names, x0, strict=True)])
        x0 = np.clip(x0, lo + 1e-12, hi - 1e-12)
        scales = self._scales(states, runs)
        args = (p_base, index, runs, states, model, scales)

        result = optimize.least_squares(
            self._residuals, x0, bounds=(lo, hi), args=args, method="trf",
            x_scale=1.0, loss=self.loss, diff_step=self.diff_step,
            max_nfev=self.max_nfev, verbose=self.verbose,
        )
        # A central-difference Jacobian at the optimum for the covariance.
        jac = approx_derivative(
            lambda x: self._residuals(x, *args), result.x, method="3-point",
            rel_step=self.diff_step, bounds=(lo, hi),
        )
        res = self._residuals(result.x, *args)
        n_res, n_par = jac.shape
        dof = max(n_res - n_par, 1)
        s2 = float(res @ res) / dof
        cov = s2 * np.linalg.pinv(jac.T @ jac)
        se = np.sqrt(np.clip(np.diag(cov), 0.0, None))
        with np.errstate(invalid="ignore", divide="ignore"):
            corr = cov / np.outer(se, se)
        tq = float(stats.t.ppf(0.5 + self.confidence / 2.0, dof))
        theta = np.exp(result.x)

        self.names_ = names
        self.states_ = states
        self.x0_ = start
        self.params_ = {n: float(v) for n, v in zip(names, theta, strict=True)}
        self.std_ = {n: float(v * s) for n, v, s in zip(names, theta, se, strict=True)}
        self.ci_ = {
            n: (float(np.exp(x - tq * s)), float(np.exp(x + tq * s)))
            for n, x, s in zip(names, result.x, se, strict=True)
        }
        self.cov_ = cov
        self.corr_ = pd.DataFrame(corr, index=names, columns=names)
        self.jac_ = jac
        self.s2_ = s2
        self.dof_ = dof
        self.collinearity_ = collinearity_index(jac)
        self.scales_ = {s: float(v) for s, v in zip(states, scales, strict=True)}
        self.result_ = result
        self.model_ = model
        self.base_set_ = base
        self.at_bound_ = [n for n, x, a, b in zip(names, result.x, lo, hi, strict=True)
                          if x <= a + 1e-6 or x >= b - 1e-6]
        before = self.evaluate(_obs, base.with_values(None, **start))
        after = self.evaluate(_obs, self.to_parameter_set())
        self.report_ = before.merge(after, on=["culture", "state"], suffixes=("_before", "_after"))
        return self

    # ------------------------------------------------------------------ results
    def _check_fitted(self) -> None:
        if not hasattr(self, "params_"):
            raise ModelError("this ParameterEstimator is not fitted yet; call fit() first")

    def summary(self) -> pd.DataFrame:
        """One row per parameter: start, estimate, standard error, CI and relative SE.

        Returns
        -------
        pandas.DataFrame
            Index the parameter names; columns ``x0``, ``value``, ``std``, ``ci_low``,
            ``ci_high``, ``rel_se [%]``.
        """
        self._check_fitted()
        rows = {
            n: {
                "x0": self.x0_[n], "value": self.params_[n], "std": self.std_[n],
                "ci_low": self.ci_[n][0], "ci_high": self.ci_[n][1],
                "rel_se [%]": 100.0 * self.std_[n] / self.params_[n],
            }
            for n in self.names_
        }
        return pd.DataFrame.from_dict(rows, orient="index")

    def to_parameter_set(
        self, name: str | None = None, source: str = "calibration", description: str | None = None,
        sources: dict[str, str] | None = None,
    ) -> ParameterSet:
        """The base set with the estimates; their ``std`` fields are the standard errors.

        Parameters
        ----------
        name : str, optional
            Name of the new set (default ``<base>_calibrated``).
        source : str
            Source key written on every estimated parameter.
        description : str, optional
        sources : dict, optional
            Source keys to add, e.g. ``{source: "how it was fitted"}``.
        """
        self._check_fitted()
        base = self.base_set_
        params = dict(base.parameters)
        for n in self.names_:
            params[n] = Parameter(self.params_[n], base.parameters[n].unit, self.std_[n], source)
        return ParameterSet(
            name=name or f"{base.name}_calibrated",
            model=base.model,
            parameters=params,
            description=description if description is not None else base.description,
            sources={**base.sources, **(sources or {})},
            validity=dict(base.validity),
            extra=dict(base.extra),
        )

    def evaluate(self, datasets: Iterable[Any], params: ParameterSet | None = None) -> pd.DataFrame:
        """R2 [-] and RMSE [state unit] per culture and state for a parameter set.

        Parameters
        ----------
        datasets : iterable
            As in :meth:`fit`.
        params : ParameterSet, optional
            Default: the fitted set.

        Returns
        -------
        pandas.DataFrame
            Columns ``culture``, ``state``, ``R2``, ``RMSE``.
        """
        if params is None:
            self._check_fitted()
            params = self.to_parameter_set()
        model = self._model(params)
        states = list(self.states) if self.states is not None else list(MEASURED_STATES)
        return evaluate_fit(model, params, datasets, states, self.data_root)

    def score(self, datasets: Iterable[Any], y: None = None) -> float:
        """Mean R2 [-] over cultures and states with the fitted parameters."""
        return float(np.nanmean(self.evaluate(datasets)["R2"]))


def evaluate_fit(
    model: Model,
    params: ParameterSet | np.ndarray,
    datasets: Iterable[Any],
    states: Sequence[str] = tuple(MEASURED_STATES),
    data_root: str | Path | None = None,
) -> pd.DataFrame:
    """R2 [-] and RMSE [state unit] of a simulation against each culture's samples (t > 0).

    Returns
    -------
    pandas.DataFrame
        Columns ``culture``, ``state``, ``R2``, ``RMSE``; NaN where the simulation fails.
    """
    rows = []
    for item in datasets:
        o = as_observations(item, data_root)
        frame = o.measurements[o.measurements["time_h"] > 0]
        t = frame["time_h"].to_numpy(dtype=float)
        cr: CompiledRecipe = compile_recipe(o.recipe, model)
        try:
            sim = simulate(model, params, cr, t)
        except BiotwinError:
            sim = None
        for s in states:
            if s not in frame:
                continue
            if sim is None:
                r2, rmse = np.nan, np.nan
            else:
                r2, rmse = fit_metrics(frame[s].to_numpy(dtype=float), sim[s])
            rows.append({"culture": o.name, "state": s, "R2": r2, "RMSE": rmse})
    return pd.DataFrame(rows)


__all__ = [
    "Observations",
    "ParameterEstimator",
    "as_observations",
    "collinearity_index",
    "default_data_root",
    "evaluate_fit",
    "fit_metrics",
]

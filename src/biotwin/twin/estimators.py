"""State and parameter estimators with one step interface: a measurement in, an estimate out.

Every estimator here is an ensemble of model members (states + log-parameters) that is
propagated with the compiled model between measurements and corrected at each one:

- :class:`EnsembleKalmanFilter`: joint state and parameter estimation with the parameters
  augmented to the state in log space (they stay positive), stochastic (perturbed
  observations, Evensen 2003/2009; Burgers et al. 1998) or deterministic (DEnKF, Sakov &
  Oke 2008) analysis;
- :class:`ParticleFilter`: sequential importance resampling (Gordon et al. 1993) with an
  adaptively tempered likelihood and the kernel shrinkage of Liu & West (2001) for the
  parameters, the comparison estimator.

Both share :meth:`EnsembleEstimator.make_step` (do-mpc's ``estimator.make_step(y)``):
``make_step(y, t)`` takes one measurement, possibly partial (NaN = not measured: multi-rate
data), possibly older than the estimate (delayed: the estimator rewinds to its last
checkpoint before that time and replays), rejects outliers by an innovation gate, keeps
states within physical bounds, and returns an :class:`Estimate`.

References
----------
Evensen G. (2003) The Ensemble Kalman Filter: theoretical formulation and practical
implementation. Ocean Dynamics 53:343-367. doi:10.1007/s10236-003-0036-9
Evensen G. (2009) Data Assimilation: The Ensemble Kalman Filter, 2nd ed. Springer.
doi:10.1007/978-3-642-03711-5
Burgers G., van Leeuwen P.J., Evensen G. (1998) Mon Weather Rev 126:1719-1724.
doi:10.1175/1520-0493(1998)126<1719:ASITEK>2.0.CO;2
Sakov P., Oke P.R. (2008) A deterministic formulation of the ensemble Kalman filter: an
alternative to ensemble square root filters. Tellus A 60:361-371.
doi:10.1111/j.1600-0870.2007.00299.x
Whitaker J.S., Hamill T.M. (2012) Evaluating methods to account for system errors in
ensemble data assimilation. Mon Weather Rev 140:3078-3089. doi:10.1175/MWR-D-11-00276.1
Gordon N.J., Salmond D.J., Smith A.F.M. (1993) Novel approach to nonlinear/non-Gaussian
Bayesian state estimation. IEE Proc F 140:107-113. doi:10.1049/ip-f-2.1993.0015
Liu J., West M. (2001) Combined parameter and state estimation in simulation-based
filtering. In: Sequential Monte Carlo Methods in Practice, Springer, 197-223.
doi:10.1007/978-1-4757-3437-9_10
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from biotwin.errors import DataError, ModelError
from biotwin.parameters import ParameterSet
from biotwin.recipes.recipe import Recipe
from biotwin.twin.propagate import Propagator

#: Measured states of the shared cultures, in the order of the ``observed`` default.
OBSERVED = ("Xv", "mAb", "Glc", "Amm", "Gln", "Lac", "Glu", "Asn")

#: Parameters learned by default: growth, death, productivity and the yields and
#: maintenance terms that tie the metabolites to growth; plus the galactosylation ones,
#: unobserved, so the forecast of the galactosylation index carries their uncertainty.
ESTIMATED = (
    "mu_max", "mu_d_max", "K_glc", "K_asn", "KI_amm", "Kd_amm", "m_lac", "m_glc",
    "Lac_max1", "Lac_max2", "Y_X_glc", "Y_X_gln", "Y_X_glu", "Y_X_lac", "Y_X_amm",
    "Y_X_asn", "Y_X_asp", "Y_gln_amm", "Y_lac_glc", "m_mAb", "Y_mAb_mu",
    "GI_max", "K_Mn", "KI_amm_gal", "K_age",
)

#: Prior sd of the log-parameters [-] wider than the set's own: growth, death and the split
#: of productivity into growth-associated and maintenance parts differ most between cell
#: lines and scales (engineering choice, tuned on the shared cultures; see bench/twin.py).
PRIOR_LOG_SD = {"mu_max": 0.3, "mu_d_max": 0.5, "Kd_amm": 0.5, "K_asn": 0.5, "m_mAb": 0.5,
                "Y_mAb_mu": 0.7}

#: Smallest measurement standard deviation used for R, per state (units of the state).
R_FLOOR_ABS = {"Xv": 5e7, "mAb": 2.0, "Glc": 0.1, "Amm": 0.05, "Gln": 0.03, "Lac": 0.1,
               "Glu": 0.03, "Asn": 0.03}

#: States that receive multiplicative process noise (concentrations the kinetics move).
_NOISY = ("Xv", "Xd", "Glc", "Gln", "Glu", "Asn", "Asp", "Lac", "Amm", "mAb")


@dataclass(frozen=True)
class Estimate:
    """The estimator's belief at time ``t`` [h].

    Attributes
    ----------
    t : float
    states : tuple of str
    mean, std, lo, hi : ndarray, shape (n_states,)
        Ensemble mean, standard deviation and 5 % / 95 % quantiles, state units.
    prior_mean : ndarray, shape (n_states,)
        Mean before this measurement was assimilated (the one-step-ahead prediction).
    params : dict
        Estimated parameters: ``name -> (geometric mean, relative sd [-])``.
    accepted : dict
        ``observed name -> True/False`` (False: rejected as an outlier); absent if not measured.
    """

    t: float
    states: tuple[str, ...]
    mean: np.ndarray
    std: np.ndarray
    lo: np.ndarray
    hi: np.ndarray
    prior_mean: np.ndarray
    params: dict[str, tuple[float, float]] = field(default_factory=dict)
    accepted: dict[str, bool] = field(default_factory=dict)

    def __getitem__(self, name: str) -> float:
        return float(self.mean[self.states.index(name)])

    def as_dict(self) -> dict[str, Any]:
        return {
            "t_h": self.t,
            "mean": dict(zip(self.states, self.mean.tolist(), strict=True)),
            "lo": dict(zip(self.states, self.lo.tolist(), strict=True)),
            "hi": dict(zip(self.states, self.hi.tolist(), strict=True)),
            "params": {k: {"value": v[0], "rel_sd": v[1]} for k, v in self.params.items()},
            "accepted": self.accepted,
        }


class EnsembleEstimator:
    """Common machinery: ensemble set-up, propagation, noise, bounds, delayed data.

    Parameters
    ----------
    params : ParameterSet
        Prior parameter values; their ``std`` sets the prior spread (log-normal).
    recipe : Recipe
        The plan the batch follows (initial state, feeds, shifts); events after the
        current time are applied when propagating.
    n_members : int
        Ensemble size.
    observed : sequence of str
        Names of the measured states, the order of array measurements.
    estimated : sequence of str
        Parameters augmented to the state (log-transformed).
    param_spread : float
        Multiplies the prior relative sd of every estimated parameter.
    param_walk : float
        Random walk of the log-parameters per step, as a fraction of their prior sd per
        sqrt(day) (keeps the filter learning; 0 freezes them between updates).
    state_noise : float
        Relative (log-normal) model error of the kinetic states per sqrt(day) [-].
    inflation : float
        Multiplicative inflation of the state anomalies before each analysis [-].
    rtps : float
        Relaxation of the parameter spread to its prior spread after each analysis (0..1;
        Whitaker & Hamill 2012).
    r_rel : float
        Floor of the measurement sd relative to the measured value [-].
    r_floor : mapping, optional
        Absolute floors of the measurement sd per state (default :data:`R_FLOOR_ABS`).
    gate : float or None
        Reject a measured component whose normalised innovation exceeds ``gate`` sd; a
        component rejected at its previous sample too is accepted (a persistent deviation is
        a change of the process, not an outlier), and so is every component of the first
        two samples (the filter has not learned the culture yet).
    param_sd : mapping, optional
        Prior sd of log-parameters [-] that override ``param_spread`` x relative sd (default
        :data:`PRIOR_LOG_SD`: wider priors for the parameters a new cell line or scale
        changes most).
    random_state : int, Generator or None
        Same seed, same numbers.
    """

    name = "ensemble"

    def __init__(
        self,
        params: ParameterSet,
        recipe: Recipe,
        n_members: int = 128,
        observed: Sequence[str] = OBSERVED,
        estimated: Sequence[str] = ESTIMATED,
        param_spread: float = 1.0,
        param_walk: float = 0.2,
        state_noise: float = 0.1,
        inflation: float = 1.05,
        rtps: float = 0.5,
        r_rel: float = 0.05,
        r_floor: Mapping[str, float] | None = None,
        gate: float | None = 10.0,
        param_sd: Mapping[str, float] | None = None,
        rtol: float = 1e-6,
        random_state: int | np.random.Generator | None = None,
    ) -> None:
        self.params = params
        self.recipe = recipe
        self.n_members = n_members
        self.observed = tuple(observed)
        self.estimated = tuple(estimated)
        self.param_spread = param_spread
        self.param_walk = param_walk
        self.state_noise = state_noise
        self.inflation = inflation
        self.rtps = rtps
        self.r_rel = r_rel
        self.r_floor = dict(R_FLOOR_ABS if r_floor is None else r_floor)
        self.gate = gate
        self.param_sd = param_sd
        self.rtol = rtol
        self.random_state = random_state
        self._initialised = False

    # ------------------------------------------------------------------ set-up
    def initialise(self) -> EnsembleEstimator:
        """Draw the initial ensemble (called by the first :meth:`make_step`)."""
        self.model_ = self.params.get_model()
        model = self.model_
        self.state_names_ = tuple(model.state_names)
        self.obs_index_ = np.array([model.state_index(s) for s in self.observed])
        unknown = set(self.estimated) - set(model.parameter_names)
        if unknown:
            raise ModelError(f"cannot estimate unknown parameter(s) {sorted(unknown)}")
        self.est_index_ = np.array([model.parameter_names.index(p) for p in self.estimated], dtype=int)
        self.rng_ = np.random.default_rng(self.random_state)
        self.propagator_ = Propagator(model, self.recipe, rtol=self.rtol)
        self.p_nominal_ = self.params.vector(model)
        rel = self.params.relative_sd_vector(model)[self.est_index_] * self.param_spread
        overrides = PRIOR_LOG_SD if self.param_sd is None else self.param_sd
        for i, p in enumerate(self.estimated):
            if p in overrides:
                rel[i] = overrides[p]
        self.theta_sd_ = np.maximum(rel, 1e-3)
        self.theta_prior_ = np.log(self.p_nominal_[self.est_index_])
        n = self.n_members
        self.theta_ = self.theta_prior_ + self.theta_sd_ * self.rng_.standard_normal((n, rel.size))
        y0 = self.propagator_.recipe.y0
        sd0 = np.full(y0.size, 0.0)
        for j, name in enumerate(self.state_names_):
            if name in self.observed:
                sd0[j] = self.r_rel * 2
            elif name in ("Xd", "Asp"):
                sd0[j] = 0.2
        self.X_ = y0 * np.exp(sd0 * self.rng_.standard_normal((n, y0.size)))
        self.X_[:, model.state_index("mAb_gal")] = self.X_[:, model.state_index("mAb")] * (
            y0[model.state_index("mAb_gal")] / max(y0[model.state_index("mAb")], 1e-12))
        self.U_ = np.tile(self.propagator_.u0, (n, 1))
        self.t_ = 0.0
        self.noisy_index_ = np.array([model.state_index(s) for s in _NOISY])
        self.checkpoints_: list[tuple[float, np.ndarray, np.ndarray, np.ndarray]] = []
        self.log_: list[tuple[float, np.ndarray, np.ndarray | None]] = []
        self.history_: list[Estimate] = []
        self.rejected_ = np.zeros(len(self.observed), bool)
        self.n_steps_ = 0
        self._initialised = True
        self._checkpoint()
        return self

    def _checkpoint(self) -> None:
        self.checkpoints_.append((self.t_, self.X_.copy(), self.U_.copy(), self.theta_.copy()))

    # ------------------------------------------------------------------ ensemble access
    def param_matrix(self, theta: np.ndarray | None = None) -> np.ndarray:
        """Full parameter vectors of the members, shape (n_members, n_parameters)."""
        theta = self.theta_ if theta is None else theta
        p = np.tile(self.p_nominal_, (theta.shape[0], 1))
        p[:, self.est_index_] = np.exp(theta)
        return p

    def members(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(states (n, n_states), inputs (n, n_u), parameters (n, n_parameters)) at ``t_``."""
        return self.X_.copy(), self.U_.copy(), self.param_matrix()

    # ------------------------------------------------------------------ steps
    def predict(self, t: float) -> None:
        """Propagate the ensemble to ``t`` [h] with model error and parameter random walk."""
        if t < self.t_:
            raise DataError(f"cannot predict backwards from {self.t_} h to {t} h")
        if t == self.t_:
            return
        dt_d = (t - self.t_) / 24.0
        res = self.propagator_.run(self.X_, self.U_, self.param_matrix(), self.t_, t)
        X = res.y[:, -1, :]
        ok = res.ok
        if not ok.all():  # replace failed members by copies of successful ones
            good = np.flatnonzero(ok)
            if good.size == 0:
                raise ModelError(f"every ensemble member failed between {self.t_} and {t} h")
            bad = np.flatnonzero(~ok)
            src = self.rng_.choice(good, size=bad.size)
            X[bad] = X[src]
            self.theta_[bad] = self.theta_[src]
        n = X.shape[0]
        if self.state_noise > 0:
            f = np.exp(self.state_noise * np.sqrt(dt_d) * self.rng_.standard_normal((n, self.noisy_index_.size)))
            X[:, self.noisy_index_] *= f
            # the galactosylated product follows its product (GI unchanged by the noise)
            X[:, self.model_.state_index("mAb_gal")] *= f[:, -1]
        if self.param_walk > 0:
            self.theta_ = self.theta_ + self.param_walk * self.theta_sd_ * np.sqrt(dt_d) * \
                self.rng_.standard_normal(self.theta_.shape)
        self.X_ = X
        self.U_ = res.u
        self.t_ = float(t)

    def measurement_sd(self, y: np.ndarray, std: np.ndarray | None) -> np.ndarray:
        """Measurement sd used in R: the reported sd, floored absolutely and relatively."""
        floor = np.array([self.r_floor.get(s, 0.0) for s in self.observed])
        sd = np.zeros_like(y) if std is None else np.nan_to_num(np.asarray(std, float), nan=0.0)
        return np.maximum.reduce([sd, floor, self.r_rel * np.abs(y)])

    def _as_vector(self, y: Mapping[str, float] | Sequence[float] | np.ndarray) -> np.ndarray:
        if isinstance(y, Mapping):
            return np.array([float(y.get(s, np.nan)) for s in self.observed])
        arr = np.asarray(y, dtype=float).ravel()
        if arr.size != len(self.observed):
            raise DataError(f"measurement has {arr.size} values, expected {len(self.observed)} ({self.observed})")
        return arr

    def make_step(
        self,
        y: Mapping[str, float] | Sequence[float] | np.ndarray,
        t: float,
        std: Mapping[str, float] | Sequence[float] | np.ndarray | None = None,
    ) -> Estimate:
        """Assimilate one measurement taken at ``t`` [h]; return the estimate at ``t``.

        Parameters
        ----------
        y : mapping or array
            Measured values by state name, or an array in the order of ``observed``;
            NaN or a missing key means not measured at this time.
        t : float
            Sample time [h]. Older than the current estimate: the estimator rewinds to its
            last checkpoint before ``t`` and replays every later measurement (delayed data).
        std : mapping or array, optional
            Reported measurement sd (same units); floored, see ``r_rel`` and ``r_floor``.
        """
        if not self._initialised:
            self.initialise()
        yv = self._as_vector(y)
        sv = None if std is None else self._as_vector(std)
        if t < self.t_:
            return self._rewind_and_replay(yv, sv, float(t))
        self.log_.append((float(t), yv, sv))
        return self._step(yv, sv, float(t))

    def _step(self, yv: np.ndarray, sv: np.ndarray | None, t: float) -> Estimate:
        self.predict(t)
        prior_mean = self.X_.mean(axis=0)
        mask = np.isfinite(yv)
        accepted: dict[str, bool] = {}
        if mask.any():
            sd = self.measurement_sd(np.where(mask, yv, 0.0), sv)
            use = mask.copy()
            if self.gate is not None and self.n_steps_ >= 2:
                hx = self.X_[:, self.obs_index_]
                d = (yv - hx.mean(axis=0)) / np.sqrt(hx.var(axis=0, ddof=1) + sd**2)
                out = (np.abs(np.nan_to_num(d)) > self.gate) & ~self.rejected_
                use &= ~out
                self.rejected_ = np.where(mask, out, self.rejected_)
            for i in np.flatnonzero(mask):
                accepted[self.observed[i]] = bool(use[i])
            if use.any():
                self._analysis(yv[use], sd[use], self.obs_index_[use])
                self._bounds()
            self.n_steps_ += 1
        self._checkpoint()
        est = self.estimate(prior_mean=prior_mean, accepted=accepted)
        self.history_.append(est)
        return est

    def _rewind_and_replay(self, yv: np.ndarray, sv: np.ndarray | None, t: float) -> Estimate:
        k = max(i for i, c in enumerate(self.checkpoints_) if c[0] < t or i == 0)
        t_c, X, U, th = self.checkpoints_[k]
        self.checkpoints_ = self.checkpoints_[: k + 1]
        self.t_, self.X_, self.U_, self.theta_ = t_c, X.copy(), U.copy(), th.copy()
        self.log_.append((t, yv, sv))
        self.log_.sort(key=lambda e: e[0])
        replay = [e for e in self.log_ if e[0] > t_c]
        self.history_ = [h for h in self.history_ if h.t <= t_c]
        est = None
        for t_e, y_e, s_e in replay:
            est = self._step(y_e, s_e, t_e)
        assert est is not None
        return est

    def _analysis(self, y: np.ndarray, sd: np.ndarray, idx: np.ndarray) -> None:
        raise NotImplementedError

    def _bounds(self) -> None:
        """Physical bounds: concentrations >= 0, GI in [0, 1], parameters within e^+-4 of prior."""
        model = self.model_
        X = self.X_
        X[:, 1:] = np.maximum(X[:, 1:], 0.0)
        i_mab, i_gal = model.state_index("mAb"), model.state_index("mAb_gal")
        X[:, i_gal] = np.clip(X[:, i_gal], 0.0, X[:, i_mab])
        lo = self.theta_prior_ - 4.0
        hi = self.theta_prior_ + 4.0
        self.theta_ = np.clip(self.theta_, lo, hi)

    # ------------------------------------------------------------------ output
    def estimate(self, prior_mean: np.ndarray | None = None, accepted: dict[str, bool] | None = None) -> Estimate:
        """The current belief as an :class:`Estimate`."""
        X = self.X_
        lo, hi = np.quantile(X, [0.05, 0.95], axis=0)
        th_m = self.theta_.mean(axis=0)
        th_s = self.theta_.std(axis=0)
        params = {p: (float(np.exp(m)), float(s)) for p, m, s in zip(self.estimated, th_m, th_s, strict=True)}
        return Estimate(
            t=self.t_, states=self.state_names_, mean=X.mean(axis=0), std=X.std(axis=0),
            lo=lo, hi=hi, prior_mean=X.mean(axis=0) if prior_mean is None else prior_mean,
            params=params, accepted=accepted or {},
        )


class EnsembleKalmanFilter(EnsembleEstimator):
    """Ensemble Kalman filter, joint state and parameter estimation (log-parameters).

    ``variant="stochastic"``: perturbed observations (Evensen 2003; Burgers et al. 1998).
    ``variant="deterministic"``: DEnKF (Sakov & Oke 2008): the mean gets the Kalman update,
    the anomalies half of it, no observation noise is drawn. Other parameters: see
    :class:`EnsembleEstimator`.

    Examples
    --------
    >>> from biotwin.parameters import get_parameter_set
    >>> from biotwin.recipes import recipe_from_culture
    >>> ps = get_parameter_set("cho_t127_kotidis2019")
    >>> enkf = EnsembleKalmanFilter(ps, recipe, n_members=64, random_state=0)  # doctest: +SKIP
    >>> est = enkf.make_step({"Xv": 3.5e8, "Glc": 33.0}, t=24.0)  # doctest: +SKIP
    """

    name = "enkf"

    def __init__(self, params: ParameterSet, recipe: Recipe, variant: str = "deterministic",
                 **kwargs: Any) -> None:
        super().__init__(params, recipe, **kwargs)
        self.variant = variant

    def _analysis(self, y: np.ndarray, sd: np.ndarray, idx: np.ndarray) -> None:
        if self.variant not in ("stochastic", "deterministic"):
            raise ModelError(f"unknown EnKF variant {self.variant!r}; expected stochastic or deterministic")
        X, th = self.X_, self.theta_
        n = X.shape[0]
        xm = X.mean(axis=0)
        Ax = (X - xm) * self.inflation
        X = xm + Ax
        Z = np.hstack([X, th])
        zm = Z.mean(axis=0)
        A = Z - zm
        HA = Ax[:, idx] / sd  # observation anomalies scaled by the measurement sd
        innov = (y - X[:, idx].mean(axis=0)) / sd
        Pyy = HA.T @ HA / (n - 1) + np.eye(idx.size)
        Pzy = A.T @ HA / (n - 1)
        K = np.linalg.solve(Pyy, Pzy.T).T  # (n_z, n_obs), in scaled observation units
        if self.variant == "stochastic":
            eps = self.rng_.standard_normal((n, idx.size))
            eps -= eps.mean(axis=0)
            D = innov + (X[:, idx].mean(axis=0) - X[:, idx]) / sd + eps
            Z = Z + D @ K.T
        else:
            Z = zm + innov @ K.T + A - 0.5 * HA @ K.T
        nx = X.shape[1]
        i_mab, i_gal = self.model_.state_index("mAb"), self.model_.state_index("mAb_gal")
        gi = np.where(X[:, i_mab] > 0, X[:, i_gal] / np.maximum(X[:, i_mab], 1e-300), 0.0)
        new_x = Z[:, :nx]
        new_x[:, 0] = X[:, 0]  # the volume is known
        new_x[:, i_gal] = gi * np.maximum(new_x[:, i_mab], 0.0)  # the GI is not observed here
        th_new = Z[:, nx:]
        if self.rtps > 0:  # relaxation to prior spread (Whitaker & Hamill 2012)
            sb = th.std(axis=0, ddof=1)
            sa = th_new.std(axis=0, ddof=1)
            fac = self.rtps * sb / np.maximum(sa, 1e-12) + 1.0 - self.rtps
            m = th_new.mean(axis=0)
            th_new = m + (th_new - m) * fac
        self.X_ = new_x
        self.theta_ = th_new


class ParticleFilter(EnsembleEstimator):
    """Particle filter (sequential importance resampling) with Liu-West parameter kernel.

    The likelihood is Gaussian in the floored measurement sd; when it would leave fewer
    than ``min_ess`` x n effective particles it is tempered (the measurement sd widened)
    until that many remain, a guard against collapse with eight measured states. After
    systematic resampling the log-parameters are shrunk toward their mean and jittered
    (Liu & West 2001, discount ``delta``), the states jittered by ``jitter`` (relative).
    """

    name = "pf"

    def __init__(self, params: ParameterSet, recipe: Recipe, min_ess: float = 0.3,
                 delta: float = 0.95, jitter: float = 0.02, **kwargs: Any) -> None:
        kwargs.setdefault("inflation", 1.0)
        super().__init__(params, recipe, **kwargs)
        self.min_ess = min_ess
        self.delta = delta
        self.jitter = jitter

    def _analysis(self, y: np.ndarray, sd: np.ndarray, idx: np.ndarray) -> None:
        X, th = self.X_, self.theta_
        n = X.shape[0]
        r2 = (((X[:, idx] - y) / sd) ** 2).sum(axis=1)
        temper = 1.0
        for _ in range(60):
            logw = -0.5 * r2 / temper
            w = np.exp(logw - logw.max())
            w /= w.sum()
            if 1.0 / np.sum(w**2) >= self.min_ess * n:
                break
            temper *= 1.5
        # systematic resampling
        pos = (self.rng_.random() + np.arange(n)) / n
        pick = np.minimum(np.searchsorted(np.cumsum(w), pos), n - 1)
        X = X[pick].copy()
        th = th[pick]
        a = (3 * self.delta - 1) / (2 * self.delta)
        h2 = 1 - a**2
        m = th.mean(axis=0)
        cov = np.atleast_2d(np.cov(th.T)) + 1e-12 * np.eye(th.shape[1])
        L = np.linalg.cholesky(cov)
        th = a * th + (1 - a) * m + np.sqrt(h2) * self.rng_.standard_normal(th.shape) @ L.T
        if self.jitter > 0:
            X[:, self.noisy_index_] *= np.exp(self.jitter * self.rng_.standard_normal((n, self.noisy_index_.size)))
        self.X_ = X
        self.theta_ = th


ESTIMATORS = {"enkf": EnsembleKalmanFilter, "pf": ParticleFilter}


def make_estimator(kind: str, params: ParameterSet, recipe: Recipe, **kwargs: Any) -> EnsembleEstimator:
    """Build an estimator by name: ``"enkf"`` or ``"pf"``."""
    try:
        cls = ESTIMATORS[kind]
    except KeyError:
        raise ModelError(f"unknown estimator {kind!r}; expected one of {sorted(ESTIMATORS)}") from None
    return cls(params, recipe, **kwargs)

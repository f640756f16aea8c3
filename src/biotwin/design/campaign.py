"""A campaign: factor settings x Monte Carlo parameter draws -> outcome statistics per point.

:func:`evaluate_points` is the unit of work: a pure function of the campaign, a block of
design points and their indices. The random draws of a point depend only on the seed and
(with ``common_draws=False``) the point's index, so results do not depend on how points are
chunked or where chunks run.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field, replace

import numpy as np

from biotwin.design.factors import Factor, RecipeTemplate
from biotwin.design.specs import Spec, compute_quantities, parse_spec
from biotwin.design.uncertainty import Covariance, sample_parameters
from biotwin.errors import DataError
from biotwin.models import convert_recipe, get_model
from biotwin.models.base import Model
from biotwin.parameters import ParameterSet
from biotwin.recipes.recipe import Recipe
from biotwin.simulation.ensemble import NumbaBackend, run_ensemble

#: Members integrated in one ensemble call (bounds memory: y is n x n_t x n_states).
MAX_MEMBERS_PER_RUN = 16_384
QUANTILES = (0.05, 0.5, 0.95)


@dataclass(frozen=True)
class Campaign:
    """Everything that determines a campaign's numbers (picklable, for Dask workers).

    Parameters
    ----------
    recipe : Recipe
    parameter_set : ParameterSet
    factors : tuple of Factor
        The varied quantities; a design point is one value per factor.
    specs : tuple of Spec
    quantities : tuple of str
        Outcomes summarised per point (the specs' quantities are added).
    fixed : tuple of (name, value)
        Factor values held fixed at every point.
    n_mc : int
        Monte Carlo parameter draws per point (0: nominal parameters only).
    seed : int
    stream : int
        Independent random stream (0: the design, 1: a fresh confirmation).
    common_draws : bool
        Every point sees the same draws (common random numbers: smoother maps, sharper
        comparisons between points); else each point has its own, from its index.
    covariance : Covariance, optional
        Parameter uncertainty from a calibration instead of the set's stated sd.
    uncertainty_scale : float
        Multiplies every sd [-].
    rtol : float
        Integrator relative tolerance.
    dt_out_h : float
        Output grid [h] for peaks and minima.
    model_name : str, optional
        Default: the parameter set's model.
    """

    recipe: Recipe
    parameter_set: ParameterSet
    factors: tuple[Factor, ...] = ()
    specs: tuple[Spec, ...] = ()
    quantities: tuple[str, ...] = ("mAb",)
    fixed: tuple[tuple[str, float], ...] = ()
    n_mc: int = 200
    seed: int = 0
    stream: int = 0
    common_draws: bool = True
    covariance: Covariance | None = None
    uncertainty_scale: float = 1.0
    rtol: float = 3e-6
    dt_out_h: float = 12.0
    model_name: str | None = None
    _cache: dict = field(default_factory=dict, compare=False, repr=False, hash=False)

    def __post_init__(self) -> None:
        if self.n_mc < 0:
            raise DataError(f"n_mc must be >= 0, got {self.n_mc}")
        names = [f.name for f in self.factors]
        if len(set(names)) != len(names):
            raise DataError(f"factor named twice in {names}")
        clash = set(names) & {k for k, _ in self.fixed}
        if clash:
            raise DataError(f"{sorted(clash)} both varied and fixed")
        model = self.model
        for s in self.specs:
            parse_spec(str(s), model)
        object.__setattr__(self, "specs", tuple(self.specs))

    def __getstate__(self) -> dict:
        # caches hold compiled models and large draws: rebuilt where the campaign lands
        state = dict(self.__dict__)
        state["_cache"] = {}
        return state

    def __setstate__(self, state: dict) -> None:
        for k, v in state.items():
            object.__setattr__(self, k, v)

    @property
    def model(self) -> Model:
        if "model" not in self._cache:
            self._cache["model"] = get_model(self.model_name or self.parameter_set.model)
        return self._cache["model"]

    @property
    def template(self) -> RecipeTemplate:
        if "template" not in self._cache:
            self._cache["template"] = RecipeTemplate(self.model, convert_recipe(self.recipe, self.model))
        return self._cache["template"]

    @property
    def all_quantities(self) -> tuple[str, ...]:
        out = list(self.quantities)
        for s in self.specs:
            if s.quantity not in out:
                out.append(s.quantity)
        return tuple(out)

    @property
    def factor_names(self) -> list[str]:
        return [f.name for f in self.factors]

    def with_(self, **changes: object) -> Campaign:
        """A copy with some fields changed (fresh caches)."""
        return replace(self, _cache={}, **changes)  # type: ignore[arg-type]

    def key(self) -> str:
        """A digest of everything that determines the numbers (for the chunk cache)."""
        body = {
            "recipe": self.recipe.to_dict(), "params": self.parameter_set.to_dict(),
            "model": self.model.name, "factors": [(f.name, f.low, f.high) for f in self.factors],
            "specs": [str(s) for s in self.specs], "quantities": self.all_quantities,
            "fixed": [list(x) for x in self.fixed], "n_mc": self.n_mc, "seed": self.seed,
            "stream": self.stream, "common": self.common_draws, "scale": self.uncertainty_scale,
            "cov": None if self.covariance is None else [list(self.covariance.names),
                                                         np.asarray(self.covariance.cov).tolist()],
            "rtol": self.rtol, "dt": self.dt_out_h,
        }
        return hashlib.sha256(json.dumps(body, sort_keys=True, default=str).encode()).hexdigest()

    def t_max(self) -> float:
        """Latest harvest over the whole factor space [h] (fixes the output grid)."""
        fixed = dict(self.fixed)
        for f in self.factors:
            if f.name == "harvest_h":
                return float(f.high)
        return float(fixed.get("harvest_h", self.template.compiled.t_end))

    def t_out(self) -> np.ndarray:
        tm = self.t_max()
        return np.unique(np.append(np.arange(0.0, tm, self.dt_out_h), tm))

    def draws(self, point: int) -> np.ndarray:
        """Parameter matrix of design point ``point``, shape (max(n_mc, 1), n_parameters)."""
        if self.common_draws:
            if "draws" not in self._cache:
                ss = np.random.SeedSequence(self.seed, spawn_key=(self.stream,))
                self._cache["draws"] = sample_parameters(
                    self.parameter_set, self.model, self.n_mc, np.random.default_rng(ss),
                    self.covariance, self.uncertainty_scale)
            return self._cache["draws"]
        ss = np.random.SeedSequence(self.seed, spawn_key=(self.stream, 1, int(point)))
        return sample_parameters(self.parameter_set, self.model, self.n_mc, np.random.default_rng(ss),
                                 self.covariance, self.uncertainty_scale)


@dataclass
class PointResults:
    """Statistics per design point; every array's first axis is the point.

    ``p_spec`` (n,) P(all specs met) [-]; ``p_each`` (n, n_specs); ``mean``, ``std`` (n, n_q);
    ``quantiles`` (n, n_q, 3) at 5/50/95 %; ``n_failed`` (n,) failed integrations
    (counted as out of spec).
    """

    ids: np.ndarray
    p_spec: np.ndarray
    p_each: np.ndarray
    mean: np.ndarray
    std: np.ndarray
    quantiles: np.ndarray
    n_failed: np.ndarray
    quantities: tuple[str, ...] = ()
    specs: tuple[str, ...] = ()

    def to_arrays(self) -> dict[str, np.ndarray]:
        return {k: getattr(self, k) for k in ("ids", "p_spec", "p_each", "mean", "std", "quantiles", "n_failed")}

    @classmethod
    def concat(cls, parts: list[PointResults]) -> PointResults:
        parts = sorted(parts, key=lambda p: int(p.ids[0]) if p.ids.size else -1)
        arrays = {k: np.concatenate([p.to_arrays()[k] for p in parts]) for k in parts[0].to_arrays()}
        return cls(**arrays, quantities=parts[0].quantities, specs=parts[0].specs)

    def column(self, quantity: str, stat: str = "mean") -> np.ndarray:
        j = self.quantities.index(quantity)
        if stat == "mean":
            return self.mean[:, j]
        if stat == "std":
            return self.std[:, j]
        return self.quantiles[:, j, {"q05": 0, "q50": 1, "q95": 2}[stat]]


def simulate_points(campaign: Campaign, x: np.ndarray, ids: np.ndarray, threads: int = 0
                    ) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Every member of the points ``x`` (n_points, n_factors): quantities (n_points, n_draws)."""
    x = np.atleast_2d(np.asarray(x, float))
    ids = np.asarray(ids, int)
    if x.shape[1] != len(campaign.factors):
        raise DataError(f"design points have {x.shape[1]} columns for {len(campaign.factors)} factors")
    model, tpl = campaign.model, campaign.template
    t_out = campaign.t_out()
    names = campaign.all_quantities
    n_pts = x.shape[0]
    n_draw = max(campaign.n_mc, 1)
    out = {q: np.empty((n_pts, n_draw)) for q in names}
    ok_all = np.empty((n_pts, n_draw), bool)
    per_run = max(1, MAX_MEMBERS_PER_RUN // n_draw)
    backend = NumbaBackend(threads=threads)
    for a in range(0, n_pts, per_run):
        b = min(a + per_run, n_pts)
        params = np.concatenate([campaign.draws(int(i)) for i in ids[a:b]])
        settings: dict[str, np.ndarray | float] = {k: v for k, v in campaign.fixed}
        for j, f in enumerate(campaign.factors):
            settings[f.name] = np.repeat(x[a:b, j], n_draw)
        inp = tpl.inputs(settings, params)
        res = run_ensemble(model, inp, t_out, backend=backend, rtol=campaign.rtol)
        q = compute_quantities(model, t_out, res.y, inp.t_end, names, ok=res.ok)
        for name in names:
            out[name][a:b] = q[name].reshape(b - a, n_draw)
        ok_all[a:b] = res.ok.reshape(b - a, n_draw)
    return out, ok_all


def evaluate_points(campaign: Campaign, x: np.ndarray, ids: np.ndarray, threads: int = 0) -> PointResults:
    """Statistics of the design points ``x`` (n_points, n_factors) with indices ``ids``.

    Pure: the same campaign, points and ids give the same numbers wherever this runs.
    """
    values, ok = simulate_points(campaign, x, ids, threads)
    names = campaign.all_quantities
    n_pts = ok.shape[0]
    met = np.stack([s.met(values[s.quantity]) for s in campaign.specs], axis=-1) if campaign.specs \
        else np.ones((*ok.shape, 0), bool)
    all_met = met.all(axis=-1) & ok
    mean = np.empty((n_pts, len(names)))
    std = np.empty((n_pts, len(names)))
    quant = np.empty((n_pts, len(names), len(QUANTILES)))
    with np.errstate(invalid="ignore"):
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            for j, name in enumerate(names):
                v = values[name]
                mean[:, j] = np.nanmean(v, axis=1)
                std[:, j] = np.nanstd(v, axis=1)
                quant[:, j, :] = np.nanquantile(v, QUANTILES, axis=1).T
    return PointResults(
        ids=np.asarray(ids, int), p_spec=all_met.mean(axis=1), p_each=met.mean(axis=1),
        mean=mean, std=std, quantiles=quant, n_failed=(~ok).sum(axis=1),
        quantities=names, specs=tuple(str(s) for s in campaign.specs),
    )

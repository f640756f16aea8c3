"""Golden-batch recipe: maximise an expected outcome subject to P(all specs met) >= p_min.

A chance-constrained problem solved by differential evolution (Storn R., Price K. (1997)
J Global Optim 11:341-359, doi:10.1023/A:1008202821328; :func:`scipy.optimize.differential_evolution`)
on a Monte Carlo estimate with common random numbers, so the objective is deterministic.
The optimum is then confirmed on fresh draws (another random stream) together with the
recipe it improves on.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import differential_evolution

from biotwin.design.campaign import Campaign, PointResults
from biotwin.design.executor import Executor
from biotwin.errors import DataError

#: Default search ranges for the Kotidis-type fed-batch (feeds, shift, harvest).
DEFAULT_BOUNDS = {
    "feed_scale": (0.5, 2.5),
    "feed_start_h": (24.0, 96.0),
    "feed_interval_h": (24.0, 72.0),
    "shift_time_h": (72.0, 240.0),
    "shift_temperature_C": (31.0, 36.5),
    "harvest_h": (240.0, 336.0),
}


#: Default specs: the Kotidis control recipe meets them with P ~ 0.98 under the flask set's
#: stated uncertainty (peak ammonium below the growth-inhibition range, and a minimum
#: galactosylation).
DEFAULT_SPECS = ("Amm_peak <= 8", "GI >= 0.15")


@dataclass
class GoldenBatch:
    """The optimised setting, its confirmation and the baseline on the same fresh draws."""

    settings: dict[str, float]
    objective: str
    expected: float
    p_spec: float
    p_each: dict[str, float]
    quantiles: dict[str, float]
    baseline_expected: float
    baseline_p_spec: float
    baseline_p_each: dict[str, float]
    n_confirm: int
    search_expected: float
    search_p_spec: float
    n_simulations: int
    p_min: float
    means: dict[str, float] = field(default_factory=dict)
    baseline_means: dict[str, float] = field(default_factory=dict)
    at_bounds: dict[str, str] = field(default_factory=dict)
    explanation: str = ""
    limits: str = ""

    @property
    def improvement(self) -> float:
        """Relative gain of the expected objective over the baseline [-]."""
        return self.expected / self.baseline_expected - 1.0 if self.baseline_expected else float("nan")


def _penalised(res: PointResults, objective: str, ref: float, target: float) -> np.ndarray:
    obj = res.column(objective, "mean") / ref
    obj = np.where(np.isfinite(obj), obj, 0.0)
    return -obj + 10.0 * np.maximum(target - res.p_spec, 0.0)


def optimize_recipe(
    campaign: Campaign,
    objective: str = "mAb",
    p_min: float = 0.95,
    margin: float = 0.02,
    *,
    n_confirm: int = 2000,
    maxiter: int = 25,
    popsize: int = 8,
    executor: Executor | None = None,
    tol: float = 1e-3,
) -> GoldenBatch:
    """Maximise E[objective] over the campaign's factors subject to P(specs) >= ``p_min``.

    Parameters
    ----------
    campaign : Campaign
        Its factors are the decision variables (ranges = bounds); its ``n_mc`` draws (common
        to every candidate) estimate the expectation and the probability during the search.
    objective : str
        A quantity (see :mod:`biotwin.design.specs`), maximised in expectation.
    p_min : float
        Required P(all specs met) [-].
    margin : float
        The search asks for ``p_min + margin`` so the optimum survives fresh draws.
    n_confirm : int
        Fresh Monte Carlo draws for the confirmation of the optimum and of the baseline.
    maxiter, popsize, tol
        Differential evolution settings.
    executor : Executor, optional
        Where candidate populations run (in-process by default).

    Returns
    -------
    GoldenBatch
    """
    if not campaign.factors:
        raise DataError("optimisation needs at least one factor")
    if objective not in campaign.all_quantities:
        campaign = campaign.with_(quantities=(objective, *campaign.quantities))
    ex = executor or Executor()
    opened = ex.kind != "inprocess" and ex.client is None
    if opened:
        ex.__enter__()
    try:
        return _optimize(campaign, objective, p_min, margin, n_confirm, maxiter, popsize, ex, tol)
    finally:
        if opened:
            ex.__exit__(None, None, None)


def _optimize(campaign: Campaign, objective: str, p_min: float, margin: float, n_confirm: int,
              maxiter: int, popsize: int, ex: Executor, tol: float) -> GoldenBatch:
    tpl = campaign.template
    base = tpl.baseline()
    fixed = dict(campaign.fixed)
    # the baseline is the recipe as written, under the same model changes (param.* settings)
    baseline_campaign = campaign.with_(factors=(), fixed=tuple((k, v) for k, v in campaign.fixed
                                                               if k.startswith("param.")))
    ref_res = ex.run(baseline_campaign, np.zeros((1, 0)))
    ref = float(ref_res.column(objective, "mean")[0]) or 1.0
    bounds = [(f.low, f.high) for f in campaign.factors]
    x0 = []
    for f in campaign.factors:
        v = fixed.get(f.name, base.get(f.name, np.nan))
        x0.append(float(np.clip(v, f.low, f.high)) if np.isfinite(v) else 0.5 * (f.low + f.high))
    target = min(p_min + margin, 1.0)
    count = {"n": 0}

    def func(x: np.ndarray) -> np.ndarray:
        pts = np.atleast_2d(x.T)
        count["n"] += pts.shape[0] * max(campaign.n_mc, 1)
        return _penalised(ex.run(campaign, pts), objective, ref, target)

    opt = differential_evolution(
        func, bounds, x0=np.array(x0), seed=campaign.seed, maxiter=maxiter, popsize=popsize, tol=tol,
        polish=False, vectorized=True, updating="deferred", init="sobol",
    )
    best = np.asarray(opt.x, float)
    search = ex.run(campaign, best[None, :])
    fresh = campaign.with_(stream=1, n_mc=n_confirm)
    confirm = ex.run(fresh, best[None, :])
    base_fresh = ex.run(baseline_campaign.with_(stream=1, n_mc=n_confirm), np.zeros((1, 0)))
    settings = {f.name: float(v) for f, v in zip(campaign.factors, best, strict=True)}
    j = confirm.quantities.index(objective)
    at_bounds = {}
    for f, v in zip(campaign.factors, best, strict=True):
        span = f.high - f.low
        if span > 0 and v <= f.low + 0.02 * span:
            at_bounds[f.name] = "lower"
        elif span > 0 and v >= f.high - 0.02 * span:
            at_bounds[f.name] = "upper"
    gb = GoldenBatch(
        settings=settings, objective=objective,
        expected=float(confirm.mean[0, j]), p_spec=float(confirm.p_spec[0]),
        p_each={s: float(p) for s, p in zip(confirm.specs, confirm.p_each[0], strict=True)},
        quantiles={k: float(confirm.quantiles[0, j, i]) for i, k in enumerate(("q05", "q50", "q95"))},
        baseline_expected=float(base_fresh.column(objective, "mean")[0]),
        baseline_p_spec=float(base_fresh.p_spec[0]),
        baseline_p_each={s: float(p) for s, p in zip(base_fresh.specs, base_fresh.p_each[0], strict=True)},
        n_confirm=n_confirm, search_expected=float(search.mean[0, j]), search_p_spec=float(search.p_spec[0]),
        n_simulations=count["n"] + 2 * n_confirm + max(campaign.n_mc, 1) * 2, p_min=p_min, at_bounds=at_bounds,
    )
    gb.means = {q: float(confirm.mean[0, i]) for i, q in enumerate(confirm.quantities)}
    gb.baseline_means = {q: float(base_fresh.mean[0, i]) for i, q in enumerate(base_fresh.quantities)}
    gb.explanation = explain(campaign, {**fixed, **settings})
    gb.limits = limits(gb)
    if {"shift_time_h", "shift_temperature_C"} & set(settings) and _temperature_inert(campaign):
        gb.limits += ("; the parameter set has no temperature response (f_mu_low, f_mud_low, f_qmAb_low, "
                      "f_lac_low all 1), so the temperature shift neither helps nor hurts here")
    return gb


def _temperature_inert(campaign: Campaign) -> bool:
    """True when every temperature factor of the set (after fixed param.* settings) is 1."""
    names = ("f_mu_low", "f_mud_low", "f_qmAb_low", "f_lac_low")
    model = campaign.model
    if not all(n in model.parameter_names for n in names):
        return False
    fixed = dict(campaign.fixed)
    values = [fixed.get(f"param.{n}", campaign.parameter_set[n]) for n in names]
    stds = [campaign.parameter_set.parameters[n].std for n in names]
    return all(v == 1.0 for v in values) and all(s == 0.0 for s in stds)


def explain(campaign: Campaign, settings: dict[str, float]) -> str:
    """The setting in operator's words: what to feed, when, when to shift, when to harvest."""
    tpl = campaign.template
    base = tpl.baseline()
    s = {**base, **settings}
    parts = []
    harvest = s["harvest_h"]
    scale = s.get("feed_scale", 1.0)
    vols = tpl.bolus_volume * scale * 1000.0  # L -> mL
    if tpl.bolus_times.size:
        if "feed_start_h" in settings or "feed_interval_h" in settings:
            times = np.arange(s["feed_start_h"], harvest, s["feed_interval_h"])
        else:
            times = tpl.bolus_times[tpl.bolus_times < harvest]
        what = " + ".join(f"{v:.1f} mL {name}" for name, v in zip(tpl.streams, vols, strict=True) if v > 0)
        ctrl = " + ".join(f"{v * 1000:.1f} mL" for v in tpl.bolus_volume if v > 0)
        if times.size:
            parts.append(
                f"Feed {what} per bolus ({scale:.2f} x the recipe's {ctrl}) at "
                f"{', '.join(f'{t:.0f}' for t in times)} h ({times.size} boluses, every "
                f"{s['feed_interval_h']:.0f} h from {times[0]:.0f} h; "
                f"{times.size * vols.sum():.0f} mL feed in all).")
        else:
            parts.append("No feed before harvest.")
    if np.isfinite(s.get("shift_time_h", np.nan)) and s["shift_time_h"] < harvest:
        temp = s.get("shift_temperature_C")
        temp = temp if temp is not None and np.isfinite(temp) else 32.0
        t0 = campaign.template.compiled.u0[tpl.i_temp] if tpl.i_temp >= 0 else np.nan
        parts.append(f"Shift the temperature from {t0:.1f} to {temp:.1f} degC at {s['shift_time_h']:.0f} h "
                     f"(day {s['shift_time_h'] / 24:.1f}).")
    else:
        parts.append("No temperature shift.")
    if "seed_density" in settings:
        parts.append(f"Seed at {settings['seed_density'] / 1e9:.2f}e6 cells/mL.")
    parts.append(f"Harvest at {harvest:.0f} h (day {harvest / 24:.1f}).")
    return " ".join(parts)


def limits(gb: GoldenBatch) -> str:
    """What stops the objective from rising further, in words."""
    bits = []
    if gb.p_each:
        tight = min(gb.p_each, key=lambda k: gb.p_each[k])
        bits.append(f"the tightest spec is {tight} (P = {gb.p_each[tight]:.3f}; all specs P = {gb.p_spec:.3f}, "
                    f"required {gb.p_min:.2f})")
    if gb.at_bounds:
        bits.append("factors at the edge of their range: " +
                    ", ".join(f"{k} ({v} bound)" for k, v in gb.at_bounds.items()))
    if gb.baseline_p_spec < gb.p_min:
        bits.append(f"the baseline itself meets the specs with P = {gb.baseline_p_spec:.3f} only")
    return "; ".join(bits)

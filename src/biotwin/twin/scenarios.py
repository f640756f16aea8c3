"""What-if scenarios: corrective actions run on the current ensemble and ranked.

An :class:`Action` edits the recipe's future (an extra bolus, a changed feed, an earlier or
later temperature shift, another harvest time); :func:`evaluate_actions` runs the
estimator's current members (states and learned parameters) under each edited recipe and
ranks the actions by the predicted harvest value, with its 90 % band and the probability
that the action beats doing nothing (paired over the same members). :func:`inject_fault`
makes a faulty recipe (a missed feed) for testing the twin against a known truth.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from biotwin.errors import DataError
from biotwin.recipes.recipe import Event, Recipe
from biotwin.twin.estimators import EnsembleEstimator
from biotwin.twin.forecast import BAND, forecast
from biotwin.twin.propagate import Propagator


@dataclass(frozen=True)
class Action:
    """A corrective action applied from the decision time ``t`` [h] on.

    ``kind``: ``nothing``; ``bolus`` (``stream``, ``volume_L`` [L], at ``t + delay_h``);
    ``feed_scale`` (future boluses of ``stream`` x ``factor``); ``shift`` (temperature
    to ``value`` [degC] at ``t + delay_h``, replacing any planned shift); ``harvest``
    (harvest at ``value`` [h]).
    """

    name: str
    kind: str = "nothing"
    stream: str = "feed"
    volume_L: float = 0.0
    factor: float = 1.0
    value: float = 0.0
    delay_h: float = 0.0

    def apply(self, recipe: Recipe, t: float) -> Recipe:
        """The recipe with this action from time ``t`` [h]."""
        ev = list(recipe.events)
        if self.kind == "nothing":
            return recipe
        if self.kind == "bolus":
            ev.append(Event(t + self.delay_h, "bolus", self.stream, self.volume_L))
        elif self.kind == "feed_scale":
            ev = [replace(e, value=e.value * self.factor)
                  if e.kind == "bolus" and e.target == self.stream and e.time_h >= t else e for e in ev]
        elif self.kind == "shift":
            ev = [e for e in ev if not (e.kind == "set" and e.target == "T" and e.time_h >= t)]
            ev.append(Event(t + self.delay_h, "set", "T", self.value))
        elif self.kind == "harvest":
            if self.value <= t:
                raise DataError(f"action {self.name!r}: harvest at {self.value} h is not after {t} h")
            ev = [e for e in ev if e.time_h < self.value]
            return replace(recipe, events=tuple(ev), duration_h=float(self.value))
        else:
            raise DataError(f"unknown action kind {self.kind!r}")
        return recipe.with_events(ev)


def default_actions(recipe: Recipe, t: float) -> list[Action]:
    """A candidate set at decision time ``t``: do nothing, extra feed or glucose boluses
    (1x and 2x the recipe's typical feed volume), feeds +-25 %, an earlier/later or added
    temperature shift, harvest one day earlier or later."""
    feeds = [e.value for e in recipe.events if e.kind == "bolus" and e.target == "feed"]
    vol = float(np.median(feeds)) if feeds else 0.02 * recipe.initial.get("V", 1.0)
    glc = [e.value for e in recipe.events if e.kind == "bolus" and e.target == "glucose"]
    acts = [
        Action("do nothing"),
        Action("extra feed bolus", "bolus", "feed", vol),
        Action("double feed bolus", "bolus", "feed", 2 * vol),
        Action("feeds +25%", "feed_scale", "feed", factor=1.25),
        Action("feeds -25%", "feed_scale", "feed", factor=0.75),
    ]
    if "glucose" in recipe.streams and glc:
        acts.append(Action("extra glucose bolus", "bolus", "glucose", float(np.median(glc))))
    shifts = [e for e in recipe.events if e.kind == "set" and e.target == "T"]
    if shifts:
        s = shifts[0]
        for dt in (-24.0, 24.0):
            if s.time_h + dt >= t:
                acts.append(Action(f"shift {'earlier' if dt < 0 else 'later'} by 1 d", "shift",
                                   value=s.value, delay_h=s.time_h + dt - t))
    else:
        acts.append(Action("shift to 32 degC in 1 d", "shift", value=32.0, delay_h=24.0))
    acts += [Action("harvest 1 d earlier", "harvest", value=recipe.duration_h - 24.0),
             Action("harvest 1 d later", "harvest", value=recipe.duration_h + 24.0)]
    return [a for a in acts if a.kind != "harvest" or a.value > t]


@dataclass(frozen=True)
class ScenarioResult:
    """One action's predicted outcome: harvest mean, 90 % band, P(better than nothing)."""

    action: Action
    mean: float
    lo: float
    hi: float
    p_better: float
    spec_probability: dict[str, float]

    def as_dict(self) -> dict[str, Any]:
        return {"action": self.action.name, "kind": self.action.kind, "mean": self.mean, "lo": self.lo,
                "hi": self.hi, "p_better_than_nothing": self.p_better, "spec_probability": self.spec_probability}


def evaluate_actions(
    estimator: EnsembleEstimator,
    actions: Sequence[Action] | None = None,
    objective: str = "mAb",
    specs: Mapping[str, tuple[float | None, float | None]] | None = None,
    recipe: Recipe | None = None,
) -> list[ScenarioResult]:
    """Run every action on the current ensemble; best first (highest mean ``objective``).

    Parameters
    ----------
    estimator : EnsembleEstimator
        After its latest :meth:`~EnsembleEstimator.make_step`.
    actions : sequence of Action, optional
        Default :func:`default_actions` of the estimator's recipe.
    objective : str
        Column of the forecast to maximise at harvest (``mAb`` [mg/L], ``GI`` [-], ...).
    specs : mapping, optional
        Harvest specs, as in :func:`~biotwin.twin.forecast.forecast`.
    recipe : Recipe, optional
        The current plan (default the estimator's recipe).
    """
    recipe = recipe or estimator.recipe
    t = estimator.t_
    actions = list(actions) if actions is not None else default_actions(recipe, t)
    finals: list[np.ndarray] = []
    probs: list[dict[str, float]] = []
    for a in actions:
        prop = Propagator(estimator.model_, a.apply(recipe, t), rtol=estimator.rtol)
        f = forecast(estimator, specs=specs, n_points=2, propagator=prop)
        v = f.column(objective)[:, -1]
        finals.append(v)
        probs.append(f.spec_probability)
    names = [a.kind for a in actions]
    base = finals[names.index("nothing")] if "nothing" in names else None
    out = []
    for a, v, p in zip(actions, finals, probs, strict=True):
        lo, hi = np.quantile(v, BAND)
        if base is not None and base.size == v.size:
            pb = float(np.mean(v > base))
        else:
            pb = float("nan")
        out.append(ScenarioResult(a, float(v.mean()), float(lo), float(hi), pb, p))
    return sorted(out, key=lambda r: -r.mean)


def inject_fault(recipe: Recipe, fault: str) -> Recipe:
    """A faulty copy of ``recipe``: ``missed-feed:at=96`` drops the feed bolus(es) within
    one hour after 96 h; ``missed-glucose:at=T`` the glucose ones; ``short-feed:at=T,factor=0.5``
    scales them."""
    kind, _, args = fault.partition(":")
    opts: dict[str, float] = {}
    for part in filter(None, args.split(",")):
        key, _, val = part.partition("=")
        try:
            opts[key.strip()] = float(val)
        except ValueError:
            raise DataError(f"fault {fault!r}: {part!r} is not key=number") from None
    if "at" not in opts:
        raise DataError(f"fault {fault!r} needs at=<time h>, e.g. missed-feed:at=96")
    at = opts["at"]
    stream = {"missed-feed": "feed", "short-feed": "feed", "missed-glucose": "glucose"}.get(kind)
    if stream is None:
        raise DataError(f"unknown fault {kind!r}; expected missed-feed, missed-glucose or short-feed")
    factor = opts.get("factor", 0.0) if kind == "short-feed" else 0.0
    hit = [i for i, e in enumerate(recipe.events)
           if e.kind == "bolus" and e.target == stream and at <= e.time_h < at + 1.0]
    if not hit:
        raise DataError(f"fault {fault!r}: no {stream} bolus in [{at}, {at + 1}) h")
    ev = [replace(e, value=e.value * factor) if i in hit else e for i, e in enumerate(recipe.events)]
    return recipe.with_events([e for e in ev if not (e.kind == "bolus" and e.value == 0.0)])


def simulate_measurements(
    recipe: Recipe, truth: Any, times: np.ndarray, observed: Sequence[str], noise: float = 0.03,
    random_state: int | np.random.Generator | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Measurements of a simulated truth: values (n_times, n_observed) with relative
    Gaussian noise ``noise`` [-] (clipped at 0) and their sd."""
    from biotwin.simulation import simulate

    model = truth.get_model()
    res = simulate(model, truth, recipe, t_out=np.asarray(times, float))
    y = np.column_stack([res[s] for s in observed])
    rng = np.random.default_rng(random_state)
    sd = noise * np.abs(y)
    return np.maximum(y + sd * rng.standard_normal(y.shape), 0.0), sd


def truth_outcome(recipe: Recipe, truth: Any, objective: str = "mAb") -> float:
    """Harvest value of ``objective`` when the truth runs ``recipe``."""
    from biotwin.simulation import simulate

    model = truth.get_model()
    res = simulate(model, truth, recipe, t_out=np.array([recipe.duration_h]))
    if objective == "GI":
        return float(res["GI"][-1])
    return float(res[objective][-1])


def whatif(
    recipe: Recipe,
    truth: Any,
    fault: str | None,
    decision_h: float,
    params: Any,
    n_members: int = 128,
    random_state: int | None = 0,
    every_h: float = 24.0,
    noise: float = 0.03,
    objective: str = "mAb",
    actions: Sequence[Action] | None = None,
    specs: Mapping[str, tuple[float | None, float | None]] | None = None,
    verify: bool = True,
    estimator: str = "enkf",
) -> dict[str, Any]:
    """A known truth with an injected fault, measured up to ``decision_h``, tracked by the
    twin, which ranks corrective actions; with ``verify`` the truth is re-run with the top
    action and with doing nothing.

    Parameters
    ----------
    recipe : Recipe
        The plan.
    truth : ParameterSet
        Parameters of the simulated truth.
    fault : str or None
        See :func:`inject_fault`.
    decision_h : float
        Decision time [h]: measurements every ``every_h`` up to it are assimilated.
    params : ParameterSet
        The twin's starting parameters.

    Returns
    -------
    dict
        ``fault, decision_h, ranking`` (list of :meth:`ScenarioResult.as_dict`), ``top``,
        and with ``verify`` ``truth`` = {``nothing``, ``top``, ``improved``}.
    """
    from biotwin.twin.estimators import OBSERVED, make_estimator

    faulty = inject_fault(recipe, fault) if fault else recipe
    times = np.arange(0.0, decision_h + 1e-9, every_h)
    y, sd = simulate_measurements(faulty, truth, times, OBSERVED, noise=noise, random_state=random_state)
    est = make_estimator(estimator, params, faulty, n_members=n_members, random_state=random_state)
    for k, t in enumerate(times):
        est.make_step(y[k], float(t), sd[k])
    ranking = evaluate_actions(est, actions=actions, objective=objective, specs=specs, recipe=faulty)
    out: dict[str, Any] = {
        "fault": fault, "decision_h": decision_h, "objective": objective,
        "ranking": [r.as_dict() for r in ranking], "top": ranking[0].action.name,
    }
    if verify:
        nothing = truth_outcome(faulty, truth, objective)
        top = truth_outcome(ranking[0].action.apply(faulty, est.t_), truth, objective)
        out["truth"] = {"nothing": nothing, "top": top, "improved": top > nothing}
    return out

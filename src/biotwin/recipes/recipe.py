"""The recipe data structure, its YAML form and its compiled (array) form."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from biotwin.errors import DataError, ModelError
from biotwin.models.base import Model

#: Event kinds: ``bolus`` adds ``value`` [L] of stream ``target``; ``withdraw`` removes
#: ``value`` [L] of broth (a sample); ``set`` sets input ``target`` to ``value``;
#: ``rate`` sets the continuous feed rate of stream ``target`` to ``value`` [L/h].
EVENT_KINDS = ("bolus", "withdraw", "set", "rate")
KIND_CODE = {k: i for i, k in enumerate(EVENT_KINDS)}


@dataclass(frozen=True)
class Stream:
    """A liquid that can be added: its composition in the model's state units."""

    name: str
    composition: dict[str, float]
    description: str = ""


@dataclass(frozen=True)
class Event:
    """One timed operator action; see :data:`EVENT_KINDS`."""

    time_h: float
    kind: str
    target: str = ""
    value: float = 0.0

    def __post_init__(self) -> None:
        if self.kind not in EVENT_KINDS:
            raise ModelError(f"event kind {self.kind!r} unknown; expected one of {EVENT_KINDS}")
        if not np.isfinite(self.time_h) or self.time_h < 0:
            raise ModelError(f"event time {self.time_h!r} h must be finite and >= 0")
        if not np.isfinite(self.value):
            raise ModelError(f"event value {self.value!r} must be finite")
        if self.kind in ("bolus", "withdraw", "rate") and self.value < 0:
            raise ModelError(f"{self.kind} event at {self.time_h} h has negative value {self.value}")


@dataclass(frozen=True)
class Recipe:
    """What happens to the vessel, independent of the kinetics.

    Attributes
    ----------
    name : str
    model : str
        Name of the model whose states the recipe fills (``cho_kotidis2019``).
    duration_h : float
        Harvest time [h].
    initial : dict
        Initial state values by state name, ``V`` [L] included.
    inputs : dict
        Initial input values by input name (``T`` [degC], ``pH_sp`` [-], ...).
    streams : dict
        Addable streams by name.
    events : list of Event
        In time order (ties keep their order).
    """

    name: str
    model: str
    duration_h: float
    initial: dict[str, float]
    inputs: dict[str, float]
    streams: dict[str, Stream] = field(default_factory=dict)
    events: tuple[Event, ...] = ()
    description: str = ""
    source: str = ""

    def sorted_events(self) -> tuple[Event, ...]:
        order = sorted(range(len(self.events)), key=lambda i: (self.events[i].time_h, i))
        return tuple(self.events[i] for i in order)

    def with_events(self, events: list[Event] | tuple[Event, ...]) -> Recipe:
        return replace(self, events=tuple(events))

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "model": self.model,
            "description": self.description,
            "source": self.source,
            "duration_h": float(self.duration_h),
            "initial": {k: float(v) for k, v in self.initial.items()},
            "inputs": {k: float(v) for k, v in self.inputs.items()},
            "streams": {
                s.name: {"description": s.description,
                         "composition": {k: float(v) for k, v in s.composition.items()}}
                for s in self.streams.values()
            },
            "events": [
                {"time_h": float(e.time_h), "kind": e.kind, "target": e.target, "value": float(e.value)}
                for e in self.events
            ],
        }

    def to_yaml(self, path: str | Path) -> None:
        """Write the recipe as YAML."""
        Path(path).write_text(yaml.safe_dump(self.to_dict(), sort_keys=False))

    @classmethod
    def from_dict(cls, data: dict[str, Any], origin: str = "<dict>") -> Recipe:
        """Build a recipe from its YAML structure; errors name the field."""

        def need(obj: dict[str, Any], key: str, where: str) -> Any:
            if not isinstance(obj, dict) or key not in obj:
                raise DataError(f"missing field {where}{key!r}", file=origin)
            return obj[key]

        def num(value: Any, where: str) -> float:
            try:
                out = float(value)
            except (TypeError, ValueError):
                raise DataError(f"field {where} = {value!r} is not a number", file=origin) from None
            if not np.isfinite(out):
                raise DataError(f"field {where} = {value!r} is not finite", file=origin)
            return out

        streams = {}
        for sname, sdata in (data.get("streams") or {}).items():
            comp = need(sdata, "composition", f"streams.{sname}.")
            streams[str(sname)] = Stream(
                name=str(sname),
                composition={str(k): num(v, f"streams.{sname}.composition.{k}") for k, v in comp.items()},
                description=str(sdata.get("description", "")),
            )
        events = []
        for i, ev in enumerate(data.get("events") or []):
            try:
                events.append(
                    Event(
                        time_h=num(need(ev, "time_h", f"events[{i}]."), f"events[{i}].time_h"),
                        kind=str(need(ev, "kind", f"events[{i}].")),
                        target=str(ev.get("target", "")),
                        value=num(ev.get("value", 0.0), f"events[{i}].value"),
                    )
                )
            except ModelError as exc:
                raise DataError(f"events[{i}]: {exc}", file=origin) from exc
        return cls(
            name=str(need(data, "name", "")),
            model=str(need(data, "model", "")),
            duration_h=num(need(data, "duration_h", ""), "duration_h"),
            initial={str(k): num(v, f"initial.{k}") for k, v in need(data, "initial", "").items()},
            inputs={str(k): num(v, f"inputs.{k}") for k, v in (data.get("inputs") or {}).items()},
            streams=streams,
            events=tuple(events),
            description=str(data.get("description", "")),
            source=str(data.get("source", "")),
        )


def load_recipe(path: str | Path) -> Recipe:
    """Read a recipe YAML file, or build the recipe of a shared culture folder."""
    p = Path(path)
    if p.is_dir():
        from biotwin.recipes.culture import recipe_from_culture

        return recipe_from_culture(p)
    if not p.is_file():
        raise DataError("recipe file not found", file=str(p))
    try:
        data = yaml.safe_load(p.read_text())
    except yaml.YAMLError as exc:
        raise DataError(f"invalid YAML: {exc}", file=str(p)) from exc
    if not isinstance(data, dict):
        raise DataError("a recipe must be a YAML mapping", file=str(p))
    return Recipe.from_dict(data, origin=str(p))


@dataclass(frozen=True)
class CompiledRecipe:
    """A recipe as arrays for the solvers.

    ``u`` holds the model inputs followed by one continuous feed rate [L/h] per stream.
    Event codes follow :data:`EVENT_KINDS`; ``ev_index`` is a stream index (bolus, rate),
    an input index (set) or -1 (withdraw).
    """

    y0: np.ndarray  # (n_states,)
    u0: np.ndarray  # (n_inputs + n_streams,)
    stream_conc: np.ndarray  # (n_streams, n_states)
    ev_time: np.ndarray  # (n_events,)
    ev_kind: np.ndarray  # (n_events,) int64
    ev_index: np.ndarray  # (n_events,) int64
    ev_value: np.ndarray  # (n_events,)
    t_end: float
    stream_names: tuple[str, ...]
    n_inputs: int


def compile_recipe(recipe: Recipe, model: Model) -> CompiledRecipe:
    """Translate names into indices; raises :class:`ModelError` naming any unknown name."""
    if recipe.model != model.name:
        raise ModelError(f"recipe {recipe.name!r} is for model {recipe.model!r}, not {model.name!r}")
    y0 = np.zeros(len(model.states))
    for key, val in recipe.initial.items():
        y0[model.state_index(key)] = val
    if y0[0] <= 0:
        raise ModelError(f"recipe {recipe.name!r}: initial volume V must be > 0, got {y0[0]}")
    if np.any(y0 < 0):
        bad = [model.state_names[i] for i in np.flatnonzero(y0 < 0)]
        raise ModelError(f"recipe {recipe.name!r}: negative initial value for {bad}")
    stream_names = tuple(recipe.streams)
    conc = np.zeros((len(stream_names), len(model.states)))
    for i, s in enumerate(recipe.streams.values()):
        for key, val in s.composition.items():
            j = model.state_index(key)
            if j == 0:
                raise ModelError(f"stream {s.name!r} cannot set the volume")
            conc[i, j] = val
    n_in = len(model.inputs)
    u0 = np.zeros(n_in + len(stream_names))
    for key, val in recipe.inputs.items():
        u0[model.input_index(key)] = val
    events = recipe.sorted_events()
    kinds = np.array([KIND_CODE[e.kind] for e in events], dtype=np.int64)
    index = np.empty(len(events), dtype=np.int64)
    for k, e in enumerate(events):
        if e.kind in ("bolus", "rate"):
            if e.target not in stream_names:
                raise ModelError(
                    f"event at {e.time_h} h adds unknown stream {e.target!r}; streams: {list(stream_names)}"
                )
            index[k] = stream_names.index(e.target)
        elif e.kind == "set":
            index[k] = model.input_index(e.target)
        else:
            index[k] = -1
    return CompiledRecipe(
        y0=y0,
        u0=u0,
        stream_conc=conc,
        ev_time=np.array([e.time_h for e in events], dtype=float),
        ev_kind=kinds,
        ev_index=index,
        ev_value=np.array([e.value for e in events], dtype=float),
        t_end=float(recipe.duration_h),
        stream_names=stream_names,
        n_inputs=n_in,
    )

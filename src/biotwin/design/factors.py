"""Factors: recipe and model quantities a campaign varies, applied to ensemble arrays.

A factor is a named quantity with a range (``feed_scale=0.5:2``). Factor settings are
applied to the per-member arrays of :class:`biotwin.simulation.ensemble.EnsembleInputs`
in bulk (vectorised NumPy), so a campaign of 10^5 batches never builds 10^5 recipes.
:meth:`RecipeTemplate.to_recipe` turns one setting back into a :class:`Recipe` (for
export, and to check that both paths agree).

Known factors
-------------
``feed_scale`` [-]
    Multiplies every feed bolus volume.
``feed_scale.<stream>`` [-]
    Multiplies the bolus volumes of one stream.
``feed_start_h`` [h], ``feed_interval_h`` [h]
    The bolus schedule becomes periodic: boluses at ``start + k * interval`` before
    harvest, each of the recipe's mean bolus volume per stream.
``shift_time_h`` [h], ``shift_temperature_C`` [degC]
    One temperature shift (replaces any set-point change of ``T`` in the recipe); the
    default shift temperature is 32 degC, the low temperature of the Sou et al. (2015)
    cultures the temperature extension was calibrated on.
``seed_density`` [cells/L]
    Initial viable cell density.
``harvest_h`` [h]
    Harvest time.
``initial.<state>`` [state unit], ``input.<name>`` [input unit], ``param.<name>`` [unit]
    Any initial state, initial input (e.g. ``input.pH_sp``) or model parameter (replaces
    the sampled value: the parameter is then a factor, not an uncertainty).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

import numpy as np

from biotwin.errors import DataError
from biotwin.models.base import Model
from biotwin.recipes.recipe import KIND_CODE, Event, Recipe, compile_recipe
from biotwin.simulation.ensemble import EnsembleInputs, build_inputs

#: Shift temperature when a shift time is set and neither a factor nor the recipe gives one
#: [degC] (Sou et al. 2015, Biotechnol Bioeng 112:1165, doi:10.1002/bit.25524).
DEFAULT_SHIFT_TEMPERATURE_C = 32.0

NAMED_FACTORS: dict[str, str] = {
    "feed_scale": "-",
    "feed_start_h": "h",
    "feed_interval_h": "h",
    "shift_time_h": "h",
    "shift_temperature_C": "degC",
    "seed_density": "cells/L",
    "harvest_h": "h",
}
_PREFIXES = ("feed_scale.", "initial.", "input.", "param.")
_NUMBER = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"
_FACTOR_RE = re.compile(rf"^\s*([A-Za-z_][\w.]*)\s*=\s*({_NUMBER})\s*:\s*({_NUMBER})\s*$")
_FIXED_RE = re.compile(rf"^\s*([A-Za-z_][\w.]*)\s*=\s*({_NUMBER})\s*$")


@dataclass(frozen=True)
class Factor:
    """A varied quantity and its range ``[low, high]`` in the quantity's unit."""

    name: str
    low: float
    high: float

    def __post_init__(self) -> None:
        check_factor_name(self.name)
        if not (np.isfinite(self.low) and np.isfinite(self.high)) or self.high < self.low:
            raise DataError(f"factor {self.name}: range {self.low}:{self.high} must be finite with LO <= HI")

    def levels(self, n: int) -> np.ndarray:
        """``n`` equally spaced levels from low to high."""
        return np.linspace(self.low, self.high, n) if n > 1 else np.array([0.5 * (self.low + self.high)])

    def scale(self, unit: np.ndarray) -> np.ndarray:
        """Map values in [0, 1] to the factor's range."""
        return self.low + (self.high - self.low) * np.asarray(unit, float)


def check_factor_name(name: str) -> None:
    """Raise :class:`DataError` unless ``name`` is a known factor or ``prefix.<name>``."""
    if name in NAMED_FACTORS or any(name.startswith(p) and len(name) > len(p) for p in _PREFIXES):
        return
    raise DataError(f"unknown factor {name!r}; expected one of {sorted(NAMED_FACTORS)} "
                    f"or {', '.join(p + '<name>' for p in _PREFIXES)}")


def parse_factor(text: str) -> Factor:
    """``"feed_scale=0.5:2"`` -> Factor('feed_scale', 0.5, 2.0)."""
    m = _FACTOR_RE.match(text)
    if not m:
        raise DataError(f"factor {text!r}: expected NAME=LO:HI, e.g. feed_scale=0.5:2")
    return Factor(m.group(1), float(m.group(2)), float(m.group(3)))


def parse_fixed(text: str) -> tuple[str, float]:
    """``"shift_temperature_C=33"`` -> ('shift_temperature_C', 33.0)."""
    m = _FIXED_RE.match(text)
    if not m:
        raise DataError(f"fixed setting {text!r}: expected NAME=VALUE, e.g. shift_temperature_C=33")
    check_factor_name(m.group(1))
    return m.group(1), float(m.group(2))


class RecipeTemplate:
    """A recipe and model, ready to take factor settings member by member.

    Parameters
    ----------
    model : Model
    recipe : Recipe
        Written for ``model`` (convert it first with :func:`biotwin.models.convert_recipe`).
    """

    def __init__(self, model: Model, recipe: Recipe) -> None:
        self.model = model
        self.recipe = recipe
        self.compiled = compile_recipe(recipe, model)
        c = self.compiled
        self.streams = c.stream_names
        self.i_temp = model.input_index("T") if "T" in model.input_names else -1
        bolus = c.ev_kind == KIND_CODE["bolus"]
        self._bolus = bolus
        times = np.round(c.ev_time[bolus], 6)
        self.bolus_times = np.unique(times)
        # mean bolus volume per stream over the bolus occasions [L]
        vol = np.zeros(len(self.streams))
        for s in range(len(self.streams)):
            sel = c.ev_index[bolus] == s
            if np.any(sel):
                vol[s] = c.ev_value[bolus][sel].sum() / self.bolus_times.size
        self.bolus_volume = vol
        if self.bolus_times.size >= 2:
            self.feed_interval_h = float(np.median(np.diff(self.bolus_times)))
        else:
            self.feed_interval_h = float("nan")
        self.feed_start_h = float(self.bolus_times[0]) if self.bolus_times.size else float("nan")
        shift = (c.ev_kind == KIND_CODE["set"]) & (c.ev_index == self.i_temp)
        self._shift = shift
        self.shift_time_h = float(c.ev_time[shift][0]) if np.any(shift) else float("nan")
        self.shift_temperature_C = float(c.ev_value[shift][0]) if np.any(shift) else float("nan")

    # --- what the recipe does without factors -------------------------------------------
    def baseline(self) -> dict[str, float]:
        """The recipe's own values of the named factors (NaN where it has none)."""
        y0 = self.compiled.y0
        return {
            "feed_scale": 1.0,
            "feed_start_h": self.feed_start_h,
            "feed_interval_h": self.feed_interval_h,
            "shift_time_h": self.shift_time_h,
            "shift_temperature_C": self.shift_temperature_C,
            "seed_density": float(y0[self.model.state_index("Xv")]) if "Xv" in self.model.state_names else np.nan,
            "harvest_h": float(self.compiled.t_end),
        }

    # --- the vectorised path --------------------------------------------------------------
    def inputs(self, settings: dict[str, np.ndarray | float], params: np.ndarray) -> EnsembleInputs:
        """Ensemble inputs for ``n`` members, member ``m`` with ``settings[name][m]``.

        Parameters
        ----------
        settings : dict
            Factor name -> values, shape (n,) or scalar.
        params : ndarray, shape (n, n_parameters)

        Returns
        -------
        EnsembleInputs
        """
        model = self.model
        params = np.array(params, dtype=float, copy=True)
        n = params.shape[0]
        s = {k: np.broadcast_to(np.asarray(v, float), (n,)) for k, v in settings.items()}
        for k in s:
            check_factor_name(k)
        base = build_inputs(model, self.compiled, params[:1], n)
        y0, u0, t_end = base.y0.copy(), base.u0.copy(), base.t_end.copy()
        if "harvest_h" in s:
            if np.any(s["harvest_h"] <= 0):
                raise DataError("harvest_h must be > 0 h")
            t_end = s["harvest_h"].copy()
        if "seed_density" in s:
            y0[:, model.state_index("Xv")] = s["seed_density"]
        for k, v in s.items():
            if k.startswith("initial."):
                y0[:, _index(model.state_index, k[8:], k)] = v
            elif k.startswith("input."):
                u0[:, _index(model.input_index, k[6:], k)] = v
            elif k.startswith("param."):
                params[:, model.parameter_names.index(_param(model, k[6:]))] = v
        if np.any(y0 < 0):
            raise DataError("a factor made an initial state negative")
        c = self.compiled
        keep = ~self._bolus
        if "shift_time_h" in s or "shift_temperature_C" in s:
            keep &= ~self._shift
        cols = [np.tile(a[keep], (n, 1)) for a in (c.ev_time, c.ev_kind, c.ev_index, c.ev_value)]
        bt, bk, bi, bv = self._boluses(s, n, t_end)
        cols = [np.concatenate([a, b], axis=1) for a, b in zip(cols, (bt, bk, bi, bv), strict=True)]
        if "shift_time_h" in s or "shift_temperature_C" in s:
            st = s.get("shift_time_h", np.full(n, self.shift_time_h))
            sv = s.get("shift_temperature_C", np.full(n, self.shift_temperature_C))
            if np.any(np.isnan(st)):
                raise DataError("shift_temperature_C needs a shift time: add a shift_time_h factor or "
                                "--fix shift_time_h=VALUE (the recipe has no temperature shift)")
            if self.i_temp < 0:
                raise DataError(f"model {model.name} has no temperature input T")
            sv = np.where(np.isnan(sv), DEFAULT_SHIFT_TEMPERATURE_C, sv)
            extra = (st[:, None], np.full((n, 1), KIND_CODE["set"]), np.full((n, 1), self.i_temp), sv[:, None])
            cols = [np.concatenate([a, b], axis=1) for a, b in zip(cols, extra, strict=True)]
        ev_time, ev_kind, ev_index, ev_value = cols
        out = EnsembleInputs(
            y0=y0, u0=u0, params=params, stream_conc=base.stream_conc,
            ev_time=np.ascontiguousarray(ev_time, float), ev_kind=np.ascontiguousarray(ev_kind, np.int64),
            ev_index=np.ascontiguousarray(ev_index, np.int64), ev_value=np.ascontiguousarray(ev_value, float),
            t_end=np.ascontiguousarray(t_end, float), n_inputs=base.n_inputs,
        )
        return _contiguous(out.sort_events())

    def _boluses(self, s: dict[str, np.ndarray], n: int, t_end: np.ndarray) -> tuple[np.ndarray, ...]:
        c = self.compiled
        if "feed_start_h" in s or "feed_interval_h" in s:
            if self.bolus_times.size == 0:
                raise DataError(f"recipe {self.recipe.name!r} has no feed boluses to reschedule")
            start = s.get("feed_start_h", np.full(n, self.feed_start_h))
            interval = s.get("feed_interval_h", np.full(n, self.feed_interval_h))
            if np.any(~np.isfinite(interval)) or np.any(interval <= 0):
                raise DataError("feed_interval_h must be > 0 h (and the recipe has fewer than two "
                                "boluses to take it from)")
            count = np.maximum(np.ceil((t_end - start) / interval), 0).astype(int)
            k_max = max(int(count.max()), 1)
            k = np.arange(k_max)
            times = start[:, None] + interval[:, None] * k[None, :]
            times = np.where(times < t_end[:, None], times, np.inf)
            streams = np.flatnonzero(self.bolus_volume > 0)
            bt = np.repeat(times, streams.size, axis=1)
            bi = np.tile(streams, (n, k_max))
            bv = np.tile(self.bolus_volume[streams], (n, k_max))
        else:
            b = self._bolus
            bt = np.tile(c.ev_time[b], (n, 1))
            bi = np.tile(c.ev_index[b], (n, 1))
            bv = np.tile(c.ev_value[b], (n, 1))
        bk = np.full(bt.shape, KIND_CODE["bolus"], np.int64)
        if "feed_scale" in s:
            if np.any(s["feed_scale"] < 0):
                raise DataError("feed_scale must be >= 0")
            bv = bv * s["feed_scale"][:, None]
        for key, v in s.items():
            if key.startswith("feed_scale."):
                name = key[len("feed_scale."):]
                if name not in self.streams:
                    raise DataError(f"factor {key}: recipe has no stream {name!r}; streams: {list(self.streams)}")
                bv = np.where(bi == self.streams.index(name), bv * v[:, None], bv)
        return bt, bk, bi, bv

    # --- one setting back to a recipe -----------------------------------------------------
    def to_recipe(self, settings: dict[str, float], name: str | None = None) -> Recipe:
        """The recipe with one factor setting applied (same semantics as :meth:`inputs`)."""
        params = np.zeros((1, len(self.model.parameters)))
        inp = self.inputs({k: float(v) for k, v in settings.items() if not k.startswith("param.")}, params)
        model, rec = self.model, self.recipe
        initial = {st.name: float(inp.y0[0, i]) for i, st in enumerate(model.states) if
                   st.name in rec.initial or inp.y0[0, i] != 0}
        inputs = {var.name: float(inp.u0[0, i]) for i, var in enumerate(model.inputs)
                  if var.name in rec.inputs}
        kinds = {v: k for k, v in KIND_CODE.items()}
        events = []
        for t, kd, ix, val in zip(inp.ev_time[0], inp.ev_kind[0], inp.ev_index[0], inp.ev_value[0], strict=True):
            if not np.isfinite(t) or t >= inp.t_end[0]:
                continue
            kind = kinds[int(kd)]
            target = (self.streams[ix] if kind in ("bolus", "rate") else
                      model.input_names[ix] if kind == "set" else "")
            events.append(Event(float(t), kind, target, float(val)))
        text = ", ".join(f"{k}={v:g}" for k, v in settings.items())
        return replace(rec, name=name or f"{rec.name}_designed", duration_h=float(inp.t_end[0]),
                       initial=initial, inputs=inputs, events=tuple(events),
                       description=f"{rec.name} with {text}" if text else rec.description)


def _index(lookup: object, name: str, factor: str) -> int:
    try:
        return int(lookup(name))  # type: ignore[operator]
    except KeyError as exc:
        raise DataError(f"factor {factor}: {exc.args[0]}") from None


def _param(model: Model, name: str) -> str:
    if name not in model.parameter_names:
        raise DataError(f"unknown parameter {name!r} of model {model.name}")
    return name


def _contiguous(inp: EnsembleInputs) -> EnsembleInputs:
    return replace(inp, ev_time=np.ascontiguousarray(inp.ev_time), ev_kind=np.ascontiguousarray(inp.ev_kind),
                   ev_index=np.ascontiguousarray(inp.ev_index), ev_value=np.ascontiguousarray(inp.ev_value))

"""Ensembles: many batches over sampled parameters and recipes, behind one backend interface.

The inputs of an ensemble are plain arrays (:class:`EnsembleInputs`), so any backend that
can integrate them implements :class:`EnsembleBackend`: ``numba`` (compiled Dormand-Prince,
one adaptive run per member, members spread over cores; the default), ``scipy`` (a loop of
:func:`scipy.integrate.solve_ivp`, the baseline) and, where a CUDA GPU exists, ``cuda``
(:mod:`biotwin.simulation.cuda`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from typing import Protocol

import numba
import numpy as np

from biotwin.errors import SimulationError
from biotwin.models.base import Model
from biotwin.parameters import ParameterSet
from biotwin.recipes.recipe import KIND_CODE, CompiledRecipe, Recipe, compile_recipe
from biotwin.simulation.kernels import STATUS_MESSAGES, get_kernels
from biotwin.simulation.solve import _simulate_scipy


@dataclass(frozen=True)
class EnsembleInputs:
    """Per-member arrays. Shapes: ``y0`` (n, n_states), ``u0`` (n, n_inputs + n_streams),
    ``params`` (n, n_parameters), ``stream_conc`` (n_streams, n_states), events (n, n_events),
    ``t_end`` (n,). Unused event slots have time +inf."""

    y0: np.ndarray
    u0: np.ndarray
    params: np.ndarray
    stream_conc: np.ndarray
    ev_time: np.ndarray
    ev_kind: np.ndarray
    ev_index: np.ndarray
    ev_value: np.ndarray
    t_end: np.ndarray
    n_inputs: int

    @property
    def n(self) -> int:
        return int(self.y0.shape[0])

    def subset(self, idx: np.ndarray | slice) -> EnsembleInputs:
        """The members ``idx`` (for chunking and subsampling)."""
        return replace(
            self,
            y0=self.y0[idx], u0=self.u0[idx], params=self.params[idx],
            ev_time=self.ev_time[idx], ev_kind=self.ev_kind[idx],
            ev_index=self.ev_index[idx], ev_value=self.ev_value[idx], t_end=self.t_end[idx],
        )

    def member_recipe(self, m: int) -> CompiledRecipe:
        """Member ``m`` as a compiled recipe (for single-run solvers)."""
        keep = np.isfinite(self.ev_time[m])
        return CompiledRecipe(
            y0=self.y0[m].copy(), u0=self.u0[m].copy(), stream_conc=self.stream_conc,
            ev_time=self.ev_time[m][keep], ev_kind=self.ev_kind[m][keep],
            ev_index=self.ev_index[m][keep], ev_value=self.ev_value[m][keep],
            t_end=float(self.t_end[m]), stream_names=(), n_inputs=self.n_inputs,
        )

    def scale_events(self, factors: np.ndarray, kind: str = "bolus", index: int | None = None) -> EnsembleInputs:
        """Multiply the values of events of ``kind`` (optionally one stream/input index)
        by a per-member factor, shape (n,): e.g. feed volumes x (1 +- 30%)."""
        mask = self.ev_kind == KIND_CODE[kind]
        if index is not None:
            mask &= self.ev_index == index
        value = np.where(mask, self.ev_value * np.asarray(factors, float)[:, None], self.ev_value)
        return replace(self, ev_value=value)

    def sort_events(self) -> EnsembleInputs:
        """Sort every member's events by time (stable), after times were changed."""
        order = np.argsort(self.ev_time, axis=1, kind="stable")
        take = lambda a: np.take_along_axis(a, order, axis=1)  # noqa: E731
        return replace(self, ev_time=take(self.ev_time), ev_kind=take(self.ev_kind),
                       ev_index=take(self.ev_index), ev_value=take(self.ev_value))


def build_inputs(
    model: Model,
    recipes: Recipe | CompiledRecipe | list[Recipe | CompiledRecipe],
    params: ParameterSet | np.ndarray,
    n: int | None = None,
) -> EnsembleInputs:
    """Stack recipes and parameter vectors into :class:`EnsembleInputs`.

    A single recipe or a single parameter vector is broadcast to ``n`` members.
    Every recipe must share the stream list of the first.
    """
    rlist = recipes if isinstance(recipes, list) else [recipes]
    compiled = [r if isinstance(r, CompiledRecipe) else compile_recipe(r, model) for r in rlist]
    pmat = params.vector(model)[None, :] if isinstance(params, ParameterSet) else np.atleast_2d(params)
    if pmat.shape[1] != len(model.parameters):
        raise SimulationError(f"params have {pmat.shape[1]} columns, {model.name} has {len(model.parameters)}")
    n = n or max(len(compiled), pmat.shape[0])
    for count, what in ((len(compiled), "recipes"), (pmat.shape[0], "parameter vectors")):
        if count not in (1, n):
            raise SimulationError(f"{count} {what} cannot broadcast to {n} members")
    conc = compiled[0].stream_conc
    for c in compiled[1:]:
        if c.stream_conc.shape != conc.shape or not np.array_equal(c.stream_conc, conc):
            raise SimulationError("recipes of one ensemble must share their streams")
    n_ev = max(c.ev_time.size for c in compiled)

    def pad(c: CompiledRecipe) -> tuple[np.ndarray, ...]:
        k = n_ev - c.ev_time.size
        return (
            np.concatenate([c.ev_time, np.full(k, np.inf)]),
            np.concatenate([c.ev_kind, np.zeros(k, np.int64)]),
            np.concatenate([c.ev_index, np.zeros(k, np.int64)]),
            np.concatenate([c.ev_value, np.zeros(k)]),
        )

    padded = [pad(c) for c in compiled]
    pick = (lambda i: 0) if len(compiled) == 1 else (lambda i: i)
    rows = [padded[pick(i)] for i in range(n)] if len(compiled) > 1 else None
    if rows is None:
        ev = [np.tile(a, (n, 1)) for a in padded[0]]
    else:
        ev = [np.stack([r[j] for r in rows]) for j in range(4)]
    return EnsembleInputs(
        y0=np.stack([compiled[pick(i)].y0 for i in range(n)]) if len(compiled) > 1 else np.tile(compiled[0].y0, (n, 1)),
        u0=np.stack([compiled[pick(i)].u0 for i in range(n)]) if len(compiled) > 1 else np.tile(compiled[0].u0, (n, 1)),
        params=np.ascontiguousarray(np.broadcast_to(pmat, (n, pmat.shape[1]))).copy(),
        stream_conc=conc,
        ev_time=ev[0], ev_kind=ev[1].astype(np.int64), ev_index=ev[2].astype(np.int64), ev_value=ev[3],
        t_end=np.array([compiled[pick(i)].t_end for i in range(n)]),
        n_inputs=compiled[0].n_inputs,
    )


@dataclass(frozen=True)
class EnsembleResult:
    """``y`` has shape (n_members, n_times, n_states); ``status`` 0 means success."""

    model: Model
    t: np.ndarray
    y: np.ndarray
    status: np.ndarray
    n_steps: np.ndarray
    backend: str

    def state(self, name: str) -> np.ndarray:
        """(n_members, n_times) values of one state."""
        return self.y[:, :, self.model.state_index(name)]

    def final(self, name: str) -> np.ndarray:
        """(n_members,) values of one state at the last output time."""
        return self.y[:, -1, self.model.state_index(name)]

    @property
    def ok(self) -> np.ndarray:
        return self.status == 0


class EnsembleBackend(Protocol):
    """Integrates :class:`EnsembleInputs`; returns (y (n, n_t, n_states), status, n_steps)."""

    name: str

    def run(self, model: Model, inputs: EnsembleInputs, t_out: np.ndarray, rtol: float,
            atol: np.ndarray, max_steps: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]: ...


def _allocate(inputs: EnsembleInputs, t_out: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Result arrays of a backend: states (n, n_t, n_states), status (n,), steps (n,)."""
    n = inputs.n
    return np.zeros((n, t_out.size, inputs.y0.shape[1])), np.zeros(n, np.int64), np.zeros(n, np.int64)


class NumbaBackend:
    """Compiled per-member adaptive Dormand-Prince over all cores (``threads`` = 0: all)."""

    name = "numba"

    def __init__(self, threads: int = 0) -> None:
        self.threads = threads

    def run(self, model, inputs, t_out, rtol, atol, max_steps):  # type: ignore[no-untyped-def]
        kern = get_kernels(model)
        out, status, nsteps = _allocate(inputs, t_out)
        available = int(numba.config.NUMBA_NUM_THREADS)  # type: ignore[attr-defined]
        threads = self.threads or int(os.environ.get("BIOTWIN_THREADS", "0")) or available
        prev = numba.get_num_threads()
        numba.set_num_threads(min(threads, available))
        try:
            kern.ensemble(
                inputs.y0, inputs.u0, inputs.params, inputs.stream_conc, inputs.ev_time,
                inputs.ev_kind, inputs.ev_index, inputs.ev_value, t_out, inputs.t_end,
                rtol, atol, max_steps, out, status, nsteps,
            )
        finally:
            numba.set_num_threads(prev)
        return out, status, nsteps


class ScipyBackend:
    """A loop of :func:`scipy.integrate.solve_ivp`, one member at a time (the baseline)."""

    name = "scipy"

    def __init__(self, method: str = "LSODA") -> None:
        self.method = method

    def run(self, model, inputs, t_out, rtol, atol, max_steps):  # type: ignore[no-untyped-def]
        kern = get_kernels(model)
        out, status, nsteps = _allocate(inputs, t_out)
        for m in range(inputs.n):
            try:
                res = _simulate_scipy(model, kern, inputs.params[m], inputs.member_recipe(m), t_out,
                                      self.method, rtol, atol, "")
                out[m] = res.y
                nsteps[m] = res.n_steps
            except SimulationError:
                status[m] = 3
        return out, status, nsteps


def get_backend(name: str, **options: object) -> EnsembleBackend:
    """``"numba"`` (default), ``"scipy"`` or ``"cuda"``."""
    if name == "numba":
        return NumbaBackend(**options)  # type: ignore[arg-type]
    if name == "scipy":
        return ScipyBackend(**options)  # type: ignore[arg-type]
    if name == "cuda":
        from biotwin.simulation.cuda import CudaBackend

        return CudaBackend(**options)  # type: ignore[arg-type]
    raise SimulationError(f"unknown ensemble backend {name!r}; expected numba, scipy or cuda")


def run_ensemble(
    model: Model,
    inputs: EnsembleInputs,
    t_out: np.ndarray | None = None,
    backend: str | EnsembleBackend = "numba",
    rtol: float = 1e-7,
    atol_scale: float = 1.0,
    max_steps: int = 100_000,
    raise_on_failure: bool = False,
) -> EnsembleResult:
    """Integrate every member of ``inputs``.

    Parameters
    ----------
    t_out : array of float, optional
        Output times [h], shared by all members; default: each member's harvest only
        (then all members must share ``t_end``).
    rtol : float
        Relative tolerance; absolute tolerances are ``rtol * state scale * atol_scale``.

    Returns
    -------
    EnsembleResult
    """
    if t_out is None:
        if not np.all(inputs.t_end == inputs.t_end[0]):
            raise SimulationError("members differ in harvest time: give t_out explicitly")
        t_out = np.array([inputs.t_end[0]])
    t_out = np.asarray(t_out, dtype=float)
    be = get_backend(backend) if isinstance(backend, str) else backend
    atol = model.state_scales * rtol * atol_scale
    y, status, nsteps = be.run(model, inputs, t_out, rtol, atol, max_steps)
    if raise_on_failure and np.any(status != 0):
        m = int(np.flatnonzero(status != 0)[0])
        raise SimulationError(
            f"{int(np.sum(status != 0))} of {inputs.n} members failed; first: member {m}, "
            f"{STATUS_MESSAGES.get(int(status[m]), 'error')}"
        )
    return EnsembleResult(model, t_out, y, status, nsteps, be.name)

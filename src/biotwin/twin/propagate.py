"""Propagate an ensemble from a given time and state, applying the recipe's later events.

The compiled kernels of :mod:`biotwin.simulation` integrate every member from ``t = 0``.
The twin needs ``t0 -> t1`` from the current ensemble: :class:`Propagator` shifts the
recipe's events in ``[t0, t1)`` by ``-t0``, starts each member from its current state and
inputs (setpoints and feed rates in force), and returns the states at the requested times.
Events at exactly ``t1`` are left for the next interval, so that the state at a sample
time is the one measured, before that sample's withdrawal and any feed at the same time.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from biotwin.models.base import Model
from biotwin.recipes.recipe import CompiledRecipe, Recipe, compile_recipe
from biotwin.simulation.ensemble import EnsembleInputs, run_ensemble

#: Event codes of :data:`biotwin.recipes.recipe.EVENT_KINDS` that change an input.
_SET, _RATE = 2, 3


@dataclass(frozen=True)
class Propagation:
    """States at the output times. ``y`` has shape (n_members, n_times, n_states);
    ``u`` (n_members, n_inputs + n_streams) holds the inputs in force at ``t1``;
    ``ok`` (n_members,) is False where a member's integration failed."""

    t: np.ndarray
    y: np.ndarray
    u: np.ndarray
    ok: np.ndarray


class Propagator:
    """Integrates ensembles of one model under one recipe between arbitrary times.

    Parameters
    ----------
    model : Model
    recipe : Recipe or CompiledRecipe
        The plan: its events after ``t0`` are applied during a propagation.
    rtol : float
        Relative tolerance of the compiled Dormand-Prince integrator.
    backend : str
        Ensemble backend (``"numba"`` default).
    """

    def __init__(self, model: Model, recipe: Recipe | CompiledRecipe, rtol: float = 1e-6,
                 backend: str = "numba") -> None:
        self.model = model
        self.recipe = recipe if isinstance(recipe, CompiledRecipe) else compile_recipe(recipe, model)
        self.rtol = rtol
        self.backend = backend

    @property
    def u0(self) -> np.ndarray:
        """Inputs at t = 0 (before any event), shape (n_inputs + n_streams,)."""
        return self.recipe.u0.copy()

    def events_between(self, t0: float, t1: float) -> np.ndarray:
        """Indices of the recipe's events with ``t0 <= time < t1``, in time order."""
        et = self.recipe.ev_time
        return np.flatnonzero((et >= t0) & (et < t1))

    def inputs_after(self, u: np.ndarray, t0: float, t1: float) -> np.ndarray:
        """Inputs ``u`` (n, n_u) updated by the set/rate events in ``[t0, t1)``."""
        u = np.array(u, dtype=float, copy=True)
        r = self.recipe
        for k in self.events_between(t0, t1):
            if r.ev_kind[k] == _SET:
                u[..., r.ev_index[k]] = r.ev_value[k]
            elif r.ev_kind[k] == _RATE:
                u[..., r.n_inputs + r.ev_index[k]] = r.ev_value[k]
        return u

    def run(self, y: np.ndarray, u: np.ndarray, params: np.ndarray, t0: float, t1: float,
            t_out: np.ndarray | None = None) -> Propagation:
        """Integrate every member from ``t0`` to ``t1``.

        Parameters
        ----------
        y : ndarray, shape (n, n_states)
            States at ``t0`` (before the events at ``t0``).
        u : ndarray, shape (n, n_inputs + n_streams)
            Inputs in force just before ``t0``.
        params : ndarray, shape (n, n_parameters)
        t0, t1 : float
            Start and end [h], ``t1 >= t0``.
        t_out : array of float, optional
            Output times [h] in ``[t0, t1]``; default ``[t1]``.

        Returns
        -------
        Propagation
        """
        y = np.ascontiguousarray(y, dtype=float)
        n = y.shape[0]
        t_out = np.array([t1]) if t_out is None else np.asarray(t_out, dtype=float)
        u = np.broadcast_to(np.asarray(u, dtype=float), (n, self.recipe.u0.size))
        if t1 <= t0:
            return Propagation(t_out, np.repeat(y[:, None, :], t_out.size, axis=1), u.copy(),
                               np.ones(n, bool))
        r = self.recipe
        idx = self.events_between(t0, t1)
        inputs = EnsembleInputs(
            y0=y, u0=np.ascontiguousarray(u).copy(), params=np.ascontiguousarray(params, dtype=float),
            stream_conc=r.stream_conc,
            ev_time=np.tile(r.ev_time[idx] - t0, (n, 1)),
            ev_kind=np.tile(r.ev_kind[idx], (n, 1)).astype(np.int64),
            ev_index=np.tile(r.ev_index[idx], (n, 1)).astype(np.int64),
            ev_value=np.tile(r.ev_value[idx], (n, 1)),
            t_end=np.full(n, t1 - t0), n_inputs=r.n_inputs,
        )
        res = run_ensemble(self.model, inputs, t_out - t0, backend=self.backend, rtol=self.rtol)
        ok = (res.status == 0) & np.all(np.isfinite(res.y), axis=(1, 2))
        return Propagation(t_out, res.y, self.inputs_after(u, t0, t1), ok)

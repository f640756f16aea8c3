"""Single runs: one recipe, one parameter vector, exact events, output at requested times."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.integrate import solve_ivp

from biotwin.errors import SimulationError
from biotwin.models.base import Model
from biotwin.parameters import ParameterSet
from biotwin.recipes.recipe import CompiledRecipe, Recipe, compile_recipe
from biotwin.simulation.kernels import STATUS_MESSAGES, STATUS_OK, get_kernels

#: scipy methods accepted by :func:`simulate`; "dp5" is biotwin's compiled integrator.
METHODS = ("dp5", "LSODA", "DOP853", "RK45", "Radau", "BDF")


@dataclass(frozen=True)
class SimulationResult:
    """A trajectory. Shapes: ``t`` (n_times,), ``y`` (n_times, n_states), ``u`` (n_times,
    n_inputs + n_streams); the state at an event time is the one just before the event."""

    model: Model
    t: np.ndarray
    y: np.ndarray
    u: np.ndarray
    p: np.ndarray
    recipe_name: str = ""
    n_steps: int = 0

    def __getitem__(self, name: str) -> np.ndarray:
        key = name.split(" [")[0]
        if key in self.model.state_names:
            return self.y[:, self.model.state_index(key)]
        outs = self.outputs()
        for label, values in outs.items():
            if label == name or label.split(" [")[0] == key:
                return values
        raise KeyError(f"{name!r} is neither a state nor an output of {self.model.name}")

    def outputs(self) -> dict[str, np.ndarray]:
        """Derived signals (viability, OUR, DO, GI, ...), see the model's ``outputs``."""
        return self.model.outputs(self.y, self.p, self.u[:, : len(self.model.inputs)])

    def to_frame(self, outputs: bool = True) -> pd.DataFrame:
        """Columns ``time_h`` then ``"name [unit]"`` for every state (and output)."""
        data: dict[str, np.ndarray] = {"time_h": self.t}
        for i, var in enumerate(self.model.states):
            data[var.label] = self.y[:, i]
        for i, var in enumerate(self.model.inputs):
            data[var.label] = self.u[:, i]
        if outputs:
            data.update(self.outputs())
        return pd.DataFrame(data)


def _default_times(t_end: float) -> np.ndarray:
    n = int(np.floor(t_end)) + 1
    t = np.linspace(0.0, float(n - 1), n)
    return np.unique(np.append(t, t_end))


def simulate(
    model: Model,
    params: ParameterSet | np.ndarray,
    recipe: Recipe | CompiledRecipe,
    t_out: np.ndarray | None = None,
    method: str = "dp5",
    rtol: float = 1e-8,
    atol_scale: float = 1.0,
    max_steps: int = 200_000,
) -> SimulationResult:
    """Simulate one batch.

    Parameters
    ----------
    model : Model
    params : ParameterSet or ndarray, shape (n_parameters,)
    recipe : Recipe or CompiledRecipe
    t_out : array of float, optional
        Output times [h] within [0, duration]; default hourly plus the harvest time.
    method : str
        ``"dp5"`` (compiled Dormand-Prince) or a :func:`scipy.integrate.solve_ivp` method.
    rtol : float
        Relative tolerance; the absolute tolerance of each state is ``rtol * scale``
        (the state's typical magnitude) times ``atol_scale``.

    Returns
    -------
    SimulationResult
    """
    if method not in METHODS:
        raise SimulationError(f"unknown method {method!r}; expected one of {METHODS}")
    p = params.vector(model) if isinstance(params, ParameterSet) else np.asarray(params, float)
    cr = recipe if isinstance(recipe, CompiledRecipe) else compile_recipe(recipe, model)
    name = recipe.name if isinstance(recipe, Recipe) else ""
    t_out = _default_times(cr.t_end) if t_out is None else np.asarray(t_out, dtype=float)
    if t_out.size and (np.any(np.diff(t_out) < 0) or t_out[0] < 0 or t_out[-1] > cr.t_end + 1e-9):
        raise SimulationError(f"output times must be increasing within [0, {cr.t_end}] h")
    kern = get_kernels(model)
    atol = model.state_scales * rtol * atol_scale
    if method == "dp5":
        return _simulate_dp5(model, kern, p, cr, t_out, rtol, atol, max_steps, name)
    return _simulate_scipy(model, kern, p, cr, t_out, method, rtol, atol, name)


def _inputs_at(cr: CompiledRecipe, t_out: np.ndarray) -> np.ndarray:
    """Inputs in force at each output time (before events at that time)."""
    u = np.tile(cr.u0, (t_out.size, 1))
    cur = cr.u0.copy()
    ie = 0
    for j, t in enumerate(t_out):
        while ie < cr.ev_time.size and cr.ev_time[ie] < t:
            if cr.ev_kind[ie] == 2:
                cur[cr.ev_index[ie]] = cr.ev_value[ie]
            elif cr.ev_kind[ie] == 3:
                cur[cr.n_inputs + cr.ev_index[ie]] = cr.ev_value[ie]
            ie += 1
        u[j] = cur
    return u


def _simulate_dp5(model, kern, p, cr, t_out, rtol, atol, max_steps, name):  # type: ignore[no-untyped-def]
    y = cr.y0.copy()
    u = cr.u0.copy()
    out = np.zeros((t_out.size, y.size))
    work = np.empty((9, y.size))
    status, steps = kern.run_member(
        y, u, p, cr.stream_conc, cr.ev_time, cr.ev_kind, cr.ev_index, cr.ev_value,
        t_out, cr.t_end, rtol, atol, max_steps, out, work,
    )
    if status != STATUS_OK:
        raise SimulationError(f"simulation of {name or 'recipe'} failed: {STATUS_MESSAGES[status]}")
    return SimulationResult(model, t_out, out, _inputs_at(cr, t_out), p, name, int(steps))


def _simulate_scipy(model, kern, p, cr, t_out, method, rtol, atol, name):  # type: ignore[no-untyped-def]
    y = cr.y0.copy()
    u = cr.u0.copy()
    out = np.zeros((t_out.size, y.size))
    dydt = np.empty_like(y)

    def fun(t: float, yy: np.ndarray) -> np.ndarray:
        kern.vessel_rhs(t, yy, p, u, cr.stream_conc, dydt)
        return dydt.copy()

    breaks = np.unique(np.concatenate([[0.0, cr.t_end], cr.ev_time[cr.ev_time <= cr.t_end]]))
    ie = 0
    steps = 0
    io = 0
    for k, t0 in enumerate(breaks):
        while io < t_out.size and t_out[io] <= t0:
            out[io] = y
            io += 1
        while ie < cr.ev_time.size and cr.ev_time[ie] <= t0:
            st = kern.apply_event(y, u, cr.stream_conc, cr.ev_kind[ie], cr.ev_index[ie], cr.ev_value[ie])
            if st != STATUS_OK:
                raise SimulationError(f"{name}: event at {cr.ev_time[ie]} h: {STATUS_MESSAGES[st]}")
            ie += 1
        if k + 1 >= breaks.size:
            break
        t1 = breaks[k + 1]
        inner = t_out[(t_out > t0) & (t_out < t1)]
        sol = solve_ivp(fun, (t0, t1), y, method=method, rtol=rtol, atol=atol,
                        t_eval=np.append(inner, t1))
        if not sol.success:
            raise SimulationError(f"{name}: {method} failed between {t0} and {t1} h: {sol.message}")
        steps += int(sol.nfev)
        for j in range(inner.size):
            out[io] = sol.y[:, j]
            io += 1
        y = sol.y[:, -1].copy()
    while io < t_out.size:
        out[io] = y
        io += 1
    return SimulationResult(model, t_out, out, _inputs_at(cr, t_out), p, name, steps)

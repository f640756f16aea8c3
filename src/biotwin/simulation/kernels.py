"""Compiled vessel balance and a per-run adaptive Dormand-Prince 5(4) integrator.

For each model, :func:`get_kernels` builds (once per process) numba functions that:

- add the generic vessel balance to the model's reactions: continuous feeds dilute every
  concentration and carry the stream's composition, ``dV/dt = sum F_k``;
- apply events exactly, as instantaneous jumps: a bolus of ``v`` [L] of stream ``k`` mixes
  ``C <- (C V + c_k v) / (V + v)``; a withdrawal only lowers ``V``; ``set`` and ``rate``
  events change an input;
- integrate each ensemble member with its own adaptive step (Dormand & Prince 1980, with
  the error norm and step control of Hairer, Norsett & Wanner 1993, Solving ODEs I, II.4),
  members spread over cores with ``prange``.

Dormand J.R., Prince P.J. (1980) A family of embedded Runge-Kutta formulae.
J Comput Appl Math 6:19-26. doi:10.1016/0771-050X(80)90013-3
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from numba import njit, prange

from biotwin.models.base import Model
from biotwin.models.kinetics import JIT_OPTIONS

_OPTS: dict[str, Any] = {k: v for k, v in JIT_OPTIONS.items() if k not in ("cache", "inline")}
#: The hot functions allocate nothing, so they run without numba's reference counting of
#: their array arguments (``_nrt=False``): atomic increments per call cost ~15% of the run.
_HOT: dict[str, Any] = {**_OPTS, "_nrt": False}

# Dormand-Prince 5(4) tableau.
C2, C3, C4, C5 = 1 / 5, 3 / 10, 4 / 5, 8 / 9
A21 = 1 / 5
A31, A32 = 3 / 40, 9 / 40
A41, A42, A43 = 44 / 45, -56 / 15, 32 / 9
A51, A52, A53, A54 = 19372 / 6561, -25360 / 2187, 64448 / 6561, -212 / 729
A61, A62, A63, A64, A65 = 9017 / 3168, -355 / 33, 46732 / 5247, 49 / 176, -5103 / 18656
B1, B3, B4, B5, B6 = 35 / 384, 500 / 1113, 125 / 192, -2187 / 6784, 11 / 84
E1 = 71 / 57600
E3 = -71 / 16695
E4 = 71 / 1920
E5 = -17253 / 339200
E6 = 22 / 525
E7 = -1 / 40

STATUS_OK = 0
STATUS_MAX_STEPS = 1
STATUS_STEP_UNDERFLOW = 2
STATUS_NONFINITE = 3
STATUS_NEGATIVE_VOLUME = 4
STATUS_MESSAGES = {
    STATUS_OK: "ok",
    STATUS_MAX_STEPS: "too many steps",
    STATUS_STEP_UNDERFLOW: "step size underflow",
    STATUS_NONFINITE: "non-finite state",
    STATUS_NEGATIVE_VOLUME: "withdrawal larger than the volume",
}


@dataclass(frozen=True)
class Kernels:
    """The compiled functions of one model (see module docstring)."""

    vessel_rhs: Any
    apply_event: Any
    integrate: Any
    run_member: Any
    ensemble: Any


_CACHE: dict[str, Kernels] = {}


def get_kernels(model: Model) -> Kernels:
    """Compile (once per process) the kernels of ``model``."""
    if model.name not in _CACHE:
        _CACHE[model.name] = _build(model)
    return _CACHE[model.name]


def _build(model: Model) -> Kernels:
    reactions = model.reactions
    n_in = len(model.inputs)

    @njit(**_HOT)
    def vessel_rhs(t, y, p, u, conc, dydt):  # type: ignore[no-untyped-def]
        reactions(t, y, p, u, dydt)
        vol = y[0]
        fin = 0.0
        for k in range(conc.shape[0]):
            f = u[n_in + k]
            if f > 0.0:
                fin += f
                d = f / vol
                for j in range(1, y.size):
                    dydt[j] += d * (conc[k, j] - y[j])
        dydt[0] = fin

    @njit(**_OPTS)
    def apply_event(y, u, conc, kind, idx, value):  # type: ignore[no-untyped-def]
        if kind == 0:  # bolus of stream idx, value [L]
            if value > 0.0:
                vol = y[0]
                new = vol + value
                for j in range(1, y.size):
                    y[j] = (y[j] * vol + conc[idx, j] * value) / new
                y[0] = new
        elif kind == 1:  # withdrawal of value [L]
            y[0] -= value
            if y[0] <= 0.0:
                return STATUS_NEGATIVE_VOLUME
        elif kind == 2:  # set input
            u[idx] = value
        else:  # continuous rate of stream idx
            u[n_in + idx] = value
        return STATUS_OK

    @njit(**_HOT)
    def integrate(t0, t1, y, p, u, conc, h, rtol, atol, max_steps, work):  # type: ignore[no-untyped-def]
        """Advance y from t0 to t1 in place; returns (h_next, n_steps, status)."""
        n = y.size
        k1 = work[0]
        k2 = work[1]
        k3 = work[2]
        k4 = work[3]
        k5 = work[4]
        k6 = work[5]
        k7 = work[6]
        ytmp = work[7]
        ynew = work[8]
        t = t0
        span = t1 - t0
        if span <= 0.0:
            return h, 0, STATUS_OK
        if h <= 0.0:
            h = span
        vessel_rhs(t, y, p, u, conc, k1)
        steps = 0
        # `h` is the step the error control proposes; `hs` the step taken, shortened to land
        # exactly on t1. A short last step (an event 0.01 h later) leaves the proposal intact,
        # so the next segment does not restart from a tiny step.
        while t < t1:
            if steps >= max_steps:
                return h, steps, STATUS_MAX_STEPS
            last = False
            hs = h
            if t + hs >= t1 - 1e-12 * max(1.0, abs(t1)):
                hs = t1 - t
                last = True
            for i in range(n):
                ytmp[i] = y[i] + hs * A21 * k1[i]
            vessel_rhs(t + C2 * hs, ytmp, p, u, conc, k2)
            for i in range(n):
                ytmp[i] = y[i] + hs * (A31 * k1[i] + A32 * k2[i])
            vessel_rhs(t + C3 * hs, ytmp, p, u, conc, k3)
            for i in range(n):
                ytmp[i] = y[i] + hs * (A41 * k1[i] + A42 * k2[i] + A43 * k3[i])
            vessel_rhs(t + C4 * hs, ytmp, p, u, conc, k4)
            for i in range(n):
                ytmp[i] = y[i] + hs * (A51 * k1[i] + A52 * k2[i] + A53 * k3[i] + A54 * k4[i])
            vessel_rhs(t + C5 * hs, ytmp, p, u, conc, k5)
            for i in range(n):
                ytmp[i] = y[i] + hs * (
                    A61 * k1[i] + A62 * k2[i] + A63 * k3[i] + A64 * k4[i] + A65 * k5[i]
                )
            vessel_rhs(t + hs, ytmp, p, u, conc, k6)
            for i in range(n):
                ynew[i] = y[i] + hs * (
                    B1 * k1[i] + B3 * k3[i] + B4 * k4[i] + B5 * k5[i] + B6 * k6[i]
                )
            vessel_rhs(t + hs, ynew, p, u, conc, k7)
            err = 0.0
            for i in range(n):
                e = hs * (
                    E1 * k1[i] + E3 * k3[i] + E4 * k4[i] + E5 * k5[i] + E6 * k6[i] + E7 * k7[i]
                )
                sc = atol[i] + rtol * max(abs(y[i]), abs(ynew[i]))
                r = e / sc
                err += r * r
            err = math.sqrt(err / n)
            steps += 1
            if not math.isfinite(err):
                h = hs * 0.25
                if h < 1e-12:
                    return h, steps, STATUS_NONFINITE
                continue
            if err <= 1.0:
                t = t1 if last else t + hs
                for i in range(n):
                    y[i] = ynew[i]
                    k1[i] = k7[i]
                fac = 0.9 * err ** -0.2 if err > 0.0 else 5.0
                if fac > 5.0:
                    fac = 5.0
                elif fac < 0.2:
                    fac = 0.2
                h_next = hs * fac
                h = max(h, h_next) if last and hs < h else h_next
            else:
                fac = 0.9 * err ** -0.2
                h = hs * max(fac, 0.2)
                if h < 1e-10:
                    return h, steps, STATUS_STEP_UNDERFLOW
        return h, steps, STATUS_OK

    @njit(**_OPTS)
    def run_member(y, u, p, conc, ev_time, ev_kind, ev_index, ev_value, t_out, t_end,
                   rtol, atol, max_steps, out, work):  # type: ignore[no-untyped-def]
        """One batch: integrate between events and output times; out[j] = state at
        t_out[j] (before any event at that time). Returns (status, total steps)."""
        n_ev = ev_time.size
        n_out = t_out.size
        ie = 0
        io = 0
        t = 0.0
        h = 0.0
        total = 0
        while True:
            # record outputs due now (before events at the same time)
            while io < n_out and t_out[io] <= t:
                for j in range(y.size):
                    out[io, j] = y[j]
                io += 1
            while ie < n_ev and ev_time[ie] <= t:
                st = apply_event(y, u, conc, ev_kind[ie], ev_index[ie], ev_value[ie])
                if st != STATUS_OK:
                    return st, total
                ie += 1
            t_next = t_end
            if ie < n_ev and ev_time[ie] < t_next:
                t_next = ev_time[ie]
            if io < n_out and t_out[io] < t_next:
                t_next = t_out[io]
            if t_next <= t:
                if t >= t_end:
                    break
                continue
            h, steps, st = integrate(t, t_next, y, p, u, conc, h, rtol, atol, max_steps, work)
            total += steps
            if st != STATUS_OK:
                return st, total
            t = t_next
        while io < n_out:  # outputs at t_end
            for j in range(y.size):
                out[io, j] = y[j]
            io += 1
        return STATUS_OK, total

    @njit(parallel=True, **_OPTS)
    def ensemble(y0, u0, params, conc, ev_time, ev_kind, ev_index, ev_value, t_out, t_end,
                 rtol, atol, max_steps, out, status, nsteps):  # type: ignore[no-untyped-def]
        n = y0.shape[0]
        ns = y0.shape[1]
        for m in prange(n):
            work = np.empty((9, ns))
            y = y0[m].copy()
            u = u0[m].copy()
            st, tot = run_member(
                y, u, params[m], conc, ev_time[m], ev_kind[m], ev_index[m], ev_value[m],
                t_out, t_end[m], rtol, atol, max_steps, out[m], work,
            )
            status[m] = st
            nsteps[m] = tot

    return Kernels(vessel_rhs, apply_event, integrate, run_member, ensemble)

"""The CUDA ensemble backend: the same equations and integrator, one GPU thread per batch.

Nothing is rewritten for the GPU: :func:`to_device` takes the numba CPU functions (the
model's ``reactions``, the kinetic laws it calls, the vessel balance and the Dormand-Prince
integrator of :mod:`biotwin.simulation.kernels`) and recompiles their Python source as CUDA
device functions, following globals and closures. The kernel gives each thread its own state,
input and stage arrays in local memory and runs :func:`kernels.run_member` on it.

Requires a CUDA GPU and numba's CUDA target; the CPU path never imports this module.
The translation is tested on CPU with numba's CUDA simulator (``NUMBA_ENABLE_CUDASIM=1``).
"""

from __future__ import annotations

import math
import types
from typing import Any

import numpy as np

if not hasattr(np, "row_stack"):  # numba-cuda <= 0.2x overloads np.row_stack, gone in NumPy 2.5
    setattr(np, "row_stack", np.vstack)  # noqa: B010

from numba import cuda, float64

from biotwin.models.base import Model
from biotwin.simulation.kernels import get_kernels

_DEVICE_CACHE: dict[int, Any] = {}
_IN_PROGRESS: set[int] = set()
_KERNEL_CACHE: dict[tuple[str, int, int, int], Any] = {}


def _is_dispatcher(obj: Any) -> bool:
    return hasattr(obj, "py_func") and hasattr(obj, "targetoptions")


def to_device(func: Any) -> Any:
    """A CUDA device function compiled from the Python source of a numba CPU function.

    Referenced numba functions (globals, closure variables, or attributes of biotwin modules
    such as ``cho.reactions``) are translated recursively.
    """
    key = id(func)
    if key in _DEVICE_CACHE:
        return _DEVICE_CACHE[key]
    py = func.py_func if _is_dispatcher(func) else func
    _IN_PROGRESS.add(key)
    try:
        glb = dict(py.__globals__)
        for name in py.__code__.co_names:
            obj = glb.get(name)
            if _is_dispatcher(obj) and id(obj) not in _IN_PROGRESS:
                glb[name] = to_device(obj)
            elif obj is np:
                glb[name] = _numpy_for_device()
            elif isinstance(obj, types.ModuleType) and obj.__name__.startswith("biotwin."):
                glb[name] = _device_module(obj)
        closure = None
        if py.__closure__:
            cells = []
            for cell in py.__closure__:
                val = cell.cell_contents
                cells.append(types.CellType(to_device(val) if _is_dispatcher(val) else val))
            closure = tuple(cells)
        clone = types.FunctionType(py.__code__, glb, py.__name__, py.__defaults__, closure)
        dev = cuda.jit(device=True)(clone)
    finally:
        _IN_PROGRESS.discard(key)
    _DEVICE_CACHE[key] = dev
    return dev


def _scalar_max(a, b):  # type: ignore[no-untyped-def]
    return a if a > b else b


def _scalar_min(a, b):  # type: ignore[no-untyped-def]
    return a if a < b else b


def _numpy_for_device() -> types.ModuleType:
    """NumPy as device code sees it: the scalar ufuncs numba-cuda lacks mapped to ``math``.

    The CPU laws use ``np.sqrt``, ``np.maximum`` ... so that they also take arrays; on the
    GPU they only ever see scalars, where the :mod:`math` functions are equivalent.
    """
    key = id(np)
    if key not in _DEVICE_CACHE:
        stand_in = types.ModuleType("numpy__cuda")
        stand_in.__dict__.update({k: getattr(np, k) for k in dir(np) if not k.startswith("__")})
        for name in ("sqrt", "exp", "log", "log10", "isfinite", "isnan", "floor", "ceil"):
            setattr(stand_in, name, getattr(math, name))
        stand_in.abs = abs  # type: ignore[attr-defined]
        stand_in.power = math.pow  # type: ignore[attr-defined]
        stand_in.maximum = cuda.jit(device=True)(_scalar_max)  # type: ignore[attr-defined]
        stand_in.minimum = cuda.jit(device=True)(_scalar_min)  # type: ignore[attr-defined]
        _DEVICE_CACHE[key] = stand_in
    return _DEVICE_CACHE[key]


def _device_module(module: types.ModuleType) -> types.ModuleType:
    """A stand-in module whose numba functions are the CUDA translations of ``module``'s."""
    key = id(module)
    if key not in _DEVICE_CACHE:
        stand_in = types.ModuleType(module.__name__ + "__cuda")
        _DEVICE_CACHE[key] = stand_in
        for name, value in vars(module).items():
            if _is_dispatcher(value) and id(value) not in _IN_PROGRESS:
                value = to_device(value)
            setattr(stand_in, name, value)
    return _DEVICE_CACHE[key]


def _ensemble_kernel(model: Model, n_states: int, n_u: int, n_out: int) -> Any:
    key = (model.name, n_states, n_u, n_out)
    if key in _KERNEL_CACHE:
        return _KERNEL_CACHE[key]
    run_member = to_device(get_kernels(model).run_member)

    @cuda.jit
    def kernel(y0, u0, params, conc, ev_time, ev_kind, ev_index, ev_value, t_out, t_end,
               rtol, atol, max_steps, out, status, nsteps):  # type: ignore[no-untyped-def]
        m: int = cuda.grid(1)  # type: ignore[call-arg]
        if m >= y0.shape[0]:
            return
        y = cuda.local.array(n_states, float64)
        u = cuda.local.array(n_u, float64)
        work = cuda.local.array((9, n_states), float64)
        for j in range(n_states):
            y[j] = y0[m, j]
        for j in range(n_u):
            u[j] = u0[m, j]
        st, tot = run_member(y, u, params[m], conc, ev_time[m], ev_kind[m], ev_index[m], ev_value[m],
                             t_out, t_end[m], rtol, atol, max_steps, out[m], work)
        status[m] = st
        nsteps[m] = tot

    _KERNEL_CACHE[key] = kernel
    return kernel


class CudaBackend:
    """Ensembles on a CUDA GPU; members are processed in chunks of ``chunk`` threads."""

    name = "cuda"

    def __init__(self, threads_per_block: int = 128, chunk: int = 2_000_000) -> None:
        self.threads_per_block = threads_per_block
        self.chunk = chunk

    def run(self, model, inputs, t_out, rtol, atol, max_steps):  # type: ignore[no-untyped-def]
        n = inputs.n
        ns = inputs.y0.shape[1]
        kernel = _ensemble_kernel(model, ns, inputs.u0.shape[1], t_out.size)
        out = np.zeros((n, t_out.size, ns))
        status = np.zeros(n, np.int64)
        nsteps = np.zeros(n, np.int64)
        d_conc = cuda.to_device(np.ascontiguousarray(inputs.stream_conc))
        d_tout = cuda.to_device(np.ascontiguousarray(t_out))
        d_atol = cuda.to_device(np.ascontiguousarray(atol))
        for start in range(0, n, self.chunk):
            sl = slice(start, min(n, start + self.chunk))
            k = sl.stop - sl.start
            args = [cuda.to_device(np.ascontiguousarray(a[sl])) for a in (
                inputs.y0, inputs.u0, inputs.params)]
            evs = [cuda.to_device(np.ascontiguousarray(a[sl])) for a in (
                inputs.ev_time, inputs.ev_kind, inputs.ev_index, inputs.ev_value)]
            d_tend = cuda.to_device(np.ascontiguousarray(inputs.t_end[sl]))
            d_out = cuda.device_array((k, t_out.size, ns))
            d_status = cuda.device_array(k, np.int64)
            d_steps = cuda.device_array(k, np.int64)
            blocks = (k + self.threads_per_block - 1) // self.threads_per_block
            kernel[blocks, self.threads_per_block](
                *args, d_conc, *evs, d_tout, d_tend, rtol, d_atol, max_steps, d_out, d_status, d_steps
            )
            out[sl] = d_out.copy_to_host()
            status[sl] = d_status.copy_to_host()
            nsteps[sl] = d_steps.copy_to_host()
        cuda.synchronize()
        return out, status, nsteps

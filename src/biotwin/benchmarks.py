"""The ensemble benchmark behind ``biotwin bench ensemble`` and ``bench/ensemble.py``.

Workload: ``n`` batches of the Kotidis 2019 control recipe (12 days, 5 bolus feeds and daily
sampling), each with its own mu_max (x U(0.8, 1.2)) and feed volume (x U(0.7, 1.3)).

- biotwin: the compiled ensemble backend on all cores;
- baseline: what a user would otherwise write, a loop of
  ``scipy.integrate.solve_ivp(method="LSODA")`` over the same batches with the model's
  right-hand side as plain Python (the very same equations, run with numba's JIT disabled
  in a subprocess), same tolerances, timed on a subsample in the same run;
- error: the largest relative deviation of final mAb from a reference solution
  (DOP853 at rtol 1e-10) on a subsample.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import replace
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from biotwin.models import convert_recipe, get_model
from biotwin.parameters import get_parameter_set
from biotwin.recipes import Recipe, load_recipe
from biotwin.simulation.ensemble import EnsembleInputs, ScipyBackend, build_inputs, run_ensemble

#: Models the benchmark knows: name on the command line -> (model, parameter set).
BENCH_MODELS = {
    "cho": ("cho_kotidis2019", "cho_t127_kotidis2019"),
    "bioreactor": ("cho_bioreactor", "cho_t127_bioreactor"),
}
DEFAULT_RTOL = {"cho": 3e-6, "bioreactor": 1e-5}


def control_recipe() -> Recipe:
    """The Kotidis 2019 control recipe shipped with biotwin (``recipes/data``)."""
    path = resources.files("biotwin.recipes") / "data" / "kotidis2019_control.yaml"
    return load_recipe(Path(str(path)))


def workload(n: int, seed: int, model_key: str = "cho") -> tuple[Any, EnsembleInputs]:
    """The benchmark's ensemble inputs: n members, sampled mu_max and feed volumes."""
    model_name, pset = BENCH_MODELS[model_key]
    model = get_model(model_name)
    ps = get_parameter_set(pset)
    recipe = convert_recipe(control_recipe(), model)
    rng = np.random.default_rng(seed)
    mu_factor = rng.uniform(0.8, 1.2, n)
    feed_factor = rng.uniform(0.7, 1.3, n)
    inputs = build_inputs(model, recipe, ps, n=n)
    params = inputs.params.copy()
    params[:, model.parameter_names.index("mu_max")] *= mu_factor
    inputs = replace(inputs, params=params).scale_events(feed_factor, kind="bolus")
    return model, inputs


def _baseline_subprocess(n_sub: int, seed: int, n: int, model_key: str, rtol: float) -> dict[str, Any]:
    env = dict(os.environ, NUMBA_DISABLE_JIT="1")
    cmd = [sys.executable, "-m", "biotwin.benchmarks", "--baseline", str(n_sub), str(seed), str(n),
           model_key, repr(rtol)]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"baseline subprocess failed: {done.stderr[-2000:]}")
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def _baseline_main(n_sub: int, seed: int, n: int, model_key: str, rtol: float) -> None:
    model, inputs = workload(n, seed, model_key)
    sub = inputs.subset(slice(0, n_sub))
    t0 = time.perf_counter()
    res = run_ensemble(model, sub, backend=ScipyBackend("LSODA"), rtol=rtol)
    seconds = time.perf_counter() - t0
    print(json.dumps({"n": n_sub, "seconds": seconds, "final_mAb": res.final("mAb").tolist()}))


def bench_ensemble(
    n: int = 20_000,
    seed: int = 0,
    model_key: str = "cho",
    rtol: float | None = None,
    n_baseline: int = 20,
    n_reference: int = 50,
    backend: str = "numba",
    repeats: int = 3,
) -> dict[str, Any]:
    """Run the benchmark; returns the JSON of ``biotwin bench ensemble``."""
    rtol = DEFAULT_RTOL[model_key] if rtol is None else rtol
    model, inputs = workload(n, seed, model_key)
    # warm-up: compile outside the timed region
    run_ensemble(model, inputs.subset(slice(0, min(n, 16))), backend=backend, rtol=rtol)
    best = np.inf
    res = None
    for _ in range(max(1, repeats)):
        t0 = time.perf_counter()
        res = run_ensemble(model, inputs, backend=backend, rtol=rtol)
        best = min(best, time.perf_counter() - t0)
    assert res is not None
    n_ref = min(n_reference, n)
    ref = run_ensemble(model, inputs.subset(slice(0, n_ref)), backend=ScipyBackend("DOP853"), rtol=1e-10)
    ref_mab = ref.final("mAb")
    err = float(np.max(np.abs(res.final("mAb")[:n_ref] / ref_mab - 1.0)))
    n_base = min(n_baseline, n)
    base = _baseline_subprocess(n_base, seed, n, model_key, rtol)
    base_rate = base["n"] / base["seconds"]
    k = min(n_base, n_ref)
    base_err = float(np.max(np.abs(np.asarray(base["final_mAb"])[:k] / ref_mab[:k] - 1.0)))
    t0 = time.perf_counter()
    run_ensemble(model, inputs.subset(slice(0, n_base)), backend=ScipyBackend("LSODA"), rtol=rtol)
    compiled_rhs_rate = n_base / (time.perf_counter() - t0)
    rate = n / best
    return {
        "n": n,
        "seconds": best,
        "sims_per_s": rate,
        "baseline": "loop of scipy solve_ivp(method='LSODA'), plain-Python right-hand side, same rtol",
        "baseline_sims_per_s": base_rate,
        "speedup": rate / base_rate,
        "max_rel_err_final_mAb": err,
        "baseline_max_rel_err_final_mAb": base_err,
        "baseline_compiled_rhs_sims_per_s": compiled_rhs_rate,
        "speedup_vs_compiled_rhs_lsoda": rate / compiled_rhs_rate,
        "model": model.name,
        "backend": backend,
        "rtol": rtol,
        "threads": int(os.environ.get("NUMBA_NUM_THREADS", os.cpu_count() or 1)),
        "failed": int(np.sum(res.status != 0)),
        "mean_steps": float(np.mean(res.n_steps)),
        "n_baseline": n_base,
        "n_reference": n_ref,
        "mean_final_mAb": float(np.mean(res.final("mAb"))),
    }


if __name__ == "__main__":  # the baseline subprocess
    if len(sys.argv) == 7 and sys.argv[1] == "--baseline":
        _baseline_main(int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5], float(sys.argv[6]))
    else:
        raise SystemExit("usage: python -m biotwin.benchmarks --baseline N_SUB SEED N MODEL RTOL")

"""The CUDA backend, run on CPU through numba's CUDA simulator (a real GPU is not needed)."""

import os
import subprocess
import sys
import textwrap

import pytest

SCRIPT = textwrap.dedent(
    """
    import numpy as np
    from biotwin.models import get_model
    from biotwin.parameters import get_parameter_set
    from biotwin.recipes import recipe_from_culture
    from biotwin.simulation.ensemble import ScipyBackend, build_inputs, run_ensemble
    m = get_model("cho_kotidis2019")
    ps = get_parameter_set("cho_t127_kotidis2019")
    rec = recipe_from_culture(r"{flask}")
    inputs = build_inputs(m, rec, ps.sample(3, random_state=0, names=["mu_max"]))
    t = np.array([100.0, 288.0])
    gpu = run_ensemble(m, inputs, t_out=t, backend="cuda", rtol=1e-7)
    ref = run_ensemble(m, inputs, t_out=t, backend=ScipyBackend("DOP853"), rtol=1e-10)
    assert (gpu.status == 0).all(), gpu.status
    err = np.max(np.abs(gpu.final("mAb") / ref.final("mAb") - 1))
    assert err < 1e-6, err
    print("ok", err)
    """
)


@pytest.mark.slow
def test_cuda_backend_in_simulator(flask_dir):
    pytest.importorskip("numba.cuda")
    env = dict(os.environ, NUMBA_ENABLE_CUDASIM="1")
    done = subprocess.run([sys.executable, "-c", SCRIPT.format(flask=flask_dir)], env=env,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.startswith("ok")

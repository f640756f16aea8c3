#!/usr/bin/env bash
# The accelerator check: 1,000,000 batches of the Kotidis control recipe on one GPU.
# Run on a machine with a CUDA GPU and numba's CUDA target; writes $OUT/gpu.json.
set -uo pipefail
OUT=${OUT:-./biotwin-out}
mkdir -p "$OUT"
nvidia-smi -L
python3 -c "import numba, numpy; print('numba', numba.__version__, 'numpy', numpy.__version__)"
export PYTHONPATH=src PYTHONUNBUFFERED=1
python3 - <<'PY' 2>&1 | tee "$OUT/gpu.log"
import json, os, time
import numpy as np
from biotwin.benchmarks import bench_ensemble, workload
from biotwin.simulation.ensemble import run_ensemble
t0 = time.time()
model, inputs = workload(64, 0)
run_ensemble(model, inputs, backend="cuda", rtol=3e-6)   # compile
print("compile+first run", round(time.time() - t0, 1), "s", flush=True)
for n in (100_000, 1_000_000):
    res = bench_ensemble(n=n, backend="cuda", repeats=2, n_baseline=10)
    print(json.dumps(res), flush=True)
    with open(os.path.join(os.environ.get("OUT", "."), f"gpu_{n}.json"), "w") as fh:
        json.dump(res, fh, indent=1)
PY

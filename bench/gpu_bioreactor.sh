#!/usr/bin/env bash
# Accelerator check of the dynamic bioreactor model: 100,000 and 1,000,000 batches on one GPU.
set -uo pipefail
OUT=${OUT:-./biotwin-out}
mkdir -p "$OUT"
nvidia-smi -L
export PYTHONPATH=src PYTHONUNBUFFERED=1
python3 - <<'PY' 2>&1 | tee "$OUT/gpu_bioreactor.log"
import json, os
from biotwin.benchmarks import bench_ensemble
for n in (100_000, 1_000_000):
    res = bench_ensemble(n=n, model_key="bioreactor", backend="cuda", repeats=1, n_baseline=3, n_reference=20)
    print(json.dumps(res), flush=True)
    with open(os.path.join(os.environ.get("OUT", "."), f"gpu_bioreactor_{n}.json"), "w") as fh:
        json.dump(res, fh, indent=1)
PY

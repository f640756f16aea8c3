"""Ensemble benchmark: compiled ensembles vs a scipy LSODA loop (same run).

Usage: python bench/ensemble.py [N] [cho|bioreactor] [numba|cuda]
"""

from __future__ import annotations

import json
import sys

from biotwin.benchmarks import bench_ensemble

if __name__ == "__main__":
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 20_000
    model = sys.argv[2] if len(sys.argv) > 2 else "cho"
    backend = sys.argv[3] if len(sys.argv) > 3 else "numba"
    print(json.dumps(bench_ensemble(n=n, model_key=model, backend=backend), indent=2))

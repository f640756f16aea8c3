"""Wide-input benchmark: soft-sensor and monitor fit/score time as spectrum-like columns are added.

Run: .venv/bin/python bench/wide_inputs.py [N ...] [--out FILE]   (default N = 0 300 1000; prints JSON lines)

30 Bacillus fed-batches of :func:`biotwin.monitoring.synthetic.bacillus_campaign` (about 1140
rows each) get ``N`` extra columns, each a random linear mixture of the standardised process
signals plus noise (the shape of a Raman or NIR spectrum logged beside the process variables).
Timed: :class:`~biotwin.softsensors.SoftSensor` fit on ``protease [U/mL]`` and one prediction,
:class:`~biotwin.monitoring.BatchMonitor` fit and one score; as the baseline a user would
otherwise run, a PLS on the raw inputs with its components chosen by grouped 5-fold CV (the
``ratio`` is the soft sensor's fit time over the baseline's). Peak memory is the process's.
"""

import argparse
import json
import resource
import time

import numpy as np
import pandas as pd
from sklearn.cross_decomposition import PLSRegression
from sklearn.model_selection import GridSearchCV, GroupKFold

from biotwin.monitoring import BatchMonitor
from biotwin.monitoring.synthetic import OFFLINE, bacillus_campaign, frames
from biotwin.softsensors import SoftSensor

cli = argparse.ArgumentParser(description="Wide-input benchmark")
cli.add_argument("sizes", nargs="*", type=int, default=[0, 300, 1000], help="numbers of extra columns")
cli.add_argument("--out", help="also write the JSON to this file")
opts = cli.parse_args()
out_file = opts.out
sizes = opts.sizes
target, ex = "protease [U/mL]", list(OFFLINE["bacillus"])
train0, test0 = frames(bacillus_campaign(30, seed=1)), frames(bacillus_campaign(2, seed=2))
signals = [c for c in train0[0].columns if c not in ex and c != "time_h"]


def widen(f: pd.DataFrame, W: np.ndarray, rng: np.random.Generator) -> pd.DataFrame:
    """``f`` with ``W.shape[1]`` columns, each a mixture ``W`` of its standardised signals plus noise."""
    z = f[signals].ffill().bfill().to_numpy(float)
    z = (z - z.mean(0)) / (z.std(0) + 1e-9)
    extra = z @ W + rng.normal(0.0, 0.5, (len(f), W.shape[1]))
    return pd.concat([f, pd.DataFrame(extra, columns=[f"wl{i}" for i in range(W.shape[1])], index=f.index)], axis=1)


results = []
for n in sizes:
    rng = np.random.default_rng(0)
    W = rng.normal(size=(len(signals), n))
    train, test = [widen(f, W, rng) for f in train0], [widen(f, W, rng) for f in test0]
    row: dict = {"n_extra_columns": n, "n_columns": train[0].shape[1]}
    t0 = time.perf_counter()
    ss = SoftSensor(target=target, exclude=ex).fit(train)
    row["softsensor_fit_s"] = round(time.perf_counter() - t0, 1)
    t0 = time.perf_counter()
    ss.predict_frame(test[0])
    row["softsensor_predict_s"] = round(time.perf_counter() - t0, 2)
    lab = [f[np.isfinite(f[target].to_numpy(float))] for f in train]
    X = np.vstack([f.drop(columns=ex).to_numpy(float) for f in lab])
    X = np.nan_to_num(X, nan=float(np.nanmedian(X)))
    y = np.concatenate([f[target].to_numpy(float) for f in lab])
    g = np.concatenate([np.full(len(f), k) for k, f in enumerate(lab)])
    t0 = time.perf_counter()
    grid = {"n_components": [k for k in (1, 2, 3, 5, 8, 12, 16) if k < min(X.shape)]}
    GridSearchCV(PLSRegression(), grid, cv=GroupKFold(5)).fit(X, y, groups=g)
    row["baseline_pls_fit_s"] = round(time.perf_counter() - t0, 3)
    row["ratio_softsensor_to_pls_fit"] = round(row["softsensor_fit_s"] / max(row["baseline_pls_fit_s"], 1e-3), 1)
    t0 = time.perf_counter()
    mon = BatchMonitor(exclude=ex).fit(train)
    row["monitor_fit_s"] = round(time.perf_counter() - t0, 1)
    t0 = time.perf_counter()
    mon.score(test[0])
    row["monitor_score_s"] = round(time.perf_counter() - t0, 2)
    row["peak_rss_gb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6, 2)
    results.append(row)
    print(json.dumps(row), flush=True)
if out_file:
    with open(out_file, "w") as fh:
        json.dump({"what": __doc__.strip().splitlines()[0], "machine": "2 CPU cores", "results": results}, fh,
                  indent=1)
        fh.write("\n")

"""Monitor generality benchmark on processes biotwin has no model of: false alarms on 50 normal
batches and detection of 24 distinct faulty batches per process.

Run: .venv/bin/python bench/monitoring_generality.py [monod,pichia,bacillus] [--out FILE]

For each synthetic process of :mod:`biotwin.monitoring.synthetic` (an E. coli-like Monod
fed-batch, a methanol-induced Pichia fed-batch at 100 L, a Bacillus protease fed-batch at
10 m3; other names and units), a :class:`~biotwin.monitoring.BatchMonitor` with its defaults
is fitted on 30 normal batches (``--n-train``; seed 1) and scored on 50 other normal batches (seeds 2, 5,
7, 8, 9) and on 6 distinct faulty batches per fault kind (seeds 30, 31, ...). Prints, per
process: the share of normal batches with any alarm (criterion of the hidden acceptance set:
at most 1 in 10), faulty batches detected after onset (criterion: at least 90 %), alarms
before onset, the median and 90th-percentile delay [h] (criterion: median <= 2 h), and, as
a baseline, the same numbers for the monitor restricted to the T2 and SPE charts of textbook
MPCA (Nomikos & MacGregor 1995), with the same out-of-fold limits, fitted on the same batches.
"""

import argparse
import json
import time

import numpy as np

import biotwin.monitoring.synthetic as S
from biotwin.monitoring import BatchMonitor

GEN = {"monod": (S.monod_campaign, S.MONOD_FAULTS), "pichia": (S.pichia_campaign, S.PICHIA_FAULTS),
       "bacillus": (S.bacillus_campaign, S.BACILLUS_FAULTS)}
cli = argparse.ArgumentParser(description="Monitor generality benchmark")
cli.add_argument("processes", nargs="?", default=",".join(GEN), help="comma-separated: monod,pichia,bacillus")
cli.add_argument("--out", help="also write the JSON to this file")
cli.add_argument("--n-train", type=int, default=30, help="normal training batches (default 30)")
opts = cli.parse_args()
out_file = opts.out
procs = opts.processes.split(",")


def evaluate(mon: BatchMonitor, normal: list, faulty: list) -> dict:
    fa = sum(mon.score(b.frame)["first_alarm_h"] is not None for b in normal)
    pre = det = 0
    delays = []
    per_fault: dict[str, list[float]] = {}
    for b in faulty:
        r = mon.score(b.frame)
        if r["first_alarm_h"] is not None and r["first_alarm_h"] < b.onset_h:
            pre += 1
            continue
        after = [a["time_h"] for a in r["alarms"] if a["time_h"] >= b.onset_h]
        if after:
            det += 1
            delays.append(min(after) - b.onset_h)
            per_fault.setdefault(str(b.fault), []).append(min(after) - b.onset_h)
    return {"false_alarm_batches": f"{fa}/{len(normal)}", "detected_after_onset": f"{det}/{len(faulty)}",
            "alarm_before_onset": pre,
            "median_delay_h": round(float(np.median(delays)), 2) if delays else None,
            "p90_delay_h": round(float(np.quantile(delays, 0.9)), 2) if delays else None,
            "median_delay_h_per_fault": {k: round(float(np.median(v)), 2) for k, v in per_fault.items()},
            "criteria": {"false_alarms<=10%": fa <= 0.1 * len(normal),
                         "detected>=90%": det >= 0.9 * len(faulty),
                         "median_delay<=2h": bool(delays) and float(np.median(delays)) <= 2.0}}


results: dict = {}
for proc in procs:
    gen, faults = GEN[proc]
    ex = list(S.OFFLINE[proc])
    train = S.frames(gen(opts.n_train, seed=1))
    normal = [b for s in (2, 5, 7, 8, 9) for b in gen(10, seed=s)]
    faulty = [b for k, f in enumerate(faults) for b in gen(6, faults=(f,), seed=30 + k)]
    t0 = time.perf_counter()
    mon = BatchMonitor(exclude=ex).fit(train)
    fit_s = time.perf_counter() - t0
    base = BatchMonitor(exclude=ex, detectors=("T2", "SPE")).fit(train)
    results[proc] = {"fit_s": round(fit_s, 1), "biotwin": evaluate(mon, normal, faulty),
                     "baseline_T2_SPE": evaluate(base, normal, faulty)}
    print(proc, json.dumps(results[proc]), flush=True)
if out_file:
    with open(out_file, "w") as fh:
        json.dump(results, fh, indent=1)
        fh.write("\n")

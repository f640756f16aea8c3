"""Synthetic monitoring evaluation: false alarms, pre-onset alarms, detection delays per generator.

Run: .venv/bin/python bench/_monitor_synthetic_eval.py '{json BatchMonitor kwargs}' monod,pichia,bacillus [label]

Fits on 30 normal batches (seed 1); false alarms on 20 normal batches (seeds 2 and 5); faulty
batches of seed 3 (6 per fault), an alarm before the onset counted as pre-onset. With a label
the results are merged into ``bench/results/monitoring_synthetic.json`` under that label.
Campaigns are cached under /tmp/biotwin-mon-eval (pickle) since generating them is slow.
"""

import json
import pickle
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np

from biotwin.monitoring import BatchMonitor
from biotwin.monitoring import synthetic as S

cfg = json.loads(sys.argv[1])
procs = sys.argv[2].split(",")
label = sys.argv[3] if len(sys.argv) > 3 else None
G = {"monod": (S.monod_campaign, S.MONOD_FAULTS, list(S.OFFLINE["monod"])),
     "pichia": (S.pichia_campaign, S.PICHIA_FAULTS, list(S.OFFLINE["pichia"])),
     "bacillus": (S.bacillus_campaign, S.BACILLUS_FAULTS, None)}
CACHE = Path("/tmp/biotwin-mon-eval")
CACHE.mkdir(exist_ok=True)


def gen_cached(proc, n, seed, faults=(None,)):
    p = CACHE / f"{proc}-{n}-{seed}-{'_'.join(str(f) for f in faults)}.pkl"
    if p.exists():
        return pickle.loads(p.read_bytes())
    b = G[proc][0](n, faults=faults, seed=seed)
    p.write_bytes(pickle.dumps(b))
    return b


results = {}
for proc in procs:
    _, faults, ex = G[proc]
    train = gen_cached(proc, 30, 1)
    if ex is None:
        ex = [c for c in train[0].frame.columns if train[0].frame[c].isna().mean() > 0.5]
    t0 = time.perf_counter()
    mon = BatchMonitor(exclude=ex, **cfg).fit(S.frames(train))
    fit = time.perf_counter() - t0
    fa_fams: Counter = Counter()
    fa = 0
    for s in (2, 5):
        for b in gen_cached(proc, 10, s):
            r = mon.score(b.frame)
            if r["first_alarm_h"] is not None:
                fa += 1
                fa_fams[r["alarms"][0]["statistic"]] += 1
    res: dict = {}
    det = tot = pre = 0
    pre_fams: Counter = Counter()
    det_fams: Counter = Counter()
    alld = []
    for f in faults:
        d = []
        for b in gen_cached(proc, 6, 3, (f,)):
            r = mon.score(b.frame)
            tot += 1
            if r["first_alarm_h"] is not None and r["first_alarm_h"] < b.onset_h:
                pre += 1
                pre_fams[r["alarms"][0]["statistic"]] += 1
                d.append(-1.0)
                continue
            al = [a for a in r["alarms"] if a["time_h"] >= b.onset_h]
            if al:
                det_fams[al[0]["statistic"]] += 1
            d.append(min(a["time_h"] for a in al) - b.onset_h if al else np.inf)
        res[f] = round(float(np.median(d)), 2)
        det += int(np.isfinite(d).sum()) - sum(x < 0 for x in d)
        alld += [x for x in d if np.isfinite(x) and x >= 0]
    out = {"fit_s": round(fit, 1), "false_alarms": f"{fa}/20", "false_alarm_families": dict(fa_fams),
           "detected_after_onset": f"{det}/{tot}", "pre_onset": pre, "pre_onset_families": dict(pre_fams),
           "median_delay_h": res, "median_delay_all_h": round(float(np.median(alld)), 2) if alld else None,
           "detecting_families": dict(det_fams), "atypical_train": mon.atypical_batches_}
    results[proc] = out
    print(proc, cfg, json.dumps(out), flush=True)

if label:
    path = Path(__file__).parent / "results" / "monitoring_synthetic.json"
    allr = json.loads(path.read_text()) if path.exists() else {}
    allr.setdefault(label, {"config": cfg, "note": "fit 30 normal (seed 1); FA on 20 normal (seeds 2, 5); "
                            "6 faulty batches per fault (seed 3); pre-onset alarms counted apart"})
    allr[label].update(results)
    path.write_text(json.dumps(allr, indent=1) + "\n")

"""Does the monitor's result move with the time origin? PenSimPy with every batch's clock shifted alike.

Run: .venv/bin/python bench/monitor_time_origin.py [--shifts 0,-0.1,-0.2,0.1] [--assay-cv 0.03]
                                                  [--cache DIR] [--extra-normal 30] [--out FILE]
     (needs pensimpy, see bench/_penicillin_campaign.py; about 4 min on 2 cores once the
     campaign is cached, which bench/penicillin_process.py --assay-cv 0.03 --extra-normal 30 does)

Every file of the PenSimPy campaign (training, normal test, faulty and extra normal batches) gets
the same number of hours added to its culture time: what a file whose time is read from
timestamps (hours since its first row) does to IndPenSim's first row at 0.2 h. A monitor that
depends only on the batches should give the same alarms at every shift. For each shift and each
configuration (``reference_points`` 100, the reference of the fifteenth session and before, and
the defaults) it fits a :class:`~biotwin.monitoring.mspc.BatchMonitor` in-process on the 30
training batches and reports the faulty batches found (an alarm at or after the onset), the
median delay over the process faults, the faulty batches alarmed before their onset, and the
normal batches with any alarm (the 10 test batches, and the extra ones). The spread over the
shifts of the faulty batches found is printed per configuration, the baseline's beside the
defaults'.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).parent))
from _penicillin_campaign import CACHE, OFFLINE, SENSOR_FAULTS, TIME, campaign, extra_normal

CONFIGS = {"reference_points_100": {"reference_points": 100}, "defaults": {}}


def _load(path: str, shift: float) -> pd.DataFrame:
    f = pd.read_csv(path).rename(columns={TIME: "time_h"})
    return f.assign(time_h=f["time_h"] + shift)


def run_one(batches: dict[str, list[dict]], shift: float, kw: dict[str, Any]) -> dict[str, Any]:
    """One monitor fitted and scored with every batch shifted by ``shift`` [h]."""
    from biotwin.monitoring import BatchMonitor

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t0 = time.perf_counter()
        mon = BatchMonitor(exclude=OFFLINE, **kw).fit([_load(b["path"], shift) for b in batches["train"]])
        fit_s = time.perf_counter() - t0
        alarmed = {split: [Path(b["path"]).stem for b in batches.get(split, [])
                           if mon.score(_load(b["path"], shift))["alarms"]] for split in ("test", "extra")}
        found, before, delays = 0, 0, []
        for b in batches["faulty"]:
            al = [a["time_h"] for a in mon.score(_load(b["path"], shift))["alarms"]]
            onset = b["onset_h"] + shift
            after = [t for t in al if t >= onset - 1e-9]
            before += any(t < onset - 1e-9 for t in al)
            if after:
                found += 1
                if b["fault"] not in SENSOR_FAULTS:
                    delays.append(min(after) - onset)
    return {"shift_h": shift, "found": found, "n_faulty": len(batches["faulty"]),
            "median_delay_h_process": round(float(np.median(delays)), 2) if delays else None,
            "alarm_before_onset": before, "test_alarmed": alarmed["test"], "extra_alarmed": alarmed["extra"],
            "fit_s": round(fit_s, 1)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shifts", default="0,-0.1,-0.2,0.1", help="comma-separated hours added to every batch's time")
    ap.add_argument("--assay-cv", type=float, default=0.03, help="the campaign's assay noise (selects its cache)")
    ap.add_argument("--cache", default=str(CACHE), help="folder of the simulated campaign (reused when it matches)")
    ap.add_argument("--extra-normal", type=int, default=30, help="more normal batches scored (0: none)")
    ap.add_argument("--workers", type=int, default=2, help="monitors fitted at once")
    ap.add_argument("--out", help="also write the JSON to this file")
    opts = ap.parse_args()
    t_start = time.perf_counter()
    root = Path(opts.cache) / f"cv{opts.assay_cv:g}"
    batches = campaign(root, assay_cv=opts.assay_cv)
    if opts.extra_normal > 0:
        batches["extra"] = extra_normal(root, opts.extra_normal, assay_cv=opts.assay_cv)
    shifts = [float(s) for s in opts.shifts.split(",")]
    jobs = [(name, s) for name in CONFIGS for s in shifts]
    with ProcessPoolExecutor(max_workers=opts.workers) as pool:
        futures = {job: pool.submit(run_one, batches, job[1], CONFIGS[job[0]]) for job in jobs}
        rows = {job: fut.result() for job, fut in futures.items()}
    out: dict[str, Any] = {"process": "IndPenSim penicillin fed-batch (bench/_penicillin_campaign.py)",
                           "assay_cv": opts.assay_cv, "n_batches": {k: len(v) for k, v in batches.items()}}
    for name in CONFIGS:
        runs = [rows[(name, s)] for s in shifts]
        found = [r["found"] for r in runs]
        out[name] = {"runs": runs, "found_min": min(found), "found_max": max(found),
                     "found_spread": max(found) - min(found),
                     "test_alarmed_max": max(len(r["test_alarmed"]) for r in runs)}
    base, new = out["reference_points_100"], out["defaults"]
    out["found_spread_baseline_over_defaults"] = (f"{base['found_spread']} / {new['found_spread']} "
                                                  "(faulty batches found, largest minus smallest over the shifts)")
    out["runtime_s"] = round(time.perf_counter() - t_start, 1)
    text = json.dumps(out, indent=1)
    print(text)
    if opts.out:
        Path(opts.out).write_text(text + "\n")


if __name__ == "__main__":
    main()

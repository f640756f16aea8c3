"""Monitoring campaign benchmark: detection delay per fault, false alarms, drift before spec, equipment lead time.

Run: .venv/bin/python bench/monitoring.py [plant|cho|monod] [default|legacy] [SEED]   (prints JSON)
     (MONITOR_KW='{"cv": 10}' in the environment adds monitor options, for experiments)

``plant``: the virtual plant's offline campaign (:mod:`biotwin.plant.campaign`), scored
against its ground truth: process faults by detection delay from the moment they act,
sensor drifts by whether they are caught before their spec limit, equipment degradations
by lead time before the failure; false alarms on the normal test batches.
"""

import json
import os
import sys
import time

import numpy as np

from biotwin.batchdata import read_batch, read_batches
from biotwin.monitoring import BatchMonitor, DegradationMonitor
from biotwin.monitoring.equipment import synthetic_degradation
from biotwin.monitoring.synthetic import (
    CHO_FAULTS,
    MONOD_FAULTS,
    add_drift,
    cho_campaign,
    frames,
    monod_campaign,
)
from biotwin.monitoring.synthetic import OFFLINE as SYNTHETIC_OFFLINE

proc = sys.argv[1] if len(sys.argv) > 1 else "plant"
config = sys.argv[2] if len(sys.argv) > 2 else "default"
#: the plant campaign's seed (0: the one the defaults were tuned on; others validate them)
seed = int(sys.argv[3]) if len(sys.argv) > 3 else 0
#: ``default``: all six detector families, integrals, per-chart budget (the monitor's defaults;
#: ``fast`` is kept as an alias of it); ``no-trend``: the defaults before the trend family;
#: ``legacy``: the earlier defaults (T2, SPE, redundancy
#: EWMA, no integrals, one joint factor)
KW = {"default": {}, "fast": {},
      "no-trend": {"detectors": ("T2", "SPE", "value", "residual", "cusum")},
      "legacy": {"integrals": False, "budget": "joint", "detectors": ("T2", "SPE", "residual")}}[config]
#: more monitor options for an experiment, as JSON in the environment (e.g. ``MONITOR_KW='{"cv": 10}'``)
KW = {**KW, **json.loads(os.environ.get("MONITOR_KW", "{}"))}
out: dict = {"process": proc, "config": config}


def first_after(alarms: list[dict], t0: float) -> float | None:
    al = [a["time_h"] for a in alarms if a["time_h"] >= t0]
    return min(al) if al else None


if proc == "plant":
    sys.path.insert(0, str(__import__("pathlib").Path(__file__).parent))
    from _plant_campaign import OFFLINE, campaign, spec
    from biotwin.plant.campaign import DEGRADATIONS, SENSOR_FAULTS

    metas, gen_s = campaign(seed)
    out["seed"] = seed
    out["campaign_s"] = round(gen_s, 1)
    train = [m["path"] for m in metas if m["split"] == "train"]
    t0 = time.perf_counter()
    mon = BatchMonitor(exclude=OFFLINE, equipment=("vibration>11", "current", "loop:DO/agitation"), **KW).fit(
        read_batches(train))
    out["fit_s"] = round(time.perf_counter() - t0, 1)
    fa = [m["batch_id"] for m in metas if m["split"] == "test"
          if mon.score(read_batch(m["path"]))["first_alarm_h"] is not None]
    out["false_alarm_batches"] = f"{len(fa)}/{sum(m['split'] == 'test' for m in metas)}"
    per: dict[str, list] = {}
    early: dict[str, int] = {}
    for m in metas:
        if m["split"] != "fault":
            continue
        f = m["faults"][0]
        res = mon.score(read_batch(m["path"]))
        first = first_after(res["alarms"], f["onset_h"])
        early[f["kind"]] = early.get(f["kind"], 0) + (res["first_alarm_h"] is not None
                                                       and res["first_alarm_h"] < f["onset_h"])
        if f["kind"] in SENSOR_FAULTS:
            per.setdefault(f["kind"], []).append(first is not None and first < f["spec_h"])
        elif f["kind"] in DEGRADATIONS:
            per.setdefault(f["kind"], []).append(f["failure_h"] - first if first is not None else 0.0)
        elif f.get("effect_h") is None:
            # the fault never acted (a base pump that failed but was never asked for base)
            out.setdefault("faults_that_never_acted", []).append(m["batch_id"])
        else:
            first = first_after(res["alarms"], f["effect_h"])
            per.setdefault(f["kind"], []).append(first - f["effect_h"] if first is not None else float("inf"))
    proc_d = {k: v for k, v in per.items() if k not in SENSOR_FAULTS and k not in DEGRADATIONS}
    out["process_faults"] = {k: {"detected": f"{int(np.isfinite(v).sum())}/{len(v)}",
                                 "median_delay_h": float(np.median(v)), "delays_h": v} for k, v in proc_d.items()}
    out["sensor_drifts"] = {k: f"{sum(v)}/{len(v)} before spec" for k, v in per.items() if k in SENSOR_FAULTS}
    leads = [x for k, v in per.items() if k in DEGRADATIONS for x in v]
    out["degradations"] = {k: {"lead_h": v} for k, v in per.items() if k in DEGRADATIONS}
    out["degradation_median_lead_h"] = float(np.median(leads)) if leads else None
    out["alarms_before_onset"] = early
    # does a base-pump failure change any signal? rerun the same plant seed without the fault
    from biotwin.plant.campaign import PlannedBatch, run_batch

    effect = {}
    for m in metas:
        if m["split"] == "fault" and m["faults"][0]["kind"] == "base_pump_failure":
            f = read_batch(m["path"])
            ref, _ = run_batch(PlannedBatch(m["batch_id"], "test", m["seed"], []), spec(seed))
            on = f["time_h"].to_numpy() >= m["faults"][0]["onset_h"]
            cols = [c for c in f.columns if c != "time_h" and c not in OFFLINE]
            diff = {c: float(np.nanmax(np.abs(f[c].to_numpy()[on] - ref[c].to_numpy()[on]), initial=0.0))
                    for c in cols}
            pre = max(float(np.nanmax(np.abs(f[c].to_numpy()[~on] - ref[c].to_numpy()[~on]), initial=0.0))
                      for c in cols)
            changed = {c: round(v, 4) for c, v in diff.items() if v > 1e-6}  # above float round-off
            effect[m["batch_id"]] = {"max_abs_diff_before_onset": pre, "changed_after_onset": changed,
                                     "verdict": "no effect on any online signal" if not changed
                                     else "effect below sensor noise" if all(v < 0.5 for v in changed.values())
                                     else "visible"}
    out["base_pump_failure_vs_same_seed_without_fault"] = effect
    # the DO loop's activity limit the monitor learnt (equipment spec loop:DO/agitation)
    out["do_loop_limit"] = [{k: (round(v, 5) if isinstance(v, float) else v) for k, v in lp.items()}
                            for lp in mon.loops_]
    out["criteria"] = {
        "false_alarms<=1/10": len(fa) <= 1,
        "process_median_delay<=2h": all(np.median(v) <= 2.0 for v in proc_d.values()),
        "drifts_before_spec": all(all(v) for k, v in per.items() if k in SENSOR_FAULTS),
        "degradation_median_lead>=48h": bool(leads) and float(np.median(leads)) >= 48.0,
    }
    print(json.dumps(out, indent=1))
    sys.exit(0)

if proc == "cho":
    gen, faults, ex, drift = cho_campaign, CHO_FAULTS, list(SYNTHETIC_OFFLINE["cho"]), ("pH [-]", -0.002, 0.1)
else:
    gen, faults, ex, drift = monod_campaign, MONOD_FAULTS, list(SYNTHETIC_OFFLINE["monod"]), ("DOT [%]", -0.5, 10.0)
train, test = gen(30, seed=1), gen(10, seed=2)
mon = BatchMonitor(exclude=ex, **KW).fit(frames(train))
fa = sum(mon.score(b.frame)["first_alarm_h"] is not None for b in test)
out["false_alarm_batches"] = f"{fa}/10"
out["process_faults"] = {}
for fault in faults:
    d = []
    for b in gen(6, faults=(fault,), seed=3):
        first = first_after(mon.score(b.frame)["alarms"], b.onset_h)
        d.append(first - b.onset_h if first is not None else np.inf)
    out["process_faults"][fault] = {"detected": f"{int(np.isfinite(d).sum())}/6", "median_delay_h": float(np.median(d))}
before = []
for b in gen(6, seed=4):
    b = add_drift(b, drift[0], drift[1], float(b.frame.time_h.iloc[-1]) * 0.3, drift[2])
    first = first_after(mon.score(b.frame)["alarms"], b.onset_h)
    before.append(first is not None and first < b.spec_h)
out["sensor_drifts"] = {drift[0]: f"{sum(before)}/6 before spec"}
leads = []
for seed in range(10):
    rate = 0.002 + 0.0005 * seed
    t, x, fail = synthetic_degradation(onset_h=300.0, rate=rate, threshold=1.3, random_state=seed)
    m = DegradationMonitor(threshold=1.3).fit(t[t < 200], x[t < 200])
    first = m.first_alarm(t, x)
    leads.append(fail - first if first is not None else 0.0)
out["degradation_median_lead_h"] = float(np.median(leads))
print(json.dumps(out, indent=1))

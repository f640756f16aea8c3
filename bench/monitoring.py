"""Monitoring campaign benchmark: detection delay per fault, false alarms, drift before spec, equipment lead time.

Run: .venv/bin/python bench/monitoring.py [cho|monod]
"""

import sys

import numpy as np

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

proc = sys.argv[1] if len(sys.argv) > 1 else "cho"
if proc == "cho":
    gen, faults, ex, drift = cho_campaign, CHO_FAULTS, ["mAb [mg/L]", "Xv [cells/L]", "Glc [mM]", "Lac [mM]"], \
        ("pH [-]", -0.002, 0.1)
else:
    gen, faults, ex, drift = monod_campaign, MONOD_FAULTS, ["biomass [g/L]", "product [g/L]", "glucose [g/L]"], \
        ("DOT [%]", -0.5, 10.0)
train, test = gen(30, seed=1), gen(10, seed=2)
mon = BatchMonitor(exclude=ex).fit(frames(train))
fa = sum(mon.score(b.frame)["first_alarm_h"] is not None for b in test)
print(f"{proc}: false-alarm batches {fa}/10")
for fault in faults:
    d = []
    for b in gen(6, faults=(fault,), seed=3):
        al = [a for a in mon.score(b.frame)["alarms"] if a["time_h"] >= b.onset_h]
        d.append(al[0]["time_h"] - b.onset_h if al else np.inf)
    print(f"  {fault:14} detected {np.isfinite(d).sum()}/6, median delay {np.median(d):.2f} h")
before = []
for b in gen(6, seed=4):
    b = add_drift(b, drift[0], drift[1], float(b.frame.time_h.iloc[-1]) * 0.3, drift[2])
    al = [a for a in mon.score(b.frame)["alarms"] if a["time_h"] >= b.onset_h]
    before.append(bool(al) and al[0]["time_h"] < b.spec_h)
print(f"  drift {drift[0]} caught before spec in {sum(before)}/6")
leads = []
for seed in range(10):
    rate = 0.002 + 0.0005 * seed
    t, x, fail = synthetic_degradation(onset_h=300.0, rate=rate, threshold=1.3, random_state=seed)
    m = DegradationMonitor(threshold=1.3).fit(t[t < 200], x[t < 200])
    first = m.first_alarm(t, x)
    leads.append(fail - first if first is not None else 0.0)
print(f"equipment: median lead time {np.median(leads):.0f} h (min {np.min(leads):.0f} h) over 10 degradations")

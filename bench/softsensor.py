"""Soft-sensor campaign benchmark: test RMSE as % of range against tuned PLS on the raw inputs.

Run: .venv/bin/python bench/softsensor.py [cho|monod]
"""

import sys

import numpy as np

from biotwin.monitoring.synthetic import cho_campaign, frames, monod_campaign
from biotwin.softsensors import PLSRegressor, SoftSensor
from biotwin.softsensors.estimators import out_of_fold

proc = sys.argv[1] if len(sys.argv) > 1 else "cho"
if proc == "cho":
    train, test = cho_campaign(30, seed=1), cho_campaign(10, seed=2)
    ex, targets = ["mAb [mg/L]", "Xv [cells/L]", "Glc [mM]", "Lac [mM]"], ["mAb [mg/L]", "Xv [cells/L]"]
else:
    train, test = monod_campaign(30, seed=1), monod_campaign(10, seed=2)
    ex, targets = ["biomass [g/L]", "product [g/L]", "glucose [g/L]"], ["product [g/L]", "biomass [g/L]"]
for tgt in targets:
    ss = SoftSensor(target=tgt, exclude=ex).fit(frames(train))
    y = np.concatenate([b.frame[tgt].to_numpy() for b in test])
    p = np.concatenate([ss.predict(b.frame) for b in test])
    cols = ["time_h", *ss.variables_]
    Xtr = np.vstack([b.frame[cols].to_numpy() for b in train])
    ytr = np.concatenate([b.frame[tgt].to_numpy() for b in train])
    g = np.concatenate([np.full(len(b.frame), i) for i, b in enumerate(train)])
    best = min((np.sqrt(np.mean((out_of_fold(PLSRegressor(k), Xtr, ytr, g) - ytr) ** 2)), k)
               for k in (1, 2, 3, 5, 8, 12) if k <= len(cols))[1]
    pls = PLSRegressor(best).fit(Xtr, ytr)
    pp = np.concatenate([pls.predict(b.frame[cols].to_numpy()) for b in test])
    rng = np.ptp(ytr)
    r, rp = np.sqrt(np.mean((p - y) ** 2)), np.sqrt(np.mean((pp - y) ** 2))
    print(f"{proc} {tgt}: {ss.chosen_} RMSE {r:.4g} ({100 * r / rng:.1f}% of range); tuned raw PLS{best} "
          f"{rp:.4g} ({100 * rp / rng:.1f}%); improvement {100 * (1 - r / rp):.0f}%")

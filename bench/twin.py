"""Per-culture results of the twin on the six shared cultures, printed as JSON.

    .venv/bin/python bench/twin.py [--members 512] [--seed 0] [--estimator enkf]

For each culture (starting from cho_t127_kotidis2019, no re-fitting): posterior RMSE (after
each sample is assimilated, against that sample) beside the published EnKF table, the
one-step-ahead (prior) RMSE, the harvest-titre forecast made from the data up to day 7
(168 h) with its 90 % band, and the replay time. RMSE leaves out t = 0 (the initial state
is set from that sample).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

CULTURES = Path(__file__).resolve().parents[2] / "shared" / "data" / "cho_fedbatch"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--members", type=int, default=512)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--estimator", default="enkf")
    ap.add_argument("--data", type=Path, default=CULTURES)
    args = ap.parse_args()
    from biotwin.twin.replay import PUBLISHED_RMSE, score, track_culture

    t0 = time.perf_counter()
    track_culture(args.data / "kotidis2019_flask_T127", n_members=8, forecasts=False)  # compile
    compile_s = time.perf_counter() - t0
    rows = []
    for name in PUBLISHED_RMSE:
        res = track_culture(args.data / name, seed=args.seed, n_members=args.members, estimator=args.estimator)
        rows.append(score(res))
    out = {
        "estimator": args.estimator, "members": args.members, "seed": args.seed,
        "compile_s": compile_s,
        "cells_passed": sum(r["n_pass"] for r in rows), "cells_total": 8 * len(rows),
        "day7_within_15pct": sum(bool(r["day7"]["within_15pct"]) for r in rows),
        "day7_band_covers": sum(bool(r["day7"]["covered"]) for r in rows),
        "max_replay_s": max(r["elapsed_s"] for r in rows),
        "cultures": rows,
    }
    json.dump(out, sys.stdout, indent=1)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()

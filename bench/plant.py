"""Benchmark: virtual plant -> OPC UA -> ingest -> lake, in real time (speed 1).

Runs ``biotwin plant run`` with N reactors (25 tags each, ~20 online at 1 Hz) for M minutes of
plant time and ``biotwin ingest opcua`` beside it, then reports points/s, p95 source-to-lake
latency (lake commit time minus source timestamp) and loss (truth log vs lake n_points).
Tries each ``--reactors`` value in turn and reports the highest that holds p95 <= 1 s with
zero loss. Target of issue 4: 100 reactors x 20 tags at 1 Hz for 10 minutes on 2 cores.

    python bench/plant.py --reactors 10 25 50 100 --minutes 10
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.integration.helpers import free_port, lake_counts, start, stop, truth_counts, wait_port


def run_one(n: int, minutes: float, work: Path) -> dict[str, object]:
    port = free_port()
    url = f"opc.tcp://127.0.0.1:{port}"
    truth, lake = work / f"truth{n}.csv", work / f"lake{n}"
    plant = start(["plant", "run", "--endpoint", url, "--reactors", str(n), "--days", str(minutes / 1440),
                   "--speed", "1", "--sample-every", "1s", "--no-skid", "--truth", str(truth), "--linger", "10"],
                  work / f"plant{n}.log")
    wait_port(port, 300)
    ing = start(["--lake", str(lake), "ingest", "opcua", "--endpoint", url], work / f"ing{n}.log")
    t0 = time.monotonic()
    plant.wait(minutes * 60 * 3 + 300)
    stop(ing, signal.SIGTERM, 600)
    wall = time.monotonic() - t0
    m = json.loads(Path(str(work / f"ing{n}.log") + ".stdout").read_text())
    expected = sum(truth_counts(truth).values())
    got = sum(lake_counts(lake).values())
    return {"reactors": n, "minutes": minutes, "values": expected, "in_lake": got, "lost": expected - got,
            "points_per_s": expected / (minutes * 60), "latency_p50_s": m["latency_p50_s"],
            "latency_p95_s": m["latency_p95_s"], "latency_max_s": m["latency_max_s"], "wall_s": wall,
            "holds": expected == got and m["latency_p95_s"] <= 1.0}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--reactors", type=int, nargs="+", default=[10, 25, 50, 100])
    ap.add_argument("--minutes", type=float, default=10.0)
    args = ap.parse_args()
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for n in args.reactors:
            r = run_one(n, args.minutes, Path(tmp))
            results.append(r)
            print(json.dumps(r), flush=True)
    ok = [r["reactors"] for r in results if r["holds"]]
    print(json.dumps({"highest_reactors_holding": max(ok) if ok else None, "results": results}, indent=2))


if __name__ == "__main__":
    main()

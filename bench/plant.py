"""Benchmark: virtual plant -> OPC UA -> ingest -> lake, in real time (speed 1).

Runs ``biotwin plant run`` with N reactors (about 20 online tags each) publishing every
``1/rate`` s of plant time for M minutes, and ``biotwin ingest opcua`` beside it (streamed
appends with micro-batching, see ``biotwin.connect.sink``); then reports points/s,
source-to-lake latency percentiles (lake commit time minus source timestamp), loss (truth
log minus distinct keys in the lake) and duplicates (rows minus distinct keys), with the load
average. Tries each (reactors, rate) pair in turn and reports the highest point rate that
holds p95 <= 1 s with zero loss and zero duplicates. Target of issue 4: 100 reactors x 20
tags at 1 Hz for 10 minutes on 2 cores.

    python bench/plant.py --reactors 10 25 50 100 --rate-hz 1 --minutes 10

The number of tags per reactor is fixed by the virtual plant (reported as ``tags``).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.integration.helpers import free_port, lake_counts, start, stop, truth_counts, wait_port

from biotwin.lake import Lake


def _publish_lag(truth: Path) -> float:
    """Median of published_utc - time_utc in the truth log [s]: the plant's own delay."""
    import pandas as pd

    d = pd.read_csv(truth, usecols=["time_utc", "published_utc"])
    lag = (pd.to_datetime(d["published_utc"]) - pd.to_datetime(d["time_utc"])).dt.total_seconds()
    return round(float(lag.median()), 3)


def run_one(n: int, rate_hz: float, minutes: float, work: Path) -> dict[str, object]:
    """One plant + ingest run; the result as a JSON-ready dict."""
    port = free_port()
    url = f"opc.tcp://127.0.0.1:{port}"
    name = f"{n}r{rate_hz:g}hz"
    truth, lake = work / f"truth{name}.csv", work / f"lake{name}"
    load0 = os.getloadavg()
    plant = start(["plant", "run", "--endpoint", url, "--reactors", str(n), "--days", str(minutes / 1440),
                   "--speed", "1", "--sample-every", f"{1 / rate_hz:g}s", "--no-skid", "--truth", str(truth),
                   "--linger", "10"], work / f"plant{name}.log")
    wait_port(port, 300)
    ing = start(["--lake", str(lake), "ingest", "opcua", "--endpoint", url], work / f"ing{name}.log")
    t0 = time.monotonic()
    plant.wait(minutes * 60 * 3 + 300)
    load1 = os.getloadavg()
    stop(ing, signal.SIGTERM, 600)
    wall = time.monotonic() - t0
    m = json.loads(Path(str(work / f"ing{name}.log") + ".stdout").read_text())
    per_batch = truth_counts(truth)
    expected = sum(per_batch.values())
    got = sum(lake_counts(lake).values())
    row = Lake(lake).sql("SELECT count(*) AS n, count(DISTINCT (batch_id, tag, time_h)) AS d "
                         "FROM timeseries").to_pylist()[0]
    files = Lake(lake).sql("SELECT count(DISTINCT path) AS f FROM timeseries_files").to_pylist()[0]["f"]
    lost, dup = expected - int(row["d"]), int(row["n"]) - int(row["d"])
    samples = minutes * 60 * rate_hz
    return {"reactors": n, "tags": round(expected / max(n * samples, 1), 1), "rate_hz": rate_hz,
            "minutes": minutes, "values": expected, "in_lake": got, "lost": lost, "duplicated": dup,
            "points_per_s": expected / (minutes * 60), "latency_p50_s": m["latency_p50_s"],
            "latency_p95_s": m["latency_p95_s"], "latency_max_s": m["latency_max_s"],
            "receive_latency_p95_s": m.get("receive_latency_p95_s"),
            "plant_publish_lag_p50_s": _publish_lag(truth),
            "flushes": m.get("flushes"), "compactions": m.get("compactions"), "errors": m.get("errors"),
            "files_after": files, "wall_s": round(wall, 1), "loadavg_start": load0, "loadavg_end": load1,
            "cpus": os.cpu_count(),
            "holds": lost == 0 and dup == 0 and got == expected and m["latency_p95_s"] <= 1.0}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--reactors", type=int, nargs="+", default=[10, 25, 50, 100])
    ap.add_argument("--rate-hz", type=float, nargs="+", default=[1.0], help="Samples per plant second.")
    ap.add_argument("--minutes", type=float, default=10.0, help="Plant time per run [min].")
    ap.add_argument("--keep", type=Path, default=None, help="Keep the lakes and logs in this folder.")
    args = ap.parse_args()
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        work = args.keep or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        for rate in args.rate_hz:
            for n in args.reactors:
                r = run_one(n, rate, args.minutes, work)
                results.append(r)
                print(json.dumps(r), flush=True)
    ok = [r for r in results if r["holds"]]
    best = max(ok, key=lambda r: float(r["points_per_s"])) if ok else None  # type: ignore[arg-type]
    print(json.dumps({"highest_holding": best and {k: best[k] for k in ("reactors", "rate_hz", "points_per_s")},
                      "results": results}, indent=2))


if __name__ == "__main__":
    main()

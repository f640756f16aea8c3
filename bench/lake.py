"""Benchmark of the lake: bulk import speed and trajectory query latency.

Measures, in one run and on the same synthetic data (wide batch files, one per batch):

- ``import_parquet``: ``biotwin import batch *.parquet`` as a whole subprocess [points/s];
- ``import_csv_gz``: ``biotwin import batch *.csv.gz`` as a whole subprocess [points/s];
- ``pandas_read_csv_gz``: ``pandas.read_csv`` of the same CSV.gz files, the baseline
  [points/s], and each import's ratio against it;
- ``query``: one batch, one tag trajectory (``Lake.trajectory``) on a lake of
  ``--lake-points`` points [ms], median of repeated queries over random batches and tags.

Usage::

    python bench/lake.py                      # full size: 20 M points imported, 100 M lake
    python bench/lake.py --import-points 2e6 --lake-points 1e7   # small

Prints one JSON object on stdout.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

from biotwin.connect import import_batch_files  # noqa: E402
from biotwin.lake import Lake  # noqa: E402


def make_batch(n_times: int, n_tags: int, seed: int) -> pa.Table:
    """A synthetic wide batch: ``time_h`` plus ``n_tags`` sensor columns with units."""
    rng = np.random.default_rng(seed)
    t = np.arange(n_times) * (1.0 / 60.0)  # one value a minute [h]
    cols: dict[str, np.ndarray] = {"time_h": t}
    for j in range(n_tags):
        walk = 50.0 + np.cumsum(rng.normal(0.0, 0.05, n_times))
        cols[f"S{j:03d} [mg/L]"] = np.round(walk, 3)
    return pa.table(cols)


def write_sources(folder: Path, n_batches: int, n_times: int, n_tags: int, *, csv: bool) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for b in range(n_batches):
        table = make_batch(n_times, n_tags, seed=b)
        pq.write_table(table, folder / f"B{b:04d}.parquet", compression="zstd")
        if csv:
            with pa.CompressedOutputStream(str(folder / f"B{b:04d}.csv.gz"), "gzip") as out:
                pacsv.write_csv(table, out)


def run_import(lake: Path, files: list[Path]) -> float:
    """Wall time [s] of the whole `biotwin import batch` process."""
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "biotwin.cli.lake_commands", "--lake", str(lake),
                    "import", "batch", "--quiet", *map(str, files)],
                   check=True, env=env, stdout=subprocess.DEVNULL)
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--import-points", type=float, default=20e6,
                    help="points in the import benchmark (default 2e7)")
    ap.add_argument("--lake-points", type=float, default=100e6,
                    help="points in the lake the query runs on (default 1e8; 0 skips)")
    ap.add_argument("--tags", type=int, default=20, help="tags per batch")
    ap.add_argument("--times", type=int, default=50_000, help="time points per batch and tag")
    ap.add_argument("--queries", type=int, default=50)
    ap.add_argument("--workdir", type=Path, default=None)
    args = ap.parse_args()

    work = Path(args.workdir or tempfile.mkdtemp(prefix="biotwin-bench-"))
    per_batch = args.tags * args.times
    out: dict[str, object] = {"cpu_count": os.cpu_count(), "tags": args.tags,
                              "times_per_batch": args.times}
    try:
        n_imp = max(1, round(args.import_points / per_batch))
        src = work / "src"
        write_sources(src, n_imp, args.times, args.tags, csv=True)
        points = n_imp * per_batch
        pq_files = sorted(src.glob("*.parquet"))
        gz_files = sorted(src.glob("*.csv.gz"))

        t0 = time.perf_counter()
        for f in gz_files:
            pd.read_csv(f)
        t_pandas = time.perf_counter() - t0
        t_parquet = run_import(work / "lake-parquet", pq_files)
        t_csv = run_import(work / "lake-csv", gz_files)
        check = Lake(work / "lake-parquet").batches()
        assert sum(int(b["n_points"]) for b in check) == points, "import lost points"
        pandas_rate = points / t_pandas
        out["import"] = {
            "points": points, "batches": n_imp,
            "import_parquet_points_per_s": points / t_parquet,
            "import_csv_gz_points_per_s": points / t_csv,
            "pandas_read_csv_gz_points_per_s": pandas_rate,
            "ratio_parquet_vs_pandas_csv": (points / t_parquet) / pandas_rate,
            "ratio_csv_gz_vs_pandas_csv": (points / t_csv) / pandas_rate,
            "seconds": {"parquet": t_parquet, "csv_gz": t_csv, "pandas": t_pandas},
        }
        shutil.rmtree(work / "lake-csv")

        if args.lake_points > 0:
            n_lake = max(1, round(args.lake_points / per_batch))
            big_src = work / "big"
            write_sources(big_src, n_lake, args.times, args.tags, csv=False)
            lake_dir = work / "lake-big"
            t0 = time.perf_counter()
            import_batch_files(Lake(lake_dir), sorted(big_src.glob("*.parquet")))
            t_build = time.perf_counter() - t0
            shutil.rmtree(big_src)
            lake = Lake(lake_dir)
            rng = np.random.default_rng(0)
            lake.trajectory("B0000", "S000")  # warm-up: imports, file system cache
            times = []
            n_values = 0
            for _ in range(args.queries):
                b, j = int(rng.integers(n_lake)), int(rng.integers(args.tags))
                t0 = time.perf_counter()
                traj = lake.trajectory(f"B{b:04d}", f"S{j:03d}")
                times.append(time.perf_counter() - t0)
                n_values = len(traj["value"])
            env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
            t0 = time.perf_counter()
            subprocess.run([sys.executable, "-m", "biotwin.cli.lake_commands", "--lake",
                            str(lake_dir), "query", "--batch", "B0001", "--tag", "S001", "--json"],
                           check=True, env=env, stdout=subprocess.DEVNULL)
            t_cli = time.perf_counter() - t0
            out["query"] = {
                "lake_points": n_lake * per_batch, "batches": n_lake,
                "values_returned": n_values,
                "median_ms": 1e3 * float(np.median(times)),
                "p95_ms": 1e3 * float(np.percentile(times, 95)),
                "max_ms": 1e3 * float(np.max(times)),
                "cli_process_ms": 1e3 * t_cli,
                "build_points_per_s": n_lake * per_batch / t_build,
            }
    finally:
        if args.workdir is None:
            shutil.rmtree(work, ignore_errors=True)
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()

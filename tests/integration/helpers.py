"""Shared helpers of the integration tests: free ports, the CLI as a subprocess, truth logs."""

from __future__ import annotations

import csv
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

#: Runs the biotwin CLI with the plant commands registered (whether or not _register has them).
CLI = [sys.executable, "-c", "import biotwin.cli.plant_commands; from biotwin.cli import main; main()"]


def free_port() -> int:
    """A TCP port free on loopback now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start(args: list[str], log: Path) -> subprocess.Popen[bytes]:
    """Start the CLI with ``args``; stdout+stderr to ``log`` (stdout alone to log.stdout)."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen([*CLI, *args], stdout=open(str(log) + ".stdout", "wb"),
                            stderr=open(log, "wb"), env=env)


def stop(proc: subprocess.Popen[bytes], sig: int = signal.SIGTERM, timeout: float = 120) -> int:
    """Send ``sig`` and wait; SIGKILL after ``timeout``."""
    if proc.poll() is None:
        proc.send_signal(sig)
    try:
        return proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        return proc.wait(10)


def wait_port(port: int, timeout: float = 60) -> None:
    """Wait until something listens on ``port``."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.2)
    raise TimeoutError(f"nothing listens on port {port}")


def truth_counts(path: Path) -> Counter[str]:
    """Values per batch in a truth log."""
    with open(path, newline="") as fh:
        return Counter(row["batch_id"] for row in csv.DictReader(fh))


def truth_keys(path: Path) -> set[tuple[str, str, float]]:
    """(batch_id, tag, time_h) of every value in a truth log."""
    with open(path, newline="") as fh:
        return {(r["batch_id"], r["tag"], float(r["time_h"])) for r in csv.DictReader(fh)}


def lake_counts(lake: Path) -> dict[str, int]:
    """n_points per batch from ``biotwin --lake DIR batches --json``."""
    out = subprocess.run([*CLI, "--lake", str(lake), "batches", "--json"], capture_output=True, check=True,
                         timeout=120)
    return {r["batch_id"]: int(r["n_points"]) for r in json.loads(out.stdout)}

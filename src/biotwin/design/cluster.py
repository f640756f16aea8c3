"""A Dask cluster of separate processes on loopback (scheduler + workers via their CLIs).

For tests and benchmarks of ``--scheduler tcp://HOST:PORT``: the same programs a real
cluster runs (``dask scheduler`` / ``dask worker``), started as subprocesses and stopped
on exit.
"""

from __future__ import annotations

import contextlib
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

from biotwin.errors import BiotwinError


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def process_cluster(n_workers: int = 2, host: str = "127.0.0.1", nthreads: int = 1,
                    timeout_s: float = 60.0) -> Iterator[str]:
    """Start a scheduler and ``n_workers`` single-process workers; yield the scheduler address.

    Parameters
    ----------
    n_workers : int
    host : str
        Interface every process listens on.
    nthreads : int
        Threads per worker process.
    timeout_s : float
        Time allowed for the workers to register [s].
    """
    port = free_port(host)
    address = f"tcp://{host}:{port}"
    quiet: dict[str, Any] = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
    procs = [subprocess.Popen([sys.executable, "-m", "distributed.cli.dask_scheduler", "--host", host,
                               "--port", str(port), "--no-dashboard"], **quiet)]
    try:
        for _ in range(n_workers):
            procs.append(subprocess.Popen(
                [sys.executable, "-m", "distributed.cli.dask_worker", address, "--host", host,
                 "--nthreads", str(nthreads), "--no-nanny", "--no-dashboard", "--memory-limit", "0"], **quiet))
        from dask.distributed import Client

        deadline = time.monotonic() + timeout_s
        while True:
            try:
                with Client(address, timeout="5s") as client:
                    client.wait_for_workers(n_workers, timeout=max(1.0, deadline - time.monotonic()))
                break
            except (OSError, TimeoutError) as exc:
                if time.monotonic() > deadline:
                    raise BiotwinError(f"Dask cluster at {address} did not start: {exc}") from exc
                time.sleep(0.5)
        yield address
    finally:
        for p in reversed(procs):
            p.terminate()
        for p in reversed(procs):
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()

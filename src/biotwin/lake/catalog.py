"""Connections to the catalog database, and the single-writer lock.

DuckDB lets one process write a database file, or several read it, never both at once.
The lake therefore holds connections only for the few milliseconds a query or a commit
takes, and retries when another process holds the file; writers also take an exclusive
lock file for the whole import, so two imports never interleave.
"""

from __future__ import annotations

import fcntl
import os
import random
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb

from biotwin.errors import BiotwinError


class LakeBusyError(BiotwinError):
    """Another process kept the catalog or the writer lock for too long."""


def connect(path: Path, *, read_only: bool, timeout_s: float = 60.0) -> duckdb.DuckDBPyConnection:
    """Open the catalog, retrying while another process holds it.

    Parameters
    ----------
    path : pathlib.Path
        The catalog file.
    read_only : bool
        Readers open it read-only, so several can share it.
    timeout_s : float
        How long to keep retrying [s].
    """
    deadline = time.monotonic() + timeout_s
    delay = 0.005
    while True:
        try:
            con = duckdb.connect(str(path), read_only=read_only)
            break
        except (duckdb.IOException, duckdb.ConnectionException) as exc:
            text = str(exc).lower()
            if "lock" not in text and "different configuration" not in text:
                raise
            if time.monotonic() > deadline:
                raise LakeBusyError(f"catalog {path} is busy: {exc}") from exc
            time.sleep(delay * (1 + random.random()))
            delay = min(delay * 2, 0.2)
    con.execute("SET TimeZone = 'UTC'")
    return con


_shared: duckdb.DuckDBPyConnection | None = None
_shared_lock = threading.Lock()


@contextmanager
def attached(path: Path, *, timeout_s: float = 60.0) -> Iterator[duckdb.DuckDBPyConnection]:
    """The catalog attached read-only to a process-wide in-memory DuckDB, as ``cat``.

    Attaching takes about a millisecond where opening a new database takes tens, which
    keeps small queries fast; the file is detached (and its read lock dropped) on exit.
    """
    global _shared
    with _shared_lock:
        if _shared is None:
            _shared = duckdb.connect(":memory:")
            _shared.execute("SET TimeZone = 'UTC'")
        con = _shared
        deadline = time.monotonic() + timeout_s
        delay = 0.005
        quoted = "'" + str(path).replace("'", "''") + "'"
        while True:
            try:
                con.execute(f"ATTACH {quoted} AS cat (READ_ONLY)")
                break
            except (duckdb.IOException, duckdb.ConnectionException) as exc:
                if "lock" not in str(exc).lower():
                    raise
                if time.monotonic() > deadline:
                    raise LakeBusyError(f"catalog {path} is busy: {exc}") from exc
                time.sleep(delay * (1 + random.random()))
                delay = min(delay * 2, 0.2)
        try:
            con.execute("USE cat")
            yield con
        finally:
            con.execute("USE memory")
            con.execute("DETACH cat")


@contextmanager
def writer_lock(path: Path, *, timeout_s: float = 3600.0) -> Iterator[None]:
    """Hold the lake's exclusive writer lock (an ``flock`` on ``path``) inside the block.

    The operating system drops the lock when the process dies, even by ``SIGKILL``.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError as exc:
                if time.monotonic() > deadline:
                    raise LakeBusyError(f"another import holds {path}") from exc
                time.sleep(0.05)
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)

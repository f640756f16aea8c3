"""A durable store-and-forward buffer on disk (SQLite in WAL mode).

Adapters put every value they receive here first, in one transaction with the per-source
watermark (the source timestamp up to which every value is buffered: an adapter that may
have missed values stores the later ones without advancing it), and a sink forwards the buffer to the lake and
deletes what the lake committed. So a client killed at any point, or a lake that is down,
loses nothing: what was not committed to the buffer is re-read from the server's history
from the watermark on; what was buffered but not forwarded is forwarded after restart; what
was forwarded twice is dropped by the lake's natural keys (batch_id, tag, time_h).

SQLite WAL: https://www.sqlite.org/wal.html (readers and one writer, crash-safe commits).
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

_SCHEMA = """
CREATE TABLE IF NOT EXISTS points (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    source TEXT NOT NULL,        -- node id or MQTT metric key
    batch_id TEXT NOT NULL,
    unit_id TEXT,
    tag TEXT NOT NULL,
    eu TEXT,
    time_us INTEGER NOT NULL,    -- source timestamp [us since the Unix epoch]
    time_h REAL NOT NULL,        -- culture time [h]
    value REAL,
    quality INTEGER NOT NULL,
    batch_start_us INTEGER,
    received_us INTEGER NOT NULL,
    UNIQUE (batch_id, tag, time_us)
);
CREATE TABLE IF NOT EXISTS watermarks (source TEXT PRIMARY KEY, time_us INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT);
"""
_ADVANCE = ("INSERT INTO watermarks VALUES (?, ?) ON CONFLICT (source) DO UPDATE SET "
            "time_us = max(time_us, excluded.time_us)")


@dataclass(frozen=True)
class Point:
    """One buffered value (see the ``points`` table)."""

    source: str
    batch_id: str
    unit_id: str | None
    tag: str
    eu: str | None
    time_us: int
    time_h: float
    value: float
    quality: int
    batch_start_us: int | None
    received_us: int


class StoreAndForward:
    """The buffer: ``put`` from the adapter, ``peek`` / ``ack`` from the sink (thread-safe).

    Parameters
    ----------
    path : path
        SQLite file (created with its folder).
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._con = sqlite3.connect(str(self.path), check_same_thread=False, isolation_level=None)
        self._con.execute("PRAGMA journal_mode=WAL")
        self._con.execute("PRAGMA synchronous=NORMAL")
        self._con.executescript(_SCHEMA)

    def put(self, points: Iterable[Point], advance: bool = True) -> int:
        """Store points (ignoring ones buffered already) and advance the watermarks atomically.

        ``advance=False`` stores them without moving the watermarks: for values received
        after a possible gap (a lost publish, a recreated subscription, a backfill not done
        yet), so that a restart still reads the gap back from the server's history.

        Returns the number of new points.
        """
        rows = [(p.source, p.batch_id, p.unit_id, p.tag, p.eu, p.time_us, p.time_h, p.value, p.quality,
                 p.batch_start_us, p.received_us) for p in points]
        if not rows:
            return 0
        marks: dict[str, int] = {}
        for r in rows:
            marks[r[0]] = max(marks.get(r[0], r[5]), r[5])
        with self._lock:
            con = self._con
            con.execute("BEGIN IMMEDIATE")
            try:
                before = con.total_changes
                con.executemany(
                    "INSERT OR IGNORE INTO points (source, batch_id, unit_id, tag, eu, time_us, time_h, value, "
                    "quality, batch_start_us, received_us) VALUES (?,?,?,?,?,?,?,?,?,?,?)", rows)
                n = con.total_changes - before
                if advance:
                    con.executemany(_ADVANCE, list(marks.items()))
                con.execute("COMMIT")
            except BaseException:
                con.execute("ROLLBACK")
                raise
        return n

    def advance(self, marks: dict[str, int]) -> None:
        """Move watermarks forward to ``marks`` [us] (never back): everything up to them is buffered."""
        if not marks:
            return
        with self._lock:
            self._con.execute("BEGIN IMMEDIATE")
            try:
                self._con.executemany(_ADVANCE, list(marks.items()))
                self._con.execute("COMMIT")
            except BaseException:
                self._con.execute("ROLLBACK")
                raise

    def watermarks(self) -> dict[str, int]:
        """Newest source timestamp [us] buffered per source."""
        with self._lock:
            return dict(self._con.execute("SELECT source, time_us FROM watermarks").fetchall())

    def peek(self, limit: int = 200_000) -> list[tuple[int, Point]]:
        """The oldest ``limit`` points not yet acknowledged, with their sequence numbers."""
        with self._lock:
            rows = self._con.execute(
                "SELECT seq, source, batch_id, unit_id, tag, eu, time_us, time_h, value, quality, "
                "batch_start_us, received_us FROM points ORDER BY seq LIMIT ?", [limit]).fetchall()
        return [(r[0], Point(*r[1:])) for r in rows]

    def ack(self, up_to_seq: int) -> None:
        """Delete every point with ``seq <= up_to_seq`` (the lake committed them)."""
        with self._lock:
            self._con.execute("DELETE FROM points WHERE seq <= ?", [up_to_seq])

    def depth(self) -> int:
        """Number of points waiting to be forwarded."""
        with self._lock:
            return int(self._con.execute("SELECT count(*) FROM points").fetchone()[0])

    def close(self) -> None:
        """Close the database."""
        with self._lock:
            self._con.close()

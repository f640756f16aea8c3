"""Forward the store-and-forward buffer into the lake, exactly once, with metrics.

A background thread takes the buffered points in micro-batches (every ``interval_s``, or at
once when ``max_points`` are waiting), appends them to the lake in one streamed write
(:meth:`biotwin.lake.Lake.append_timeseries`: one file and one catalog transaction for all
batches, exactly once on (batch_id, tag, time_h)) and only then acknowledges them in the
buffer. Every ``compact_every_s`` it merges the streamed files into per-batch files
(:meth:`biotwin.lake.Lake.compact`). A failed write (lake down, locked, full disk) keeps the
points buffered and is retried with exponential backoff.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pyarrow as pa

from biotwin.connect.buffer import Point, StoreAndForward
from biotwin.lake import Lake
from biotwin.lake.records import TIMESERIES_SCHEMA, Batch, Bundle, Equipment, Tag

log = logging.getLogger(__name__)


def now_us() -> int:
    """Wall-clock now [us since the Unix epoch]."""
    return time.time_ns() // 1000


def to_bundle(points: list[Point], source: str, equipment: dict[str, list[Equipment]]) -> Bundle:
    """A lake bundle of buffered points: their batches (with unit and start), tags and values.

    Examples
    --------
    >>> p = Point("n", "B1", "BR01", "pH", "-", 0, 0.0, 7.0, 192, 0, 0)
    >>> b = to_bundle([p], "opc.tcp://x", {})
    >>> [x.batch_id for x in b.batches], b.timeseries.num_rows
    (['B1'], 1)
    """
    batches: dict[str, Batch] = {}
    tags: dict[str, Tag] = {}
    eq: dict[str, Equipment] = {}
    for p in points:
        if p.batch_id not in batches:
            start = (datetime.fromtimestamp(p.batch_start_us / 1e6, tz=UTC)
                     if p.batch_start_us is not None else None)
            batches[p.batch_id] = Batch(p.batch_id, unit_id=p.unit_id, start_utc=start, status="running",
                                        source=source)
            for e in equipment.get(p.unit_id or "", []):
                eq[e.equipment_id] = e
        if p.tag not in tags:
            tags[p.tag] = Tag(p.tag, p.eu)
    table = pa.table({
        "batch_id": pa.array([p.batch_id for p in points], pa.string()),
        "tag": pa.array([p.tag for p in points], pa.string()),
        "time_h": pa.array([p.time_h for p in points], pa.float64()),
        "time_utc": pa.array(np.array([p.time_us for p in points], dtype=np.int64), pa.int64()).cast(
            TIMESERIES_SCHEMA.field("time_utc").type),
        "value": pa.array([p.value for p in points], pa.float64()),
        "quality": pa.array([p.quality for p in points], pa.int16()),
    }, schema=TIMESERIES_SCHEMA)
    return Bundle(source=source, kind="timeseries", batches=list(batches.values()), tags=list(tags.values()),
                  equipment=list(eq.values()), timeseries=table)


@dataclass
class SinkMetrics:
    """Counters of a sink: points forwarded, latency samples, errors."""

    points: int = 0
    added: int = 0
    flushes: int = 0
    compactions: int = 0
    errors: int = 0
    started: float = field(default_factory=time.monotonic)
    latency_s: deque[float] = field(default_factory=lambda: deque(maxlen=2_000_000))
    #: Lake commit minus the time the client received the value [s] (the ingest's own share).
    receive_latency_s: deque[float] = field(default_factory=lambda: deque(maxlen=2_000_000))
    last_error: str | None = None

    def as_dict(self, depth: int) -> dict[str, Any]:
        """Points/s, source-to-lake latency percentiles [s], buffer depth, errors."""
        lat = np.array(self.latency_s) if self.latency_s else np.array([np.nan])
        rec = np.array(self.receive_latency_s) if self.receive_latency_s else np.array([np.nan])
        elapsed = max(time.monotonic() - self.started, 1e-9)
        return {"points": self.points, "added": self.added, "points_per_s": self.points / elapsed,
                "latency_p50_s": float(np.nanpercentile(lat, 50)),
                "latency_p95_s": float(np.nanpercentile(lat, 95)),
                "latency_max_s": float(np.nanmax(lat)),
                "receive_latency_p95_s": float(np.nanpercentile(rec, 95)),
                "buffer_depth": depth, "flushes": self.flushes,
                "compactions": self.compactions, "errors": self.errors, "last_error": self.last_error}


class LakeSink:
    """A thread that forwards ``buffer`` to ``lake``.

    Parameters
    ----------
    lake : Lake
    buffer : StoreAndForward
    source : str
        Recorded as the bundles' source (the endpoint or broker).
    interval_s : float
        Micro-batch period: at most one lake write per ``interval_s`` [s] unless
        ``max_points`` are waiting.
    max_points : int
        Largest micro-batch [points].
    compact_every_s : float or None
        Merge streamed files into per-batch files this often [s]; None: never.
    compact_batches : int
        Batches compacted per round (bounds the pause of the live writer; the batches with
        the oldest streamed data go first).
    """

    def __init__(self, lake: Lake, buffer: StoreAndForward, source: str, interval_s: float = 0.25,
                 max_points: int = 200_000, compact_every_s: float | None = 15.0,
                 compact_batches: int = 20) -> None:
        self.lake, self.buffer, self.source = lake, buffer, source
        self.interval_s, self.max_points = interval_s, max_points
        self.compact_every_s, self.compact_batches = compact_every_s, compact_batches
        self._last_compaction = time.monotonic()
        self.equipment: dict[str, list[Equipment]] = {}
        self.metrics = SinkMetrics()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def flush_once(self) -> int:
        """Forward one chunk; return the number of points forwarded (raises on lake errors)."""
        rows = self.buffer.peek(self.max_points)
        if not rows:
            return 0
        points = [p for _, p in rows]
        bundle = to_bundle(points, self.source, dict(self.equipment))
        assert bundle.timeseries is not None
        result = self.lake.append_timeseries(
            bundle.timeseries, source=self.source, batches=bundle.batches, tags=bundle.tags,
            equipment=bundle.equipment, quarantine=True, why=f"live ingest from {self.source}")
        self.buffer.ack(rows[-1][0])
        done = now_us()
        m = self.metrics
        m.points += len(points)
        m.added += result.n_points
        m.flushes += 1
        m.latency_s.extend((done - p.time_us) / 1e6 for p in points)
        m.receive_latency_s.extend((done - p.received_us) / 1e6 for p in points)
        return len(points)

    def compact_if_due(self, *, force: bool = False) -> None:
        """Compact the lake's streamed files when ``compact_every_s`` has passed."""
        if self.compact_every_s is None:
            return
        if force or time.monotonic() - self._last_compaction >= self.compact_every_s:
            self._last_compaction = time.monotonic()
            self.lake.compact(max_batches=None if force else self.compact_batches)
            self.metrics.compactions += 1

    def _run(self) -> None:
        backoff = self.interval_s
        while True:
            started = time.monotonic()
            try:
                n = self.flush_once()
                if self._stop.is_set() and n == 0:
                    self.compact_if_due(force=True)
                else:
                    self.compact_if_due()
                backoff = self.interval_s
            except Exception as exc:  # lake outage: keep the points, retry later
                self.metrics.errors += 1
                self.metrics.last_error = f"{type(exc).__name__}: {exc}"
                log.warning("lake write failed (%s); retrying in %.1f s", exc, backoff)
                if self._stop.wait(backoff):
                    return
                backoff = min(backoff * 2, 10.0)
                continue
            if self._stop.is_set() and n == 0:
                return
            if n < self.max_points and not self._stop.is_set():
                # Micro-batching: one write per interval, so each file holds more points.
                self._stop.wait(max(0.0, self.interval_s - (time.monotonic() - started)))

    def start(self) -> None:
        """Start forwarding in a background thread."""
        self._thread = threading.Thread(target=self._run, name="lake-sink", daemon=True)
        self._thread.start()

    def stop(self, timeout_s: float = 120.0) -> None:
        """Forward what is buffered, then stop."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout_s)

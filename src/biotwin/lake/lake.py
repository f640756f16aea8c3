"""The lake: a DuckDB catalog plus immutable Parquet time series, written atomically.

Layout of a lake root (a local folder or ``s3://bucket/prefix``)::

    catalog.duckdb                         the catalog (local lakes; see docs/lake.md for S3)
    timeseries/unit=<unit>/batch=<batch>/part-<sha256>.parquet
    stream/date=<YYYY-MM-DD>/part-<sha256>.parquet   streamed appends, all batches of one
                                                     write; compacted into per-batch files
    catalog/<table>.parquet                snapshots of the catalog tables, for other tools
    _tmp/                                  temp files of writes in progress

How a write stays atomic: the Parquet files are written first (temp file + rename, or one
PUT), then one catalog transaction inserts the batch, samples, events, the rows listing
the new files and their audit entries. Readers only read files listed in the committed
catalog, so a writer killed at any point leaves nothing half-visible; the files it had
renamed but not committed are orphans, deleted by the next writer. Rows are keyed by
natural keys, (batch_id, tag, time_h) for time series, so importing the same data again
adds nothing, and a different value under an existing key is refused.

Live data takes a streaming path (:meth:`Lake.append_timeseries`): one file per write for
every batch it touches (one catalog row per batch in that file), deduplicated against an
in-memory key index instead of the stored files, and later merged into per-batch files by
:meth:`Lake.compact`, which swaps the catalog rows in one transaction.
"""

from __future__ import annotations

import datetime as dt
import getpass
import hashlib
import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import numpy.typing as npt
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as pads

from biotwin import units
from biotwin.errors import BiotwinError, DataError
from biotwin.lake import audit
from biotwin.lake.catalog import attached, connect, writer_lock
from biotwin.lake.records import (
    EVENT_COLUMNS,
    SAMPLE_COLUMNS,
    TIMESERIES_SCHEMA,
    Batch,
    Bundle,
    Equipment,
    Recipe,
    Rejection,
    Tag,
)
from biotwin.lake.schema import CATALOG_TABLES, MIGRATIONS, current_version, migrate
from biotwin.lake.storage import (
    CATALOG_DIR,
    STREAM_DIR,
    TIMESERIES_DIR,
    TMP_DIR,
    Storage,
    WrittenFile,
    path_segment,
)
from biotwin.lake.stream import StreamIndex

UNASSIGNED_UNIT = "unassigned"


@dataclass
class IngestResult:
    """What one :meth:`Lake.ingest` call added (zeros when the data was already there)."""

    source: str
    batches: list[str] = field(default_factory=list)
    n_points: int = 0
    n_samples: int = 0
    n_events: int = 0
    n_rejected: int = 0
    files: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return dict(self.__dict__)


@dataclass(frozen=True)
class Unfolded:
    """Batch x time x variable array for modelling (batch-wise unfolding).

    Attributes
    ----------
    values : numpy.ndarray
        Shape ``(n_batches, n_times, n_variables)``; NaN outside a batch's measured span.
    batch_ids, variables : list of str
    time_h : numpy.ndarray
        The common culture-time grid [h], shape ``(n_times,)``.
    """

    values: npt.NDArray[np.float64]
    batch_ids: list[str]
    variables: list[str]
    time_h: npt.NDArray[np.float64]

    def batchwise(self) -> npt.NDArray[np.float64]:
        """Unfold to ``(n_batches, n_times * n_variables)``, time-major (Nomikos-MacGregor)."""
        n_b, n_t, n_v = self.values.shape
        return self.values.reshape(n_b, n_t * n_v)


class Lake:
    """A contextualised bioprocess data lake on DuckDB + Parquet.

    Parameters
    ----------
    root : str or path
        Local folder or ``s3://bucket/prefix`` (see :class:`~biotwin.lake.storage.Storage`).
    catalog : path, optional
        The catalog file; default ``<root>/catalog.duckdb`` for local lakes, and for object
        storage ``$BIOTWIN_CATALOG`` or a per-URI file under ``~/.cache/biotwin``.
    who : str, optional
        User recorded in the audit trail; default ``$BIOTWIN_USER`` or the login name.

    Examples
    --------
    >>> import tempfile
    >>> lake = Lake(tempfile.mkdtemp())
    >>> lake.batches()
    []
    """

    def __init__(
        self,
        root: str | os.PathLike[str],
        *,
        catalog: str | os.PathLike[str] | None = None,
        who: str | None = None,
    ) -> None:
        self.storage = Storage(root)
        if catalog is not None:
            self.catalog_path = Path(catalog)
        elif self.storage.is_local:
            self.catalog_path = Path(self.storage.base) / "catalog.duckdb"
        elif os.environ.get("BIOTWIN_CATALOG"):
            self.catalog_path = Path(os.environ["BIOTWIN_CATALOG"])
        else:
            key = hashlib.sha1(self.storage.uri.encode()).hexdigest()[:16]
            self.catalog_path = Path.home() / ".cache" / "biotwin" / "catalogs" / key / "catalog.duckdb"
        self.who = who or os.environ.get("BIOTWIN_USER") or _login()
        self._cleaned = False
        self._stream: StreamIndex | None = None
        self._doomed: set[str] = set()
        #: Recently committed keys the streaming index keeps (all groups together).
        self.stream_cache_keys = 2_000_000

    # ------------------------------------------------------------------ connections
    @contextmanager
    def _read(self, *, private: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
        """A read-only view of the committed catalog.

        By default the catalog is attached to a shared in-memory connection (fast);
        ``private`` opens a connection of its own (for user SQL, which may create views).
        """
        if not self.catalog_path.exists():
            con = duckdb.connect(":memory:")  # an empty lake reads as empty tables
            migrate(con)
            try:
                yield con
            finally:
                con.close()
            return
        if private:
            con = connect(self.catalog_path, read_only=True)
            try:
                self._check_version(con)
                yield con
            finally:
                con.close()
            return
        with attached(self.catalog_path) as con:
            self._check_version(con)
            yield con

    def _check_version(self, con: duckdb.DuckDBPyConnection) -> None:
        version = current_version(con)
        if version != MIGRATIONS[-1].version:
            raise BiotwinError(
                f"catalog {self.catalog_path} is at schema version {version}, this biotwin "
                f"expects {MIGRATIONS[-1].version}; run `biotwin lake migrate`"
            )

    @contextmanager
    def _write(self) -> Iterator[duckdb.DuckDBPyConnection]:
        self.catalog_path.parent.mkdir(parents=True, exist_ok=True)
        con = connect(self.catalog_path, read_only=False)
        try:
            for version in migrate(con):
                con.execute("BEGIN TRANSACTION")
                audit.record(con, who=self.who, action="migrate", entity="schema_version",
                             key=str(version), why="schema migration", new={"version": version})
                con.execute("COMMIT")
            yield con
        finally:
            con.close()

    @contextmanager
    def _writer(self) -> Iterator[None]:
        with writer_lock(self.catalog_path.with_name(self.catalog_path.name + ".lock")):
            if not self._cleaned:
                self._clean_orphans()
                self._cleaned = True
            yield

    def migrate(self) -> list[int]:
        """Bring the catalog to the current schema version; return the versions applied."""
        with self._writer(), self._write() as con:
            return [int(r[0]) for r in con.execute(
                "SELECT version FROM schema_version ORDER BY version").fetchall()]

    def _clean_orphans(self) -> None:
        """Delete temp files and time-series files no committed catalog row lists."""
        for rel in self.storage.list_files(TMP_DIR):
            self.storage.delete(rel)
        if not self.catalog_path.exists():
            committed: set[str] = set()
        else:
            with self._write() as con:
                committed = {r[0] for r in con.execute("SELECT path FROM timeseries_files").fetchall()}
        for folder in (TIMESERIES_DIR, STREAM_DIR):
            for rel in self.storage.list_files(folder):
                if rel not in committed:
                    self.storage.delete(rel)

    # ------------------------------------------------------------------ writes
    def ingest(self, bundle: Bundle, *, quarantine: bool = False, why: str | None = None) -> IngestResult:
        """Write one bundle atomically and idempotently.

        Parameters
        ----------
        bundle : Bundle
            What an importer read from one source.
        quarantine : bool
            Store the bundle's rejected rows (and rows that conflict with stored values) in
            the ``quarantine`` table instead of refusing the whole bundle.
        why : str, optional
            Reason recorded in the audit trail (default: the import and its source).

        Raises
        ------
        DataError
            On the first rejected row when not in quarantine mode; the lake is unchanged.
        """
        if bundle.rejections and not quarantine:
            r = bundle.rejections[0]
            raise DataError(r.reason, file=r.file, line=r.line, column=r.column)
        why = why or f"import {bundle.kind} {bundle.source}"
        result = IngestResult(source=bundle.source)
        rejections = list(bundle.rejections)
        with self._writer():
            with self._write() as con:
                known_batches = _batch_rows(con, [b.batch_id for b in bundle.batches])
                tag_units = dict(con.execute("SELECT tag, unit FROM tags").fetchall())
                ts_ids = _batch_ids(bundle.timeseries)
                files = con.execute(
                    "SELECT batch_id, path FROM timeseries_files WHERE batch_id IN "
                    "(SELECT unnest(?::VARCHAR[])) ORDER BY path", [ts_ids]).fetchall()
            batches = {b.batch_id: b for b in bundle.batches}
            starts = {bid: (known_batches[bid]["start_utc"] if bid in known_batches else None)
                      or (b.start_utc) for bid, b in batches.items()}
            units_of = {t.name: t.unit for t in bundle.tags}
            new_tags = [t for t in bundle.tags if t.name not in tag_units]
            samples = _contextualise_samples(bundle.samples, starts)
            written: list[tuple[str, str, Any, pa.Table]] = []
            if bundle.timeseries is not None and bundle.timeseries.num_rows:
                ts = _contextualise_timeseries(bundle.timeseries, starts, units_of, tag_units,
                                               bundle.source)
                existing: dict[str, list[str]] = {}
                for bid, rel in files:
                    existing.setdefault(bid, []).append(rel)
                ids = _batch_ids(ts)
                for bid in ids:
                    part = ts if len(ids) == 1 else ts.filter(pc.equal(ts["batch_id"], bid))
                    part, conflicts = self._new_rows(part, existing.get(bid, []), bid)
                    for tag, t, old, new in conflicts:
                        rej = Rejection(bundle.source, None, tag,
                                        f"time_h={t!r}: value {new!r} conflicts with the stored "
                                        f"value {old!r} of batch {bid!r}")
                        if not quarantine:
                            raise DataError(rej.reason, file=rej.file, column=rej.column)
                        rejections.append(rej)
                    if part.num_rows == 0:
                        continue
                    batch = batches.get(bid)
                    unit_id = (known_batches.get(bid, {}).get("unit_id")
                               or (batch.unit_id if batch else None) or UNASSIGNED_UNIT)
                    folder = (f"{TIMESERIES_DIR}/unit={path_segment(unit_id)}"
                              f"/batch={path_segment(bid)}")
                    wf = self.storage.write_parquet(part, folder)
                    written.append((bid, unit_id, wf, part))
            with self._write() as con:
                con.execute("BEGIN TRANSACTION")
                try:
                    self._commit(con, bundle, why, result, known_batches, new_tags, samples,
                                 written, rejections, quarantine)
                    con.execute("COMMIT")
                except Exception:
                    con.execute("ROLLBACK")
                    raise
        return result

    def _new_rows(
        self, part: pa.Table, paths: list[str], batch_id: str
    ) -> tuple[pa.Table, list[tuple[Any, ...]]]:
        """Rows of ``part`` (one batch) not yet stored, sorted by (tag, time_h); and conflicts."""
        part = _sorted_unique(part)
        if not paths:
            return part, []
        db = duckdb.connect()
        try:
            db.register("incoming", part)
            tags = pc.unique(part["tag"]).to_pylist()
            expr = pc.field("tag").isin(tags)
            if any(p.startswith(STREAM_DIR + "/") for p in paths):
                expr = expr & (pc.field("batch_id") == batch_id)
            if part.num_rows:
                expr = (expr & (pc.field("time_h") >= pc.min(part["time_h"]).as_py())
                        & (pc.field("time_h") <= pc.max(part["time_h"]).as_py()))
            old = self._dataset(paths).to_table(columns=["tag", "time_h", "value"], filter=expr)
            db.register("stored", old)
            conflicts = db.execute(
                "SELECT i.tag, i.time_h, s.value, i.value FROM incoming i JOIN stored s "
                "USING (tag, time_h) WHERE i.value IS DISTINCT FROM s.value ORDER BY 1, 2"
            ).fetchall()
            new = db.sql(
                "SELECT i.* FROM incoming i ANTI JOIN stored s USING (tag, time_h) "
                "ORDER BY tag, time_h").to_arrow_table()
            return new.cast(TIMESERIES_SCHEMA), conflicts
        finally:
            db.close()

    def _commit(
        self,
        con: duckdb.DuckDBPyConnection,
        bundle: Bundle,
        why: str,
        result: IngestResult,
        known_batches: dict[str, dict[str, Any]],
        new_tags: list[Tag],
        samples: pd.DataFrame | None,
        written: list[tuple[str, str, Any, pa.Table]],
        rejections: list[Rejection],
        quarantine: bool,
    ) -> None:
        rec = _Recorder(con, self.who, why)
        for eq in bundle.equipment:
            rec.insert_frame("equipment", _frame([eq]), ["equipment_id"], eq.equipment_id)
        for recipe in bundle.recipes:
            rec.insert_frame("recipes", _recipe_frame(recipe), ["recipe_id", "version"],
                             f"{recipe.recipe_id}/v{recipe.version}")
        for b in bundle.batches:
            if b.batch_id not in known_batches:
                rec.insert_frame("batches", _frame([b]), ["batch_id"], b.batch_id)
        if new_tags:
            rec.insert_frame("tags", pd.DataFrame(
                {"tag": [t.name for t in new_tags], "unit": [t.unit for t in new_tags],
                 "description": [t.description for t in new_tags],
                 "equipment_id": [t.equipment_id for t in new_tags]}), ["tag"], bundle.source)
        if samples is not None and len(samples):
            n, conflicts = rec.insert_frame(
                "samples", samples, ["batch_id", "assay", "sample_time_h"], bundle.source,
                compare=["value", "unit"])
            result.n_samples += n
            for row in conflicts:
                rej = Rejection(bundle.source, None, str(row["assay"]),
                                f"sample of batch {row['batch_id']!r} at {row['sample_time_h']!r} h "
                                f"conflicts with the stored one ({row['stored_value']!r} "
                                f"{row['stored_unit']})")
                if not quarantine:
                    raise DataError(rej.reason, file=rej.file, column=rej.column)
                rejections.append(rej)
        if bundle.events is not None and len(bundle.events):
            n, _ = rec.insert_frame("events", bundle.events[EVENT_COLUMNS],
                                    ["batch_id", "kind", "name", "time_h"], bundle.source)
            result.n_events += n
        for bid, unit_id, wf, part in written:
            tags = pc.unique(part["tag"]).to_pylist()
            t = part["time_h"]
            row = {"path": wf.path, "batch_id": bid, "unit_id": unit_id, "n_rows": part.num_rows,
                   "tags": sorted(tags), "time_h_min": pc.min(t).as_py(),
                   "time_h_max": pc.max(t).as_py(), "sha256": wf.sha256,
                   "size_bytes": wf.size_bytes}
            exists = con.execute("SELECT count(*) FROM timeseries_files WHERE path = ?",
                                 [wf.path]).fetchall()
            if exists[0][0]:
                continue
            con.execute(
                "INSERT INTO timeseries_files VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, now())",
                list(row.values()))
            audit.record(con, who=self.who, action="insert", entity="timeseries_files",
                         key=wf.path, why=why, new=row)
            result.n_points += part.num_rows
            result.files.append(wf.path)
        if quarantine and rejections:
            frame = pd.DataFrame({
                "file": [r.file for r in rejections], "line": [r.line for r in rejections],
                "column_name": [r.column for r in rejections],
                "reason": [r.reason for r in rejections], "raw": [r.raw for r in rejections],
                "batch_id": [bundle.batches[0].batch_id if bundle.batches else None] * len(rejections),
            })
            n, _ = rec.insert_frame("quarantine", frame, ["file", "line", "column_name", "reason"],
                                    bundle.source, stamp=True)
            result.n_rejected += len(rejections)
        touched = {b for b, *_ in written}
        if samples is not None and result.n_samples:
            touched |= set(samples["batch_id"])
        result.batches = sorted(touched | {b.batch_id for b in bundle.batches})

    # ------------------------------------------------------------------ streaming writes
    def append_timeseries(
        self,
        timeseries: pa.Table,
        *,
        source: str,
        batches: Sequence[Batch] = (),
        tags: Sequence[Tag] = (),
        equipment: Sequence[Equipment] = (),
        quarantine: bool = True,
        why: str | None = None,
    ) -> IngestResult:
        """Append live time series: one file and one catalog transaction per call.

        The streaming counterpart of :meth:`ingest` for small, frequent writes (a live
        ingest's micro-batches). Values are deduplicated on (batch_id, tag, time_h) against
        an in-memory index of recently committed keys (:mod:`biotwin.lake.stream`), falling
        back to the stored files only for values at or below what the index covers (late or
        re-forwarded data). The new rows of every batch go into ONE Parquet file under
        ``stream/date=YYYY-MM-DD/``, listed in the catalog with one row per batch, and the
        write leaves one audit row (plus one per new batch, tag set or equipment set).
        :meth:`compact` later merges these files into per-batch files.

        Parameters
        ----------
        timeseries : pyarrow.Table
            Long table with :data:`~biotwin.lake.records.TIMESERIES_SCHEMA`.
        source : str
            Where the values come from (recorded with rejections and in the audit trail).
        batches, tags, equipment : sequences
            Context of the values; only what the catalog lacks is inserted.
        quarantine : bool
            Store values that conflict with stored ones in ``quarantine`` (default) instead
            of refusing the whole write.
        why : str, optional
            Reason recorded in the audit trail.

        Returns
        -------
        IngestResult
            ``n_points`` counts only the values added.

        Examples
        --------
        >>> import tempfile
        >>> from biotwin.lake.records import TIMESERIES_SCHEMA
        >>> lake = Lake(tempfile.mkdtemp())
        >>> ts = pa.table({"batch_id": ["B1"] * 2, "tag": ["pH"] * 2, "time_h": [0.0, 0.1],
        ...                "time_utc": [None, None], "value": [7.0, 7.1], "quality": [192, 192]},
        ...               schema=TIMESERIES_SCHEMA)
        >>> lake.append_timeseries(ts, source="demo", batches=[Batch("B1")]).n_points
        2
        >>> lake.append_timeseries(ts, source="demo").n_points
        0
        """
        why = why or f"live ingest from {source}"
        result = IngestResult(source=source)
        with self._writer(), self._write() as con:
            idx = self._stream_index(con)
            ids = _batch_ids(timeseries)
            self._load_stream_batches(con, idx, [*ids, *(b.batch_id for b in batches)])
            new_batches = [b for b in {b.batch_id: b for b in batches}.values()
                           if b.batch_id not in idx.batches]
            new_eq = [e for e in {e.equipment_id: e for e in equipment}.values()
                      if e.equipment_id not in idx.equipment]
            units_of = {t.name: t.unit for t in tags}
            new_tags = [t for t in {t.name: t for t in tags}.values() if t.name not in idx.tag_units]
            starts = {b.batch_id: b.start_utc for b in new_batches}
            starts.update({bid: row.get("start_utc") for bid, row in idx.batches.items()})
            rejections: list[Rejection] = []
            new = TIMESERIES_SCHEMA.empty_table()
            gid = np.empty(0, dtype=np.int64)
            if timeseries.num_rows:
                ts = _contextualise_timeseries(timeseries, starts, units_of, idx.tag_units, source)
                ts = ts.sort_by([("batch_id", "ascending"), ("tag", "ascending"),
                                 ("time_h", "ascending")])
                g = idx.groups(ts["batch_id"].to_numpy(zero_copy_only=False),
                               ts["tag"].to_numpy(zero_copy_only=False))
                t = ts["time_h"].to_numpy()
                v = ts["value"].to_numpy(zero_copy_only=False).astype(float)
                dup = np.flatnonzero((g[1:] == g[:-1]) & (t[1:] == t[:-1]))
                if len(dup):
                    tag = str(ts["tag"][int(dup[0])])
                    raise DataError(f"duplicated time {float(t[dup[0]])!r} h for tag {tag!r}",
                                    column=tag)
                fresh, conflict, unknown, stored = idx.classify(g, t, v)
                conflicts = [(str(ts["batch_id"][i]), str(ts["tag"][i]), float(t[i]),
                              float(stored[i]), float(v[i])) for i in np.flatnonzero(conflict)]
                if unknown.any():
                    # Late or re-forwarded values: check them against the stored files once.
                    checked, more = self._check_stored(con, ts.filter(pa.array(unknown)))
                    fresh[np.flatnonzero(unknown)] = checked
                    conflicts.extend(more)
                for bid, tag, th, old, val in conflicts:
                    rej = Rejection(source, None, tag,
                                    f"time_h={th!r}: value {val!r} conflicts with the stored "
                                    f"value {old!r} of batch {bid!r}")
                    if not quarantine:
                        raise DataError(rej.reason, file=rej.file, column=rej.column)
                    rejections.append(rej)
                new = ts.filter(pa.array(fresh))
                gid = g[fresh]
            wf: WrittenFile | None = None
            if new.num_rows:
                day = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d")
                wf = self.storage.write_parquet(new, f"{STREAM_DIR}/date={day}")
            con.execute("BEGIN TRANSACTION")
            try:
                rec = _Recorder(con, self.who, why)
                if new_eq:
                    rec.insert_frame("equipment", _frame(new_eq), ["equipment_id"], source)
                if new_batches:
                    rec.insert_frame("batches", _frame(new_batches), ["batch_id"], source)
                if new_tags:
                    rec.insert_frame("tags", pd.DataFrame(
                        {"tag": [t.name for t in new_tags], "unit": [t.unit for t in new_tags],
                         "description": [t.description for t in new_tags],
                         "equipment_id": [t.equipment_id for t in new_tags]}), ["tag"], source)
                if wf is not None:
                    agg = new.group_by("batch_id").aggregate(
                        [("time_h", "count"), ("tag", "distinct"), ("time_h", "min"),
                         ("time_h", "max")]).sort_by("batch_id")
                    per = [(r["batch_id"], r["time_h_count"], sorted(r["tag_distinct"]),
                            r["time_h_min"], r["time_h_max"]) for r in agg.to_pylist()]
                    units_known = {b.batch_id: b.unit_id for b in new_batches}
                    units_known.update({k: r.get("unit_id") for k, r in idx.batches.items()})
                    frame = pd.DataFrame({
                        "path": wf.path, "batch_id": [r[0] for r in per],
                        "unit_id": [units_known.get(r[0]) or UNASSIGNED_UNIT for r in per],
                        "n_rows": [r[1] for r in per], "tags": [r[2] for r in per],
                        "time_h_min": [r[3] for r in per], "time_h_max": [r[4] for r in per],
                        "sha256": wf.sha256, "size_bytes": wf.size_bytes})
                    con.register("_files", frame)
                    con.execute("INSERT INTO timeseries_files SELECT *, now() FROM _files")
                    con.unregister("_files")
                    audit.record(con, who=self.who, action="insert", entity="timeseries_files",
                                 key=wf.path, why=why,
                                 new={"path": wf.path, "sha256": wf.sha256, "rows": new.num_rows,
                                      "batches": {r[0]: r[1] for r in per}})
                    result.n_points, result.files = new.num_rows, [wf.path]
                    result.batches = [r[0] for r in per]
                if rejections:
                    frame = pd.DataFrame({
                        "file": [r.file for r in rejections], "line": [r.line for r in rejections],
                        "column_name": [r.column for r in rejections],
                        "reason": [r.reason for r in rejections],
                        "raw": [r.raw for r in rejections], "batch_id": [None] * len(rejections)})
                    rec.insert_frame("quarantine", frame, ["file", "line", "column_name", "reason"],
                                     source, stamp=True)
                    result.n_rejected = len(rejections)
                seq = _last_seq(con)
                con.execute("COMMIT")
            except BaseException:
                con.execute("ROLLBACK")
                self._stream = None
                raise
        # The catalog now holds what the index is told: only update it after the commit.
        idx.seq = seq
        for b in new_batches:
            idx.batches[b.batch_id] = {"unit_id": b.unit_id, "start_utc": b.start_utc}
        idx.tag_units.update({t.name: t.unit for t in new_tags})
        idx.equipment.update(e.equipment_id for e in new_eq)
        idx.add(gid, new["time_h"].to_numpy(),
                new["value"].to_numpy(zero_copy_only=False).astype(float), self.stream_cache_keys)
        result.batches = sorted(set(result.batches) | {b.batch_id for b in batches})
        return result

    def _stream_index(self, con: duckdb.DuckDBPyConnection) -> StreamIndex:
        """The streaming key index, rebuilt when another writer committed since our last write."""
        seq = _last_seq(con)
        idx = self._stream
        if idx is None or idx.seq != seq:
            idx = StreamIndex(seq)
            idx.tag_units = dict(con.execute("SELECT tag, unit FROM tags").fetchall())
            idx.equipment = {r[0] for r in con.execute("SELECT equipment_id FROM equipment").fetchall()}
            self._stream = idx
        return idx

    @staticmethod
    def _load_stream_batches(con: duckdb.DuckDBPyConnection, idx: StreamIndex, ids: list[str]) -> None:
        """Read the catalog rows and time-series floors of batches the index has not seen."""
        todo = sorted({b for b in ids if b not in idx.floors})
        if not todo:
            return
        for bid, row in _batch_rows(con, todo).items():
            idx.batches[bid] = {"unit_id": row["unit_id"], "start_utc": row["start_utc"]}
        floors = dict(con.execute(
            "SELECT batch_id, max(time_h_max) FROM timeseries_files WHERE batch_id IN "
            "(SELECT unnest(?::VARCHAR[])) GROUP BY batch_id", [todo]).fetchall())
        for bid in todo:
            f = floors.get(bid)
            idx.floors[bid] = -np.inf if f is None else float(f)

    def _check_stored(
        self, con: duckdb.DuckDBPyConnection, part: pa.Table
    ) -> tuple[npt.NDArray[np.bool_], list[tuple[Any, ...]]]:
        """Which rows of ``part`` (sorted by batch, tag, time) are not stored; their conflicts."""
        fresh = np.zeros(part.num_rows, dtype=bool)
        conflicts: list[tuple[Any, ...]] = []
        for bid, lo, hi in _runs(part["batch_id"]):
            sub = part.slice(lo, hi - lo)
            tmin, tmax = pc.min(sub["time_h"]).as_py(), pc.max(sub["time_h"]).as_py()
            paths = [r[0] for r in con.execute(
                "SELECT path FROM timeseries_files WHERE batch_id = ? AND time_h_max >= ? "
                "AND time_h_min <= ? ORDER BY path", [bid, tmin, tmax]).fetchall()]
            kept, found = self._new_rows(sub, paths, bid)
            conflicts.extend((bid, *c) for c in found)
            keys = set(zip(kept["tag"].to_pylist(), kept["time_h"].to_pylist(), strict=True))
            fresh[lo:hi] = [k in keys for k in zip(sub["tag"].to_pylist(), sub["time_h"].to_pylist(),
                                                    strict=True)]
        return fresh, conflicts

    def compact(self, *, small_bytes: int = 16 << 20, max_batches: int | None = None) -> dict[str, Any]:
        """Merge each batch's streamed and small files into one per-batch file, atomically.

        For every batch that has rows in ``stream/`` files, or several files under
        ``small_bytes``, its rows from those files are read, sorted by (tag, time_h) and
        written as one file under ``timeseries/unit=<unit>/batch=<batch>/``; then one catalog
        transaction replaces the old file rows of those batches by the new ones, with one
        audit row per batch (old and new files). Readers see either the old files or the new
        one, never both or neither, so counts and queries do not change. Files no batch lists
        any more are deleted at the next compaction (a reader may still be reading them) or
        by the next writer process.

        Parameters
        ----------
        small_bytes : int
            Per-batch files below this size [bytes] are merged too.
        max_batches : int, optional
            Compact at most this many batches (bounds the pause of a live writer).

        Returns
        -------
        dict
            ``{"batches": n, "files_replaced": n, "rows": n, "deleted": n}``.
        """
        out = {"batches": 0, "files_replaced": 0, "rows": 0, "deleted": 0}
        with self._writer():
            for rel in sorted(self._doomed):
                self.storage.delete(rel)
            out["deleted"], self._doomed = len(self._doomed), set()
            if not self.catalog_path.exists():
                return out
            with self._write() as con:
                cand = con.execute(
                    f"""
                    WITH f AS (SELECT *, starts_with(path, '{STREAM_DIR}/') AS streamed
                               FROM timeseries_files),
                         small AS (SELECT * FROM f WHERE streamed OR size_bytes < ?),
                         pick AS (SELECT batch_id FROM small GROUP BY batch_id
                                  HAVING bool_or(streamed) OR count(*) > 1
                                  ORDER BY min(created_utc), batch_id
                                  {'LIMIT ' + str(int(max_batches)) if max_batches else ''})
                    SELECT s.batch_id, s.unit_id, s.path, s.n_rows FROM small s
                    JOIN pick USING (batch_id) ORDER BY s.batch_id, s.path
                    """, [small_bytes]).fetchall()
                if not cand:
                    return out
                by_batch: dict[str, list[tuple[str, str, int]]] = {}
                for bid, unit_id, path, n in cand:
                    by_batch.setdefault(bid, []).append((unit_id, path, n))
                paths = sorted({r[2] for r in cand})
                data = self._listed_rows([(r[2], r[0]) for r in cand]).sort_by(
                    [("batch_id", "ascending"), ("tag", "ascending"), ("time_h", "ascending")])
                written = []
                for bid, lo, hi in _runs(data["batch_id"]):
                    part = data.slice(lo, hi - lo)
                    old = by_batch[bid]
                    if part.num_rows != sum(n for _, _, n in old):
                        raise BiotwinError(f"compaction of batch {bid!r}: the files hold "
                                           f"{part.num_rows} rows, the catalog lists "
                                           f"{sum(n for _, _, n in old)}")
                    unit_id = old[0][0]
                    folder = (f"{TIMESERIES_DIR}/unit={path_segment(unit_id)}"
                              f"/batch={path_segment(bid)}")
                    written.append((bid, unit_id, self.storage.write_parquet(part, folder), part))
                con.execute("BEGIN TRANSACTION")
                try:
                    for bid, unit_id, wf, part in written:
                        old_paths = [p for _, p, _ in by_batch[bid]]
                        con.execute("DELETE FROM timeseries_files WHERE batch_id = ? AND path IN "
                                    "(SELECT unnest(?::VARCHAR[]))", [bid, old_paths])
                        t = part["time_h"]
                        row = {"path": wf.path, "batch_id": bid, "unit_id": unit_id,
                               "n_rows": part.num_rows,
                               "tags": sorted(pc.unique(part["tag"]).to_pylist()),
                               "time_h_min": pc.min(t).as_py(), "time_h_max": pc.max(t).as_py(),
                               "sha256": wf.sha256, "size_bytes": wf.size_bytes}
                        con.execute("INSERT INTO timeseries_files VALUES "
                                    "(?, ?, ?, ?, ?, ?, ?, ?, ?, now())", list(row.values()))
                        audit.record(con, who=self.who, action="update", entity="timeseries_files",
                                     key=bid, why="compaction of streamed and small files",
                                     old={"files": old_paths, "rows": part.num_rows}, new=row)
                        out["batches"] += 1
                        out["files_replaced"] += len(old_paths)
                        out["rows"] += part.num_rows
                    listed = {r[0] for r in con.execute(
                        "SELECT DISTINCT path FROM timeseries_files").fetchall()}
                    seq = _last_seq(con)
                    con.execute("COMMIT")
                except BaseException:
                    con.execute("ROLLBACK")
                    raise
            self._doomed = set(paths) - listed
            if self._stream is not None:
                self._stream.seq = seq  # keys are unchanged: the index stays valid
        return out

    def update_batch(self, batch_id: str, *, why: str, **fields: Any) -> None:
        """Change fields of a batch (status, end_utc, ...), recording old and new values."""
        allowed = {"product", "recipe_id", "unit_id", "start_utc", "end_utc", "status"}
        bad = set(fields) - allowed
        if bad:
            raise BiotwinError(f"cannot update batch field(s) {sorted(bad)}; allowed {sorted(allowed)}")
        with self._writer(), self._write() as con:
            old = _batch_rows(con, [batch_id]).get(batch_id)
            if old is None:
                raise DataError(f"unknown batch {batch_id!r}")
            con.execute("BEGIN TRANSACTION")
            try:
                sets = ", ".join(f"{k} = ?" for k in fields)
                con.execute(f"UPDATE batches SET {sets} WHERE batch_id = ?", [*fields.values(), batch_id])
                audit.record(con, who=self.who, action="update", entity="batches", key=batch_id,
                             why=why, old={k: old[k] for k in fields}, new=fields)
                con.execute("COMMIT")
            except Exception:
                con.execute("ROLLBACK")
                raise

    def add_records(self, table: str, frame: pd.DataFrame, *, why: str) -> int:
        """Insert rows into ``predictions``, ``alarms``, ``phases`` or ``events`` (idempotent).

        Returns the number of rows added; rows whose natural key is stored already are skipped.
        """
        keys = {
            "predictions": ["model_id", "model_version", "batch_id", "target", "time_h"],
            "alarms": ["batch_id", "tag", "time_h"],
            "phases": ["batch_id", "phase", "start_h"],
            "events": ["batch_id", "kind", "name", "time_h"],
        }
        if table not in keys:
            raise BiotwinError(f"add_records writes one of {sorted(keys)}, not {table!r}")
        with self._writer(), self._write() as con:
            con.execute("BEGIN TRANSACTION")
            try:
                n, _ = _Recorder(con, self.who, why).insert_frame(
                    table, frame, keys[table], table, stamp=table == "predictions")
                con.execute("COMMIT")
            except Exception:
                con.execute("ROLLBACK")
                raise
        return n

    def publish(self) -> list[str]:
        """Write Parquet snapshots of the catalog tables under ``catalog/`` (for other tools)."""
        out = []
        with self._read() as con:
            tables = {t: con.sql(f"SELECT * FROM {t}").to_arrow_table() for t in CATALOG_TABLES}
        for name, table in tables.items():
            rel = f"{CATALOG_DIR}/{name}.parquet"
            self.storage.write_table(table, rel)
            out.append(rel)
        return out

    # ------------------------------------------------------------------ reads
    def batches(self) -> list[dict[str, Any]]:
        """Every batch with its context and counts, ordered by batch id.

        Keys: ``batch_id, product, recipe_id, unit_id, status, start, end`` (ISO UTC or
        None), ``start_h, end_h`` (culture-time span of its data [h]), ``n_points``
        (time-series values stored), ``n_samples``, ``n_events``, ``tags``, ``source``.
        """
        with self._read() as con:
            rows = con.execute(
                """
                WITH ts AS (SELECT batch_id, sum(n_rows) AS n, min(time_h_min) AS t0,
                                   max(time_h_max) AS t1, list_sort(list_distinct(flatten(list(tags)))) AS tags
                            FROM timeseries_files GROUP BY batch_id),
                     s AS (SELECT batch_id, count(*) AS n, min(sample_time_h) AS t0,
                                  max(sample_time_h) AS t1 FROM samples GROUP BY batch_id),
                     e AS (SELECT batch_id, count(*) AS n FROM events GROUP BY batch_id)
                SELECT b.batch_id, b.product, b.recipe_id, b.unit_id, b.status,
                       strftime(b.start_utc, '%Y-%m-%dT%H:%M:%S.%fZ'),
                       strftime(b.end_utc, '%Y-%m-%dT%H:%M:%S.%fZ'),
                       least(ts.t0, s.t0), greatest(ts.t1, s.t1),
                       coalesce(ts.n, 0), coalesce(s.n, 0), coalesce(e.n, 0),
                       coalesce(ts.tags, []), b.source
                FROM batches b LEFT JOIN ts USING (batch_id) LEFT JOIN s USING (batch_id)
                LEFT JOIN e USING (batch_id) ORDER BY b.batch_id
                """
            ).fetchall()
        keys = ("batch_id", "product", "recipe_id", "unit_id", "status", "start", "end",
                "start_h", "end_h", "n_points", "n_samples", "n_events", "tags", "source")
        return [dict(zip(keys, r, strict=True)) for r in rows]

    def trajectory(
        self,
        batch_id: str,
        tag: str,
        *,
        every_h: float | None = None,
        start_h: float | None = None,
        end_h: float | None = None,
    ) -> dict[str, npt.NDArray[np.float64]]:
        """One tag of one batch on culture time, optionally resampled.

        Falls back to the batch's offline samples of assay ``tag`` when no time series of
        that name exists.

        Parameters
        ----------
        every_h : float, optional
            Resample to bins of this width [h] (mean of each bin, labelled by its start).
        start_h, end_h : float, optional
            Culture-time window [h], inclusive.

        Returns
        -------
        dict
            ``{"time_h": array [h], "value": array [tag unit]}``, sorted by time.
        """
        with self._read() as con:
            paths = [r[0] for r in con.execute(
                "SELECT path FROM timeseries_files WHERE batch_id = ? AND list_contains(tags, ?) "
                "ORDER BY path", [batch_id, tag]).fetchall()]
            if not paths:
                known = con.execute("SELECT count(*) FROM batches WHERE batch_id = ?",
                                    [batch_id]).fetchall()
                if not known[0][0]:
                    raise DataError(f"unknown batch {batch_id!r}")
                rows = con.execute(
                    "SELECT sample_time_h, value FROM samples WHERE batch_id = ? AND assay = ? "
                    "ORDER BY sample_time_h", [batch_id, tag]).fetchall()
                if not rows:
                    raise DataError(f"batch {batch_id!r} has no tag or assay {tag!r}")
                t = np.array([r[0] for r in rows], dtype=float)
                v = np.array([r[1] for r in rows], dtype=float)
        if paths:
            expr = pc.field("tag") == tag
            if any(p.startswith(STREAM_DIR + "/") for p in paths):
                expr = expr & (pc.field("batch_id") == batch_id)
            if start_h is not None:
                expr = expr & (pc.field("time_h") >= start_h)
            if end_h is not None:
                expr = expr & (pc.field("time_h") <= end_h)
            table = self._dataset(paths).to_table(columns=["time_h", "value"], filter=expr)
            t = table["time_h"].to_numpy()
            v = table["value"].to_numpy()
            if len(paths) > 1:
                order = np.argsort(t, kind="stable")
                t, v = t[order], v[order]
        else:
            keep = np.ones(len(t), dtype=bool)
            if start_h is not None:
                keep &= t >= start_h
            if end_h is not None:
                keep &= t <= end_h
            t, v = t[keep], v[keep]
        if every_h is not None:
            t, v = resample(t, v, every_h)
        return {"time_h": t, "value": v}

    def batch_frame(self, batch_id: str, *, every_h: float | None = None) -> pd.DataFrame:
        """One batch as a generic wide frame, as the soft sensors and the monitor read batch files.

        ``time_h`` [h] first, then a column per tag and per assay of the batch, named with its
        unit (``pH [-]``, ``mAb [mg/L]``; an assay named like a tag gets ``(assay)`` after its
        name), on the union of their times: online values where they were logged, each assay at
        its sample time, missing elsewhere.

        Parameters
        ----------
        batch_id : str
        every_h : float, optional
            Resample each tag to bins of this width [h] first (:func:`resample`): tags logged
            at their own times (OPC UA, MQTT) then share rows. Assays are never resampled.

        Returns
        -------
        DataFrame, shape (n_times, 1 + n_tags + n_assays)
        """
        with self._read() as con:
            if not con.execute("SELECT count(*) FROM batches WHERE batch_id = ?", [batch_id]).fetchall()[0][0]:
                raise DataError(f"unknown batch {batch_id!r}")
            paths = [r[0] for r in con.execute(
                "SELECT path FROM timeseries_files WHERE batch_id = ? ORDER BY path", [batch_id]).fetchall()]
            tag_units = {str(t): u for t, u in con.execute("SELECT tag, unit FROM tags").fetchall()}
            samples = con.execute("SELECT assay, sample_time_h, value, unit FROM samples WHERE batch_id = ? "
                                  "ORDER BY assay, sample_time_h", [batch_id]).fetchdf()
        columns: dict[str, pd.Series] = {}
        if paths:
            long = self._dataset(paths).to_table(columns=["tag", "time_h", "value"],
                                                 filter=pc.field("batch_id") == batch_id).to_pandas()
            for tag, g in long.groupby("tag", sort=True):
                t, v = g["time_h"].to_numpy(float), g["value"].to_numpy(float)
                order = np.argsort(t, kind="stable")
                t, v = t[order], v[order]
                if every_h is not None:
                    t, v = resample(t, v, every_h)
                columns[_wide_name(str(tag), tag_units.get(str(tag)))] = pd.Series(v, index=t).groupby(level=0).last()
        for assay, g in samples.groupby("assay", sort=True):
            unit = next((u for u in g["unit"] if isinstance(u, str) and u), None)
            name = _wide_name(str(assay), unit)
            if name in columns:
                name = _wide_name(f"{assay} (assay)", unit)
            columns[name] = pd.Series(g["value"].to_numpy(float),
                                      index=g["sample_time_h"].to_numpy(float)).groupby(level=0).last()
        if not columns:
            raise DataError(f"batch {batch_id!r} has no time series and no samples")
        frame = pd.concat(columns, axis=1).sort_index()
        frame.index.name = "time_h"
        return frame.reset_index()

    def unfold(
        self,
        variables: Sequence[str],
        time_h: npt.ArrayLike,
        *,
        batch_ids: Sequence[str] | None = None,
    ) -> Unfolded:
        """Batch x time x variable array on a common culture-time grid.

        Each batch's tag (or assay) is linearly interpolated onto ``time_h`` [h] within its
        measured span and NaN outside it, so no value is extrapolated.
        """
        grid = np.asarray(time_h, dtype=float)
        ids = list(batch_ids) if batch_ids is not None else [b["batch_id"] for b in self.batches()]
        out = np.full((len(ids), len(grid), len(variables)), np.nan)
        for i, bid in enumerate(ids):
            for j, var in enumerate(variables):
                try:
                    traj = self.trajectory(bid, var)
                except DataError:
                    continue
                t, v = traj["time_h"], traj["value"]
                if len(t) == 0:
                    continue
                inside = (grid >= t[0]) & (grid <= t[-1])
                out[i, inside, j] = np.interp(grid[inside], t, v)
        return Unfolded(out, ids, list(variables), grid)

    def samples(self, batch_id: str | None = None, assay: str | None = None) -> pd.DataFrame:
        """Offline samples (columns as in :data:`~biotwin.lake.records.SAMPLE_COLUMNS`)."""
        return self._select("samples", SAMPLE_COLUMNS, {"batch_id": batch_id, "assay": assay},
                            "batch_id, assay, sample_time_h")

    def events(self, batch_id: str | None = None, kind: str | None = None) -> pd.DataFrame:
        """Events (columns as in :data:`~biotwin.lake.records.EVENT_COLUMNS`)."""
        return self._select("events", EVENT_COLUMNS, {"batch_id": batch_id, "kind": kind},
                            "batch_id, time_h, kind, name")

    def tags(self) -> pd.DataFrame:
        """Tags with their unit of measure."""
        return self._select("tags", ["tag", "unit", "description", "equipment_id"], {}, "tag")

    def quarantine(self) -> pd.DataFrame:
        """Rows refused by imports in quarantine mode, with their reasons."""
        return self._select("quarantine", ["file", "line", "column_name", "reason", "raw",
                                           "batch_id"], {}, "file, line")

    def _select(self, table: str, columns: list[str], where: dict[str, Any], order: str) -> pd.DataFrame:
        conds = [(k, v) for k, v in where.items() if v is not None]
        sql = f"SELECT {', '.join(columns)} FROM {table}"
        if conds:
            sql += " WHERE " + " AND ".join(f"{k} = ?" for k, _ in conds)
        with self._read() as con:
            return con.execute(sql + f" ORDER BY {order}", [v for _, v in conds]).df()

    def sql(self, query: str) -> pa.Table:
        """Run read-only SQL over the catalog tables and a ``timeseries`` view of all data."""
        with self._read(private=True) as con:
            paths = [r[0] for r in con.execute(
                "SELECT DISTINCT path FROM timeseries_files ORDER BY path").fetchall()]
            shared = [(p, b) for p, b in con.execute(
                "SELECT path, batch_id FROM timeseries_files WHERE starts_with(path, ?) "
                "ORDER BY path, batch_id", [STREAM_DIR + "/"]).fetchall()]
            if shared:
                # A streamed file holds several batches, and after a partial compaction only
                # some of them are still listed: read exactly the listed (file, batch) rows.
                whole = [p for p in paths if not p.startswith(STREAM_DIR + "/")]
                parts = [self._listed_rows(shared)]
                if whole:
                    parts.append(self._dataset(whole).to_table())
                con.register("timeseries", pa.concat_tables(parts))
            elif paths and self.storage.is_local:
                files = ", ".join(_quote(self.storage.full(p)) for p in paths)
                con.execute(f"CREATE TEMP VIEW timeseries AS SELECT * FROM read_parquet([{files}])")
            else:
                data = self._dataset(paths) if paths else TIMESERIES_SCHEMA.empty_table()
                con.register("timeseries", data)
            try:
                return con.sql(query).to_arrow_table()
            except duckdb.Error as exc:
                raise BiotwinError(f"SQL error: {exc}") from exc

    def verify_audit(self, *, check_files: bool = False) -> audit.AuditVerification:
        """Verify the audit hash chain and, optionally, every Parquet file's SHA-256."""
        with self._read() as con:
            result = audit.verify(con)
            files = con.execute(
                "SELECT DISTINCT path, sha256 FROM timeseries_files ORDER BY path").fetchall()
        if result.ok and check_files:
            for rel, sha in files:
                if self.storage.sha256(rel) != sha:
                    return audit.AuditVerification(False, result.n_rows, None,
                                                   f"file {rel} does not match its recorded SHA-256")
        return result

    def _listed_rows(self, pairs: list[tuple[str, str]]) -> pa.Table:
        """The rows of each listed (file, batch) pair: a file's other batches are left out."""
        by_path: dict[str, list[str]] = {}
        for path, bid in pairs:
            by_path.setdefault(path, []).append(bid)
        tables = [self._dataset([p]).to_table(filter=pc.field("batch_id").isin(b))
                  for p, b in sorted(by_path.items())]
        return pa.concat_tables(tables) if tables else TIMESERIES_SCHEMA.empty_table()

    def _dataset(self, paths: list[str]) -> pads.Dataset:
        return pads.dataset([self.storage.full(p) for p in paths], schema=TIMESERIES_SCHEMA,
                            format="parquet", filesystem=self.storage.fs)


# ---------------------------------------------------------------------- helpers
def _wide_name(name: str, unit: str | None) -> str:
    """A column name of a wide batch file: ``name [unit]``, or the name alone without a unit."""
    return f"{name} [{unit}]" if unit else name


def resample(
    t: npt.NDArray[np.float64], v: npt.NDArray[np.float64], every_h: float
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Mean of ``v`` in bins of width ``every_h`` [h]; bins labelled by their start [h].

    Examples
    --------
    >>> resample(np.array([0.0, 0.5, 1.0, 1.5]), np.array([1.0, 3.0, 5.0, 7.0]), 1.0)
    (array([0., 1.]), array([2., 6.]))
    """
    if not every_h > 0:
        raise BiotwinError(f"resampling interval must be > 0 h, got {every_h!r}")
    if len(t) == 0:
        return t, v
    bins = np.floor(t / every_h)
    keys, start = np.unique(bins, return_index=True)
    sums = np.add.reduceat(v, start)
    counts = np.diff(np.append(start, len(v)))
    return keys * every_h, sums / counts


class _Recorder:
    """Idempotent frame inserts that write their own audit rows."""

    def __init__(self, con: duckdb.DuckDBPyConnection, who: str, why: str) -> None:
        self.con, self.who, self.why = con, who, why

    def insert_frame(
        self,
        table: str,
        frame: pd.DataFrame,
        key: list[str],
        audit_key: str,
        *,
        compare: list[str] | None = None,
        stamp: bool = False,
    ) -> tuple[int, list[dict[str, Any]]]:
        con = self.con
        cols = list(frame.columns)
        con.register("_incoming", frame)
        try:
            join = " AND ".join(f"t.{k} IS NOT DISTINCT FROM i.{k}" for k in key)
            conflicts: list[dict[str, Any]] = []
            if compare:
                diff = " OR ".join(f"i.{c} IS DISTINCT FROM t.{c}" for c in compare)
                extra = ", ".join(f"t.{c} AS stored_{c}" for c in compare)
                rel = con.execute(f"SELECT i.*, {extra} FROM _incoming i JOIN {table} t ON {join} "
                                  f"WHERE {diff}")
                names = [d[0] for d in rel.description]
                conflicts = [dict(zip(names, r, strict=True)) for r in rel.fetchall()]
            new = con.execute(
                f"SELECT DISTINCT ON ({', '.join(key)}) * FROM _incoming i WHERE NOT EXISTS "
                f"(SELECT 1 FROM {table} t WHERE {join}) ORDER BY {', '.join(key)}").fetchall()
            if new:
                stamp_col = ", created_utc" if stamp else ""
                stamp_val = ", now()" if stamp else ""
                con.execute(
                    f"INSERT INTO {table} ({', '.join(cols)}{stamp_col}) "
                    f"SELECT DISTINCT ON ({', '.join(key)}) {', '.join(cols)}{stamp_val} "
                    f"FROM _incoming i WHERE NOT EXISTS (SELECT 1 FROM {table} t WHERE {join}) "
                    f"ORDER BY {', '.join(key)}")
                audit.record(con, who=self.who, action="insert", entity=table, key=audit_key,
                             why=self.why, new={"rows": len(new), "digest": audit.digest_rows(new)})
        finally:
            con.unregister("_incoming")
        return len(new), conflicts


def _batch_rows(con: duckdb.DuckDBPyConnection, ids: list[str]) -> dict[str, dict[str, Any]]:
    rel = con.execute("SELECT * FROM batches WHERE batch_id IN (SELECT unnest(?::VARCHAR[]))", [ids])
    names = [d[0] for d in rel.description]
    return {r[0]: dict(zip(names, r, strict=True)) for r in rel.fetchall()}


def _last_seq(con: duckdb.DuckDBPyConnection) -> int:
    row = con.execute("SELECT max(seq) FROM audit").fetchall()
    return int(row[0][0]) if row[0][0] is not None else 0


def _runs(column: pa.ChunkedArray | pa.Array) -> list[tuple[str, int, int]]:
    """(value, start, end) of each run of equal values in a sorted string column."""
    values = column.to_numpy(zero_copy_only=False) if len(column) else np.empty(0, dtype=object)
    if not len(values):
        return []
    edges = np.flatnonzero(values[1:] != values[:-1]) + 1
    starts = np.concatenate([[0], edges])
    ends = np.concatenate([edges, [len(values)]])
    return [(str(values[a]), int(a), int(b)) for a, b in zip(starts, ends, strict=True)]


def _batch_ids(table: pa.Table | None) -> list[str]:
    if table is None or table.num_rows == 0:
        return []
    return sorted(pc.unique(table["batch_id"]).to_pylist())


def _contextualise_timeseries(
    ts: pa.Table,
    starts: dict[str, Any],
    units_of: dict[str, str | None],
    tag_units: dict[str, str | None],
    source: str,
) -> pa.Table:
    """Fill culture time from the batch start and convert values to each tag's stored unit."""
    ts = ts.cast(TIMESERIES_SCHEMA)
    time_h = ts["time_h"].to_numpy()
    if np.isnan(time_h).any():
        time_h = time_h.copy()
        utc = ts["time_utc"].cast(pa.int64()).to_numpy(zero_copy_only=False)
        bids = ts["batch_id"].to_numpy(zero_copy_only=False)
        for bid in np.unique(bids):
            start = starts.get(bid)
            if start is None:
                raise DataError(f"batch {bid!r} has neither culture time nor a start time",
                                file=source)
            mask = (bids == bid) & np.isnan(time_h)
            t0 = pd.Timestamp(start).tz_convert("UTC").value / 1000.0  # [us]
            time_h[mask] = (utc[mask] - t0) / 3.6e9
        ts = ts.set_column(2, "time_h", pa.array(time_h))
    converted = []
    for tag, unit in units_of.items():
        stored = tag_units.get(tag)
        if tag in tag_units and stored != unit:
            if stored is None or unit is None:
                raise DataError(f"tag {tag!r} is stored in {stored!r}, the file gives {unit!r}",
                                file=source, line=1, column=tag)
            try:
                units.convert(1.0, unit, stored)
            except units.UnitError as exc:
                raise DataError(f"tag {tag!r} is stored in {stored!r}; cannot convert from "
                                f"{unit!r}", file=source, line=1, column=tag) from exc
            converted.append((tag, unit, stored))
    if converted:
        value = ts["value"].to_numpy().copy()
        tags = ts["tag"].to_numpy(zero_copy_only=False)
        for tag, unit, stored in converted:
            mask = tags == tag
            value[mask] = units.convert(value[mask], str(unit), str(stored))
        ts = ts.set_column(4, "value", pa.array(value))
    return ts


def _contextualise_samples(samples: pd.DataFrame | None, starts: dict[str, Any]) -> pd.DataFrame | None:
    if samples is None or not len(samples):
        return samples
    samples = samples[SAMPLE_COLUMNS].copy()
    missing = samples["sample_time_h"].isna()
    if missing.any():
        t0 = samples["batch_id"].map(lambda b: pd.Timestamp(starts[b]) if starts.get(b) else pd.NaT)
        hours = (pd.to_datetime(samples["sample_time_utc"], utc=True) - pd.to_datetime(t0, utc=True))
        samples.loc[missing, "sample_time_h"] = hours[missing].dt.total_seconds() / 3600.0
    return samples


def _sorted_unique(table: pa.Table) -> pa.Table:
    """Sort by (tag, time_h) unless already sorted; refuse a duplicated (tag, time_h) key."""
    if table.num_rows < 2:
        return table
    enc = pc.dictionary_encode(table["tag"]).combine_chunks()
    names = enc.dictionary.to_numpy(zero_copy_only=False)
    rank = np.empty(len(names), dtype=np.int64)
    rank[np.argsort(names, kind="stable")] = np.arange(len(names))
    r = rank[enc.indices.to_numpy()]
    t = table["time_h"].to_numpy()
    ordered = (r[1:] > r[:-1]) | ((r[1:] == r[:-1]) & (t[1:] > t[:-1]))
    if not ordered.all():
        order = np.lexsort((t, r))
        table, r, t = table.take(pa.array(order)), r[order], t[order]
        dup = (r[1:] == r[:-1]) & (t[1:] == t[:-1])
        if dup.any():
            i = int(np.flatnonzero(dup)[0])
            tag = str(table["tag"][i])
            raise DataError(f"duplicated time {float(t[i])!r} h for tag {tag!r}", column=tag)
    return table


def _frame(records: Sequence[Batch | Equipment]) -> pd.DataFrame:
    return pd.DataFrame([r.__dict__ for r in records])


def _recipe_frame(recipe: Recipe) -> pd.DataFrame:
    import json

    return pd.DataFrame([{"recipe_id": recipe.recipe_id, "version": recipe.version,
                          "name": recipe.name, "product": recipe.product,
                          "body": json.dumps(recipe.body, sort_keys=True)}])


def _quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _login() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # pragma: no cover - no passwd entry in some containers
        return "unknown"

"""Live ingestion from an OPC UA server into the lake, losing nothing.

:class:`OpcUaIngest` connects (reconnecting with exponential backoff), finds its variables
(a YAML tag map, or every variable of every unit under Objects: a unit is an object with a
``BatchID`` variable, ISA-88 batch context), subscribes to them with deep monitored-item
queues, and after every (re)connect backfills from each variable's watermark with
HistoryRead (OPC UA Part 11, ReadRawModifiedDetails), so gaps from a client crash or a server
restart are closed.

The watermark only moves while delivery is known to be gap-free: from the end of a session's
backfill until anything that can drop notifications happens (the client library recreating a
subscription it thinks stale, a connection-state change, a status-change notification). Then
the session ends, values received meanwhile are buffered without moving the watermark, and
the next session reads the gap back from history.

Values go to a durable :class:`~biotwin.connect.buffer.StoreAndForward` first, and a
:class:`~biotwin.connect.sink.LakeSink` forwards them exactly once.

Tag map (``--tags``)::

    units:
      BR01: {batch_node: "ns=2;s=Site1.Upstream.BR01.BatchID", kind: bioreactor, area: Upstream, site: Site1}
    tags:
      - {node: "ns=2;s=Site1.Upstream.BR01.pH", tag: pH, unit: BR01, eu: "-"}
"""

from __future__ import annotations

import asyncio
import logging
import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml
from asyncua import Client, ua
from asyncua.observer import Observer, SubscriptionEvent

from biotwin.connect.buffer import Point, StoreAndForward
from biotwin.connect.sink import LakeSink, now_us
from biotwin.errors import DataError
from biotwin.lake import Lake
from biotwin.lake.records import QUALITY_BAD, QUALITY_GOOD, QUALITY_UNCERTAIN, Equipment

log = logging.getLogger(__name__)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
CONTEXT_NAMES = ("BatchID", "Phase", "EquipmentKind")


def to_us(ts: datetime) -> int:
    """Microseconds since the Unix epoch of a (naive = UTC) datetime."""
    if ts.tzinfo is None:
        ts = ts.replace(tzinfo=UTC)
    return (ts - _EPOCH) // timedelta(microseconds=1)


def quality_of(code: ua.StatusCode) -> int:
    """OPC UA status code to OPC DA quality (192 good, 64 uncertain, 0 bad)."""
    if code.is_good():
        return QUALITY_GOOD
    if code.is_uncertain():
        return QUALITY_UNCERTAIN
    return QUALITY_BAD


@dataclass
class TagBinding:
    """A subscribed variable: node id, lake tag, unit and unit of measure."""

    node: str
    tag: str
    unit: str
    eu: str | None = None


@dataclass
class UnitBinding:
    """A unit's batch context node and its place in the ISA-95 hierarchy."""

    unit: str
    batch_node: str
    kind: str | None = None
    area: str | None = None
    site: str | None = None
    batch_id: str | None = None
    batch_start_us: int | None = None


def load_tag_map(path: str | Path) -> tuple[dict[str, UnitBinding], list[TagBinding]]:
    """Read a YAML tag map (see the module docstring)."""
    data = yaml.safe_load(Path(path).read_text()) or {}
    try:
        units = {u: UnitBinding(u, str(d["batch_node"]), d.get("kind"), d.get("area"), d.get("site"))
                 for u, d in (data.get("units") or {}).items()}
        tags = [TagBinding(str(t["node"]), str(t["tag"]), str(t["unit"]), t.get("eu")) for t in data["tags"]]
    except (KeyError, TypeError) as exc:
        raise DataError(f"tag map: missing or bad field {exc}; expected units: {{U: {{batch_node: ...}}}} and "
                        "tags: [{node, tag, unit}]", file=str(path)) from exc
    missing = {t.unit for t in tags} - set(units)
    if missing:
        raise DataError(f"tag map: tags name unit(s) {sorted(missing)} that have no batch_node", file=str(path))
    return units, tags


async def discover(client: Client) -> tuple[dict[str, UnitBinding], list[TagBinding]]:
    """Every numeric variable of every unit (object with a ``BatchID`` child) under Objects."""
    units: dict[str, UnitBinding] = {}
    tags: list[TagBinding] = []

    async def walk(node: Any, path: list[str]) -> None:
        children = await node.get_children(refs=ua.ObjectIds.HierarchicalReferences)
        names = {}
        classes = {}
        for ch in children:
            if ch.nodeid.NamespaceIndex == 0:
                continue
            names[ch] = (await ch.read_browse_name()).Name
            classes[ch] = await ch.read_node_class()
        by_name = {n: c for c, n in names.items()}
        if "BatchID" in by_name and classes[by_name["BatchID"]] == ua.NodeClass.Variable:
            uid = path[-1]
            kind = None
            if "EquipmentKind" in by_name:
                kind = str(await by_name["EquipmentKind"].read_value())
            units[uid] = UnitBinding(uid, by_name["BatchID"].nodeid.to_string(), kind,
                                     path[-2] if len(path) > 1 else None, path[0] if len(path) > 2 else None)
            for ch, name in names.items():
                if classes[ch] != ua.NodeClass.Variable or name in CONTEXT_NAMES:
                    continue
                dtype = await ch.read_data_type()
                if dtype.NamespaceIndex != 0 or dtype.Identifier not in (
                        ua.ObjectIds.Double, ua.ObjectIds.Float, ua.ObjectIds.Int32, ua.ObjectIds.Int64,
                        ua.ObjectIds.UInt32, ua.ObjectIds.Int16, ua.ObjectIds.UInt16):
                    continue
                eu = None
                try:
                    info = await (await ch.get_child("0:EngineeringUnits")).read_value()
                    eu = info.DisplayName.Text
                except Exception:  # no EngineeringUnits property
                    eu = None
                tags.append(TagBinding(ch.nodeid.to_string(), name, uid, eu))
            return
        for ch, name in names.items():
            if classes[ch] == ua.NodeClass.Object:
                await walk(ch, [*path, name])

    await walk(client.nodes.objects, [])
    return units, tags


class _Handler:
    def __init__(self, ingest: OpcUaIngest) -> None:
        self.ingest = ingest

    def datachange_notification(self, node: Any, val: Any, data: Any) -> None:
        self.ingest._on_value(node.nodeid.to_string(), data.monitored_item.Value)

    def status_change_notification(self, status: Any) -> None:
        self.ingest._gap("status change notification")


class _Watch(Observer):
    """Client-library events after which notifications may be missing."""

    def __init__(self, ingest: OpcUaIngest) -> None:
        self.ingest = ingest
        self.sub: Any = None
        self.seq: int | None = None

    def on_notification(self, subscription_id: int | None, event_count: int) -> None:
        # Data messages are numbered 1, 2, 3 ... per subscription: a jump is a lost message.
        seq = getattr(self.sub, "last_sequence_number", None)
        if seq is None or self.sub is None or subscription_id != self.sub.subscription_id:
            return
        if self.seq is not None and seq > self.seq + 1:  # a repeated number loses nothing
            self.ingest._gap(f"notification {self.seq + 1} missing (got {seq})")
        self.seq = seq if self.seq is None else max(seq, self.seq)

    def on_state_change(self, state: Any) -> None:
        if getattr(state, "name", "") != "CONNECTED":
            self.ingest._gap(f"client state {state}")

    def on_subscription_event(self, subscription_id: int | None, event: SubscriptionEvent) -> None:
        if event == SubscriptionEvent.RECREATED:
            self.ingest._gap(f"subscription {subscription_id} recreated")


class OpcUaIngest:
    """Subscribe to an OPC UA server and ingest into a lake (see the module docstring).

    Parameters
    ----------
    endpoint : str
    lake : Lake
    buffer_path : path
        SQLite store-and-forward file (default ``<lake>/_ingest/opcua-<host_port>.sqlite``).
    tags_file : path, optional
        YAML tag map; default: discover every variable of every unit.
    user, password : str, optional
        User name login.
    security : str, optional
        asyncua security string, e.g. ``Basic256Sha256,SignAndEncrypt,cert.der,key.pem``.
    """

    def __init__(self, endpoint: str, lake: Lake, buffer_path: str | Path, tags_file: str | Path | None = None,
                 user: str | None = None, password: str | None = None, security: str | None = None,
                 publish_ms: float = 100.0) -> None:
        self.endpoint, self.lake = endpoint, lake
        self.buffer = StoreAndForward(buffer_path)
        self.sink = LakeSink(lake, self.buffer, endpoint)
        self.tags_file = tags_file
        self.user, self.password, self.security = user, password, security
        self.publish_ms = publish_ms
        self.units: dict[str, UnitBinding] = {}
        self.tags: dict[str, TagBinding] = {}
        self.batch_nodes: dict[str, str] = {}
        self._pending: list[Point] = []
        self._lost = False
        #: While True, buffered values do not move the watermarks (see the module docstring).
        self._gapped = True
        self._marks: dict[str, int] = {}
        self.gaps = 0
        self._watch: _Watch | None = None
        self.reconnects = 0
        self.backfilled = 0

    # ------------------------------------------------------------------ values
    def _on_value(self, node: str, dv: ua.DataValue) -> None:
        if node in self.batch_nodes:
            u = self.units[self.batch_nodes[node]]
            if dv.Value is not None and dv.Value.Value:
                u.batch_id = str(dv.Value.Value)
                if dv.SourceTimestamp is not None:
                    u.batch_start_us = to_us(dv.SourceTimestamp)
            return
        b = self.tags.get(node)
        if b is None or dv.SourceTimestamp is None or dv.Value is None or dv.Value.Value is None:
            return
        if dv.StatusCode is not None and dv.StatusCode.value == ua.StatusCodes.BadWaitingForInitialData:
            return
        u = self.units[b.unit]
        if u.batch_id is None or u.batch_start_us is None:
            return
        try:
            value = float(dv.Value.Value)
        except (TypeError, ValueError):
            return
        if not math.isfinite(value):
            return
        t_us = to_us(dv.SourceTimestamp)
        self._pending.append(Point(node, u.batch_id, u.unit, b.tag, b.eu, t_us,
                                   (t_us - u.batch_start_us) / 3.6e9, value,
                                   quality_of(dv.StatusCode or ua.StatusCode(0)), u.batch_start_us, now_us()))

    def _commit_pending(self) -> None:
        if self._pending:
            points, self._pending = self._pending, []
            marks = self._marks
            for p in points:
                if p.time_us > marks.get(p.source, -1):
                    marks[p.source] = p.time_us
            self.buffer.put(points, advance=not self._gapped)

    def _gap(self, why: str) -> None:
        """Notifications may be missing from now on: keep the watermarks, end the session."""
        if not self._gapped:
            self._commit_pending()  # received before the gap: contiguous
            self._gapped = True
            self.gaps += 1
            log.warning("possible gap in the notifications (%s); will backfill from the watermarks", why)
        self._lost = True

    # ------------------------------------------------------------------ session
    def _client(self) -> Client:
        # A 5 s health probe (the default, 1 s, declares a busy server dead)
        client = Client(self.endpoint, timeout=5, watchdog_intervall=5.0)
        self._watch = _Watch(self)
        client.uaclient.observer = self._watch
        if self.user:
            client.set_user(self.user)
        if self.password:
            client.set_password(self.password)
        return client

    async def _session(self, stop: asyncio.Event) -> None:
        client = self._client()
        if self.security:
            await client.set_security_string(self.security)
        async with client:
            if self.tags_file:
                units, tags = load_tag_map(self.tags_file)
            else:
                units, tags = await discover(client)
            if not self.units:
                self.units = units
            else:
                for k, v in units.items():
                    self.units.setdefault(k, v)
            self.tags = {t.node: t for t in tags}
            self.batch_nodes = {u.batch_node: uid for uid, u in self.units.items()}
            self._equipment()
            for node in self.batch_nodes:
                dv = await client.get_node(node).read_data_value()
                self._on_value(node, dv)
            self._lost = False
            self._gapped = True  # until the backfill is done
            # Keep-alive every 50 publishing intervals (5 s): the client library recreates a
            # subscription silent for 1.5 keep-alives, and a recreated subscription loses
            # what was published meanwhile; with values once a second, 10 (1 s) is too short.
            sub = await client.create_subscription(
                ua.CreateSubscriptionParameters(RequestedPublishingInterval=self.publish_ms,
                                                RequestedLifetimeCount=600, RequestedMaxKeepAliveCount=50,
                                                MaxNotificationsPerPublish=0, Priority=0, PublishingEnabled=True),
                _Handler(self))
            assert self._watch is not None  # set when the session starts, above
            self._watch.sub = sub
            nodes = [client.get_node(n) for n in [*self.batch_nodes, *self.tags]]
            for i in range(0, len(nodes), 500):
                # StatusValueTimestamp: a repeated value with a new source time is a new sample
                await sub._subscribe(nodes[i:i + 500], ua.AttributeIds.Value, mfilter=ua.DataChangeFilter(
                    Trigger=ua.DataChangeTrigger.StatusValueTimestamp), queuesize=100_000, sampling_interval=0)
            await self._backfill(client)
            if not self._lost:
                # Everything up to each mark is buffered now: history up to the HistoryRead,
                # live values from the subscription (created before it) on.
                self._commit_pending()
                self._gapped = False
                self.buffer.advance(self._marks)
            log.info("ingesting %d variables of %d units from %s", len(self.tags), len(self.units), self.endpoint)
            status = client.get_node(ua.NodeId(ua.ObjectIds.Server_ServerStatus_State))
            n = 0
            while not stop.is_set():
                self._commit_pending()
                try:
                    await asyncio.wait_for(stop.wait(), 0.05)
                except TimeoutError:
                    pass
                n += 1
                if n % 20 == 0 or self._lost:
                    await asyncio.wait_for(status.read_value(), 5)
                    if self._lost:
                        raise ConnectionError("subscription lost")
            self._commit_pending()
            self._gapped = True  # a stop is no gap; what follows is not watched
            try:
                await asyncio.wait_for(sub.delete(), 2)
            except Exception:  # the server may be gone; nothing to clean up then
                pass

    async def _backfill(self, client: Client) -> None:
        """HistoryRead every variable from its watermark (or from the beginning)."""
        marks = self.buffer.watermarks()
        sem = asyncio.Semaphore(16)

        async def one(node: str) -> None:
            async with sem:
                start = (datetime.fromtimestamp(marks[node] / 1e6, tz=UTC)
                         if node in marks else None)
                try:
                    values = await client.get_node(node).read_raw_history(starttime=start, endtime=None)
                except ua.UaStatusCodeError as exc:
                    log.warning("HistoryRead %s: %s", node, exc)
                    return
                before = len(self._pending)
                for dv in values:
                    self._on_value(node, dv)
                self.backfilled += len(self._pending) - before
                self._commit_pending()

        await asyncio.gather(*(one(n) for n in self.tags))

    def _equipment(self) -> None:
        for uid, u in self.units.items():
            eq = []
            if u.site:
                eq.append(Equipment(u.site, "site", None, None, u.site))
            if u.area:
                aid = f"{u.site}.{u.area}" if u.site else u.area
                eq.append(Equipment(aid, "area", None, u.site, u.area))
            kind = u.kind if u.kind in ("bioreactor", "chromatography_skid", "filtration", "sensor") else "other"
            parent = (f"{u.site}.{u.area}" if u.site else u.area) if u.area else None
            eq.append(Equipment(uid, "unit", kind, parent, uid))
            self.sink.equipment[uid] = eq

    async def run(self, stop: asyncio.Event) -> None:
        """Ingest until ``stop`` is set; reconnect with backoff; flush the buffer at the end."""
        self.sink.start()
        backoff = 0.5
        try:
            while not stop.is_set():
                try:
                    await self._session(stop)
                    backoff = 0.5
                except (asyncio.CancelledError, KeyboardInterrupt):
                    raise
                except Exception as exc:
                    self._commit_pending()
                    self.reconnects += 1
                    log.warning("OPC UA session to %s ended (%s: %s); reconnecting in %.1f s",
                                self.endpoint, type(exc).__name__, exc, backoff)
                    try:
                        await asyncio.wait_for(stop.wait(), backoff)
                    except TimeoutError:
                        pass
                    backoff = min(backoff * 2, 5.0)
        finally:
            self._commit_pending()
            await asyncio.to_thread(self.sink.stop)

    def metrics(self) -> dict[str, Any]:
        """Points/s, latency, buffer depth, reconnects and backfilled values."""
        return {**self.sink.metrics.as_dict(self.buffer.depth()), "reconnects": self.reconnects,
                "backfilled": self.backfilled, "gaps": self.gaps, "variables": len(self.tags)}

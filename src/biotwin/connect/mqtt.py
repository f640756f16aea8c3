"""MQTT / Sparkplug B: the plant publishes, the ingest subscribes (paho-mqtt >= 2).

Payloads are encoded and decoded with pysparkplug (Sparkplug B 3.0, Eclipse Foundation);
they travel through paho-mqtt 2 directly, because pysparkplug's own client does not run on
paho 2. Topic namespace ``spBv1.0/<group>/<type>/<edge node>/<device>``: the plant is edge
node ``plant`` of group ``biotwin``, each unit a device. DBIRTH carries the batch context
(``BatchID`` with the batch start as its timestamp, ``EquipmentKind``) and ``<tag>/EU``
strings; DDATA carries every published value with its source timestamp [ms], with
``include_dtypes`` so a decoder needs no birth certificate.

The ingest subscribes with QoS 1 on a persistent session (clean_session false), so the
broker queues what arrives while it is down; values go through the same store-and-forward
buffer and lake sink as OPC UA (exactly once on the lake's natural keys).
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from typing import Any

import paho.mqtt.client as mqtt
import pysparkplug as sp

from biotwin.connect.buffer import Point, StoreAndForward
from biotwin.connect.sink import LakeSink, now_us
from biotwin.lake import Lake
from biotwin.lake.records import Equipment

log = logging.getLogger(__name__)
GROUP, EDGE = "biotwin", "plant"


def _host_port(broker: str) -> tuple[str, int]:
    host, _, port = broker.rpartition(":")
    return (host or "127.0.0.1"), int(port or 1883)


def _ms(dt: Any) -> int:
    return round(dt.timestamp() * 1000)


class SparkplugPublisher:
    """Publish the plant as a Sparkplug B edge node (one device per unit)."""

    def __init__(self, broker: str, units: dict[str, Any], specs: list[Any], group: str = GROUP,
                 qos: int = 1) -> None:
        self.host, self.port = _host_port(broker)
        self.units, self.specs, self.group, self.qos = units, specs, group, qos
        self.seq = 0
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"{EDGE}-{id(self)}")
        death = sp.NDeath(timestamp=sp.get_current_timestamp(), bd_seq_metric=sp.Metric(
            timestamp=None, name="bdSeq", datatype=sp.DataType.INT64, value=0)).encode(include_dtypes=True)
        self.client.will_set(str(sp.Topic(group_id=group, message_type=sp.MessageType.NDEATH, edge_node_id=EDGE)),
                             death, qos=1)
        self.client.max_queued_messages_set(0)

    def _topic(self, kind: sp.MessageType, device: str | None = None) -> str:
        return str(sp.Topic(group_id=self.group, message_type=kind, edge_node_id=EDGE, device_id=device))

    def _next_seq(self) -> int:
        s = self.seq
        self.seq = (self.seq + 1) % 256
        return s

    def start(self) -> None:
        """Connect (in paho's network thread) and publish the birth certificates."""
        self.client.connect(self.host, self.port, keepalive=30)
        self.client.loop_start()
        now = sp.get_current_timestamp()
        nbirth = sp.NBirth(timestamp=now, seq=self._next_seq(), metrics=[
            sp.Metric(timestamp=now, name="bdSeq", datatype=sp.DataType.INT64, value=0)])
        self.client.publish(self._topic(sp.MessageType.NBIRTH), nbirth.encode(include_dtypes=True), qos=self.qos)
        for uid in self.units:
            self.birth(uid)

    def birth(self, uid: str) -> None:
        """Publish the DBIRTH of unit ``uid`` (batch context and engineering units)."""
        info = self.units[uid]
        now = sp.get_current_timestamp()
        metrics = [sp.Metric(timestamp=_ms(info.start_utc), name="BatchID", datatype=sp.DataType.STRING,
                             value=info.batch_id),
                   sp.Metric(timestamp=now, name="EquipmentKind", datatype=sp.DataType.STRING, value=info.kind),
                   sp.Metric(timestamp=now, name="Area", datatype=sp.DataType.STRING, value=info.area)]
        metrics += [sp.Metric(timestamp=now, name=f"{s.name}/EU", datatype=sp.DataType.STRING, value=s.eu)
                    for s in self.specs if s.unit_id == uid]
        msg = sp.DBirth(timestamp=now, seq=self._next_seq(), metrics=metrics)
        self.client.publish(self._topic(sp.MessageType.DBIRTH, uid), msg.encode(include_dtypes=True), qos=self.qos)

    def publish(self, readings: list[tuple[str, Any]], plant: Any) -> None:
        """Publish one step's readings as one DDATA per unit."""
        by_unit: dict[str, list[sp.Metric]] = {}
        for uid, rd in readings:
            by_unit.setdefault(uid, []).append(sp.Metric(
                timestamp=_ms(plant.time_utc(rd.t_h)), name=rd.tag, datatype=sp.DataType.DOUBLE,
                value=float(rd.value)))
        now = sp.get_current_timestamp()
        for uid, metrics in by_unit.items():
            msg = sp.DData(timestamp=now, seq=self._next_seq(), metrics=metrics)
            self.client.publish(self._topic(sp.MessageType.DDATA, uid), msg.encode(include_dtypes=True),
                                qos=self.qos)

    def stop(self) -> None:
        """Wait (up to 30 s) for queued messages to leave, then disconnect."""
        end = time.monotonic() + 30
        while self.client.want_write() and time.monotonic() < end:
            time.sleep(0.05)
        time.sleep(0.5)
        self.client.disconnect()
        self.client.loop_stop()


class MqttIngest:
    """Subscribe to Sparkplug B on a broker and ingest into the lake (see module docstring)."""

    def __init__(self, broker: str, lake: Lake, buffer_path: Any, group: str = "+",
                 client_id: str = "biotwin-ingest") -> None:
        self.host, self.port = _host_port(broker)
        self.buffer = StoreAndForward(buffer_path)
        self.sink = LakeSink(lake, self.buffer, f"mqtt://{broker}")
        self.group = group
        self.context: dict[str, dict[str, Any]] = {}  # device -> BatchID, start_us, eu, ...
        self._pending: list[Point] = []
        self._lock = threading.Lock()
        self.messages = 0
        self.reconnects = 0
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=False)
        self.client.on_connect = self._on_connect
        self.client.on_message = self._on_message
        self.client.on_disconnect = self._on_disconnect
        self.client.reconnect_delay_set(0.5, 10)

    def _on_connect(self, client: mqtt.Client, userdata: Any, flags: Any, rc: Any, props: Any = None) -> None:
        client.subscribe(f"spBv1.0/{self.group}/#", qos=1)

    def _on_disconnect(self, *args: Any) -> None:
        self.reconnects += 1

    def _on_message(self, client: mqtt.Client, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        try:
            topic = sp.Topic.from_str(msg.topic)
        except Exception:
            return
        kind = topic.message_type
        if kind not in (sp.MessageType.DBIRTH, sp.MessageType.DDATA) or topic.device_id is None:
            return
        cls = sp.DBirth if kind == sp.MessageType.DBIRTH else sp.DData
        try:
            payload = cls.decode(msg.payload)
        except Exception as exc:
            log.warning("undecodable %s: %s", msg.topic, exc)
            return
        self.messages += 1
        dev = topic.device_id
        ctx = self.context.setdefault(dev, {"eu": {}})
        points = []
        for m in payload.metrics:
            if m.name == "BatchID":
                ctx["batch_id"], ctx["start_us"] = str(m.value), int(m.timestamp) * 1000
            elif m.name == "EquipmentKind":
                ctx["kind"] = str(m.value)
            elif m.name == "Area":
                ctx["area"] = str(m.value)
            elif m.name and m.name.endswith("/EU"):
                ctx["eu"][m.name[:-3]] = str(m.value)
            elif kind == sp.MessageType.DDATA and isinstance(m.value, int | float) and "batch_id" in ctx:
                t_us = int(m.timestamp) * 1000
                points.append(Point(f"{dev}/{m.name}", ctx["batch_id"], dev, str(m.name), ctx["eu"].get(m.name),
                                    t_us, (t_us - ctx["start_us"]) / 3.6e9, float(m.value), 192, ctx["start_us"],
                                    now_us()))
        if kind == sp.MessageType.DBIRTH:
            kind_name = ctx.get("kind") if ctx.get("kind") in ("bioreactor", "chromatography_skid") else "other"
            self.sink.equipment[dev] = [Equipment(dev, "unit", kind_name, None, dev)]
        if points:
            with self._lock:
                self._pending += points

    def _commit(self) -> None:
        with self._lock:
            points, self._pending = self._pending, []
        if points:
            self.buffer.put(points)

    async def run(self, stop: asyncio.Event) -> None:
        """Ingest until ``stop`` is set, then flush the buffer into the lake."""
        self.sink.start()
        self.client.connect_async(self.host, self.port, keepalive=30)
        self.client.loop_start()
        try:
            while not stop.is_set():
                self._commit()
                try:
                    await asyncio.wait_for(stop.wait(), 0.1)
                except TimeoutError:
                    pass
        finally:
            self.client.disconnect()
            self.client.loop_stop()
            self._commit()
            await asyncio.to_thread(self.sink.stop)

    def metrics(self) -> dict[str, Any]:
        """Points/s, latency, buffer depth, messages."""
        return {**self.sink.metrics.as_dict(self.buffer.depth()), "messages": self.messages,
                "reconnects": self.reconnects}

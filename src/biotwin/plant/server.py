"""The plant's OPC UA server (asyncua): an ISA-95 address space with live values and history.

Address space (namespace ``urn:biotwin:plant``, string node ids ``Site1.Upstream.BR01.pH``)::

    Objects/Site1 (site) / Upstream, Downstream (areas) / BR01 ..., CHROM01 (units)
        BatchID, Phase, EquipmentKind    batch context (ISA-88) as String variables
        <tag>                            Double, with EngineeringUnits (EUInformation,
                                         UNECE codes) and EURange properties, status
                                         codes (Good / Uncertain) and source timestamps
        StartBatch(batch_id), ChangeSetpoint(loop, value), AddBolus(stream, volume_mL)

Every published value is kept in :class:`PlantHistory`, which outlives the server object,
so a server that is stopped and started again still answers HistoryRead for the values the
plant produced while it was down (OPC UA Part 11, ReadRawModifiedDetails).

Security (optional): only Basic256Sha256 SignAndEncrypt endpoints and user name login, with
a self-signed application certificate generated on first use.
"""

from __future__ import annotations

import bisect
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from asyncua import Server, ua
from asyncua.crypto.permission_rules import User, UserRole
from asyncua.server.history import HistoryStorageInterface
from asyncua.server.user_managers import UserManager

from biotwin.lake.records import QUALITY_GOOD, QUALITY_UNCERTAIN
from biotwin.plant.plant import SITE, TagSpec, UnitInfo

NAMESPACE = "urn:biotwin:plant"
_EPOCH = datetime(1601, 1, 1)
#: UNECE Recommendation 20 common codes of the units published (for EUInformation.UnitId).
UNECE = {"degC": "CEL", "%": "P1", "mmHg": "HN", "rpm": "RPM", "mL": "MLT", "L": "LTR",
         "mM/h": "", "mm/s": "C16", "A": "AMP", "pF/cm": "", "mbar": "MBR", "mM": "M33",
         "cells/L": "", "mg/L": "M1", "mAU": "", "mS/cm": "H61", "bar": "BAR", "L/h": "E32",
         "-": "C62"}

log = logging.getLogger(__name__)


def quality_status(quality: int) -> ua.StatusCode:
    """OPC DA quality (192/64/0) to an OPC UA status code."""
    if quality >= QUALITY_GOOD:
        return ua.StatusCode(ua.StatusCodes.Good)
    if quality >= QUALITY_UNCERTAIN:
        return ua.StatusCode(ua.StatusCodes.Uncertain)
    return ua.StatusCode(ua.StatusCodes.Bad)


def eu_information(unit: str) -> ua.EUInformation:
    """EUInformation of a unit string (OPC UA Part 8, 5.6.3)."""
    code = UNECE.get(unit, "")
    unit_id = 0
    for ch in code.ljust(3)[:3] if code else "":
        unit_id = (unit_id << 8) | ord(ch)
    eu = ua.EUInformation()
    eu.NamespaceUri = "http://www.opcfoundation.org/UA/units/un/cefact"
    eu.UnitId = unit_id if code else -1
    eu.DisplayName = ua.LocalizedText(unit)
    eu.Description = ua.LocalizedText(unit)
    return eu


class PlantHistory(HistoryStorageInterface):
    """In-memory, per-node time-ordered history with bisect range reads.

    It belongs to the plant, not to a server instance, so history survives server restarts.
    """

    def __init__(self, max_history_data_response_size: int = 10000) -> None:
        self.max_history_data_response_size = max_history_data_response_size
        self._times: dict[ua.NodeId, list[datetime]] = {}
        self._values: dict[ua.NodeId, list[ua.DataValue]] = {}

    async def init(self) -> None:
        pass

    async def new_historized_node(self, node_id: ua.NodeId, period: Any, count: int = 0) -> None:
        self._times.setdefault(node_id, [])
        self._values.setdefault(node_id, [])

    def append(self, node_id: ua.NodeId, dv: ua.DataValue) -> None:
        """Store one value (kept sorted by source timestamp)."""
        times = self._times.setdefault(node_id, [])
        values = self._values.setdefault(node_id, [])
        ts = dv.SourceTimestamp
        if ts is None:
            raise ValueError(f"history of {node_id}: a value without a source timestamp")
        if not times or ts >= times[-1]:
            times.append(ts)
            values.append(dv)
        else:
            i = bisect.bisect_right(times, ts)
            times.insert(i, ts)
            values.insert(i, dv)

    async def save_node_value(self, node_id: ua.NodeId, datavalue: ua.DataValue) -> None:
        self.append(node_id, datavalue)

    async def read_node_history(
        self, node_id: ua.NodeId, start: datetime | None, end: datetime | None, nb_values: int
    ) -> tuple[list[ua.DataValue], datetime | None]:
        """Values with ``start <= SourceTimestamp <= end`` (an unset bound is open)."""
        times = self._times.get(node_id, [])
        values = self._values.get(node_id, [])

        def unset(t: datetime | None) -> bool:
            return t is None or t.replace(tzinfo=None) <= _EPOCH

        lo = 0 if unset(start) else bisect.bisect_left(times, _aware(start))
        hi = len(times) if unset(end) else bisect.bisect_right(times, _aware(end))
        limit = self.max_history_data_response_size
        if nb_values:
            limit = min(limit, nb_values)
        cont = None
        if hi - lo > limit:
            cont = times[lo + limit] if not nb_values or limit < nb_values else None
            hi = lo + limit
        return values[lo:hi], cont

    async def new_historized_event(self, *args: Any, **kwargs: Any) -> None:
        pass

    async def save_event(self, event: Any) -> None:
        pass

    async def read_event_history(self, *args: Any, **kwargs: Any) -> tuple[list[Any], None]:
        return [], None

    async def stop(self) -> None:
        pass


def _aware(t: datetime | None) -> datetime:
    assert t is not None
    return t if t.tzinfo is not None else t.replace(tzinfo=UTC)


class _Users(UserManager):
    def __init__(self, users: dict[str, str]) -> None:
        self.users = users

    def get_user(self, iserver: Any, username: str | None = None, password: str | None = None,
                 certificate: Any = None) -> User | None:
        if username is not None and self.users.get(username) == password:
            return User(role=UserRole.User, name=username)
        return None


#: An operator action handler: (unit, action, arguments) -> result text.
ActionHandler = Callable[[str, str, list[Any]], Awaitable[str]]


class PlantServer:
    """The OPC UA face of a :class:`~biotwin.plant.plant.VirtualPlant`.

    Parameters
    ----------
    endpoint : str
        ``opc.tcp://host:port``.
    units : dict of UnitInfo
    specs : list of TagSpec
    history : PlantHistory
        Shared history (outlives :meth:`stop`).
    on_action : callable
        Coroutine called for operator method calls.
    security_dir : path, optional
        Folder holding (or receiving) ``server_key.pem`` / ``server_cert.der``; turns on
        Basic256Sha256 SignAndEncrypt with user name login only.
    users : dict, optional
        User name -> password accepted when security is on.
    """

    def __init__(self, endpoint: str, units: dict[str, UnitInfo], specs: list[TagSpec],
                 history: PlantHistory, on_action: ActionHandler | None = None,
                 security_dir: Path | None = None, users: dict[str, str] | None = None) -> None:
        self.endpoint = endpoint
        self.units = units
        self.specs = specs
        self.history = history
        self.on_action = on_action
        self.security_dir = Path(security_dir) if security_dir else None
        self.users = users or {}
        self.server: Server | None = None
        self.idx = 2
        self.running = False

    def node_id(self, unit_id: str, name: str) -> ua.NodeId:
        """The node id of variable ``name`` of unit ``unit_id``."""
        area = self.units[unit_id].area
        return ua.NodeId(f"{SITE}.{area}.{unit_id}.{name}", self.idx)

    async def start(self) -> None:
        """Build the address space and open the endpoint."""
        server = Server(user_manager=_Users(self.users) if self.security_dir else None)
        await server.init()
        server.set_endpoint(self.endpoint)
        server.set_server_name("biotwin virtual plant")
        await server.set_application_uri("urn:biotwin:plant:server")
        if self.security_dir is not None:
            from asyncua.crypto.cert_gen import setup_self_signed_certificate
            from cryptography.x509.oid import ExtendedKeyUsageOID

            self.security_dir.mkdir(parents=True, exist_ok=True)
            key, cert = self.security_dir / "server_key.pem", self.security_dir / "server_cert.der"
            await setup_self_signed_certificate(key, cert, "urn:biotwin:plant:server", "localhost",
                                                [ExtendedKeyUsageOID.SERVER_AUTH], {"commonName": "biotwin plant"})
            await server.load_certificate(str(cert))
            await server.load_private_key(str(key))
            server.set_security_policy([ua.SecurityPolicyType.Basic256Sha256_SignAndEncrypt])
            server.set_identity_tokens([ua.UserNameIdentityToken])
        self.idx = await server.register_namespace(NAMESPACE)
        server.iserver.history_manager.set_storage(self.history)
        await self._build(server)
        await server.start()
        self.server = server
        self.running = True
        await self._restore()

    async def _build(self, server: Server) -> None:
        idx = self.idx
        site = await server.nodes.objects.add_object(ua.NodeId(SITE, idx), ua.QualifiedName(SITE, idx))
        areas: dict[str, Any] = {}
        unit_nodes: dict[str, Any] = {}
        for uid, info in self.units.items():
            if info.area not in areas:
                areas[info.area] = await site.add_object(ua.NodeId(f"{SITE}.{info.area}", idx),
                                                         ua.QualifiedName(info.area, idx))
            node = await areas[info.area].add_object(ua.NodeId(f"{SITE}.{info.area}.{uid}", idx),
                                                     ua.QualifiedName(uid, idx))
            unit_nodes[uid] = node
            for name, value in (("BatchID", info.batch_id), ("Phase", info.phase),
                                ("EquipmentKind", info.kind)):
                await node.add_variable(self.node_id(uid, name), ua.QualifiedName(name, idx),
                                        ua.Variant(value, ua.VariantType.String))
            await self._methods(node, uid)
        for s in self.specs:
            var = await unit_nodes[s.unit_id].add_variable(
                self.node_id(s.unit_id, s.name), ua.QualifiedName(s.name, idx),
                ua.Variant(float("nan"), ua.VariantType.Double), datatype=ua.NodeId(ua.ObjectIds.Double))
            await server.write_attribute_value(var.nodeid, ua.DataValue(
                ua.Variant(float("nan"), ua.VariantType.Double),
                ua.StatusCode(ua.StatusCodes.BadWaitingForInitialData)))
            await var.write_attribute(ua.AttributeIds.Description, ua.DataValue(
                ua.Variant(ua.LocalizedText(s.description), ua.VariantType.LocalizedText)))
            await var.add_property(ua.NodeId(f"{var.nodeid.Identifier}.EngineeringUnits", idx),
                                   ua.QualifiedName("EngineeringUnits", 0),
                                   ua.Variant(eu_information(s.eu), ua.VariantType.ExtensionObject),
                                   datatype=ua.NodeId(ua.ObjectIds.EUInformation))
            await var.add_property(ua.NodeId(f"{var.nodeid.Identifier}.EURange", idx),
                                   ua.QualifiedName("EURange", 0),
                                   ua.Variant(ua.Range(s.low, s.high), ua.VariantType.ExtensionObject),
                                   datatype=ua.NodeId(ua.ObjectIds.Range))
            await var.write_attribute(ua.AttributeIds.Historizing, ua.DataValue(ua.Variant(True)))
            level = ua.AccessLevel.CurrentRead.mask | ua.AccessLevel.HistoryRead.mask
            await var.write_attribute(ua.AttributeIds.AccessLevel,
                                      ua.DataValue(ua.Variant(level, ua.VariantType.Byte)))
            await var.write_attribute(ua.AttributeIds.UserAccessLevel,
                                      ua.DataValue(ua.Variant(level, ua.VariantType.Byte)))

    async def _methods(self, node: Any, uid: str) -> None:
        idx = self.idx
        S, D = ua.VariantType.String, ua.VariantType.Double

        def handler(action: str) -> Callable[..., Awaitable[list[ua.Variant]]]:
            async def call(parent: Any, *args: ua.Variant) -> list[ua.Variant]:
                values = [a.Value for a in args]
                if self.on_action is None:
                    return [ua.Variant("no handler", S)]
                try:
                    text = await self.on_action(uid, action, values)
                except (ValueError, KeyError) as exc:
                    raise ua.UaStatusCodeError(ua.StatusCodes.BadInvalidArgument) from exc
                return [ua.Variant(text, S)]
            return call

        for name, args in (("StartBatch", [S]), ("ChangeSetpoint", [S, D]), ("AddBolus", [S, D])):
            await node.add_method(ua.NodeId(f"{node.nodeid.Identifier}.{name}", idx),
                                  ua.QualifiedName(name, idx), handler(name), args, [S])

    async def _restore(self) -> None:
        """After a (re)start, show the last historised value of every variable."""
        assert self.server is not None
        for uid, info in self.units.items():
            await self.set_context(uid, info, stamp=None)
        for s in self.specs:
            nid = self.node_id(s.unit_id, s.name)
            values = self.history._values.get(nid)
            if values:
                await self.server.write_attribute_value(nid, values[-1])

    async def set_context(self, uid: str, info: UnitInfo, stamp: datetime | None) -> None:
        """Publish BatchID / Phase of a unit (BatchID's source time: the batch start)."""
        if self.server is None or not self.running:
            return
        start = info.start_utc or stamp
        for name, value, ts in (("BatchID", info.batch_id, start), ("Phase", info.phase, stamp)):
            dv = ua.DataValue(ua.Variant(value, ua.VariantType.String), SourceTimestamp=ts,
                              ServerTimestamp=datetime.now(UTC))
            await self.server.write_attribute_value(self.node_id(uid, name), dv)

    async def publish(self, items: list[tuple[ua.NodeId, ua.DataValue]]) -> None:
        """Historise every value, and write it to the address space when the server is up."""
        for nid, dv in items:
            self.history.append(nid, dv)
        if self.server is not None and self.running:
            write = self.server.write_attribute_value
            for nid, dv in items:
                await write(nid, dv)

    async def stop(self) -> None:
        """Close the endpoint (history is kept)."""
        self.running = False
        if self.server is not None:
            try:
                await self.server.stop()
            finally:
                self.server = None

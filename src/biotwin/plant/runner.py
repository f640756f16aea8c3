"""Run the virtual plant in accelerated time behind its OPC UA server (and optionally MQTT).

The plant clock advances ``sample_every`` of culture time per step; step ``k`` is due at
wall time ``t0 + k * sample_every / speed`` (a late loop catches up without sleeping). Each
published value is also written to the truth log (CSV) and, with ``mqtt``, sent as
Sparkplug B. ``SIGUSR1`` stops the OPC UA server for ``restart_delay_s`` and starts a new
one (the plant keeps running and historising), to exercise clients' reconnect and backfill.
"""

from __future__ import annotations

import asyncio
import csv
import json
import logging
import signal
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from asyncua import ua

from biotwin.plant.faults import ground_truth_rows
from biotwin.plant.plant import VirtualPlant
from biotwin.plant.server import PlantHistory, PlantServer, quality_status

log = logging.getLogger(__name__)
TRUTH_COLUMNS = ["batch_id", "unit", "tag", "time_utc", "time_h", "value", "quality", "published_utc"]


def culture_hours(ts: datetime, start: datetime) -> float:
    """Culture time [h] of a source timestamp, from integer microseconds (as the ingest does)."""
    us = (ts - start) // _US
    return us / 3.6e9


_US = __import__("datetime").timedelta(microseconds=1)


@dataclass
class PlantRun:
    """Options of one plant run (see ``biotwin plant run``)."""

    plant: VirtualPlant
    endpoint: str
    speed: float = 3600.0
    sample_every_h: float = 1 / 60
    linger_s: float = 5.0
    truth: Path | None = None
    security_dir: Path | None = None
    users: dict[str, str] = field(default_factory=dict)
    mqtt: str | None = None
    restart_delay_s: float = 3.0
    published: int = 0


async def run_plant(run: PlantRun) -> dict[str, Any]:
    """Serve the plant until its batches end, linger, and return a summary."""
    plant = run.plant
    history = PlantHistory()
    actions: list[tuple[str, str, list[Any]]] = []

    async def on_action(uid: str, action: str, args: list[Any]) -> str:
        if uid not in plant.reactors:
            raise ValueError(f"{uid} takes no operator actions")
        r = plant.reactors[uid]
        if action == "ChangeSetpoint":
            r.change_setpoint(str(args[0]), float(args[1]))
        elif action == "AddBolus":
            r.add_bolus(str(args[0]), float(args[1]))
        elif action == "StartBatch":
            info = plant.units[uid]
            if info.phase != "Complete":
                raise ValueError(f"{uid} is running batch {info.batch_id}")
            info.batch_id = str(args[0])
        actions.append((uid, action, args))
        return f"{action} {args} on {uid}: ok"

    plant.warm_up()  # compile before the clock starts, so the first steps are not late
    srv = PlantServer(run.endpoint, plant.units, plant.tag_specs(), history, on_action,
                      run.security_dir, run.users)
    await srv.start()
    if not plant.clock_given:
        # Culture time 0 is now, when stepping starts (not when the plant was built): at
        # speed 1 a value is then published when its source time comes, as in a DCS.
        plant.start_clock()
    t0 = time.monotonic()
    for uid, info in plant.units.items():
        await srv.set_context(uid, info, plant.time_utc(0.0))
    publisher = None
    if run.mqtt:
        from biotwin.connect.mqtt import SparkplugPublisher

        publisher = SparkplugPublisher(run.mqtt, plant.units, plant.tag_specs())
        publisher.start()
    restart = asyncio.Event()
    loop = asyncio.get_running_loop()
    try:
        loop.add_signal_handler(signal.SIGUSR1, restart.set)
    except (NotImplementedError, RuntimeError, ValueError):
        pass
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        try:
            loop.add_signal_handler(sig, stop.set)
        except (NotImplementedError, RuntimeError, ValueError):
            pass

    async def restarter() -> None:
        while True:
            await restart.wait()
            restart.clear()
            log.warning("stopping the OPC UA server for %.1f s", run.restart_delay_s)
            await srv.stop()
            await asyncio.sleep(run.restart_delay_s)
            await srv.start()
            log.warning("OPC UA server restarted")

    restart_task = asyncio.create_task(restarter())
    fh = None
    writer = None
    if run.truth is not None:
        run.truth.parent.mkdir(parents=True, exist_ok=True)
        fh = open(run.truth, "w", newline="")
        writer = csv.writer(fh)
        writer.writerow(TRUTH_COLUMNS)
    dt = run.sample_every_h
    n = plant.n_steps(dt)
    node_of = {(s.unit_id, s.name): srv.node_id(s.unit_id, s.name) for s in plant.tag_specs()}
    try:
        for k in range(1, n + 1):
            if stop.is_set():
                break
            due = t0 + k * dt * 3600.0 / run.speed
            delay = due - time.monotonic()
            if delay > 0:
                try:
                    await asyncio.wait_for(stop.wait(), delay)
                    break
                except TimeoutError:
                    pass
            readings = plant.make_step(dt)
            now = datetime.now(UTC)
            items = []
            for uid, rd in readings:
                ts = plant.time_utc(rd.t_h)
                dv = ua.DataValue(ua.Variant(float(rd.value), ua.VariantType.Double), quality_status(rd.quality),
                                  SourceTimestamp=ts, ServerTimestamp=now)
                items.append((node_of[(uid, rd.tag)], dv))
                if writer is not None:
                    info = plant.units[uid]
                    assert info.start_utc is not None
                    writer.writerow([info.batch_id, uid, rd.tag, ts.isoformat(),
                                     repr(culture_hours(ts, info.start_utc)), repr(float(rd.value)),
                                     rd.quality, now.isoformat()])
            await srv.publish(items)
            if publisher is not None:
                publisher.publish(readings, plant)
            run.published += len(items)
            if k % 10 == 0 or k == n:
                for uid, info in plant.units.items():
                    await srv.set_context(uid, info, plant.time_utc(plant.t_h))
                if fh is not None:
                    fh.flush()
        if fh is not None:
            fh.flush()
        for uid, info in plant.units.items():
            await srv.set_context(uid, info, plant.time_utc(plant.t_h))
        if not stop.is_set():
            try:
                await asyncio.wait_for(stop.wait(), run.linger_s)
            except TimeoutError:
                pass
    finally:
        restart_task.cancel()
        if fh is not None:
            fh.close()
        if publisher is not None:
            publisher.stop()
        await srv.stop()
    if run.truth is not None:
        faults = ground_truth_rows(plant.faults, {i + 1: u for i, u in enumerate(plant.reactors)},
                                   {i + 1: plant.units[u].batch_id for i, u in enumerate(plant.reactors)})
        run.truth.with_suffix(".faults.json").write_text(json.dumps(faults, indent=2))
    return {"published": run.published, "steps": n, "plant_hours": plant.t_h,
            "wall_s": time.monotonic() - t0, "units": list(plant.units), "actions": len(actions)}

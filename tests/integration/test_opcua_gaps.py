"""Regression: notifications lost inside a live session are read back from history.

Under load the client library may drop a publish response, or recreate a subscription it
thinks stale (losing what the server published meanwhile); the later values still arrive. The
ingest must then neither move its watermarks past the gap nor keep the session: it ends it,
and the next session backfills the gap from the server's history.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from tests.integration.helpers import free_port, truth_keys

from biotwin.connect.opcua import OpcUaIngest
from biotwin.lake import Lake
from biotwin.plant.plant import VirtualPlant
from biotwin.plant.runner import PlantRun, run_plant

pytestmark = pytest.mark.integration


async def _drop_one_message(ingest: OpcUaIngest, dropped: list[int]) -> None:
    """Once the ingest streams gap-free, swallow the next data message of its subscription."""
    while True:
        watch = ingest._watch
        sub = watch.sub if watch is not None else None
        if sub is not None and not ingest._gapped and sub.last_sequence_number:
            break
        await asyncio.sleep(0.02)
    session = sub.server
    original = session._subscription_callbacks[sub.subscription_id]

    async def lossy(result: Any) -> None:
        if not dropped and result.NotificationMessage.NotificationData:
            dropped.append(len(result.NotificationMessage.NotificationData[0].MonitoredItems))
            return
        await original(result)

    session._subscription_callbacks[sub.subscription_id] = lossy


def test_a_lost_publish_response_is_backfilled(tmp_path: Path) -> None:
    url = f"opc.tcp://127.0.0.1:{free_port()}"
    truth = tmp_path / "truth.csv"
    plant = VirtualPlant(n_reactors=1, duration_h=3.0, skid=False, random_state=1)
    run = PlantRun(plant, url, speed=1500.0, sample_every_h=1 / 12, linger_s=3.0, truth=truth)
    ingest = OpcUaIngest(url, Lake(tmp_path / "lake"), tmp_path / "buffer.sqlite")
    dropped: list[int] = []

    async def main() -> None:
        stop = asyncio.Event()
        ing = asyncio.create_task(ingest.run(stop))
        dropper = asyncio.create_task(_drop_one_message(ingest, dropped))
        await run_plant(run)
        dropper.cancel()
        stop.set()
        await asyncio.wait_for(ing, 60)

    asyncio.run(main())
    assert dropped and dropped[0] > 0  # a message with values was lost on the client side
    assert ingest.gaps >= 1 and ingest.reconnects >= 1
    stored = Lake(tmp_path / "lake").sql("SELECT batch_id, tag, time_h FROM timeseries").to_pylist()
    keys = [(r["batch_id"], r["tag"], r["time_h"]) for r in stored]
    assert len(keys) == len(set(keys))
    assert set(keys) == truth_keys(truth)

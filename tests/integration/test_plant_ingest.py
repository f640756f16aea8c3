"""The core acceptance test: a real OPC UA plant and a real ingest process on loopback.

During an accelerated batch the ingest process is killed with SIGKILL and restarted, and,
separately, the plant's OPC UA server is stopped and restarted (SIGUSR1). Afterwards every
value of the truth log is in the lake exactly once.
"""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path

import pytest
from tests.integration.helpers import free_port, lake_counts, start, stop, truth_counts, truth_keys, wait_port

from biotwin.lake import Lake

pytestmark = pytest.mark.integration


def test_kill_and_restart_lose_nothing_and_duplicate_nothing(tmp_path: Path) -> None:
    port = free_port()
    url = f"opc.tcp://127.0.0.1:{port}"
    truth, lake = tmp_path / "truth.csv", tmp_path / "lake"
    plant = start(["plant", "run", "--endpoint", url, "--reactors", "2", "--days", "1", "--speed", "3600",
                   "--sample-every", "5min", "--seed", "3", "--truth", str(truth), "--linger", "6",
                   "--restart-delay", "3", "--fault", "ph_drift:reactor=1:at=6h"], tmp_path / "plant.log")
    ingests = []
    try:
        wait_port(port)
        ingests.append(start(["--lake", str(lake), "ingest", "opcua", "--endpoint", url], tmp_path / "ing1.log"))
        time.sleep(7)
        stop(ingests[0], signal.SIGKILL)  # crash: nothing flushed
        time.sleep(2)
        ingests.append(start(["--lake", str(lake), "ingest", "opcua", "--endpoint", url], tmp_path / "ing2.log"))
        time.sleep(6)
        plant.send_signal(signal.SIGUSR1)  # the server goes down for 3 s, the plant runs on
        assert plant.wait(120) == 0, (tmp_path / "plant.log").read_text()[-3000:]
        assert stop(ingests[1]) == 0, (tmp_path / "ing2.log").read_text()[-3000:]
    finally:
        for p in [plant, *ingests]:
            stop(p, signal.SIGKILL, timeout=10)
    metrics = json.loads((tmp_path / "ing2.log.stdout").read_text())
    assert metrics["reconnects"] >= 1  # the server restart was seen
    expected = truth_counts(truth)
    got = lake_counts(lake)
    assert sum(expected.values()) > 5000
    assert got == dict(expected)  # 0 lost, 0 duplicated
    stored = Lake(lake).sql("SELECT batch_id, tag, time_h FROM timeseries").to_pylist()
    assert {(r["batch_id"], r["tag"], r["time_h"]) for r in stored} == truth_keys(truth)
    faults = json.loads(truth.with_suffix(".faults.json").read_text())
    assert faults[0]["kind"] == "ph_drift" and faults[0]["onset_h"] == 6.0
    units = {r["unit_id"] for r in Lake(lake).batches()}
    assert units == {"BR01", "BR02", "CHROM01"}

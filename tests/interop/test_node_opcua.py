"""Interop: an independent OPC UA stack (node-opcua, installed by ``make test``) talks to the plant."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
from pathlib import Path

import pytest
from tests.integration.helpers import free_port, start, stop, wait_port

pytestmark = pytest.mark.integration
HERE = Path(__file__).resolve().parent


def test_node_opcua_browses_reads_units_and_calls_a_method(tmp_path: Path) -> None:
    if shutil.which("node") is None or not (HERE / "node_modules" / "node-opcua-client").is_dir():
        pytest.skip("node-opcua is not installed (make test runs npm install in tests/interop)")
    port = free_port()
    url = f"opc.tcp://127.0.0.1:{port}"
    plant = start(["plant", "run", "--endpoint", url, "--reactors", "1", "--days", "0.5", "--speed", "600",
                   "--sample-every", "5min", "--linger", "0"], tmp_path / "plant.log")
    try:
        wait_port(port)
        out = subprocess.run(["node", str(HERE / "client.js"), url], capture_output=True, text=True, timeout=90)
        assert out.returncode == 0, out.stderr[-2000:]
        # node-opcua may log warnings on stdout after the result (e.g. about RSA PKCS#1 v1.5)
        res = json.loads([line for line in out.stdout.splitlines() if line.startswith("{")][-1])
    finally:
        stop(plant, signal.SIGTERM, 30)
    assert {"BatchID", "Phase", "pH", "DO", "ChangeSetpoint", "AddBolus", "StartBatch"} <= set(res["names"])
    assert res["status"] == "Good" and 6.0 < res["ph"] < 8.0
    assert res["eu"] == "-" and res["low"] == 5.0 and res["high"] == 9.0
    assert res["call_status"] == "Good" and "ok" in res["call_result"][0]

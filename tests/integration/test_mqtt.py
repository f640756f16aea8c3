"""The MQTT / Sparkplug B path against a real mosquitto broker started by the test."""

from __future__ import annotations

import shutil
import signal
import subprocess
from pathlib import Path

import pytest
from tests.integration.helpers import free_port, lake_counts, start, stop, truth_counts, wait_port

pytestmark = pytest.mark.integration


@pytest.fixture
def broker(tmp_path: Path):  # type: ignore[no-untyped-def]
    exe = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    if not Path(exe).exists():
        pytest.skip("mosquitto is not installed (scripts/setup-system.sh installs it)")
    port = free_port()
    conf = tmp_path / "mosquitto.conf"
    conf.write_text(f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n"
                    "max_queued_messages 1000000\n")
    proc = subprocess.Popen([exe, "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_port(port, 20)
        yield f"127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(10)


def test_sparkplug_plant_to_lake(tmp_path: Path, broker: str) -> None:
    lake, truth = tmp_path / "lake", tmp_path / "truth.csv"
    ing = start(["--lake", str(lake), "ingest", "mqtt", "--broker", broker], tmp_path / "ing.log")
    port = free_port()
    try:
        import time

        time.sleep(2)  # the persistent session exists before the plant speaks
        plant = start(["plant", "run", "--endpoint", f"opc.tcp://127.0.0.1:{port}", "--reactors", "1",
                       "--days", "0.25", "--speed", "3600", "--sample-every", "5min", "--truth", str(truth),
                       "--linger", "2", "--mqtt", broker], tmp_path / "plant.log")
        assert plant.wait(120) == 0, (tmp_path / "plant.log").read_text()[-2000:]
        time.sleep(2)
        assert stop(ing) == 0, (tmp_path / "ing.log").read_text()[-2000:]
    finally:
        stop(ing, signal.SIGKILL, 10)
    expected = truth_counts(truth)
    assert sum(expected.values()) > 500
    assert lake_counts(lake) == dict(expected)

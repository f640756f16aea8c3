"""Fast unit tests of the plant's pieces: fault parsing, PID, split range, buffer, reactor step."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from biotwin.connect.buffer import Point, StoreAndForward
from biotwin.errors import BiotwinError
from biotwin.plant.control import PID, split_range
from biotwin.plant.faults import parse_duration_h, parse_fault
from biotwin.plant.plant import VirtualPlant


def test_fault_parsing() -> None:
    f = parse_fault("bearing_wear:reactor=2:at=5d:fail=2d")
    assert (f.kind, f.reactor, f.onset_h, f.failure_time_h) == ("bearing_wear", 2, 120.0, 168.0)
    assert f.progress(100.0) == 0.0 and f.progress(144.0) == pytest.approx(0.5)
    assert parse_duration_h("90s") == pytest.approx(0.025)
    with pytest.raises(BiotwinError):
        parse_fault("meltdown:reactor=1")


def test_pid_and_split_range() -> None:
    pid = PID(kp=1.0, ti_h=1.0, low=0.0, high=1.0, setpoint=1.0)
    outs = [pid.make_step(0.0, 0.1) for _ in range(50)]
    assert all(0.0 <= o <= 1.0 for o in outs) and outs[-1] == 1.0
    assert split_range(0.5) == (1.0, 0.0)


def test_buffer_is_idempotent_and_durable(tmp_path: Path) -> None:
    buf = StoreAndForward(tmp_path / "b.sqlite")
    pts = [Point("n", "B1", "U", "pH", "-", 1_000_000 * i, i / 3600, 7.0, 192, 0, 0) for i in range(10)]
    assert buf.put(pts) == 10 and buf.put(pts) == 0
    buf.close()
    buf = StoreAndForward(tmp_path / "b.sqlite")
    assert buf.depth() == 10 and buf.watermarks() == {"n": 9_000_000}
    seqs = buf.peek(4)
    buf.ack(seqs[-1][0])
    assert buf.depth() == 6


def test_plant_steps_and_faults_move_the_truth() -> None:
    plant = VirtualPlant(n_reactors=2, duration_h=2.0, faults=[parse_fault("base_pump_failure:reactor=1:at=0h")])
    out = plant.make_step(1.0)
    tags = {(u, r.tag) for u, r in out}
    assert ("BR01", "pH") in tags and ("CHROM01", "UV280") in tags
    assert all(math.isfinite(r.value) for _, r in out)
    assert plant.reactors["BR01"].base_rate == 0.0


def test_buffer_put_without_advancing_keeps_the_watermark(tmp_path: Path) -> None:
    buf = StoreAndForward(tmp_path / "b.sqlite")
    pts = [Point("n", "B1", "U", "pH", "-", 1_000_000 * i, i / 3600, 7.0, 192, 0, 0) for i in range(10)]
    buf.put(pts[:3])
    assert buf.put(pts[5:], advance=False) == 5  # after a gap: stored, watermark stays
    assert buf.watermarks() == {"n": 2_000_000} and buf.depth() == 8
    buf.advance({"n": 9_000_000})
    buf.advance({"n": 1_000_000})  # never back
    assert buf.watermarks() == {"n": 9_000_000}


def test_plant_clock_starts_when_stepping_starts() -> None:
    from datetime import UTC, datetime, timedelta

    plant = VirtualPlant(n_reactors=1, duration_h=1.0, skid=False)
    assert not plant.clock_given and plant.warm_up() >= 0.0
    t0 = datetime.now(UTC)
    start = plant.start_clock()
    assert start >= t0 and all(u.start_utc == start for u in plant.units.values())
    assert plant.time_utc(1.0) == start + timedelta(hours=1)
    plant.make_step(1 / 60)
    with pytest.raises(RuntimeError):
        plant.start_clock()
    assert VirtualPlant(n_reactors=1, duration_h=1.0, skid=False, start_utc=t0).clock_given

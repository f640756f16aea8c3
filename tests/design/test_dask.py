"""Campaigns on Dask: a scheduler and two workers as separate processes on 127.0.0.1, and
``--scheduler local:2``; both must give the in-process numbers exactly."""

import json

import pytest
from typer.testing import CliRunner

import biotwin.cli.design_commands  # noqa: F401
from biotwin.cli import app
from biotwin.design.cluster import process_cluster

runner = CliRunner()
pytestmark = pytest.mark.integration


def _space(control_path, *extra):
    res = runner.invoke(app, [
        "design", "space", "--recipe", str(control_path), "--factor", "feed_scale=0.5:2",
        "--factor", "shift_time_h=96:240", "--grid", "5", "--mc", "40", "--spec", "mAb >= 450",
        "--spec", "Amm_peak <= 6", "--seed", "11", "--independent-draws", "--json", "--no-progress", *extra])
    assert res.exit_code == 0, res.output
    return json.loads(res.stdout)


def test_process_cluster_and_local_cluster_match_in_process(control_path, tmp_path):
    ref = _space(control_path)
    with process_cluster(n_workers=2) as address:
        assert address.startswith("tcp://127.0.0.1:")
        remote = _space(control_path, "--scheduler", address, "--out", str(tmp_path / "tcp"))
    assert remote["probability"] == ref["probability"]
    assert remote["scheduler"] == address
    assert any((tmp_path / "tcp" / "chunks").rglob("chunk_*.npz"))
    local = _space(control_path, "--scheduler", "local:2")
    assert local["probability"] == ref["probability"]


def test_unreachable_scheduler_is_a_clean_error(control_path):
    from biotwin.design.cluster import free_port

    res = runner.invoke(app, ["design", "space", "--recipe", str(control_path), "--factor", "feed_scale=0.5:2",
                              "--grid", "2", "--mc", "2", "--scheduler", f"tcp://127.0.0.1:{free_port()}",
                              "--no-progress"])
    assert res.exit_code == 2 and "cannot reach Dask scheduler" in res.output

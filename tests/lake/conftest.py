"""Fixtures shared by the lake tests: a fresh lake, the shared cultures, a CLI runner."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from biotwin.cli import app, lake_commands  # noqa: F401  (registers the lake commands)

REPO = Path(__file__).resolve().parents[2]
CHO = REPO.parent / "shared" / "data" / "cho_fedbatch"


@pytest.fixture
def lake_dir(tmp_path: Path) -> Path:
    return tmp_path / "lake"


@pytest.fixture
def cho_dir() -> Path:
    if not CHO.is_dir():
        pytest.skip(f"shared culture data not found at {CHO}")
    return CHO


class Cli:
    """Runs `biotwin --lake DIR ...` in-process and returns (exit code, stdout, stderr)."""

    def __init__(self, lake: Path) -> None:
        self.lake = lake
        self.runner = CliRunner()

    def __call__(self, *args: str) -> tuple[int, str, str]:
        r = self.runner.invoke(app, ["--lake", str(self.lake), *args])
        if r.exception and not isinstance(r.exception, SystemExit):
            raise r.exception
        return r.exit_code, r.stdout, r.stderr

    def json(self, *args: str) -> Any:
        code, out, err = self(*args, "--json")
        assert code == 0, err
        return json.loads(out)


@pytest.fixture
def cli(lake_dir: Path) -> Cli:
    return Cli(lake_dir)


@pytest.fixture
def run_biotwin() -> Any:
    """Run the lake commands in a real subprocess: ``run_biotwin(lake, *args)``."""

    def run(lake: Path, *args: str, **kwargs: Any) -> subprocess.CompletedProcess[str]:
        env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
        return subprocess.run(
            [sys.executable, "-m", "biotwin.cli.lake_commands", "--lake", str(lake), *args],
            capture_output=True, text=True, env=env, **kwargs)

    return run

from __future__ import annotations

from pathlib import Path

import pytest

from biotwin.parameters import get_parameter_set
from biotwin.recipes import load_recipe

CONTROL = Path(__file__).resolve().parents[2] / "src" / "biotwin" / "recipes" / "data" / "kotidis2019_control.yaml"


@pytest.fixture(scope="session")
def control_path() -> Path:
    return CONTROL


@pytest.fixture(scope="session")
def control():
    return load_recipe(CONTROL)


@pytest.fixture(scope="session")
def flask_set():
    return get_parameter_set("cho_t127_kotidis2019")

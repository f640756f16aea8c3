from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data" / "cho_fedbatch"
PACKAGED = REPO / "src" / "biotwin" / "data" / "cho_fedbatch"


@pytest.fixture(scope="session")
def cultures_dir() -> Path:
    """The shared cultures (../shared), or the packaged copy when ../shared is absent."""
    return SHARED if SHARED.is_dir() else PACKAGED


@pytest.fixture(scope="session")
def flask_dir(cultures_dir: Path) -> Path:
    return cultures_dir / "kotidis2019_flask_T127"

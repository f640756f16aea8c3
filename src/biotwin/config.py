"""Settings with environment overrides (``BIOTWIN_*``), one place for all of them."""

from __future__ import annotations

from pathlib import Path

from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Process-wide settings; every field can be overridden by ``BIOTWIN_<FIELD>``."""

    model_config = SettingsConfigDict(env_prefix="BIOTWIN_")

    lake: Path = Path("./biotwin-data")
    """Root folder of the data lake [path]."""

    out: Path = Path("./biotwin-out")
    """Where reports and plots go [path]."""

    threads: int = 0
    """Threads for compiled ensembles; 0 means all cores."""


def get_settings() -> Settings:
    """Read the settings from the environment now."""
    return Settings()

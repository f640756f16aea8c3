"""The ``biotwin`` console command.

A thin edge: each command parses options, calls the library and prints a table or JSON.
Command groups live in sibling modules and register themselves on :data:`app`.
"""

from __future__ import annotations

from pathlib import Path

import typer

from biotwin.config import get_settings

app = typer.Typer(
    name="biotwin",
    help="biotwin: bioprocess digital twin (models, simulation, data lake, monitoring).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.callback()
def _root(
    ctx: typer.Context,
    lake: Path = typer.Option(
        None,
        "--lake",
        envvar="BIOTWIN_LAKE",
        help="Data lake folder (env BIOTWIN_LAKE, default ./biotwin-data).",
    ),
) -> None:
    """biotwin: bioprocess digital twin."""
    ctx.obj = {"lake": Path(lake) if lake is not None else get_settings().lake}


def _register() -> None:
    # Importing a command module registers its commands on `app`.
    from biotwin.cli import (  # noqa: F401
        design_commands,
        lake_commands,
        model_commands,
        monitor_commands,
        plant_commands,
        twin_commands,
    )


def main() -> None:
    """Entry point of the console script."""
    _register()
    app()

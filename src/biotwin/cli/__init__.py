"""The ``biotwin`` console command.

A thin edge: each command parses options, calls the library and prints a table or JSON.
Command groups live in sibling modules and register themselves on :data:`app`.
"""

from __future__ import annotations

from pathlib import Path

import typer

from biotwin.config import get_settings

app = typer.Typer(
    rich_markup_mode=None,
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
        inspect_commands,
        lake_commands,
        model_commands,
        monitor_commands,
        plant_commands,
        twin_commands,
    )


#: Options that take several values: ``--batches a.csv b.csv`` is read as ``--batches a.csv
#: --batches b.csv`` (both spellings work), as in ``biotwin monitor fit --batches FILE...``.
MULTI_VALUE_OPTIONS = frozenset({"--batches", "--exclude", "--equipment", "--detectors", "--variables",
                                 "--lake-batches", "--faulty", "--lake-faulty", "--onset", "--deadline"})


def expand_multi_values(args: list[str]) -> list[str]:
    """Repeat a multi-value option's flag before each of the values that follow it.

    Click options take one value per flag; the contract of the batch commands lists several
    after one flag (``--batches FILE...``, ``--exclude COL ...``). Every token after such a
    flag up to the next token starting with ``-`` is one value.

    Examples
    --------
    >>> expand_multi_values(["monitor", "fit", "--batches", "a.csv", "b.csv", "--out", "m"])
    ['monitor', 'fit', '--batches', 'a.csv', '--batches', 'b.csv', '--out', 'm']
    """
    out: list[str] = []
    flag: str | None = None
    for a in args:
        if a.startswith("-"):
            flag = a if a in MULTI_VALUE_OPTIONS else None
        elif flag is not None and out[-1] != flag:
            out.append(flag)
        out.append(a)
    return out


def _warning_line(message: Warning | str, category: type[Warning], filename: str, lineno: int,
                  line: str | None = None) -> str:
    """A warning as the console shows it: its message, not the source line that raised it."""
    return f"warning: {message}\n"


def main() -> None:
    """Entry point of the console script."""
    import sys
    import warnings

    warnings.formatwarning = _warning_line
    _register()
    app(args=expand_multi_values(sys.argv[1:]))

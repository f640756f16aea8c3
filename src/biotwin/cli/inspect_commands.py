"""``biotwin inspect``: how batch files read before a model is fitted on them."""

from __future__ import annotations

from pathlib import Path

import typer

from biotwin.cli import app
from biotwin.cli.common import handle_errors, print_json


@app.command("inspect")
@handle_errors
def inspect_batches(
    batches: list[Path] = typer.Option(..., "--batches", help="Batch files: --batches a.csv b.csv ..."),
    exclude: list[str] = typer.Option([], "--exclude", help="Columns the fit would leave out: --exclude A B ..."),
    time_col: str = typer.Option(None, "--time-col", help="Time column (default: found by name)."),
    as_json: bool = typer.Option(False, "--json", help="Print the survey as JSON."),
) -> None:
    """How batch files read: time column and unit, rows, span, interval, inputs, warnings."""
    from biotwin.batchdata.survey import survey

    res = survey(batches, time_col, exclude)
    if as_json:
        print_json(res)
        return
    for b in res["batches"]:
        interval = "-" if b["interval_h"] is None else f"{60 * b['interval_h']:.3g} min"
        typer.echo(f"{b['id']}: {b['rows_in_file']} rows ({b['rows']} times), {b['start_h']:.4g}-{b['end_h']:.4g} h "
                   f"every {interval}; time from {b['time_column']!r} ({b['time_read_as']}); "
                   f"{len(b['columns'])} numeric columns"
                   + (f"; text left out: {', '.join(b['text_columns'])}" if b["text_columns"] else ""))
        for w in b["warnings"]:
            typer.echo(f"  warning: {w}")
    typer.echo(f"inputs ({len(res['inputs'])}): {', '.join(res['inputs'])}")
    for why, cols in res["left_out"].items():
        if cols:
            typer.echo(f"left out, {why.replace('_', ' ')} ({len(cols)}): {', '.join(cols)}")
    for w in res["warnings"]:
        typer.echo(f"warning: {w}")

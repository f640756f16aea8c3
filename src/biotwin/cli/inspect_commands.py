"""``biotwin inspect``: how batch files read before a model is fitted on them; ``biotwin align``: the
batches on one axis, unfolded."""

from __future__ import annotations

from pathlib import Path

import typer

from biotwin.cli import app
from biotwin.cli.common import handle_errors, print_json, write_frame
from biotwin.cli.monitor_commands import _BY, _CUMULATIVE, _LAKE_BATCHES, _LAKE_EVERY, _training_batches


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


@app.command("align", help=(
    "Put batches of different lengths on one axis and write them unfolded, for SIMCA-style analysis elsewhere.\n\n"
    "The axis is culture time (default), a monotone indicator column (--by 'feed [L]'; --by 'OUR [mM/h]' "
    "--cumulative integrates it over time first: cumulative O2 uptake), or, with --method dtw, the time of a "
    "reference batch (the one of median length) onto which each batch is warped by dynamic time warping. "
    "Each batch is interpolated at --n-points points from the latest start to the earliest end on the axis. "
    "--unfold observationwise (default) writes one row per batch and point (n_batches * n_points rows: "
    "batch_id, the axis, the variables); batchwise writes one row per batch (n_points * n_variables columns "
    "'variable @ point', variables fastest)."))
@handle_errors
def align(
    ctx: typer.Context,
    batches: list[Path] = typer.Option(None, "--batches", help="Batch files: --batches a.csv b.csv ..."),
    lake_batches: list[str] = _LAKE_BATCHES,
    lake_every: float = _LAKE_EVERY,
    time_col: str = typer.Option(None, "--time-col", help="Time column (default: found by name)."),
    by: str = _BY,
    cumulative: bool = _CUMULATIVE,
    method: str = typer.Option("interp", "--method", help="interp (on the axis) or dtw (warped to a reference)."),
    n_points: int = typer.Option(100, "--n-points", help="Points on the common axis."),
    variables: list[str] = typer.Option([], "--variables", help="Columns to align (default: every common one)."),
    exclude: list[str] = typer.Option([], "--exclude", help="Columns left out: --exclude A B ..."),
    unfold: str = typer.Option("observationwise", "--unfold", help="observationwise or batchwise."),
    out: Path = typer.Option(..., "--out", help="Where to write the table (.csv or .parquet)."),
    as_json: bool = typer.Option(False, "--json", help="Print a summary as JSON."),
) -> None:
    import numpy as np
    import pandas as pd

    from biotwin.batchdata.align import align_batches, unfold_batchwise, unfold_observationwise
    from biotwin.batchdata.io import TIME
    from biotwin.errors import DataError

    if unfold not in ("observationwise", "batchwise"):
        raise DataError(f"--unfold must be observationwise or batchwise, not {unfold!r}")
    if method not in ("interp", "dtw"):
        raise DataError(f"--method must be interp or dtw, not {method!r}")
    if method == "dtw" and by is not None:
        raise DataError("--method dtw warps on culture time: give --by only with --method interp")
    if n_points < 2:
        raise DataError(f"--n-points must be 2 or more, got {n_points}")
    if out.suffix.lower() not in (".csv", ".parquet"):
        raise DataError(f"--out must end in .csv or .parquet, got {out.name!r}")
    data = _training_batches(ctx, batches, lake_batches, lake_every, time_col)
    frames = list(data.frames)
    axis_col = TIME if by is None else by
    for f, name in zip(frames, data.ids, strict=True):
        if axis_col not in f:
            raise DataError(f"batch {name!r} has no column {axis_col!r} to align on", column=axis_col)
    common = data.variables([*exclude, axis_col])
    chosen = list(variables) or common
    missing = [v for v in chosen if v not in common]
    if missing:
        raise DataError(f"not a numeric column of every batch: {missing} (common columns: {common})")
    X, grid = align_batches(frames, chosen, n_points=n_points, by=axis_col, cumulative=cumulative, method=method)
    axis_name = f"cum({by})" if by is not None and cumulative else axis_col
    if unfold == "observationwise":
        table = pd.DataFrame(unfold_observationwise(X), columns=chosen)
        table.insert(0, axis_name, np.tile(grid, len(frames)))
        table.insert(0, "batch_id", np.repeat(list(data.ids), len(grid)))
    else:
        cols = [f"{v} @ {g:.6g}" for g in grid for v in chosen]
        table = pd.DataFrame(unfold_batchwise(X), columns=cols)
        table.insert(0, "batch_id", list(data.ids))
    write_frame(table, out, (".csv", ".parquet"))
    summary = {"n_batches": len(frames), "n_points": len(grid), "n_variables": len(chosen), "variables": chosen,
               "axis": axis_name, "axis_range": [float(grid[0]), float(grid[-1])], "method": method,
               "unfold": unfold, "shape": list(table.shape), "out": str(out)}
    if as_json:
        print_json(summary)
    else:
        typer.echo(f"{len(frames)} batches x {len(grid)} points of {axis_name} ({grid[0]:.4g}-{grid[-1]:.4g}) x "
                   f"{len(chosen)} variables, {unfold}: {table.shape[0]} rows x {table.shape[1]} columns; saved {out}")

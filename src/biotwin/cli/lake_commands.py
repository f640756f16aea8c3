"""Lake commands: ``import ...``, ``batches``, ``query``, ``samples``, ``events``, ``sql``,
``audit verify`` and ``lake ...`` (migrate, publish, quarantine, tags).

Every command that prints a result takes ``--json``. Import commands show a progress bar on
stderr when it is a terminal (``--quiet`` turns it off).
"""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Any

import typer

from biotwin.cli import app
from biotwin.cli.common import handle_errors, print_json
from biotwin.connect import imports
from biotwin.lake import IngestResult, Lake

import_app = typer.Typer(rich_markup_mode=None, help="Import data into the lake (culture folders, batch files, "
                         "historian exports, LIMS tables).", no_args_is_help=True)
audit_app = typer.Typer(rich_markup_mode=None, help="The tamper-evident audit trail.", no_args_is_help=True)
lake_app = typer.Typer(rich_markup_mode=None, help="Lake maintenance: schema, snapshots, quarantine, tags.",
                       no_args_is_help=True)
app.add_typer(import_app, name="import")
app.add_typer(audit_app, name="audit")
app.add_typer(lake_app, name="lake")

QUARANTINE = typer.Option(False, "--quarantine",
                          help="Import the good rows and keep the rejected ones, with their "
                          "reasons, in the quarantine table.")
QUIET = typer.Option(False, "--quiet", "-q", help="No progress bar.")
JSON = typer.Option(False, "--json", help="Print JSON.")
WHY = typer.Option(None, "--why", help="Reason recorded in the audit trail.")


def _lake(ctx: typer.Context) -> Lake:
    root = str((ctx.obj or {}).get("lake", "./biotwin-data"))
    root = re.sub(r"^(s3|gs|hdfs):/(?!/)", r"\1://", root)  # a Path option folds "s3://" to "s3:/"
    return Lake(root)


def _progress(quiet: bool) -> bool:
    return not quiet and sys.stderr.isatty()


def _report(results: list[IngestResult], as_json: bool) -> None:
    if as_json:
        print_json([r.as_dict() for r in results])
        return
    for r in results:
        typer.echo(f"{r.source}: {r.n_points} points, {r.n_samples} samples, {r.n_events} "
                   f"events added" + (f", {r.n_rejected} rows quarantined" if r.n_rejected else "")
                   + f" ({', '.join(r.batches)})")


@import_app.command("cho-dataset")
@handle_errors
def import_cho_dataset(
    ctx: typer.Context,
    path: Path = typer.Argument(..., help="A culture folder, or a folder of them "
                                "(e.g. ../shared/data/cho_fedbatch)."),
    quiet: bool = QUIET,
    as_json: bool = JSON,
    why: str = WHY,
) -> None:
    """Import shared CHO culture folders: measurements -> samples, schedule -> events."""
    _report(imports.import_cultures(_lake(ctx), path, progress=_progress(quiet), why=why), as_json)


@import_app.command("batch")
@handle_errors
def import_batch(
    ctx: typer.Context,
    files: list[Path] = typer.Argument(..., help="Wide batch files: CSV, CSV.gz, Parquet or .xlsx."),
    batch_id: str = typer.Option(None, "--batch-id", help="Batch id (default: the file name)."),
    unit: str = typer.Option(None, "--unit", help="ISA-95 unit (vessel) the batch ran on."),
    time_col: str = typer.Option(None, "--time-col",
                                 help="Time column (default time_h, or timestamps)."),
    product: str = typer.Option(None, "--product", help="Product of the batch."),
    quarantine: bool = QUARANTINE,
    quiet: bool = QUIET,
    as_json: bool = JSON,
    why: str = WHY,
) -> None:
    """Import wide batch files: a time column and one 'name [unit]' column per tag."""
    _report(imports.import_batch_files(
        _lake(ctx), files, batch_id=batch_id, unit=unit, time_col=time_col, product=product,
        quarantine=quarantine, progress=_progress(quiet), why=why), as_json)


@import_app.command("timeseries")
@handle_errors
def import_timeseries(
    ctx: typer.Context,
    files: list[Path] = typer.Argument(..., help="Long exports: timestamp, tag, value[, quality]."),
    batch_id: str = typer.Option(None, "--batch-id", help="Batch id (default: the file name)."),
    unit: str = typer.Option(None, "--unit", help="ISA-95 unit (vessel) the batch ran on."),
    quarantine: bool = QUARANTINE,
    quiet: bool = QUIET,
    as_json: bool = JSON,
    why: str = WHY,
) -> None:
    """Import long (narrow) historian exports, as PI or IP.21 write them."""
    _report(imports.import_timeseries_files(
        _lake(ctx), files, batch_id=batch_id, unit=unit, quarantine=quarantine,
        progress=_progress(quiet), why=why), as_json)


@import_app.command("samples")
@handle_errors
def import_samples(
    ctx: typer.Context,
    files: list[Path] = typer.Argument(..., help="LIMS sample tables (CSV)."),
    quarantine: bool = QUARANTINE,
    quiet: bool = QUIET,
    as_json: bool = JSON,
    why: str = WHY,
) -> None:
    """Import LIMS sample tables (batch_id, assay, value, unit, sample_time, ...)."""
    _report(imports.import_sample_files(_lake(ctx), files, quarantine=quarantine,
                                        progress=_progress(quiet), why=why), as_json)


@app.command("batches")
@handle_errors
def batches(ctx: typer.Context, as_json: bool = JSON) -> None:
    """List the batches with their counts (n_points, n_samples) and time span."""
    rows = _lake(ctx).batches()
    if as_json:
        print_json(rows)
        return
    typer.echo(f"{'batch_id':40} {'unit':24} {'n_points':>10} {'n_samples':>9} {'span [h]':>16}")
    for r in rows:
        span = "" if r["start_h"] is None else f"{r['start_h']:.1f}-{r['end_h']:.1f}"
        typer.echo(f"{r['batch_id']:40} {r['unit_id'] or '':24} {r['n_points']:>10} "
                   f"{r['n_samples']:>9} {span:>16}")


@app.command("query")
@handle_errors
def query(
    ctx: typer.Context,
    batch: str = typer.Option(..., "--batch", help="Batch id."),
    tag: str = typer.Option(..., "--tag", help="Tag (or offline assay) name."),
    every: float = typer.Option(None, "--every", help="Resample: bin width [h] (bin mean)."),
    start_h: float = typer.Option(None, "--start-h", help="From culture time [h]."),
    end_h: float = typer.Option(None, "--end-h", help="To culture time [h]."),
    as_json: bool = JSON,
) -> None:
    """A batch's tag trajectory on culture time."""
    traj = _lake(ctx).trajectory(batch, tag, every_h=every, start_h=start_h, end_h=end_h)
    if as_json:
        print_json({"time_h": traj["time_h"], "value": traj["value"]})
        return
    typer.echo("time_h,value")
    for t, v in zip(traj["time_h"], traj["value"], strict=True):
        typer.echo(f"{t:.6g},{v:.10g}")


def _print_frame(frame: Any, as_json: bool) -> None:
    if as_json:
        print_json(_records(frame))
    else:
        typer.echo(frame.to_string(index=False) if len(frame) else "(none)")


def _records(frame: Any) -> list[dict[str, Any]]:
    out = []
    for rec in frame.astype(object).where(frame.notna(), None).to_dict(orient="records"):
        out.append({k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in rec.items()})
    return out


@app.command("samples")
@handle_errors
def samples(
    ctx: typer.Context,
    batch: str = typer.Option(None, "--batch", help="Only this batch."),
    assay: str = typer.Option(None, "--assay", help="Only this assay."),
    as_json: bool = JSON,
) -> None:
    """Offline samples (assay, value, unit, sample time, result time, method, LIMS id)."""
    _print_frame(_lake(ctx).samples(batch, assay), as_json)


@app.command("events")
@handle_errors
def events(
    ctx: typer.Context,
    batch: str = typer.Option(None, "--batch", help="Only this batch."),
    kind: str = typer.Option(None, "--kind", help="Only this kind (feed, withdrawal, shift...)."),
    as_json: bool = JSON,
) -> None:
    """Batch events: feeds, withdrawals, shifts, alarms, operator actions."""
    _print_frame(_lake(ctx).events(batch, kind), as_json)


@app.command("sql")
@handle_errors
def sql(
    ctx: typer.Context,
    query_text: str = typer.Argument(..., metavar="QUERY",
                                     help="Read-only SQL; tables: batches, samples, events, "
                                     "tags, ..., and the view timeseries."),
    as_json: bool = JSON,
) -> None:
    """Plain SQL over the lake (DuckDB dialect), read-only."""
    table = _lake(ctx).sql(query_text)
    _print_frame(table.to_pandas(), as_json)


@audit_app.command("verify")
@handle_errors
def audit_verify(
    ctx: typer.Context,
    files: bool = typer.Option(False, "--files", help="Also check every Parquet file's SHA-256."),
    as_json: bool = JSON,
) -> None:
    """Verify the audit hash chain; exit 1 and name the first bad row if it is broken."""
    result = _lake(ctx).verify_audit(check_files=files)
    if as_json:
        print_json(result.as_dict())
    elif result.ok:
        typer.echo(f"audit trail OK: {result.n_rows} rows verified")
    else:
        typer.echo(f"audit trail BROKEN at row {result.bad_seq}: {result.reason}", err=True)
    if not result.ok:
        raise typer.Exit(code=1)


@lake_app.command("migrate")
@handle_errors
def lake_migrate(ctx: typer.Context) -> None:
    """Create the catalog, or bring it to this version's schema."""
    typer.echo(f"schema versions applied: {_lake(ctx).migrate()}")


@lake_app.command("publish")
@handle_errors
def lake_publish(ctx: typer.Context) -> None:
    """Rewrite the Parquet snapshots of the catalog tables (catalog/*.parquet)."""
    for rel in _lake(ctx).publish():
        typer.echo(rel)


@lake_app.command("quarantine")
@handle_errors
def lake_quarantine(ctx: typer.Context, as_json: bool = JSON) -> None:
    """Rows refused by imports in quarantine mode, with their reasons."""
    _print_frame(_lake(ctx).quarantine(), as_json)


@lake_app.command("tags")
@handle_errors
def lake_tags(ctx: typer.Context, as_json: bool = JSON) -> None:
    """Tags and their units of measure."""
    _print_frame(_lake(ctx).tags(), as_json)


if __name__ == "__main__":  # `python -m biotwin.cli.lake_commands`: the lake commands alone
    app()

"""Commands on models: simulate, validate, bench, demo."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import typer

from biotwin.cli import app
from biotwin.cli.common import handle_errors, print_json, write_frame
from biotwin.errors import DataError

bench_app = typer.Typer(rich_markup_mode=None, help="Benchmarks (ratios against a baseline measured in the same run).",
                        no_args_is_help=True)
app.add_typer(bench_app, name="bench")


@app.command()
@handle_errors
def simulate(
    recipe: Path = typer.Option(..., "--recipe", "-r", help="Recipe YAML or a shared culture folder."),
    params: str = typer.Option("cho_t127_kotidis2019", "--params", "-p", help="Parameter set name or YAML."),
    model: str = typer.Option(None, "--model", "-m", help="Model name (default: the parameter set's)."),
    out: Path = typer.Option(None, "--out", "-o", help="Write trajectories to .csv, .parquet or .json."),
    every: float = typer.Option(1.0, "--every", help="Output interval [h]."),
    method: str = typer.Option("dp5", "--method", help="dp5 (compiled) or a scipy method (LSODA, Radau, ...)."),
    rtol: float = typer.Option(1e-8, "--rtol", help="Relative tolerance."),
    plot: Path = typer.Option(None, "--plot", help="Write a PNG of every state."),
    as_json: bool = typer.Option(False, "--json", help="Print the trajectories as JSON."),
) -> None:
    """Simulate one batch: recipe + parameter set -> trajectories."""
    from biotwin.models import convert_recipe, get_model
    from biotwin.parameters import get_parameter_set
    from biotwin.recipes import load_recipe
    from biotwin.simulation import simulate as run

    ps = get_parameter_set(params)
    mdl = get_model(model) if model else ps.get_model()
    rec = convert_recipe(load_recipe(recipe), mdl)
    t = np.unique(np.append(np.arange(0.0, rec.duration_h, every), rec.duration_h))
    res = run(mdl, ps, rec, t_out=t, method=method, rtol=rtol)
    frame = res.to_frame()
    if out is not None:
        write_frame(frame, out)
    if plot is not None:
        from biotwin.report import plot_trajectories

        plot_trajectories(res, plot)
    if as_json:
        print_json({"recipe": rec.name, "params": ps.name, "model": mdl.name,
                    **{c: frame[c].to_numpy() for c in frame.columns}})
    else:
        last = frame.iloc[-1]
        typer.echo(f"{rec.name}: {len(frame)} points to {last['time_h']:.1f} h; "
                   f"final Xv {last['Xv [cells/L]']:.3e} cells/L, mAb {last['mAb [mg/L]']:.1f} mg/L")


@app.command()
@handle_errors
def validate(
    dataset: Path = typer.Option(..., "--dataset", "-d", help="A shared culture folder."),
    params: str = typer.Option("cho_t127_kotidis2019", "--params", "-p", help="Parameter set name or YAML."),
    plot: Path = typer.Option(None, "--plot", help="Write a PNG: simulated vs measured."),
    as_json: bool = typer.Option(False, "--json", help="Print the metrics as JSON."),
) -> None:
    """Simulate a measured culture open loop (no fitting) and score every state."""
    from biotwin.validation import validate as run

    val = run(dataset, params)
    summary = val.summary()
    if plot is not None:
        from biotwin.report import plot_validation

        plot_validation(val, plot)
    if as_json:
        print_json(summary)
        return
    typer.echo(f"{summary['dataset']} with {summary['params']} (open loop)")
    typer.echo(f"{'state':6} {'unit':8} {'RMSE':>10} {'R2':>7}")
    for name, m in summary["states"].items():
        typer.echo(f"{name:6} {summary['units'][name]:8} {m['rmse']:10.4g} {m['r2']:7.3f}")
    typer.echo(f"final mAb {summary['final_mAb']:.1f} mg/L (measured {summary['final_mAb_measured']:.1f}, "
               f"{100 * summary['final_mAb_rel_err']:+.1f}%)")


@bench_app.command("ensemble")
@handle_errors
def bench_ensemble(
    n: int = typer.Option(20_000, "--n", help="Number of batches."),
    model: str = typer.Option("cho", "--model", help="cho (fast, QSS environment) or bioreactor (dynamic DO/pH)."),
    backend: str = typer.Option("numba", "--backend", help="numba (CPU cores) or cuda (GPU)."),
    seed: int = typer.Option(0, "--seed"),
    rtol: float = typer.Option(None, "--rtol", help="Relative tolerance (default per model)."),
    n_baseline: int = typer.Option(20, "--n-baseline", help="Batches in the baseline subsample."),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Ensemble throughput against a scipy LSODA loop, with accuracy against a tight reference."""
    from biotwin.benchmarks import BENCH_MODELS
    from biotwin.benchmarks import bench_ensemble as run

    if model not in BENCH_MODELS:
        raise DataError(f"--model must be one of {sorted(BENCH_MODELS)}, got {model!r}")
    result = run(n=n, seed=seed, model_key=model, rtol=rtol, n_baseline=n_baseline, backend=backend)
    if as_json:
        print_json(result)
    else:
        typer.echo(json.dumps(result, indent=2))


@app.command(help=(
    "The main job on embedded defaults, written as an HTML report.\n\n"
    "The six shared cultures open loop, the fit table, the twin on each culture, and a virtual-plant batch with "
    "a fault (twin, soft sensor, monitor)."))
@handle_errors
def demo(
    ctx: typer.Context,
    out: Path = typer.Option(Path("biotwin-out"), "--out", help="Report folder."),
    shared: Path = typer.Option(None, "--data", help="Folder of the shared CHO cultures."),
    plant: bool = typer.Option(True, "--plant/--no-plant",
                               help="Also run an accelerated virtual-plant batch with a fault, followed by the "
                                    "twin, a titre soft sensor and the batch monitor."),
) -> None:
    """The main job on embedded defaults, written as an HTML report."""
    from biotwin.report import run_demo

    path = run_demo(out=out, data=shared, lake=ctx.obj["lake"] if ctx.obj else None, plant=plant)
    typer.echo(f"report: {path}")

"""Commands of the live twin: track (replay a culture), twin whatif, twin live."""

from __future__ import annotations

from pathlib import Path

import typer

from biotwin.cli import app
from biotwin.cli.common import handle_errors, print_json
from biotwin.errors import DataError

twin_app = typer.Typer(rich_markup_mode=None,
                       help="The live twin: what-if scenarios and live tracking of lake batches.",
                       no_args_is_help=True)
app.add_typer(twin_app, name="twin")


@app.command()
@handle_errors
def track(
    dataset: Path = typer.Option(..., "--dataset", "-d", help="A culture folder in the shared format."),
    params: str = typer.Option("cho_t127_kotidis2019", "--params", "-p", help="Starting parameter set."),
    seed: int = typer.Option(0, "--seed", help="random_state of the estimator."),
    members: int = typer.Option(512, "--members", "-n", help="Ensemble size."),
    estimator: str = typer.Option("enkf", "--estimator", help="enkf (ensemble Kalman) or pf (particle filter)."),
    plot: Path = typer.Option(None, "--plot", help="Write a PNG: estimate bands, measurements, forecasts."),
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
) -> None:
    """Replay a measured culture through the estimator, using at each time only the data so far."""
    from biotwin.twin.replay import track_culture

    if not dataset.is_dir():
        raise DataError("not a culture folder", file=str(dataset))
    res = track_culture(dataset, params, seed=seed, n_members=members, estimator=estimator)
    summary = res.summary()
    if plot is not None:
        from biotwin.twin.plots import plot_track

        plot_track(res, plot)
    if as_json:
        print_json(summary)
        return
    typer.echo(f"{summary['dataset']}: {summary['estimator']}, {members} members, {res.elapsed_s:.2f} s")
    typer.echo(f"{'state':6} {'posterior':>11} {'prior':>11}")
    for k, v in summary["posterior_rmse"].items():
        typer.echo(f"{k:6} {v:11.4g} {summary['prior_rmse'][k]:11.4g}")
    typer.echo(f"final mAb measured {summary['final_mAb_measured']:.1f} mg/L")


def _specs(spec: list[str]) -> dict[str, tuple[float | None, float | None]]:
    out: dict[str, tuple[float | None, float | None]] = {}
    for s in spec or []:
        name, _, rng = s.partition("=")
        lo, _, hi = rng.partition(":")
        try:
            out[name] = (float(lo) if lo else None, float(hi) if hi else None)
        except ValueError:
            raise DataError(f"--spec {s!r}: expected NAME=LO:HI, e.g. mAb=400: or GI=0.3:0.6") from None
    return out


@twin_app.command("whatif")
@handle_errors
def whatif_cmd(
    recipe: Path = typer.Option(..., "--recipe", "-r", help="Recipe YAML or a shared culture folder."),
    truth_params: str = typer.Option("cho_t127_kotidis2019", "--truth-params", help="Parameters of the truth."),
    params: str = typer.Option("cho_t127_kotidis2019", "--params", "-p", help="The twin's starting parameters."),
    fault: str = typer.Option(None, "--fault", help="Injected fault, e.g. missed-feed:at=96."),
    decision: float = typer.Option(120.0, "--at", help="Decision time [h]: data up to it are used."),
    every: float = typer.Option(24.0, "--every", help="Sampling interval of the truth [h]."),
    objective: str = typer.Option("mAb", "--objective", help="Harvest value to maximise (mAb, GI, ...)."),
    spec: list[str] = typer.Option(None, "--spec", help="Harvest spec NAME=LO:HI (repeatable)."),
    members: int = typer.Option(128, "--members", "-n"),
    seed: int = typer.Option(0, "--seed"),
    verify: bool = typer.Option(True, "--verify/--no-verify", help="Re-run the truth with the top action."),
    plot: Path = typer.Option(None, "--plot", help="Write a PNG of the ranking."),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Rank corrective actions on a faulty simulated batch and check the best on the truth."""
    from biotwin.parameters import get_parameter_set
    from biotwin.recipes import load_recipe
    from biotwin.twin.scenarios import Action, ScenarioResult, whatif

    rec = load_recipe(recipe)
    out = whatif(rec, get_parameter_set(truth_params), fault, decision, get_parameter_set(params),
                 n_members=members, random_state=seed, every_h=every, objective=objective,
                 specs=_specs(spec) or None, verify=verify)
    if plot is not None:
        from biotwin.twin.plots import plot_scenarios

        res = [ScenarioResult(Action(r["action"], r["kind"]), r["mean"], r["lo"], r["hi"],
                              r["p_better_than_nothing"], r["spec_probability"]) for r in out["ranking"]]
        plot_scenarios(res, plot, objective)
    if as_json:
        print_json(out)
        return
    typer.echo(f"fault {fault}, decision at {decision:g} h; predicted harvest {objective} (90% band):")
    for r in out["ranking"]:
        typer.echo(f"  {r['action']:28} {r['mean']:10.4g} [{r['lo']:.4g}, {r['hi']:.4g}] "
                   f"P(better than nothing) {r['p_better_than_nothing']:.2f}")
    if "truth" in out:
        t = out["truth"]
        typer.echo(f"truth: nothing {t['nothing']:.4g}, top action {t['top']:.4g} (improved: {t['improved']})")


@twin_app.command("live")
@handle_errors
def live_cmd(
    ctx: typer.Context,
    batch: str = typer.Option(..., "--batch", "-b", help="Batch id in the lake."),
    params: str = typer.Option("cho_t127_kotidis2019", "--params", "-p"),
    estimator: str = typer.Option("enkf", "--estimator"),
    members: int = typer.Option(512, "--members", "-n"),
    seed: int = typer.Option(0, "--seed"),
    poll: float = typer.Option(1.0, "--poll", help="Seconds between polls of the lake."),
    max_polls: int = typer.Option(1, "--max-polls", help="Polls before stopping (0: until harvest)."),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Follow a lake batch: assimilate new samples, write estimates and forecasts as predictions."""
    from biotwin.lake import Lake
    from biotwin.twin.live import LiveTwin

    lake = Lake(ctx.obj["lake"])
    twin = LiveTwin(lake, batch, params, estimator=estimator, n_members=members, random_state=seed)
    updates = twin.run(poll_s=poll, max_polls=max_polls or None)
    out = {"batch": batch, "model_id": twin.model_id, "model_version": twin.model_version,
           "updates": updates, "t_h": twin.est_.t_ if twin.est_ is not None else None,
           "max_latency_s": max((u["latency_s"] for u in updates), default=None)}
    if as_json:
        print_json(out)
    else:
        typer.echo(f"{batch}: {len(updates)} updates, estimate at {out['t_h']} h, "
                   f"max latency {out['max_latency_s'] or 0:.3f} s")

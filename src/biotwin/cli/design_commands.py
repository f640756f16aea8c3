"""Commands for in silico campaigns: design space, DoE, sensitivity, optimize."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any, cast

import numpy as np
import typer

from biotwin.cli import app
from biotwin.cli.common import handle_errors, print_json
from biotwin.errors import DataError

design_app = typer.Typer(rich_markup_mode=None, help="In silico campaigns: DoE, Monte Carlo design space, sensitivity, "
                              "golden-batch optimisation (in-process or on Dask).", no_args_is_help=True)
app.add_typer(design_app, name="design")

_RECIPE = typer.Option(..., "--recipe", "-r", help="Recipe YAML or a shared culture folder.")
_PARAMS = typer.Option("cho_t127_kotidis2019", "--params", "-p", help="Parameter set name or YAML.")
_FACTOR = typer.Option(None, "--factor", "-f", help="NAME=LO:HI (repeatable), e.g. feed_scale=0.5:2.")
_FIX = typer.Option(None, "--fix", help="NAME=VALUE held fixed (repeatable), e.g. shift_temperature_C=32.")
_SPEC = typer.Option(None, "--spec", "-s", help="Spec 'QUANTITY OP NUMBER' (repeatable), e.g. 'Amm_peak <= 6'.")
_SEED = typer.Option(0, "--seed", help="Random seed (fully determines the draws).")
_SCHED = typer.Option(None, "--scheduler", help="local:N (local Dask cluster) or tcp://HOST:PORT; default in-process.")
_THREADS = typer.Option(0, "--threads", help="Numba threads per task (0: default; local:N uses cores/N).")
_OUT = typer.Option(None, "--out", "-o", help="Folder for tables, plots and the resumable chunk cache.")
_JSON = typer.Option(False, "--json", help="Print the result as JSON.")
_PROGRESS = typer.Option(True, "--progress/--no-progress", help="Progress bar on stderr.")
_COV = typer.Option(None, "--covariance", help="CSV covariance of ln(parameters) (a calibration's cov_); "
                                                "default: the parameter set's stated std.")
_INDEP = typer.Option(False, "--independent-draws", help="Each design point gets its own parameter draws "
                                                         "(default: common draws for every point).")
_LAKE = typer.Option(None, "--lake", help="Record results in this lake (default: the global --lake, if given).")


def _campaign(recipe: Path, params: str, factors: list[str] | None, fixed: list[str] | None,
              specs: list[str] | None, mc: int, seed: int, covariance: Path | None, independent: bool,
              quantities: tuple[str, ...] = ("mAb",)) -> Any:
    from biotwin.design import Campaign, Covariance, parse_factor, parse_fixed, parse_spec
    from biotwin.parameters import get_parameter_set
    from biotwin.recipes import load_recipe

    ps = get_parameter_set(params)
    model = ps.get_model()
    return Campaign(
        recipe=load_recipe(recipe), parameter_set=ps,
        factors=tuple(parse_factor(f) for f in factors or []),
        fixed=tuple(parse_fixed(f) for f in fixed or []),
        specs=tuple(parse_spec(s, model) for s in specs or []),
        quantities=quantities, n_mc=mc, seed=seed, common_draws=not independent,
        covariance=Covariance.from_csv(covariance) if covariance else None,
    )


def _lake_path(ctx: typer.Context, lake: Path | None) -> Path | None:
    if lake is not None:
        return lake
    parent = ctx.find_root()
    src = parent.get_parameter_source("lake") if parent is not None else None
    # typer may vendor its own click: compare the source by name
    if getattr(src, "name", None) in ("COMMANDLINE", "ENVIRONMENT"):
        return Path(cast(str, (ctx.obj or {}).get("lake")))
    return None


def _record(lake_root: Path | None, frame: Any, why: str) -> int:
    if lake_root is None or frame is None or len(frame) == 0:
        return 0
    from biotwin.lake import Lake

    return Lake(lake_root).add_records("predictions", frame, why=why)


def _executor(scheduler: str | None, threads: int, progress: bool) -> Any:
    from biotwin.design import Executor

    return Executor(scheduler, threads=threads, progress=progress)


@design_app.command("space")
@handle_errors
def space(
    ctx: typer.Context,
    recipe: Path = _RECIPE, params: str = _PARAMS, factor: list[str] = _FACTOR, fix: list[str] = _FIX,
    spec: list[str] = _SPEC,
    grid: int = typer.Option(20, "--grid", "-g", help="Levels per factor."),
    mc: int = typer.Option(200, "--mc", help="Monte Carlo draws per grid point (0: nominal parameters)."),
    threshold: float = typer.Option(0.95, "--threshold", help="P(all specs) a setting needs [-]."),
    seed: int = _SEED, scheduler: str = _SCHED, threads: int = _THREADS, out: Path = _OUT,
    covariance: Path = _COV, independent_draws: bool = _INDEP, progress: bool = _PROGRESS,
    lake: Path = _LAKE, as_json: bool = _JSON,
) -> None:
    """Probabilistic design space: P(all specs met) over parameter uncertainty on a factor grid."""
    from biotwin.design import design_space

    if not factor:
        raise DataError("give at least one --factor NAME=LO:HI")
    if grid < 1:
        raise DataError(f"--grid must be >= 1, got {grid}")
    camp = _campaign(recipe, params, factor, fix, spec, mc, seed, covariance, independent_draws)
    t0 = time.perf_counter()
    with _executor(scheduler, threads, progress) as ex:
        ds = design_space(camp, grid, threshold, executor=ex, cache_dir=out)
    seconds = time.perf_counter() - t0
    key = camp.key()[:12]
    summary = {
        "n_simulations": ds.n_simulations, "seconds": seconds, "factors": camp.factor_names,
        "probability": ds.probability, "design_space_fraction": ds.fraction,
        "levels": {f.name: lv for f, lv in zip(camp.factors, ds.levels, strict=True)},
        "specs": [str(s) for s in camp.specs], "threshold": threshold, "mc": mc, "seed": seed,
        "scheduler": scheduler or "inprocess", "n_failed": int(ds.results.n_failed.sum()), "campaign": key,
    }
    table = ds.table()
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        table.to_parquet(out / "design_space.parquet", index=False)
        table.to_csv(out / "design_space.csv", index=False)
        if len(camp.factors) <= 2:
            summary["plot"] = str(ds.plot(out / "design_space.png"))
        (out / "design_space.json").write_text(json.dumps(_plain(summary), indent=2))
    lake_root = _lake_path(ctx, lake)
    if lake_root is not None:
        import pandas as pd

        frame = pd.DataFrame({
            "model_id": "biotwin.design.space", "model_version": key,
            "batch_id": [f"design-{key}-{i:05d}" for i in range(len(table))], "target": "P(specs)",
            "time_h": camp.t_max(), "value": ds.results.p_spec, "unit": "-",
        })
        summary["lake_rows"] = _record(lake_root, frame, f"design space {key}: " + "; ".join(summary["specs"]))
    if as_json:
        print_json(summary)
        return
    typer.echo(f"{ds.n_simulations} batches in {seconds:.1f} s; design space (P >= {threshold:g}): "
               f"{100 * ds.fraction:.1f}% of the grid")
    if len(camp.factors) == 2:
        p = ds.probability
        typer.echo(f"rows: {camp.factors[0].name}, columns: {camp.factors[1].name}")
        typer.echo("         " + " ".join(f"{v:6.3g}" for v in ds.levels[1]))
        for v, row in zip(ds.levels[0], p, strict=True):
            typer.echo(f"{v:8.3g} " + " ".join(f"{x:6.2f}" for x in row))


@design_app.command("doe")
@handle_errors
def doe(
    recipe: Path = _RECIPE, params: str = _PARAMS, factor: list[str] = _FACTOR, fix: list[str] = _FIX,
    spec: list[str] = _SPEC,
    design: str = typer.Option("lhs", "--design", help="full, fractional, lhs or sobol."),
    levels: int = typer.Option(3, "--levels", help="Levels per factor (full factorial)."),
    n: int = typer.Option(32, "--n", help="Points (lhs, sobol)."),
    generators: str = typer.Option(None, "--generators", help="Fractional factorial words, e.g. 'a b c abc'."),
    quantity: list[str] = typer.Option(None, "--quantity", "-q", help="Outcomes to summarise (default mAb)."),
    mc: int = typer.Option(100, "--mc", help="Monte Carlo draws per point (0: nominal parameters)."),
    seed: int = _SEED, scheduler: str = _SCHED, threads: int = _THREADS, out: Path = _OUT,
    covariance: Path = _COV, independent_draws: bool = _INDEP, progress: bool = _PROGRESS, as_json: bool = _JSON,
) -> None:
    """Run a designed campaign (factorial, fractional, Latin hypercube, Sobol) and tabulate outcomes."""
    from biotwin.design import make_design

    camp = _campaign(recipe, params, factor, fix, spec, mc, seed, covariance, independent_draws,
                     tuple(quantity or ("mAb",)))
    x = make_design(design, camp.factors, levels=levels, n=n, generators=generators, seed=seed)
    t0 = time.perf_counter()
    with _executor(scheduler, threads, progress) as ex:
        res = ex.run(camp, x, cache_dir=out)
    seconds = time.perf_counter() - t0
    import pandas as pd

    table = pd.DataFrame(x, columns=camp.factor_names)
    table["p_spec"] = res.p_spec
    for q in res.quantities:
        table[f"{q}_mean"] = res.column(q, "mean")
        table[f"{q}_sd"] = res.column(q, "std")
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        table.to_parquet(out / "doe.parquet", index=False)
        table.to_csv(out / "doe.csv", index=False)
    if as_json:
        print_json({"design": design, "factors": camp.factor_names, "points": x, "p_spec": res.p_spec,
                    "mean": {q: res.column(q, "mean") for q in res.quantities},
                    "n_simulations": int(x.shape[0] * max(mc, 1)), "seconds": seconds})
        return
    typer.echo(table.to_string(index=False, float_format=lambda v: f"{v:.4g}"))


@design_app.command("sensitivity")
@handle_errors
def sensitivity(
    recipe: Path = _RECIPE, params: str = _PARAMS, factor: list[str] = _FACTOR, fix: list[str] = _FIX,
    output: str = typer.Option("mAb", "--output", help="Quantity whose variance is decomposed."),
    n: int = typer.Option(256, "--n", help="Base sample size (power of 2); n (d + 2) campaign points."),
    mc: int = typer.Option(0, "--mc", help="Monte Carlo draws per point, output averaged (0: nominal)."),
    seed: int = _SEED, scheduler: str = _SCHED, threads: int = _THREADS, progress: bool = _PROGRESS,
    as_json: bool = _JSON,
) -> None:
    """Sobol indices (SALib) of an outcome with respect to the factors (use param.NAME for parameters)."""
    from biotwin.design.sensitivity import sobol_analyze, sobol_samples

    camp = _campaign(recipe, params, factor, fix, None, mc, seed, None, False, (output,))
    names = camp.factor_names
    if not names:
        raise DataError("give at least one --factor NAME=LO:HI")
    bounds = [(f.low, f.high) for f in camp.factors]
    x = sobol_samples(names, bounds, n, seed)
    t0 = time.perf_counter()
    with _executor(scheduler, threads, progress) as ex:
        res = ex.run(camp, x)
    idx = sobol_analyze(names, bounds, res.column(output, "mean"), seed)
    result = {"output": output, **idx.to_dict(), "seconds": time.perf_counter() - t0}
    if as_json:
        print_json(result)
        return
    typer.echo(f"Sobol indices of {output} ({idx.n_evaluations} points)")
    for j, name in enumerate(names):
        typer.echo(f"{name:24} S1 {idx.S1[j]:6.3f} +- {idx.S1_conf[j]:.3f}   "
                   f"ST {idx.ST[j]:6.3f} +- {idx.ST_conf[j]:.3f}")


@design_app.command("optimize")
@handle_errors
def optimize(
    ctx: typer.Context,
    recipe: Path = _RECIPE, params: str = _PARAMS,
    factor: list[str] = typer.Option(None, "--factor", "-f", help="NAME=LO:HI decision variables (default: "
                                     "feed_scale, feed_start_h, feed_interval_h, shift_time_h, "
                                     "shift_temperature_C, harvest_h over standard ranges)."),
    fix: list[str] = _FIX, spec: list[str] = _SPEC,
    objective: str = typer.Option("mAb", "--objective", help="Quantity maximised in expectation."),
    p_min: float = typer.Option(0.95, "--p-min", help="Required P(all specs met) [-]."),
    margin: float = typer.Option(0.02, "--margin", help="Extra P the search asks for (robust to fresh draws)."),
    mc: int = typer.Option(200, "--mc", help="Common Monte Carlo draws per candidate during the search."),
    confirm: int = typer.Option(2000, "--confirm", help="Fresh Monte Carlo draws confirming the optimum."),
    maxiter: int = typer.Option(25, "--maxiter", help="Differential evolution generations."),
    popsize: int = typer.Option(8, "--popsize", help="Population per factor."),
    seed: int = _SEED, scheduler: str = _SCHED, threads: int = _THREADS, out: Path = _OUT,
    covariance: Path = _COV, progress: bool = typer.Option(False, "--progress/--no-progress"),
    lake: Path = _LAKE, as_json: bool = _JSON,
) -> None:
    """Golden-batch recipe: maximise E[objective] s.t. P(specs) >= p_min, confirmed on fresh draws."""
    from biotwin.design.optimize import DEFAULT_BOUNDS, DEFAULT_SPECS, optimize_recipe

    fixed_names = {f.split("=")[0].strip() for f in fix or []}
    factors = factor or [f"{k}={lo:g}:{hi:g}" for k, (lo, hi) in DEFAULT_BOUNDS.items() if k not in fixed_names]
    specs = spec or list(DEFAULT_SPECS)
    quantities = tuple(dict.fromkeys((objective, "mAb")))
    camp = _campaign(recipe, params, factors, fix, specs, mc, seed, covariance, False, quantities)
    t0 = time.perf_counter()
    gb = optimize_recipe(camp, objective, p_min, margin, n_confirm=confirm, maxiter=maxiter, popsize=popsize,
                         executor=_executor(scheduler, threads, progress))
    seconds = time.perf_counter() - t0
    golden = camp.template.to_recipe({**dict(camp.fixed), **gb.settings},
                                     name=f"{camp.recipe.name}_golden")
    rec: dict[str, Any] = {"name": golden.name, "settings": gb.settings, "fixed": dict(camp.fixed),
                           "explanation": gb.explanation}
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        golden.to_yaml(out / "golden_recipe.yaml")
        rec["path"] = str(out / "golden_recipe.yaml")
    result = {
        "recipe": rec, "expected_mAb": gb.means.get("mAb"), "p_spec": gb.p_spec,
        "baseline_expected_mAb": gb.baseline_means.get("mAb"), "baseline_p_spec": gb.baseline_p_spec,
        "objective": objective, "expected": gb.expected, "baseline_expected": gb.baseline_expected,
        "improvement": gb.improvement, "p_each": gb.p_each, "baseline_p_each": gb.baseline_p_each,
        "mAb_q05_q50_q95": [gb.quantiles[k] for k in ("q05", "q50", "q95")] if objective == "mAb" else None,
        "specs": specs, "p_min": p_min, "n_confirm": confirm, "search_expected": gb.search_expected,
        "search_p_spec": gb.search_p_spec, "at_bounds": gb.at_bounds, "limits": gb.limits,
        "n_simulations": gb.n_simulations, "seconds": seconds, "seed": seed,
    }
    if out is not None:
        (out / "golden_batch.json").write_text(json.dumps(_plain(result), indent=2))
    lake_root = _lake_path(ctx, lake)
    if lake_root is not None:
        import pandas as pd

        key = camp.key()[:12]
        harvest = float(golden.duration_h)
        frame = pd.DataFrame({
            "model_id": "biotwin.design.optimize", "model_version": key,
            "batch_id": [f"golden-{key}", f"golden-{key}", f"baseline-{key}", f"baseline-{key}"],
            "target": [objective, "P(specs)", objective, "P(specs)"],
            "time_h": [harvest, harvest, float(camp.recipe.duration_h), float(camp.recipe.duration_h)],
            "value": [gb.expected, gb.p_spec, gb.baseline_expected, gb.baseline_p_spec],
            "lower": [gb.quantiles["q05"], np.nan, np.nan, np.nan],
            "upper": [gb.quantiles["q95"], np.nan, np.nan, np.nan],
            "unit": [_unit(camp, objective), "-",
                     _unit(camp, objective), "-"],
        })
        result["lake_rows"] = _record(lake_root, frame, f"golden batch {key}: {gb.explanation}")
    if as_json:
        print_json(result)
        return
    typer.echo(f"golden batch: E[{objective}] = {gb.expected:.1f} (baseline {gb.baseline_expected:.1f}, "
               f"{100 * gb.improvement:+.1f}%), P(specs) = {gb.p_spec:.3f} on {confirm} fresh draws")
    typer.echo(gb.explanation)
    typer.echo(f"limits: {gb.limits}")


def _unit(camp: Any, quantity: str) -> str:
    from biotwin.design.specs import quantity_unit

    return quantity_unit(quantity, camp.model)


def _plain(obj: Any) -> Any:
    from biotwin.cli.common import _jsonable

    return _jsonable(obj)

"""Commands for soft sensors and batch monitoring: ``biotwin softsensor ...``, ``biotwin monitor ...``."""

from __future__ import annotations

from pathlib import Path
from typing import Any, cast

import typer

from biotwin.cli import app
from biotwin.cli.common import about_file, handle_errors, print_json
from biotwin.errors import DataError

softsensor_app = typer.Typer(rich_markup_mode=None, help="Soft sensors: virtual assays from online signals.",
                             no_args_is_help=True)
monitor_app = typer.Typer(rich_markup_mode=None, help="Golden-batch MSPC monitoring and sensor health.",
                          no_args_is_help=True)
app.add_typer(softsensor_app, name="softsensor")
app.add_typer(monitor_app, name="monitor")

# the lake as the source of batches, shared by the fit commands and the predict/score commands
_LAKE_BATCHES = typer.Option([], "--lake-batches", help=(
    "Batches of the lake instead of files: ids or patterns ('B0*'), read as wide frames."))
_LAKE_EVERY = typer.Option(None, "--lake-every", help=(
    "With --lake-batches: resample each tag to bins of this many hours (tags logged at their own times)."))
_LAKE_BATCH = typer.Option(None, "--lake-batch", help="A batch of the lake instead of a file (its id).")
# the axis batches are put on (golden envelope, align)
_BY = typer.Option(None, "--by", help="Axis: an indicator column in every batch (default culture time).")
_CUMULATIVE = typer.Option(False, "--cumulative", help="Integrate the --by column over time first (OUR).")


def _fractions(text: str) -> tuple[float, ...]:
    """``'0.1,0.35'`` -> ``(0.1, 0.35)``; ``'none'`` -> ``()``."""
    if text.strip().lower() == "none":
        return ()
    try:
        return tuple(float(x) for x in text.split(",") if x.strip())
    except ValueError:
        raise DataError(f"--leak-fractions: expected numbers separated by commas or 'none', got {text!r}") from None


@softsensor_app.command("fit")
@handle_errors
def softsensor_fit(
    ctx: typer.Context,
    batches: list[Path] = typer.Option(None, "--batches", help="Batch files: --batches a.csv b.csv ..."),
    lake_batches: list[str] = _LAKE_BATCHES,
    lake_every: float = _LAKE_EVERY,
    target: str = typer.Option(..., "--target", help="Column to infer, e.g. 'titre [mg/L]'."),
    exclude: list[str] = typer.Option([], "--exclude", help="Columns never used: --exclude A B ..."),
    time_col: str = typer.Option(None, "--time-col", help="Time column (default time_h)."),
    out: Path = typer.Option(..., "--out", help="Where to save the fitted soft sensor."),
    candidates: str = typer.Option(None, "--candidates", help=(
        "Regressor families to choose between by batch-grouped CV, e.g. 'pls,lasso' "
        "(default: every one, biotwin.softsensors.CANDIDATES).")),
    alpha: float = typer.Option(0.1, "--alpha", help="Miscoverage of the intervals (0.1 -> 90 %)."),
    leak_fractions: str = typer.Option(None, "--leak-fractions", help=(
        "Time constants of the leaky integrals of the inputs, as fractions of the median training batch "
        "duration, e.g. '0.1,0.35' (the default, biotwin.softsensors.sensor.LEAK_FRACTIONS); 'none' for none.")),
    spectra_smoothing: str = typer.Option("auto", "--spectra-smoothing", help=(
        "How a spectrum's channels are smoothed in time: 'local-linear' (Brown's double smoothing, no lag "
        "on a steady rise), 'ewma' (the single exponential smooth, as before), or 'auto' (the default: the "
        "one whose ridge does better out of fold).")),
    as_json: bool = typer.Option(False, "--json", help="Print the fit summary as JSON."),
    final: bool = typer.Option(False, "--final", help=(
        "Forecast the batch's final value of --target at every row instead (a batch-level model of the "
        "trajectory so far; each training batch's last assay is its target). Weak where the final value "
        "depends on what no online signal shows: check it with 'softsensor validate'.")),
) -> None:
    """Fit a soft sensor on batch files; the model is chosen by cross-validation grouped by batch."""
    from biotwin.softsensors import CANDIDATES, FinalQualityPredictor, SoftSensor, persist
    from biotwin.softsensors.sensor import LEAK_FRACTIONS

    data = _training_batches(ctx, batches, lake_batches, lake_every, time_col)
    families = CANDIDATES if candidates is None else tuple(c.strip() for c in candidates.split(",") if c.strip())
    leaks = LEAK_FRACTIONS if leak_fractions is None else _fractions(leak_fractions)
    if final:
        ss = FinalQualityPredictor(quality=target, exclude=tuple(exclude), candidates=families, alpha=alpha,
                                   leak_fractions=leaks).fit(data).sensor_
    else:
        ss = SoftSensor(target=target, exclude=tuple(exclude), alpha=alpha, candidates=families,
                        leak_fractions=leaks, spectra_smoothing=spectra_smoothing).fit(data)
    meta = {**ss.metadata(), "time_col": time_col, "batches": data.ids, "lake_every_h": lake_every,
            "final_of": target if final else None}
    persist.save(ss, out, meta)
    if as_json:
        print_json(meta)
    else:
        spectra = ""
        if ss.spectra_:
            spectra = "; uses the spectrum" if ss.spectra_used_ else "; process features only, not the spectrum"
        typer.echo(f"{ss.target}: chose {ss.chosen_} (CV RMSE {ss.cv_rmse_[ss.chosen_]:.4g}; "
                   f"PLS on raw inputs {ss.baseline_rmse_:.4g}{spectra}); saved {out}")


@softsensor_app.command("predict")
@handle_errors
def softsensor_predict(
    ctx: typer.Context,
    model: Path = typer.Option(..., "--model", help="A soft sensor saved by 'softsensor fit'."),
    batch: Path = typer.Option(None, "--batch", help="One batch file."),
    lake_batch: str = _LAKE_BATCH,
    time_col: str = typer.Option(None, "--time-col", help="Time column (default: as at fit)."),
    as_json: bool = typer.Option(False, "--json", help="Print the predictions as JSON."),
    lake_out: bool = typer.Option(False, "--to-lake", help="Also write the predictions to the lake."),
    update: bool = typer.Option(False, "--update",
                                help="Re-anchor each row on the batch's own earlier assays of the target "
                                     "(its column in the file), as chosen at fit."),
) -> None:
    """Predict every row of one batch, with conformal intervals and the applicability domain."""
    from biotwin.batchdata.io import to_file_rows
    from biotwin.softsensors import persist

    ss = persist.load(model, "softsensor")
    meta_time, meta_every = _fitted_with(model)
    frame, name = _one_batch(ctx, batch, lake_batch, time_col or meta_time, time_col is None, meta_every)
    if update and (ss.target not in frame or not frame[ss.target].notna().any()):
        typer.echo(f"note: {name} has no values of {ss.target!r}: nothing to re-anchor on", err=True)
    with about_file(name):
        res = ss.predict_frame(frame, update=update)
    if lake_out:
        from biotwin.monitoring.results import predictions_to_lake

        predictions_to_lake(_lake(ctx), res, model_id=model.stem, batch_id=name, target=ss.target)
    if as_json:
        # one entry per data row of the file, in its order (rows sharing a time were merged)
        rows = to_file_rows(res, frame)
        print_json({c: rows[c].tolist() for c in ("time_h", "prediction", "lower", "upper", "in_domain")})
    else:
        last = res.iloc[-1]
        typer.echo(f"{ss.target} at {last['time_h']:.1f} h: {last['prediction']:.4g} "
                   f"[{last['lower']:.4g}, {last['upper']:.4g}]; "
                   f"{int((~res['in_domain']).sum())} of {len(res)} rows outside the domain")


@softsensor_app.command("validate", help=(
    "Validate a fitted soft sensor on batches it has not seen: its error at their assays beside the tuned PLS "
    "it was measured against at fit.\n\n"
    "Every assayed row of each batch (the target's column in the file) is predicted from the online signals as "
    "'softsensor predict' does. Reported: RMSE, bias (prediction minus assay), largest error, the share of assays "
    "inside the intervals against their nominal coverage, the share of rows inside the applicability domain, the "
    "baseline PLS's RMSE on the same rows and the gain over it, each batch's own; errors in % of the validation "
    "assays' range. With --max-rmse-pct, --min-gain-pct or --min-coverage the command exits with status 1 when a "
    "criterion is not met."))
@handle_errors
def softsensor_validate(
    ctx: typer.Context,
    model: Path = typer.Option(..., "--model", help="A soft sensor saved by 'softsensor fit'."),
    batches: list[Path] = typer.Option(None, "--batches", help="Validation batch files: --batches a.csv b.csv ..."),
    lake_batches: list[str] = _LAKE_BATCHES,
    time_col: str = typer.Option(None, "--time-col", help="Time column (default: as at fit)."),
    update: bool = typer.Option(False, "--update", help=(
        "Re-anchor each row on the batch's earlier assays (as 'predict --update'); the baseline is not.")),
    max_rmse_pct: float = typer.Option(None, "--max-rmse-pct", help=(
        "Criterion: RMSE at most this % of the validation assays' range.")),
    min_gain_pct: float = typer.Option(None, "--min-gain-pct", help=(
        "Criterion: RMSE at least this % below the baseline PLS's.")),
    min_coverage: float = typer.Option(None, "--min-coverage", help=(
        "Criterion: at least this share (0-1) of the assays inside the intervals.")),
    csv_out: Path = typer.Option(None, "--csv", help="Write every assayed row (batch, time, assay, prediction, "
                                                     "interval, domain, baseline) to this CSV file."),
    plot_dir: Path = typer.Option(None, "--plot-dir", help="Write a parity plot (validation.png) here."),
    as_json: bool = typer.Option(False, "--json", help="Print the validation as JSON."),
    lake_out: bool = typer.Option(False, "--to-lake", help=(
        "Also record each batch's validation in the lake's events (kind softsensor_validation).")),
) -> None:
    from biotwin.softsensors import persist
    from biotwin.softsensors.validate import judge, validate

    ss = persist.load(model, "softsensor")
    meta = _sidecar(model)
    # read as the training batches were: the model's time column, lake batches resampled alike
    data = _training_batches(ctx, batches, lake_batches, meta.get("lake_every_h"), time_col or meta.get("time_col"))
    batch_frames = list(data.frames)
    final_of = meta.get("final_of")
    if final_of:  # a final-value model: each row is judged against its batch's last assay
        from biotwin.softsensors.quality import with_final

        batch_frames = with_final(batch_frames, final_of, data.ids, strict=False)
    found = validate(ss, batch_frames, list(data.ids), update=update, context=about_file)
    summary = {**found.summary(), "model": str(model),
               "training_batches_in_validation": _fitted_on(meta, list(data.ids), "soft sensor")}
    verdict = _judged(summary, judge(summary, max_rmse_pct, min_gain_pct, min_coverage))
    if lake_out:
        from biotwin.monitoring.results import validations_to_lake

        validations_to_lake(_lake(ctx), summary, model_id=model.stem, kind="softsensor_validation", rows=found.rows)
    if csv_out is not None:
        csv_out.parent.mkdir(parents=True, exist_ok=True)
        found.rows.to_csv(csv_out, index=False)
    if plot_dir is not None:
        from biotwin.monitoring.plots import plot_validation

        summary["plot"] = str(plot_validation(found.rows, summary, Path(plot_dir) / "validation.png"))
    for name in found.skipped:
        typer.echo(f"note: {name} has no assay of {ss.target!r}: left out", err=True)
    if as_json:
        print_json(summary)
    else:
        b = summary["baseline"]
        pct = summary["rmse_pct_range"]
        typer.echo(f"{ss.target}: {summary['n_rows']} assays in {summary['n_batches']} batches; RMSE "
                   f"{summary['rmse']:.4g}" + (f" ({pct:.2f} % of range)" if pct is not None else "")
                   + f", bias {summary['bias']:+.3g}, coverage {summary['coverage']:.0%} "
                   f"(nominal {summary['nominal_coverage']:.0%}), in domain {summary['in_domain_share']:.0%}")
        if b is not None:
            gain = b["gain_pct"]
            typer.echo(f"baseline {b['name']}: RMSE {b['rmse']:.4g}"
                       + (f"; gain {gain:+.1f} %" if gain is not None else ""))
        lo, hi = summary["rmse_interval95"]
        if summary["fit_cv_rmse"] is not None and lo == lo:
            typer.echo(f"RMSE 95 % interval over batches [{lo:.4g}, {hi:.4g}]; at fit (out of fold) "
                       f"{summary['fit_cv_rmse']:.4g}" + (": WORSE than at fit" if summary["worse_than_fit"] else ""))
    _exit_on(verdict, shown=as_json)


@monitor_app.command("fit", help=(
    "Fit an MSPC monitor on normal batches, its limits estimated out of fold.\n\n"
    "The charts: T2, SPE, per-variable Shewhart, redundancy residuals and CUSUM, each variable against its own "
    "trailing trend, a slow EWMA of each variable's level against the median batch, the residual of "
    "gradient-boosted trees for the variables whose relation to the others has a kink, parity checks between "
    "columns that measure the same quantity. One false-alarm budget is split over all charts, each family's "
    "limit factors checked leave one training batch out; a variable whose normal excursions all go one way gets "
    "a limit per side."))
@handle_errors
def monitor_fit(
    ctx: typer.Context,
    batches: list[Path] = typer.Option(None, "--batches", help="Normal batch files: --batches a.csv b.csv ..."),
    lake_batches: list[str] = _LAKE_BATCHES,
    lake_every: float = _LAKE_EVERY,
    exclude: list[str] = typer.Option([], "--exclude", help="Columns never used: --exclude A B ..."),
    time_col: str = typer.Option(None, "--time-col", help="Time column (default time_h)."),
    out: Path = typer.Option(..., "--out", help="Where to save the fitted monitor."),
    persistence: int = typer.Option(2, "--persistence", help="Consecutive points over a limit before an alarm."),
    equipment: list[str] = typer.Option([], "--equipment", help=(
        "Equipment health indicator columns (regex), optionally with the failure level: "
        "'vibration>11', 'flow ratio<0.7' (repeatable); alarms of kind 'equipment' with RUL. "
        "'loop:DO/agitation' watches a control loop's sensor by its activity over its actuator's "
        "(a fouling DO membrane).")),
    false_alarm_rate: float = typer.Option(None, "--false-alarm-rate", help=(
        "Share of normal batches allowed any alarm, split over all charts (default: the monitor's).")),
    detectors: list[str] = typer.Option([], "--detectors", help=(
        "Chart families to use (default: T2 SPE value residual cusum trend level nonlinear; also rate, "
        "response, mpls: the batch evolution model's score chart).")),
    no_pairs: bool = typer.Option(False, "--no-pairs", help=(
        "No parity charts between columns found to measure the same quantity.")),
    clean_reference: bool = typer.Option(False, "--clean-reference", help=(
        "Take the atypical training batches out of the reference and fit again (MSPC phase I); "
        "by default they are only left out of the limits' factors.")),
    clock_tolerance: float = typer.Option(0.0, "--clock-tolerance", help=(
        "Hours a batch clock may be off the training batches' (default 0): the limits also cover "
        "each training batch judged that much early and late. For training batches that take the "
        "recipe's set-point steps to the minute (simulated ones).")),
    factor_margin: str = typer.Option("auto", "--factor-margin", help=(
        "Floor on each chart's limit factor, as a multiple of its largest out-of-fold training "
        "maximum: 'auto' (default: per family, what a leave-one-batch-out check of its factors "
        "needs) or a number of at least 1 (1: the extreme-value law alone).")),
    reference_points: int = typer.Option(None, "--reference-points", help=(
        "Points of the reference trajectories' time grid (default 1000): a recipe step is blended "
        "over one grid step.")),
    time_tolerance: float = typer.Option(None, "--time-tolerance", help=(
        "Multiplier on the time-shift window learnt by dynamic time warping of the training batches "
        "(default 1; 0 judges each row at its own culture time): a phase switch (an induction) that "
        "comes earlier or later from batch to batch is matched within it.")),
    as_json: bool = typer.Option(False, "--json", help="Print the fit summary as JSON."),
) -> None:
    """Fit an MSPC monitor on normal batches, its limits estimated out of fold."""
    from biotwin.monitoring import BatchMonitor
    from biotwin.softsensors import persist

    data = _training_batches(ctx, batches, lake_batches, lake_every, time_col)
    if false_alarm_rate is not None and not 0.0 < false_alarm_rate < 0.5:
        raise DataError(f"--false-alarm-rate must lie in (0, 0.5), got {false_alarm_rate}")
    mon = BatchMonitor(exclude=tuple(exclude), persistence=persistence, equipment=tuple(equipment))
    # the monitor's own defaults unless given (not a copy of them here); out-of-range values are
    # refused by fit, by name
    if reference_points is not None:
        mon.set_params(reference_points=reference_points)
    if time_tolerance is not None:
        mon.set_params(time_tolerance=time_tolerance)
    if false_alarm_rate is not None:
        mon.set_params(batch_alpha=false_alarm_rate)
    if detectors:
        mon.set_params(detectors=tuple(detectors))  # unknown families are refused by fit, by name
    if no_pairs:
        mon.set_params(pairs=False)
    if clean_reference:
        mon.set_params(clean_reference=True)
    if clock_tolerance < 0:
        raise DataError(f"--clock-tolerance must be 0 or more hours, got {clock_tolerance}")
    if clock_tolerance > 0:
        mon.set_params(clock_tolerance_h=clock_tolerance)
    if factor_margin != "auto":
        try:
            margin = float(factor_margin)
        except ValueError:
            raise DataError(f"--factor-margin must be 'auto' or a number of at least 1, "
                            f"got {factor_margin!r}") from None
        mon.set_params(factor_margin=margin)  # below 1 is refused by fit, by name
    mon.fit(data)
    atypical = [data.ids[i] for i in mon.atypical_batches_]
    meta = {**mon.metadata(), "time_col": time_col, "batches": data.ids, "lake_every_h": lake_every,
            "batch_alpha": mon.batch_alpha,
            "clock_tolerance_h": mon.clock_tolerance_h, "atypical_batch_ids": atypical,
            "factor_margin": mon.factor_margin, "reference_points": mon.reference_points,
            "time_tolerance": mon.time_tolerance}
    persist.save(mon, out, meta)
    if as_json:
        print_json(meta)
    else:
        typer.echo(f"monitor on {len(mon.variables_)} variables, {meta['n_components']} components; "
                   f"out-of-fold false-alarm batches {100 * mon.oof_false_alarm_rate_:.0f} %; saved {out}")
        wide = {k: v for k, v in meta["factor_margins"].items() if v >= 1.005}  # shown as above 1.00
        if wide and mon.factor_margin == "auto":
            # the families whose factors a left-out training batch showed too tight (docs/monitoring.md)
            typer.echo("limit factors widened where a training batch, left out, exceeded them: "
                       + ", ".join(f"{k} x{v:.2f}" for k, v in wide.items()))
        if atypical:
            # a batch far outside the others is either a fault among the "normal" batches or a
            # rare normal mode; new batches like it will alarm (docs/monitoring.md)
            kept = ("left out of the reference and the limits" if mon.clean_reference
                    else "left out of the limits' factors")
            typer.echo(f"{len(atypical)} of {len(data.ids)} training batches are atypical ({kept}): "
                       f"{', '.join(atypical)}; review them: new batches like them will alarm")


@monitor_app.command("score")
@handle_errors
def monitor_score(
    ctx: typer.Context,
    monitor: Path = typer.Option(..., "--monitor", help="A monitor saved by 'monitor fit'."),
    batch: Path = typer.Option(None, "--batch", help="One batch file."),
    lake_batch: str = _LAKE_BATCH,
    time_col: str = typer.Option(None, "--time-col", help="Time column (default: as at fit)."),
    plot: Path = typer.Option(None, "--plot", help="Write a PNG of the statistics and limits."),
    as_json: bool = typer.Option(False, "--json", help="Print the alarms as JSON."),
    lake_out: bool = typer.Option(False, "--to-lake", help="Also write the alarms to the lake."),
) -> None:
    """Score one batch as if online: alarms with the variables behind them."""
    from biotwin.softsensors import persist

    mon = persist.load(monitor, "monitor")
    meta_time, meta_every = _fitted_with(monitor)
    frame, name = _one_batch(ctx, batch, lake_batch, time_col or meta_time, time_col is None, meta_every)
    with about_file(name):
        result = mon.score(frame)
        if plot is not None:
            from biotwin.monitoring.plots import plot_monitor

            plot_monitor(mon.trajectory(frame), result, plot)
    if lake_out:
        from biotwin.monitoring.results import alarms_to_lake

        alarms_to_lake(_lake(ctx), result, batch_id=name)
    if as_json:
        print_json(result)
        return
    if result["first_alarm_h"] is None:
        typer.echo("no alarm")
    for a in result["alarms"]:
        top = ", ".join(list(a["contributions"])[:3])
        typer.echo(f"{a['time_h']:8.2f} h  {a['kind']:8} {a['statistic']:8} {top}")
    for g in result.get("data_gaps", []):  # alarms just after an outage may come from it
        typer.echo(f"data gap: {g['variable']} missing from {g['from_h']:.2f} to {g['to_h']:.2f} h "
                   f"({g['rows']} rows)")


@monitor_app.command("validate", help=(
    "Validate a fitted monitor on batches it has not seen: the normal ones it alarms, the faulty ones it finds "
    "and how soon.\n\n"
    "Each batch is scored as 'monitor score' does. Normal batches (--batches) give the share with any alarm; "
    "batches with a recorded deviation (--faulty) give the share found at or after the deviation's start "
    "(--onsets FILE with columns batch_id and onset_h, or --onset ID=H) and the median delay; an alarm before "
    "the start is reported apart. Where the record says by when the alarm had to come (a drift reaching its spec "
    "limit, a pump its failure threshold: --deadline ID=H or a deadline_h column), the lead time before it. Each "
    "share comes with its one-sided 95 % Clopper-Pearson bound. With --max-false-alarm-share, "
    "--min-detected-share, --max-median-delay-h or --min-median-lead-h the command exits with status 1 when a "
    "criterion is not met."))
@handle_errors
def monitor_validate(
    ctx: typer.Context,
    monitor: Path = typer.Option(..., "--monitor", help="A monitor saved by 'monitor fit'."),
    batches: list[Path] = typer.Option(None, "--batches", help="Normal batch files: --batches a.csv b.csv ..."),
    lake_batches: list[str] = _LAKE_BATCHES,
    faulty: list[Path] = typer.Option(None, "--faulty", help="Batch files with a recorded deviation."),
    lake_faulty: list[str] = typer.Option([], "--lake-faulty", help=(
        "Lake batches with a recorded deviation instead of files (ids or patterns).")),
    onsets_file: Path = typer.Option(None, "--onsets", help=(
        "CSV with columns batch_id and onset_h [h of culture time] (when each deviation began) and, "
        "optionally, deadline_h (by when the alarm had to come) and fault (its kind).")),
    onset: list[str] = typer.Option([], "--onset", help="One deviation's start: --onset B07=52.5 (repeatable)."),
    deadline: list[str] = typer.Option([], "--deadline", help=(
        "By when a batch's alarm had to come (a drift reaching its spec limit, a pump its failure "
        "threshold): --deadline B07=80 (repeatable; or a deadline_h column in --onsets).")),
    time_col: str = typer.Option(None, "--time-col", help="Time column (default: as at fit)."),
    max_false_alarm_share: float = typer.Option(None, "--max-false-alarm-share", help=(
        "Criterion: at most this share (0-1) of the normal batches with any alarm.")),
    min_detected_share: float = typer.Option(None, "--min-detected-share", help=(
        "Criterion: at least this share (0-1) of the faulty batches found.")),
    max_median_delay_h: float = typer.Option(None, "--max-median-delay-h", help=(
        "Criterion: median delay from onset to alarm at most this many hours.")),
    min_median_lead_h: float = typer.Option(None, "--min-median-lead-h", help=(
        "Criterion: median lead time of the alarms before their deadlines at least this many hours.")),
    max_median_delay_h_per_fault: float = typer.Option(None, "--max-median-delay-h-per-fault", help=(
        "Criterion: each fault kind (a fault column in --onsets) found in every batch, its median delay at most "
        "this many hours.")),
    csv_out: Path = typer.Option(None, "--csv", help="Write one row per batch (set, batch, onset, alarms, delay)."),
    plot_dir: Path = typer.Option(None, "--plot-dir", help=(
        "Write a timeline of every batch (onset, alarm, deadline) here (validation.png).")),
    as_json: bool = typer.Option(False, "--json", help="Print the validation as JSON."),
    lake_out: bool = typer.Option(False, "--to-lake", help=(
        "Also record each batch's validation in the lake's events (kind monitor_validation).")),
) -> None:
    from biotwin.monitoring.validate import Deviations, judge_monitor, read_onsets, validate_monitor
    from biotwin.softsensors import persist

    mon = persist.load(monitor, "monitor")
    meta = _sidecar(monitor)
    meta_every, col = meta.get("lake_every_h"), time_col or meta.get("time_col")
    normal = _training_batches(ctx, batches, lake_batches, meta_every, col) if (batches or lake_batches) else None
    bad = _training_batches(ctx, faulty, lake_faulty, meta_every, col) if (faulty or lake_faulty) else None
    if normal is None and bad is None:
        raise DataError("no batches: give normal batches (--batches/--lake-batches), faulty ones "
                        "(--faulty/--lake-faulty), or both")
    register = read_onsets(str(onsets_file)) if onsets_file is not None else Deviations()
    # a deviation register lists more batches than one validation takes: the others are left aside
    # (an onset given on the command line for a batch not validated is still refused)
    wanted = set(bad.ids) if bad else set()
    aside = sorted(register.names() - wanted)
    register = register.only(wanted)
    starts, dues = register.onsets, register.deadlines
    if aside:
        typer.echo(f"note: {len(aside)} batches of {onsets_file} are not among the faulty batches here, left aside",
                   err=True)
    for flag, items, into in (("--onset", onset, starts), ("--deadline", deadline, dues)):
        for item in items:
            name, sep, value = item.rpartition("=")
            try:
                hours = float(value)
            except ValueError:
                hours = float("nan")
            if not sep or not name or not hours == hours:
                raise DataError(f"{flag} {item!r}: expected BATCH=HOURS, e.g. {flag} B07=52.5")
            into[name] = hours
    if bad is not None and (onsets_file is not None or onset):
        missing = [b for b in bad.ids if b not in starts]
        if missing:
            typer.echo(f"note: no onset for {', '.join(missing[:10])}{' ...' if len(missing) > 10 else ''}: "
                       f"found by any alarm, no delay", err=True)
    summary = validate_monitor(mon, normal.frames if normal else (), normal.ids if normal else (),
                               bad.frames if bad else (), bad.ids if bad else (), starts, dues, register.kinds,
                               context=about_file)
    summary["training_batches_in_validation"] = _fitted_on(
        meta, [b for s in (normal, bad) if s for b in s.ids], "monitor")
    summary["monitor"] = str(monitor)
    verdict = _judged(summary, judge_monitor(summary, max_false_alarm_share, min_detected_share,
                                             max_median_delay_h, min_median_lead_h, max_median_delay_h_per_fault))
    if lake_out:
        from biotwin.monitoring.results import validations_to_lake

        validations_to_lake(_lake(ctx), summary, model_id=monitor.stem, kind="monitor_validation")
    if plot_dir is not None:
        from biotwin.monitoring.plots import plot_monitor_validation

        summary["plot"] = str(plot_monitor_validation(summary, Path(plot_dir) / "validation.png"))
    if csv_out is not None:
        import pandas as pd

        table = [{"set": k, **{c: (";".join(v) if isinstance(v, list) else v) for c, v in r.items()}}
                 for k in ("normal", "faulty") if k in summary for r in summary[k]["batches"]]
        csv_out.parent.mkdir(parents=True, exist_ok=True)
        pd.DataFrame(table).to_csv(csv_out, index=False)
    if as_json:
        print_json(summary)
    else:
        if "normal" in summary:
            n = summary["normal"]
            typer.echo(f"normal batches: {len(n['alarmed_batches'])} of {n['n_batches']} with an alarm "
                       f"({n['false_alarm_share']:.0%}; at most {n['false_alarm_share_upper95']:.0%} at 95 %)"
                       + (f": {', '.join(n['alarmed_batches'])}" if n["alarmed_batches"] else ""))
            if n["above_budget"]:
                typer.echo(f"  more false alarms than the budget of {n['budget']:.1%} the monitor was fitted for, "
                           f"beyond chance (at least {n['false_alarm_share_lower95']:.0%} at 95 %)")
        if "faulty" in summary:
            f = summary["faulty"]
            med = f["median_delay_h"]
            typer.echo(f"faulty batches: {f['detected']} of {f['n_batches']} found ({f['detected_share']:.0%}; at "
                       f"least {f['detected_share_lower95']:.0%} at 95 %)"
                       + (f", median delay {med:.2f} h" if med is not None else "")
                       + (f"; alarmed before their onset: {', '.join(f['alarmed_before_onset'])}"
                          if f["alarmed_before_onset"] else ""))
            if "with_deadline" in f:
                lead = f["median_lead_h"]
                typer.echo(f"  {f['in_time']} of {f['with_deadline']} with a deadline alarmed by it"
                           + (f", median lead {lead:.1f} h" if lead is not None else ""))
            for kind, k in f.get("by_fault", {}).items():
                med = k["median_delay_h"]
                typer.echo(f"  {kind}: {k['detected']} of {k['n_batches']} found"
                           + (f", median delay {med:.2f} h" if med is not None else ""))
            for r in f["batches"]:
                if r["detected_h"] is None:
                    typer.echo(f"  not found: {r['batch_id']}")
    _exit_on(verdict, shown=as_json)


@monitor_app.command("golden", help=(
    "Build the golden-batch envelope: the best batches by a quality attribute, their mean trajectory and band.\n\n"
    "The batches are ranked by the last value of --quality in each (its final assay); the best --fraction of "
    "them (at least 3) are golden, and each variable's envelope is their mean +- --n-sd standard deviations "
    "along culture time, or along an indicator column with --by (cumulative O2 uptake: --by OUR --cumulative). "
    "Batches without any value of the quality are not ranked and are named."))
@handle_errors
def monitor_golden(
    ctx: typer.Context,
    batches: list[Path] = typer.Option(None, "--batches", help="Batch files: --batches a.csv b.csv ..."),
    lake_batches: list[str] = _LAKE_BATCHES,
    lake_every: float = _LAKE_EVERY,
    quality: str = typer.Option(..., "--quality", help="Column whose last value ranks the batches ('titre [g/L]')."),
    exclude: list[str] = typer.Option([], "--exclude", help="Columns never enveloped: --exclude A B ..."),
    variables: list[str] = typer.Option([], "--variables", help="Variables to envelope (default: every input column)."),
    fraction: float = typer.Option(0.3, "--fraction", help="Share of the ranked batches kept as golden."),
    lower_is_better: bool = typer.Option(False, "--lower-is-better", help="Rank the smallest quality first."),
    n_sd: float = typer.Option(3.0, "--n-sd", help="Half-width of the band [golden batches' sd]."),
    by: str = _BY,
    cumulative: bool = _CUMULATIVE,
    time_col: str = typer.Option(None, "--time-col", help="Time column (default time_h)."),
    out: Path = typer.Option(..., "--out", help="Where to save the envelope (for 'monitor golden-score')."),
    csv: Path = typer.Option(None, "--csv", help="Also write the envelope as a CSV table."),
    as_json: bool = typer.Option(False, "--json", help="Print the golden batches and settings as JSON."),
) -> None:
    """Build the golden-batch envelope: the best batches by a quality attribute, their mean trajectory and band."""
    from biotwin.batchdata.io import TIME
    from biotwin.monitoring import GoldenEnvelope
    from biotwin.softsensors import persist

    data = _training_batches(ctx, batches, lake_batches, lake_every, time_col)
    unknown = [c for c in [quality, *variables] + ([by] if by else []) if not any(c in f for f in data.frames)]
    if unknown:
        raise DataError(f"no batch has the column(s) {', '.join(map(repr, unknown))}")
    env = GoldenEnvelope(quality=quality, variables=list(variables) or None, exclude=tuple(exclude),
                         fraction=fraction, higher_is_better=not lower_is_better, n_sd=n_sd,
                         by=by or TIME, cumulative=cumulative).fit(data)
    meta = {**env.metadata(), "time_col": time_col, "batches": data.ids, "lake_every_h": lake_every,
            "quality_by_batch": env.quality_}
    persist.save(env, out, meta)
    if csv is not None:
        csv.parent.mkdir(parents=True, exist_ok=True)
        env.envelope_.to_csv(csv, index=False)
    if as_json:
        print_json(meta)
        return
    best = ", ".join(f"{i} ({env.quality_[i]:.4g})" for i in env.golden_ids_)
    typer.echo(f"golden: {len(env.golden_ids_)} of {len(env.quality_)} ranked batches by {quality}: {best}")
    typer.echo(f"envelope of {len(env.variables_)} variables, +-{n_sd:g} sd; saved {out}")
    if env.unranked_ids_:
        typer.echo(f"not ranked (no value of {quality}): {', '.join(env.unranked_ids_)}")


@monitor_app.command("golden-score")
@handle_errors
def monitor_golden_score(
    ctx: typer.Context,
    envelope: Path = typer.Option(..., "--envelope", help="An envelope saved by 'monitor golden'."),
    batch: Path = typer.Option(None, "--batch", help="One batch file."),
    lake_batch: str = _LAKE_BATCH,
    time_col: str = typer.Option(None, "--time-col", help="Time column (default: as at build)."),
    persistence: int = typer.Option(2, "--persistence", help="Consecutive rows outside the band that count."),
    plot_dir: Path = typer.Option(None, "--plot-dir", help="Write a PNG per variable that leaves the band."),
    as_json: bool = typer.Option(False, "--json", help="Print the excursions as JSON."),
    lake_out: bool = typer.Option(False, "--to-lake", help="Also write the excursions to the lake's events."),
) -> None:
    """Lay one batch over the golden envelope: where it leaves the band, on which side, how far."""
    from biotwin.softsensors import persist

    if persistence < 1:
        raise DataError(f"--persistence must be 1 or more rows, got {persistence}")
    env = persist.load(envelope, "golden")
    meta_time, meta_every = _fitted_with(envelope)
    frame, name = _one_batch(ctx, batch, lake_batch, time_col or meta_time, time_col is None, meta_every)
    with about_file(name):
        ov = env.overlay(frame)  # once, for the excursions, the shares and the plots' axis
        found = env.excursions(frame, persistence=persistence, overlay=ov)
        share = {v: None if x is None else round(x, 4) for v, x in env.inside_share(frame, overlay=ov).items()}
    if lake_out:
        from biotwin.monitoring.results import excursions_to_lake

        excursions_to_lake(_lake(ctx), found, batch_id=name, envelope_id=envelope.stem)
    if plot_dir is not None:
        from biotwin.monitoring.plots import plot_envelope

        plot_dir.mkdir(parents=True, exist_ok=True)
        axis = ov[env.by].to_numpy(float)  # the batch on the envelope's own axis
        for v in dict.fromkeys(e["variable"] for e in found):
            plot_envelope(env.envelope_, v, plot_dir / f"golden_{_file_safe(v)}.png", frame, axis=axis)
    if as_json:
        print_json({"golden_batch_ids": list(env.golden_ids_), "excursions": found, "inside_share": share})
        return
    if not found:
        typer.echo(f"inside the golden band throughout ({len(env.variables_)} variables)")
    for e in found:
        typer.echo(f"{e['from_h']:8.2f} - {e['to_h']:8.2f} h  {e['variable']} {e['side']} the band "
                   f"(worst {e['worst_sd']} sd at {e['worst_h']:.2f} h)")


def _training_batches(ctx: typer.Context, batches: list[Path] | None, lake_batches: list[str],
                      every_h: float | None, time_col: str | None):  # type: ignore[no-untyped-def]
    """The training batches of a fit command: files (``--batches``) or lake batches (``--lake-batches``,
    ids or shell-style patterns, each read by :meth:`~biotwin.lake.Lake.batch_frame`)."""
    from biotwin.batchdata import read_batches
    from biotwin.batchdata.io import TIME, BatchSet, to_frame

    if batches and lake_batches:
        raise DataError("give --batches or --lake-batches, not both")
    if every_h is not None and not every_h > 0:
        raise DataError(f"--lake-every must be a positive number of hours, got {every_h}")
    if not lake_batches:
        if not batches:
            raise DataError("no batches: give --batches FILE ... or --lake-batches ID ...")
        return read_batches(batches, time_col)
    import fnmatch

    lake = _lake(ctx)
    known = [str(b["batch_id"]) for b in lake.batches()]
    ids: list[str] = []
    for pattern in lake_batches:
        hits = [b for b in known if fnmatch.fnmatchcase(b, pattern)]
        if not hits:
            raise DataError(f"no batch of the lake matches {pattern!r} ({len(known)} batches there)")
        ids += [b for b in hits if b not in ids]
    return BatchSet([to_frame(lake.batch_frame(b, every_h=every_h), TIME, file=f"lake batch {b}") for b in ids], ids)


def _one_batch(ctx: typer.Context, batch: Path | None, lake_batch: str | None, time_col: str | None,
               fallback: bool, every_h: float | None):  # type: ignore[no-untyped-def]
    """The batch a predict or score command judges, and its name (the file's, or the lake batch id),
    a lake batch resampled as the model's training batches were."""
    from biotwin.batchdata import read_batch
    from biotwin.batchdata.io import TIME, to_frame

    if (batch is None) == (lake_batch is None):
        raise DataError("give one of --batch FILE or --lake-batch ID")
    if batch is not None:
        return read_batch(batch, time_col, fallback=fallback), batch.name
    frame = _lake(ctx).batch_frame(str(lake_batch), every_h=every_h)
    return to_frame(frame, TIME, file=f"lake batch {lake_batch}"), str(lake_batch)


def _sidecar(model: Path) -> dict[str, Any]:
    """A saved model's JSON sidecar ({} where it has none)."""
    import json

    from biotwin.softsensors import persist

    side = persist.sidecar_path(model)
    return cast("dict[str, Any]", json.loads(side.read_text())) if side.exists() else {}


def _fitted_with(model: Path) -> tuple[str | None, float | None]:
    """The time column and the resampling of lake batches a saved model was fitted with (its
    sidecar's ``time_col`` and ``lake_every_h``), read once; None where not recorded."""
    meta = _sidecar(model)
    return meta.get("time_col"), meta.get("lake_every_h")


def _fitted_on(meta: dict[str, Any], ids: list[str], what: str) -> list[str]:
    """The validation batches among ``ids`` that a model was fitted on (its sidecar ``meta``'s
    ``batches``), each named in a warning: they validate nothing."""
    trained_on = set(meta.get("batches", []))
    same = [b for b in ids if b in trained_on]
    for name in same:
        typer.echo(f"warning: {name} is one of the batches the {what} was fitted on: not an independent "
                   f"validation", err=True)
    return same


def _exit_on(verdict: dict[str, bool], shown: bool) -> None:
    """Print each criterion as met or not (unless the JSON holding them was ``shown``), and exit
    with status 1 when one is not met."""
    if not shown:
        for k, ok in verdict.items():
            typer.echo(f"{k}: {'met' if ok else 'NOT met'}")
    if verdict and not all(verdict.values()):
        raise typer.Exit(1)


def _judged(summary: dict[str, Any], verdict: dict[str, bool]) -> dict[str, bool]:
    """``verdict`` recorded in ``summary`` as ``criteria`` and ``passed`` (None when nothing was judged)."""
    summary["criteria"] = verdict
    summary["passed"] = all(verdict.values()) if verdict else None
    return verdict


def _file_safe(name: str) -> str:
    """A column name as a file name: letters, digits, '-', '_' and '.' kept, the rest '_'."""
    import re

    return re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("_") or "variable"


def _lake(ctx: typer.Context | None):  # type: ignore[no-untyped-def]
    from biotwin.config import get_settings
    from biotwin.lake import Lake

    root = None
    if ctx is not None:
        c: typer.Context | None = ctx
        while c is not None and root is None:
            root = (c.obj or {}).get("lake") if isinstance(c.obj, dict) else None
            c = cast("typer.Context | None", c.parent)
    return Lake(root or get_settings().lake)

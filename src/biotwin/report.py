"""Plots and the self-contained HTML report (no CDN: images are embedded as base64)."""

from __future__ import annotations

import base64
import html
import io
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from biotwin.datasets import MEASURED_STATES

if TYPE_CHECKING:
    from biotwin.simulation import SimulationResult
    from biotwin.validation import Validation


def shipped_cultures() -> Path:
    """The six CHO cultures shipped inside the package (with their provenance README)."""
    return Path(str(resources.files("biotwin.data") / "cho_fedbatch"))


def _png(fig: Any) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
    plt.close(fig)
    return buf.getvalue()


def validation_figure(val: Validation) -> Any:
    """Simulated (line) vs measured (points with error bars) for every measured state."""
    names = list(MEASURED_STATES)
    fig, axes = plt.subplots(2, 4, figsize=(14, 6))
    meas = val.dataset.measurements
    for ax, name in zip(axes.flat, names, strict=True):
        ax.plot(val.dense.t, val.dense[name], color="C0", label="simulated")
        std = meas.get(f"{name}_std")
        ax.errorbar(meas["time_h"], meas[name], yerr=None if std is None else std, fmt="o",
                    color="k", ms=3, label="measured")
        m = val.states.get(name, {})
        ax.set_title(f"{name} [{MEASURED_STATES[name]}]  R2={m.get('r2', float('nan')):.2f}", fontsize=9)
        ax.set_xlabel("t [h]", fontsize=8)
        ax.tick_params(labelsize=7)
    axes.flat[0].legend(fontsize=7)
    fig.suptitle(f"{val.dataset.name} - {val.params.name} (open loop)", fontsize=11)
    fig.tight_layout()
    return fig


def plot_validation(val: Validation, path: str | Path) -> None:
    """Write :func:`validation_figure` as PNG."""
    Path(path).write_bytes(_png(validation_figure(val)))


def plot_trajectories(res: SimulationResult, path: str | Path) -> None:
    """Every state of a simulation, one panel each, as PNG."""
    n = len(res.model.states)
    cols = 5
    rows = int(np.ceil(n / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(3.2 * cols, 2.4 * rows))
    for ax, (i, var) in zip(axes.flat, enumerate(res.model.states), strict=False):
        ax.plot(res.t, res.y[:, i])
        ax.set_title(var.label, fontsize=9)
        ax.tick_params(labelsize=7)
    for ax in list(axes.flat)[n:]:
        ax.axis("off")
    fig.tight_layout()
    Path(path).write_bytes(_png(fig))


def _img(png: bytes, alt: str) -> str:
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{base64.b64encode(png).decode()}"/>'


def render_report(title: str, sections: list[tuple[str, str]]) -> str:
    """A standalone HTML page from (heading, html body) sections."""
    body = "\n".join(f"<section><h2>{html.escape(h)}</h2>\n{b}</section>" for h, b in sections)
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>
body{{font-family:system-ui,sans-serif;margin:2em;color:#222}} table{{border-collapse:collapse}}
td,th{{border:1px solid #ccc;padding:3px 8px;text-align:right}} th{{background:#f2f2f2}}
td:first-child,th:first-child{{text-align:left}} img{{max-width:100%}} .bad{{color:#b00}}
</style></head><body><h1>{html.escape(title)}</h1>
{body}
</body></html>"""


def fit_table_html(rows: list[dict[str, Any]]) -> str:
    """HTML table of validation summaries: R2 per state, final titre error."""
    states = list(MEASURED_STATES)
    head = "".join(f"<th>R2 {s}</th>" for s in states)
    out = [f"<table><tr><th>culture</th><th>parameter set</th>{head}"
           "<th>final mAb sim [mg/L]</th><th>measured</th><th>error</th></tr>"]
    for r in rows:
        cells = "".join(
            f"<td>{r['states'][s]['r2']:.2f}</td>" if s in r["states"] else "<td>-</td>" for s in states
        )
        out.append(
            f"<tr><td>{html.escape(r['dataset'])}</td><td>{html.escape(r['params'])}</td>{cells}"
            f"<td>{r['final_mAb']:.0f}</td><td>{r['final_mAb_measured']:.0f}</td>"
            f"<td>{100 * r['final_mAb_rel_err']:+.1f}%</td></tr>"
        )
    out.append("</table>")
    return "\n".join(out)


def fit_table_text(rows: list[dict[str, Any]]) -> str:
    """The same table for the terminal."""
    states = list(MEASURED_STATES)
    lines = [f"{'culture':36} {'params':28} " + " ".join(f"{s:>6}" for s in states) + "  final mAb (meas)  err"]
    for r in rows:
        r2 = " ".join(f"{r['states'][s]['r2']:6.2f}" if s in r["states"] else f"{'-':>6}" for s in states)
        lines.append(
            f"{r['dataset']:36} {r['params']:28} {r2}  {r['final_mAb']:7.0f} ({r['final_mAb_measured']:5.0f})"
            f" {100 * r['final_mAb_rel_err']:+5.1f}%"
        )
    return "\n".join(lines)


def _twin_section(cultures: list[Any], out: Path) -> str:
    """Replay each culture (read from the lake) through the twin; table of day-7 forecasts and one plot."""
    from biotwin.twin.plots import plot_track
    from biotwin.twin.replay import score, track_culture

    rows = []
    plot = ""
    print(f"{'twin (EnKF, 512 members, seed 0)':36} {'day-7 forecast [mg/L] (90% band)':>34} {'measured':>9}")
    for culture in cultures:
        res = track_culture(culture, seed=0)
        sc = score(res)
        d = sc["day7"]
        rows.append(f"<tr><td>{html.escape(culture.name)}</td><td>{sc['n_pass']}/8</td>"
                    f"<td>{d['final_mAb_pred']:.0f} [{d['final_mAb_lo']:.0f}, {d['final_mAb_hi']:.0f}]</td>"
                    f"<td>{d['final_mAb_measured']:.0f}</td><td>{100 * d['rel_err']:+.0f}%</td>"
                    f"<td>{res.elapsed_s:.1f}</td></tr>")
        print(f"{culture.name:36} {d['final_mAb_pred']:8.0f} [{d['final_mAb_lo']:6.0f}, {d['final_mAb_hi']:6.0f}]"
              f"{'':12} {d['final_mAb_measured']:9.0f}")
        if not plot and "bioreactor" in culture.name:
            path = plot_track(res, out / f"twin_{culture.name}.png")
            plot = _img(path.read_bytes(), "twin")
    return ("<p>Each culture replayed sample by sample through the ensemble Kalman filter (joint state "
            "and parameter estimation, starting from the T127 flask parameters, no re-fitting): states "
            "whose posterior RMSE is at or below the published EnKF study, and the harvest titre forecast "
            "from the data up to day 7.</p><table><tr><th>culture</th><th>cells at/below published</th>"
            "<th>day-7 forecast</th><th>measured</th><th>error</th><th>replay [s]</th></tr>"
            + "".join(rows) + "</table>" + plot)


def run_demo(out: Path, data: Path | None = None, lake: Path | None = None, plant: bool = True) -> Path:
    """The main job on embedded defaults.

    Imports the six shared cultures into the lake (idempotent: a second run adds nothing),
    reads each batch back from the lake, simulates it open loop with the published parameters
    (and the bioreactor set where it applies), prints a fit table, replays each culture
    through the twin (EnKF from the flask parameters, day-7 harvest forecast), and, with
    ``plant``, runs an accelerated virtual-plant batch with a missed feed followed by the
    twin, a titre soft sensor and the batch monitor (:mod:`biotwin.service.plant_demo`).
    Writes ``out/report.html`` (self-contained). Returns the report's path.
    """
    import json

    from biotwin.connect.imports import import_cultures
    from biotwin.lake import Lake
    from biotwin.parameters import available_parameter_sets
    from biotwin.service.cultures import culture_from_lake
    from biotwin.validation import validate

    data = data or shipped_cultures()
    out.mkdir(parents=True, exist_ok=True)
    store = Lake(lake or Path("biotwin-data"))
    imported = import_cultures(store, data, why="make demo: reference cultures")
    n_new = sum(r.n_samples for r in imported)
    print(f"lake {lake or 'biotwin-data'}: {len(store.batches())} batches ({n_new} new samples this run)")
    rows: list[dict[str, Any]] = []
    figures: list[tuple[str, str]] = []
    cultures = [culture_from_lake(store, batch["batch_id"]) for batch in store.batches()]
    for culture in cultures:
        sets = ["cho_t127_kotidis2019"]
        if "bioreactor" in culture.name and "cho_t127_sou2015_bioreactor" in available_parameter_sets():
            sets.append("cho_t127_sou2015_bioreactor")
        for pset in sets:
            val = validate(culture, pset)
            rows.append(val.summary())
            png = _png(validation_figure(val))
            (out / f"{culture.name}__{pset}.png").write_bytes(png)
            figures.append((f"{culture.name} - {pset}", _img(png, culture.name)))
    print(fit_table_text(rows))
    intro = (
        "<p>The six measured CHO fed-batch cultures, imported into the lake and read back from it, "
        "simulated open loop (no fitting) with the published CHO-T127 parameters of Kotidis et al. "
        "2019 and, for the bioreactor cultures, the set calibrated on them "
        "(<code>cho_t127_sou2015_bioreactor</code>). Lines: model; points: measurements with "
        "replicate standard deviations. Only the T127 flask culture is the model's calibration "
        "condition; the others test transfer to new scale, temperature, cell line and feeds.</p>"
    )
    sections = [("Fit table", intro + fit_table_html(rows))]
    sections.append(("Twin on the six cultures", _twin_section(cultures, out)))
    if plant:
        from biotwin.service.plant_demo import plant_demo_html, run_plant_demo

        pd_ = run_plant_demo(out)
        f = pd_.fault
        print(f"virtual plant: {f['kind']} acting at {f.get('effect_h', f['onset_h']):.1f} h; first alarm "
              f"{pd_.first_alarm_h if pd_.first_alarm_h is None else round(pd_.first_alarm_h, 1)} h; titre soft "
              f"sensor RMSE {pd_.softsensor['rmse_pct_range']:.1f}% of range ({pd_.elapsed_s:.0f} s)")
        sections.append(("Virtual plant: a batch with a fault, followed live", plant_demo_html(pd_, _img)))
    sections += figures
    path = out / "report.html"
    path.write_text(render_report("biotwin demo: the six CHO cultures", sections))
    (out / "fit_table.json").write_text(json.dumps(rows, indent=1, default=float))
    return path

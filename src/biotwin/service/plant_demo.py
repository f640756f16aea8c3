"""The demo's virtual-plant part: an accelerated plant batch with an injected fault, followed
by the twin, the soft sensors and the batch monitor, as they would run beside a real vessel.

Data flow (DESIGN.md): the virtual plant (:mod:`biotwin.plant.campaign`) runs a few normal
batches (the plant's history) and one batch with a fault, written as generic wide files; the
soft sensor and the monitor learn from the history only (:mod:`biotwin.softsensors`,
:mod:`biotwin.monitoring`); the twin tracks the faulty batch's offline samples with the
plant's recipe (:func:`biotwin.twin.replay.track_samples`). Nothing here knows the fault:
its ground truth is only read to print how early it was caught.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

#: Offline assays of the plant's wide files (never inputs of a soft sensor or the monitor).
OFFLINE = ["Xv [cells/L]", "viability [%]", "Glc [mM]", "Lac [mM]", "Amm [mM]", "mAb [mg/L]"]


@dataclass
class PlantDemo:
    """What :func:`run_plant_demo` produced (paths of the figures, numbers for the report)."""

    fault: dict[str, Any]
    first_alarm_h: float | None
    alarms: list[dict[str, Any]]
    softsensor: dict[str, Any]
    twin: dict[str, Any]
    figures: dict[str, Path] = field(default_factory=dict)
    golden: dict[str, Any] = field(default_factory=dict)
    elapsed_s: float = 0.0

    def summary(self) -> dict[str, Any]:
        return {"fault": self.fault, "first_alarm_h": self.first_alarm_h, "n_alarms": len(self.alarms),
                "first_alarm": self.alarms[0] if self.alarms else None, "softsensor": self.softsensor,
                "twin": self.twin, "golden": self.golden, "elapsed_s": self.elapsed_s}


def run_plant_demo(out: Path, n_history: int = 20, fault: str = "missed_feed", seed: int = 7,
                   members: int = 256) -> PlantDemo:
    """Run the plant part of the demo into ``out`` (figures, wide files, ``plant_demo.json``).

    Parameters
    ----------
    out : Path
        Output folder.
    n_history : int
        Normal batches the soft sensor and the monitor learn from.
    fault : str
        Fault kind of the followed batch (:data:`biotwin.plant.faults.FAULT_KINDS`).
    seed : int
        Campaign seed (same seed, same batches).
    members : int
        Ensemble size of the twin.
    """
    from biotwin.batchdata import read_batch
    from biotwin.monitoring import BatchMonitor, GoldenEnvelope
    from biotwin.monitoring.plots import plot_envelope, plot_monitor, plot_softsensor
    from biotwin.plant.campaign import CampaignSpec, run_campaign
    from biotwin.plant.plant import DEFAULT_RECIPE
    from biotwin.recipes import load_recipe
    from biotwin.softsensors import SoftSensor
    from biotwin.softsensors.validate import validate
    from biotwin.twin.plots import plot_track
    from biotwin.twin.replay import track_samples

    start = time.perf_counter()
    out.mkdir(parents=True, exist_ok=True)
    camp = out / "plant-campaign"
    spec = CampaignSpec(n_train=n_history, n_test=0, faults_per_kind=1, kinds=(fault,), seed=seed)
    metas = run_campaign(camp, spec)
    history = [read_batch(camp / str(m["file"])) for m in metas if m["split"] == "train"]
    faulty_meta = next(m for m in metas if m["split"] == "fault")
    batch = read_batch(camp / str(faulty_meta["file"]))
    truth = faulty_meta["faults"][0]  # type: ignore[index]

    # soft sensor of the titre from online signals only
    sensor = SoftSensor(target="mAb [mg/L]", exclude=OFFLINE).fit(history)
    pred = sensor.predict_frame(batch)
    measured = batch["mAb [mg/L]"]
    # the batch's titre assays against the soft sensor and the tuned PLS it was chosen over
    checked = validate(sensor, [batch], [str(faulty_meta["file"])]).summary()
    pct = checked["rmse_pct_range"]
    soft = {"model": sensor.chosen_, "rmse_mg_L": checked["rmse"], "rmse_pct_range": math.nan if pct is None else pct,
            "coverage": checked["coverage"], "nominal_coverage": checked["nominal_coverage"],
            "baseline": checked["baseline"]}
    figs = {"softsensor": plot_softsensor(pred, out / "plant_softsensor_titre.png", measured=measured,
                                          label=f"titre soft sensor ({sensor.chosen_})")}

    # golden-batch monitor learned from the history
    monitor = BatchMonitor(exclude=OFFLINE).fit(history)
    scored = monitor.score(batch)
    figs["monitor"] = plot_monitor(monitor.trajectory(batch), scored, out / "plant_monitor.png")

    # the golden batches of the history by final titre, and where the batch leaves their band
    envelope = GoldenEnvelope(quality="mAb [mg/L]", exclude=OFFLINE).fit(history)
    overlay = envelope.overlay(batch)
    found = envelope.excursions(batch, overlay=overlay)
    acts = truth.get("effect_h", truth["onset_h"])
    after = [e for e in found if e["from_h"] >= acts - 1e-9]
    top = next(iter(scored["alarms"][0]["contributions"]), None) if scored["alarms"] else None
    shown = top if top in envelope.variables_ else (after[0]["variable"] if after else envelope.variables_[0])
    figs["golden"] = plot_envelope(envelope.envelope_, shown, out / "plant_golden.png", batch)
    before = [x for x in envelope.inside_share(batch, before_h=acts, overlay=overlay).values() if x is not None]
    golden = {"n_golden": len(envelope.golden_ids_), "n_history": len(history),
              "golden_final_mAb": [envelope.quality_[i] for i in envelope.golden_ids_], "variable": shown,
              "inside_before_fault": float(np.mean(before)) if before else None, "n_excursions": len(found),
              "after_fault": after[:5]}

    # the twin on the batch's offline samples, with the plant's recipe
    samples = pd.DataFrame({"time_h": batch["time_h"]})
    for col in ("Xv [cells/L]", "Glc [mM]", "Lac [mM]", "Amm [mM]", "mAb [mg/L]"):
        samples[col.split(" ")[0]] = batch[col]
    recipe = load_recipe(DEFAULT_RECIPE)
    day7 = float(samples.loc[samples["Xv"].notna() & (samples["time_h"] <= 168.0), "time_h"].max())
    res = track_samples(samples, recipe, seed=0, n_members=members, name=f"plant batch ({fault})",
                        harvest_h=float(batch["time_h"].iloc[-1]), fan_from=day7)
    figs["twin"] = plot_track(res, out / "plant_twin.png")
    f7 = res.forecast_at(day7)
    final = float(samples["mAb"].dropna().iloc[-1])
    twin = {"posterior_rmse": res.rmse("posterior"), "day7_forecast": f7, "final_mAb_measured": final,
            "replay_s": res.elapsed_s, "members": members}

    demo = PlantDemo(fault=dict(truth), first_alarm_h=scored["first_alarm_h"], alarms=scored["alarms"],
                     softsensor=soft, twin=twin, figures=figs, golden=golden,
                     elapsed_s=time.perf_counter() - start)
    (out / "plant_demo.json").write_text(json.dumps(demo.summary(), indent=1, default=float))
    return demo


def plant_demo_html(demo: PlantDemo, img: Any) -> str:
    """The report section: what happened, when the monitor caught it, the contributions, the
    soft sensor and the twin. ``img(png_bytes, alt)`` embeds a figure."""
    import html

    f = demo.fault
    act = f.get("effect_h", f.get("onset_h"))
    first = demo.first_alarm_h
    caught = "not caught" if first is None else (
        f"first alarm at {first:.1f} h, {first - act:+.1f} h after the fault acted" if act is not None
        else f"first alarm at {first:.1f} h")
    rows = []
    for a in demo.alarms[:5]:
        top = ", ".join(f"{html.escape(k)} {v:.2g}" for k, v in list(a["contributions"].items())[:3])
        rows.append(f"<tr><td>{a['time_h']:.1f}</td><td>{html.escape(str(a['kind']))}</td>"
                    f"<td>{html.escape(str(a['statistic']))}</td><td>{top}</td></tr>")
    t7 = demo.twin["day7_forecast"]
    parts = [
        f"<p>An accelerated virtual-plant batch with an injected <b>{html.escape(str(f['kind']))}</b> "
        f"(onset {f['onset_h']:.1f} h; acts at {act:.1f} h). The soft sensor and the monitor learned from "
        f"normal batches of the same plant only; the twin starts from the published flask parameters. "
        f"Monitor: {caught}.</p>",
        "<table><tr><th>alarm at [h]</th><th>kind</th><th>statistic</th><th>top contributions</th></tr>"
        + "".join(rows) + "</table>",
        img(demo.figures["monitor"].read_bytes(), "monitor"),
        *_golden_html(demo, img),
        f"<p>Titre soft sensor ({html.escape(str(demo.softsensor['model']))}) from online signals: RMSE "
        f"{demo.softsensor['rmse_mg_L']:.0f} mg/L ({demo.softsensor['rmse_pct_range']:.1f}% of the range) "
        f"against the offline assays{_baseline_text(demo.softsensor)}.</p>",
        img(demo.figures["softsensor"].read_bytes(), "soft sensor"),
        f"<p>Twin (EnKF, {demo.twin['members']} members): harvest titre forecast at {t7['from_h']:.0f} h "
        f"{t7['final_mAb_pred']:.0f} mg/L [{t7['final_mAb_lo']:.0f}, {t7['final_mAb_hi']:.0f}] (90%), "
        f"measured {demo.twin['final_mAb_measured']:.0f} mg/L; replay {demo.twin['replay_s']:.1f} s.</p>",
        img(demo.figures["twin"].read_bytes(), "twin"),
    ]
    return "\n".join(parts)


def _baseline_text(soft: dict[str, Any]) -> str:
    """", against X mg/L for the tuned PLS on the raw inputs (rawplsK): Y% lower; N% of the assays inside
    its 90% interval": the soft sensor's validation on the followed batch, in words."""
    import html

    out = ""
    base = soft.get("baseline")
    if base:
        gain = base.get("gain_pct")
        name = html.escape(str(base["name"]))
        out += f", against {base['rmse']:.0f} mg/L for the tuned PLS on the raw inputs ({name})"
        if gain is not None:
            out += f": {abs(gain):.0f}% {'lower' if gain >= 0 else 'higher'}"
    if soft.get("coverage") is not None:
        out += f"; {soft['coverage']:.0%} of the assays inside its {soft.get('nominal_coverage', 0.9):.0%} interval"
    return out


def _golden_html(demo: PlantDemo, img: Any) -> list[str]:
    """The golden-batch paragraph and figure (none for a demo saved before they were added)."""
    import html

    g = demo.golden
    if not g or "golden" not in demo.figures:
        return []
    first = g["after_fault"][0] if g["after_fault"] else None
    where = ("it stays inside the golden band after the fault acted" if first is None else
             f"after the fault it first leaves the band of {html.escape(first['variable'])} at {first['from_h']:.1f} h "
             f"({first['side']}, worst {first['worst_sd'] or float('nan'):.3g} sd)")
    best = ", ".join(f"{v:.0f}" for v in g["golden_final_mAb"])
    return [f"<p>Golden batch: the {g['n_golden']} best of {g['n_history']} history batches by final titre "
            f"({best} mg/L), their mean +- 3 sd. Before the fault {100 * g['inside_before_fault']:.0f}% of the "
            f"batch's readings lay inside the band; {where}. Shown: {html.escape(g['variable'])}.</p>",
            img(demo.figures["golden"].read_bytes(), "golden batch")]

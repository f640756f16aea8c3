"""Build a :class:`Recipe` from a shared CHO culture folder (the operator's real schedule)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from biotwin.datasets import CultureDataset, load_culture
from biotwin.recipes.recipe import Event, Recipe, Stream

#: Feed metabolites that are model states; the others (Arg, Lys, Pro) are not modelled.
_FEED_STATES = ("Glc", "Gln", "Glu", "Asn", "Asp", "Lac", "Amm")

#: Engineering assumptions for quantities the shared data do not report. Each is a
#: typical value for chemically defined CHO media and feeds, not a measurement.
ASSUMED_INITIAL = {
    "Asp": 1.0,  # [mM] aspartate in CD CHO medium (not measured)
    "Mn": 0.1,  # [uM] basal Mn2+ of chemically defined media
    "Na": 0.0,  # [mM] no base added yet
    "Osm_bg": 230.0,  # [mOsm/kg] medium salts: ~290 total minus tracked solutes
    "viability": 0.97,  # [-] of the seed train
}
ASSUMED_FEED = {"Mn": 0.0, "Osm_bg": 500.0}  # concentrated feed: Mn-free; ~500 mOsm/kg untracked solutes


def recipe_from_culture(data: CultureDataset | str | Path) -> Recipe:
    """The recipe that the culture actually ran: initial charge, feeds, samples, shift.

    Initial states come from the first measurement row (time 0); additions and sample
    withdrawals from ``schedule_events.csv``, each applied as an instantaneous event at its
    ``start_h``; the feed and glucose streams from ``feed_composition.csv``; the volume,
    temperature and any shift from ``datasets.csv``.
    """
    ds = data if isinstance(data, CultureDataset) else load_culture(data)
    first = ds.measurements.iloc[0]
    initial: dict[str, float] = {"V": ds.working_volume_L}
    for name in ("Xv", "mAb", "Glc", "Amm", "Gln", "Lac", "Glu", "Asn"):
        val = float(first[name])
        initial[name] = max(val, 0.0) if np.isfinite(val) else 0.0
    initial["Xd"] = initial["Xv"] * (1 - ASSUMED_INITIAL["viability"]) / ASSUMED_INITIAL["viability"]
    for name in ("Asp", "Mn", "Na", "Osm_bg"):
        initial[name] = ASSUMED_INITIAL[name]
    initial["mAb_gal"] = 0.3 * initial["mAb"]  # seed-train product ~30% galactosylated (assumption)

    feed_comp = {k: ds.feed.get(k, 0.0) for k in _FEED_STATES}
    feed_comp.update(ASSUMED_FEED)
    streams = {
        "feed": Stream("feed", feed_comp, "feed medium (feed_composition.csv)"),
        "glucose": Stream("glucose", {"Glc": ds.feed.get("glc_conc_in_glc", 0.0)}, "concentrated glucose"),
    }
    kind_of = {"Fin": ("bolus", "feed"), "Fin_glc": ("bolus", "glucose"), "Fout": ("withdraw", "")}
    events = [
        Event(float(start), kind_of[str(stream)][0], kind_of[str(stream)][1], float(volume))
        for start, stream, volume in zip(
            ds.schedule["start_h"], ds.schedule["stream"], ds.schedule["volume_L"], strict=True
        )
    ]
    temp = ds.temperature_C
    shift = ds.temperature_shift
    if shift is not None:
        events.append(Event(shift[0], "set", "T", shift[1]))
    bioreactor = "bioreactor" in ds.info.get("vessel", "")
    inputs = {
        "T": temp,
        "pH_sp": 6.9 if bioreactor else 7.0,
        "kLa": 8.0 if bioreactor else 15.0,
        "gas_vvm": 0.05 if bioreactor else 0.0,
        "y_O2_in": 0.2095,
        "y_CO2_in": 0.05,
    }
    t_last = float(ds.measurements["time_h"].iloc[-1])
    t_ev = max((e.time_h for e in events), default=0.0)
    return Recipe(
        name=ds.name,
        model="cho_kotidis2019",
        duration_h=max(t_last, t_ev),
        initial=initial,
        inputs=inputs,
        streams=streams,
        events=tuple(events),
        description=f"{ds.info.get('cell_line', '')} {ds.info.get('vessel', '')}".strip(),
        source=ds.info.get("source_reference", str(ds.path)),
    )

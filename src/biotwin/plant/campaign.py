"""An offline campaign of the virtual plant: generic wide batch files with fault ground truth.

The reactors of :class:`biotwin.plant.plant.VirtualPlant` are stepped directly (no OPC UA,
no wall clock), one batch per plant seed, so each batch carries the plant's own
batch-to-batch variability (parameters drawn from the parameter set's uncertainty, seeding
density, raw-material lot, sensor offsets, process noise). Each batch is written as one wide
file, ``time_h`` then every online tag and every offline assay as ``name [unit]`` (offline
values on the row of their sampling time, empty elsewhere; among them the at-line blood-gas pH
and pCO2 of the same sample, ``pH_atline [-]`` and ``pCO2_atline [mmHg]``), with a JSON sidecar
``<batch>.json`` holding the ground truth of the injected faults (kind, onset, failure,
when a drifting sensor reaches its spec limit) and a ``<batch>.truth.csv`` of the true
assay trajectories (for scoring soft sensors against the truth rather than the assay).

Examples
--------
>>> from biotwin.plant.campaign import CampaignSpec, plan_campaign
>>> plan = plan_campaign(CampaignSpec(n_train=2, n_test=1, faults_per_kind=0))
>>> [b.split for b in plan]
['train', 'train', 'test']
"""

from __future__ import annotations

import json
import math
import os
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from biotwin.plant.faults import DEFAULT_FAIL_H, FAULT_KINDS, Fault
from biotwin.plant.reactor import OFFLINE_TAGS, ONLINE_TAGS, PH_DRIFT_PER_H

#: Drifting sensors: (tag, drift rate [unit/h] at severity 1, spec limit [unit]): the error at which the
#: reading is out of spec. The pH drift reaches its 0.1 pH limit 50 h after onset.
DRIFT_SPEC = {"ph_drift": ("pH", PH_DRIFT_PER_H, 0.1), "temp_drift": ("T", 0.02, 0.5)}
#: Faults that wear equipment towards a functional failure (scored by lead time).
DEGRADATIONS = ("bearing_wear", "feed_pump_wear", "do_fouling")
#: Sensor faults (scored by whether they are caught before their spec limit).
SENSOR_FAULTS = ("ph_drift", "temp_drift")
#: Range of base-pump failure onsets [h]: while the pH loop asks for base (once lactate has used up
#: the medium's bicarbonate, from about 70-110 h in this process, mostly in the hours after feeds).
BASE_PUMP_ONSET_H = (80.0, 200.0)
#: Faults whose effect_h comes from the plant's own record (see :func:`_truth_onset`).
LOGGED_EFFECT = ("base_pump_failure", "contamination", "co2_accumulation")


@dataclass(frozen=True)
class CampaignSpec:
    """What to run.

    Parameters
    ----------
    n_train, n_test : int
        Normal batches for training and for testing.
    faults_per_kind : int
        Faulty batches of each kind in ``kinds``.
    kinds : tuple of str
        Fault kinds (default: all of :data:`biotwin.plant.faults.FAULT_KINDS`).
    duration_h : float
        Batch length [h].
    dt_h : float
        Sampling interval of the online signals [h]: 6 min. A plant historian logs every minute
        or faster; 6 min keeps a campaign's files small. A 30-min export (the default until
        2026-11) hid what a monitor sees within the hour: on six campaign seeds the median
        delay over all process faults was 1.0-1.1 h at 30 min and 0.3-0.5 h at 6 min.
    substep_h : float
        Largest integration/control step of the reactor [h].
    sample_every_h : float
        Sampling interval of the daily samples [h]: 12 h, twice a day (fed-batch CHO cultures are
        sampled once or twice a day for cell counts, metabolites, titre and a blood-gas pH/pCO2).
    onset_h : tuple of float
        Range of fault onsets [h].
    seed : int
    variability : float
        Scale of the parameter draws (as :class:`VirtualPlant`).
    """

    n_train: int = 30
    n_test: int = 10
    faults_per_kind: int = 3
    kinds: tuple[str, ...] = FAULT_KINDS
    duration_h: float = 288.0
    dt_h: float = 0.1
    substep_h: float = 1 / 60
    sample_every_h: float = 12.0
    onset_h: tuple[float, float] = (60.0, 168.0)
    seed: int = 0
    variability: float = 0.5


@dataclass
class PlannedBatch:
    """One batch of the campaign: id, split (train, test, fault), plant seed and faults."""

    batch_id: str
    split: str
    seed: int
    faults: list[Fault] = field(default_factory=list)


def _feed_times(duration_h: float) -> np.ndarray:
    from biotwin.plant.plant import VirtualPlant

    r = next(iter(VirtualPlant(n_reactors=1, duration_h=duration_h, skid=False).reactors.values()))
    cr = r.recipe
    return np.unique(np.round(cr.ev_time[cr.ev_kind == 0], 1))


def plan_campaign(spec: CampaignSpec) -> list[PlannedBatch]:
    """The batches of a campaign, with their seeds and faults (deterministic in ``spec.seed``)."""
    rng = np.random.default_rng(spec.seed)
    out = [PlannedBatch(f"train{i:03d}", "train", int(rng.integers(2**31))) for i in range(spec.n_train)]
    out += [PlannedBatch(f"test{i:03d}", "test", int(rng.integers(2**31))) for i in range(spec.n_test)]
    feeds = _feed_times(spec.duration_h) if "missed_feed" in spec.kinds and spec.faults_per_kind else np.array([])
    for kind in spec.kinds:
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {kind!r}; expected some of {FAULT_KINDS}")
        fail = DEFAULT_FAIL_H.get(kind, math.inf)
        if kind in ("base_pump_failure", "missed_feed"):
            fail = 0.0
        for i in range(spec.faults_per_kind):
            lo, hi = spec.onset_h
            if math.isfinite(fail) and fail > 0:
                hi = min(hi, spec.duration_h - fail - 12.0)
            if kind == "base_pump_failure":
                # base is asked for once lactate has used up the bicarbonate (about 70-250 h in
                # this process): a failure planned there can act; its effect_h is still taken
                # from the plant
                lo, hi = BASE_PUMP_ONSET_H
            onset = float(rng.uniform(lo, max(hi, lo)))
            if kind == "missed_feed":
                later = feeds[(feeds >= lo) & (feeds <= spec.duration_h - 48)]
                onset = float(later[rng.integers(len(later))]) - 0.5 if later.size else onset
            out.append(PlannedBatch(f"{kind}{i:02d}", "fault", int(rng.integers(2**31)),
                                    [Fault(kind, 1, round(onset, 2), 1.0, fail)]))
    return out


def _truth_onset(f: Fault, feeds: np.ndarray, logged: dict[str, float] | None = None) -> dict[str, object]:
    """When the fault starts acting and, for drifts, when it reaches the spec limit [h].

    ``effect_h`` is the first time the fault can change any signal, which detection delays
    are measured from:

    - ``missed_feed``: the first feed after the onset (the one not given);
    - ``base_pump_failure``: when the base the pH loop asked of the failed pump and did not get
      first reaches the noise of the base-bottle balance (the plant's record, the same rule as
      for a contamination); ``None`` if it never did (the failure never acted). A loop that
      brushes the pump with a sub-microlitre demand and then goes back to CO2 for hours has not
      acted yet;
    - ``contamination``: when the contaminant's O2 uptake, growing from its seeding load
      ``onset_h``, first reaches the noise of the off-gas OUR (the plant's record; see
      :mod:`biotwin.plant.reactor` for the load and growth rate);
    - ``co2_accumulation``: the onset (stripping falls at once; the plant's record);
    - anything else: the onset.

    ``effect_rule`` says which rule applied.
    """
    logged = logged or {}
    effect: float | None = f.onset_h
    rule = "onset"
    if f.kind == "missed_feed":
        nxt = feeds[feeds >= f.onset_h]
        effect = float(nxt[0]) if nxt.size else f.onset_h
        rule = "first feed after onset"
    elif f.kind in LOGGED_EFFECT:
        effect = logged.get(f.kind)
        effect = round(float(effect), 4) if effect is not None else None
        rule = {"base_pump_failure": "undelivered base reaches the balance noise (plant record)",
                "contamination": "contaminant O2 uptake reaches the OUR noise (plant record)",
                "co2_accumulation": "stripping loss starts (plant record)"}[f.kind]
    spec_h = None
    if f.kind in DRIFT_SPEC:
        _, rate, limit = DRIFT_SPEC[f.kind]
        spec_h = f.onset_h + limit / (rate * f.severity)
    failure = f.failure_time_h if math.isfinite(f.failure_time_h) and f.fail_h > 0 else None
    return {"effect_h": effect, "effect_rule": rule, "spec_h": spec_h, "failure_h": failure}


def run_batch(planned: PlannedBatch, spec: CampaignSpec) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Run one batch offline; return (wide measured frame, true assay trajectories).

    Returns
    -------
    measured : DataFrame, shape (n_rows, 1 + n_online + n_offline)
        ``time_h``, ``name [unit]`` of every online tag, then every offline assay (NaN
        where not sampled).
    truth : DataFrame, shape (n_rows, 1 + n_offline)
        ``time_h`` and the true value of every offline quantity.

    ``measured.attrs["fault_log"]`` holds the plant's record of when each fault first acted [h].
    """
    from biotwin.plant.plant import VirtualPlant

    plant = VirtualPlant(n_reactors=1, duration_h=spec.duration_h, faults=list(planned.faults),
                         random_state=planned.seed, skid=False, variability=spec.variability)
    r = next(iter(plant.reactors.values()))
    r.sample_every_h = spec.sample_every_h
    n = math.ceil(spec.duration_h / spec.dt_h - 1e-9)
    online = {name: np.full(n, np.nan) for name in ONLINE_TAGS}
    offline = {name: np.full(n, np.nan) for name in OFFLINE_TAGS}
    truth = {name: np.empty(n) for name in OFFLINE_TAGS}
    times = spec.dt_h * np.arange(1, n + 1)
    for i in range(n):
        r.make_step(spec.dt_h, max_substep_h=spec.substep_h)
        tr = r.truth()
        for name in OFFLINE_TAGS:
            truth[name][i] = tr[name]
        for rd in r.measure(spec.dt_h, final=i == n - 1):
            if rd.tag in online and rd.t_h == r.t_h:
                online[rd.tag][i] = rd.value
            elif rd.tag in offline:
                j = int(np.clip(round(rd.t_h / spec.dt_h) - 1, 0, n - 1))
                offline[rd.tag][j] = rd.value
    cols = {"time_h": np.round(times, 6)}
    cols.update({f"{k} [{ONLINE_TAGS[k][0]}]": v for k, v in online.items()})
    cols.update({f"{k} [{OFFLINE_TAGS[k][0]}]": v for k, v in offline.items()})
    tcols = {"time_h": np.round(times, 6)}
    tcols.update({f"{k} [{OFFLINE_TAGS[k][0]}]": v for k, v in truth.items()})
    measured = pd.DataFrame(cols)
    measured.attrs["fault_log"] = dict(r.fault_log)
    return measured, pd.DataFrame(tcols)


def _run_and_write(args: tuple[PlannedBatch, CampaignSpec, str, str, list[float]]) -> dict[str, object]:
    planned, spec, out_dir, fmt, feeds = args
    measured, truth = run_batch(planned, spec)
    out = Path(out_dir)
    path = out / f"{planned.batch_id}.{fmt}"
    if fmt == "parquet":
        measured.to_parquet(path, index=False)
    else:
        measured.to_csv(path, index=False, float_format="%.6g")
    truth.to_csv(out / f"{planned.batch_id}.truth.csv", index=False, float_format="%.6g")
    faults = [{**asdict(f), "fail_h": f.fail_h if math.isfinite(f.fail_h) else None,
               **_truth_onset(f, np.asarray(feeds), measured.attrs.get("fault_log"))} for f in planned.faults]
    meta = {"batch_id": planned.batch_id, "split": planned.split, "seed": planned.seed,
            "file": path.name, "faults": faults}
    (out / f"{planned.batch_id}.json").write_text(json.dumps(meta, indent=1))
    return meta


def run_campaign(out_dir: str | Path, spec: CampaignSpec | None = None, *, fmt: str = "csv",
                 workers: int | None = None) -> list[dict[str, object]]:
    """Run a campaign and write one wide file + JSON sidecar per batch into ``out_dir``.

    Returns the sidecars (also written as ``campaign.json``).
    """
    spec = spec or CampaignSpec()
    if fmt not in ("csv", "parquet"):
        raise ValueError(f"fmt must be 'csv' or 'parquet', not {fmt!r}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    plan = plan_campaign(spec)
    feeds = [float(x) for x in _feed_times(spec.duration_h)]
    jobs = [(p, spec, str(out), fmt, feeds) for p in plan]
    workers = workers or min(os.cpu_count() or 1, 8)
    if workers > 1 and len(jobs) > 1:
        with ProcessPoolExecutor(workers) as ex:
            metas = list(ex.map(_run_and_write, jobs, chunksize=2))
    else:
        metas = [_run_and_write(j) for j in jobs]
    (out / "campaign.json").write_text(json.dumps({"spec": asdict(spec), "batches": metas}, indent=1))
    return metas


def load_campaign(out_dir: str | Path) -> list[dict[str, object]]:
    """The sidecars of a campaign written by :func:`run_campaign`, with ``path`` added."""
    out = Path(out_dir)
    metas = json.loads((out / "campaign.json").read_text())["batches"]
    for m in metas:
        m["path"] = str(out / str(m["file"]))
    return metas


if __name__ == "__main__":  # pragma: no cover
    import sys
    import time

    t0 = time.perf_counter()
    metas = run_campaign(sys.argv[1] if len(sys.argv) > 1 else "campaign")
    print(f"{len(metas)} batches in {time.perf_counter() - t0:.1f} s")

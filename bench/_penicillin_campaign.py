"""IndPenSim penicillin batches (PenSimPy), written as generic wide CSV files, for the benches.

A second blind stand-in for the hidden acceptance set, and one biotwin's authors did not write:
PenSimPy 1.2.5, the Python port of IndPenSim (Goldrick et al. 2015, J Biotechnol 193:70,
doi:10.1016/j.jbiotec.2014.10.029; Goldrick et al. 2019, Comput Chem Eng 130:106471,
doi:10.1016/j.compchemeng.2019.05.037): an industrial Penicillium chrysogenum fed-batch in a
100-m3 vessel, 230 h, logged every 12 min, with its own batch-to-batch variation (initial
state, kLa, PAA and nitrogen feeds, drifting kinetic parameters) and its own fault
scenarios (aeration, back pressure, substrate feed, base flow, coolant, temperature and pH
sensor drifts).

PenSimPy is not a biotwin dependency. Install it for the bench alone, without its pins (it
pins numpy 1.18 and pandas 1.0, and works with the current ones)::

    .venv/bin/pip install --no-deps pensimpy==1.2.5

It imports ``fastodeint``, a C++ solver that is not on the package index, at module level; the
bench runs PenSimPy's own scipy path (``PenSimEnv(fast=False)``) and registers an empty module
under that name so the import succeeds. Two things are set here rather than taken from
PenSimPy as it stands:

* the recipes are read as IndPenSim writes them. IndPenSim's recipe tables give each set point
  with the time *up to which* it holds (the sugar feed is 8 L/h until 3 h, 15 L/h until 12 h,
  ...); PenSimPy's ``Recipe`` holds each value *from* its time on, so its default profiles run
  every step one interval late: 116 L/h of sugar from 80 to 160 h instead of 90, and the
  discharge at 4000 L/h from 102 to 130 h, which drains the vessel by 135 h, instead of 2-h
  dumps at 100, 130, 150, ... h. :func:`until` turns each default profile back into
  IndPenSim's timing (version 1 of this campaign kept PenSimPy's reading with 3-h dumps every
  20 h of its own; its normal batches ran the base pump saturated for 5-87 % of the batch and
  pH down to 5.1);
* the recipe varies between batches (the IndPenSim data set mixes recipe-driven and
  operator-controlled batches): each batch's sugar and oil feed profiles are scaled by
  1 + 0.08 N(0, 1), aeration by 1 + 0.05 N(0, 1), water by 1 + 0.1 N(0, 1) and PAA by
  1 + 0.05 N(0, 1).

Each batch is one CSV file with IndPenSim's column names (``Time (h)``, ``Aeration
rate(Fg:L/h)``, ...), the offline penicillin and biomass assays every 12 h (IndPenSim's
``Off_line_m``) on the sampling row, noise-free as in IndPenSim unless ``assay_cv`` is given,
and a ``.truth.csv`` beside it with the noise-free penicillin ``P`` and biomass ``X`` [g/L]
and the simulator's fault flag on every row. A seed whose simulation fails (PenSimPy's ODE
right-hand side raises a math error on some draws) is replaced by the next seed.
"""

from __future__ import annotations

import json
import os
import sys
import types
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from itertools import pairwise
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

TIME = "Time (h)"
PENICILLIN = "Offline Penicillin concentration(P_offline:P(g L^{-1}))"
BIOMASS = "Offline Biomass concentratio(X_offline:X(g L^{-1}))"
BATCH_ID = "Batch ID"
OFFLINE = [PENICILLIN, BIOMASS, BATCH_ID]
#: the IndPenSim data set's column of the simulated penicillin on every row (a model state, not
#: an online measurement): the target of ``penicillin_process.py --dense-target``
DENSE_PENICILLIN = "Penicillin concentration(P:g/L)"
#: offline assay column -> its noise-free column in the truth file
TARGETS = {PENICILLIN: "P", BIOMASS: "X"}
#: PenSimPy batch-data attribute -> column, as in the IndPenSim data set
ONLINE_COLUMNS = {
    "Fg": "Aeration rate(Fg:L/h)", "RPM": "Agitator RPM(RPM:RPM)", "Fs": "Sugar feed rate(Fs:L/h)",
    "Fa": "Acid flow rate(Fa:L/h)", "Fb": "Base flow rate(Fb:L/h)",
    "Fc": "Heating/cooling water flow rate(Fc:L/h)", "Fh": "Heating water flow rate(Fh:L/h)",
    "Fw": "Water for injection/dilution(Fw:L/h)", "pressure": "Air head pressure(pressure:bar)",
    "discharge": "Dumped broth flow(Fremoved:L/h)", "DO2": "Dissolved oxygen concentration(DO2:mg/L)",
    "V": "Vessel Volume(V:L)", "Wt": "Vessel Weight(Wt:Kg)", "pH": "pH(pH:pH)", "T": "Temperature(T:K)",
    "Q": "Generated heat(Q:kJ)", "CO2outgas": "carbon dioxide percent in off-gas(CO2outgas:%)",
    "Fpaa": "PAA flow(Fpaa:PAA flow (L/h))", "Foil": "Oil flow(Foil:L/hr)",
    "OUR": "Oxygen Uptake Rate(OUR:(g min^{-1}))", "O2": "Oxygen in percent in off-gas(O2:O2 (%))",
    "CER": "Carbon evolution rate(CER:g/h)", "NH3_shots": "Ammonia shots(NH3_shots:kgs)",
}
#: the IndPenSim data set's other columns (``full``): simulated states on every row, offline
#: records on the sampling rows, and its reference flags (PenSimPy attribute or None -> column)
STATE_COLUMNS = {"S": "Substrate concentration(S:g/L)", "P": DENSE_PENICILLIN}
OFFLINE_RECORDS = {"PAA": "PAA concentration offline(PAA_offline:PAA (g L^{-1}))",
                   "NH3": "NH_3 concentration off-line(NH3_offline:NH3 (g L^{-1}))",
                   "Viscosity": "Viscosity(Viscosity_offline:centPoise)"}
FAULT_REF = "Fault reference(Fault_ref:Fault ref)"
FLAG_COLUMNS = {"0 - Recipe driven 1 - Operator controlled(Control_ref:Control ref)": 0.0,
                "1- No Raman spec, 1-Raman spec recorded(PAT_ref:PAT ref)": 0.0}
BATCH_REF = "Batch reference(Batch_ref:Batch ref)"

#: IndPenSim's fault codes (PenSimPy ``ctrl_flags.Faults``)
FAULTS = {1: "aeration", 2: "back_pressure", 3: "substrate_feed", 4: "base_flow", 5: "coolant_flow",
          7: "temperature_sensor_drift", 8: "ph_sensor_drift"}
SENSOR_FAULTS = ("temperature_sensor_drift", "ph_sensor_drift")
CACHE = Path(os.environ.get("BIOTWIN_PENICILLIN_CACHE", "/tmp/biotwin-penicillin"))


def until(profile: list[dict]) -> list[dict]:
    """An IndPenSim recipe (each value holds up to its time) as PenSimPy set points (each value
    holds from its time on): every value moves to the previous set point's time, the first to 0."""
    out = [{"time": 0.0, "value": float(profile[0]["value"])}]
    out += [{"time": float(a["time"]), "value": float(b["value"])} for a, b in pairwise(profile)]
    return out


def _pensimpy() -> Any:
    """The PenSimPy modules, or SystemExit with how to install them."""
    sys.modules.setdefault("fastodeint", types.ModuleType("fastodeint"))  # only used with fast=True
    try:
        import pensimpy.constants as pc
        import pensimpy.data.constants as dc
        from pensimpy.examples.recipe import Recipe, RecipeCombo
        from pensimpy.peni_env_setup import PenSimEnv
    except ImportError as exc:
        raise SystemExit("this bench needs PenSimPy: .venv/bin/pip install --no-deps pensimpy==1.2.5") from exc
    return types.SimpleNamespace(pc=pc, dc=dc, Recipe=Recipe, RecipeCombo=RecipeCombo, PenSimEnv=PenSimEnv)


def _simulate(seed: int, fault: int) -> Any:
    """One PenSimPy batch; its batch-data object."""
    ps = _pensimpy()
    dc = ps.dc
    rng = np.random.RandomState(10_000 + seed)

    def scaled(profile: list[dict], sd: float) -> list[dict]:
        f = 1.0 + sd * rng.randn()
        return [{"time": sp["time"], "value": sp["value"] * f} for sp in profile]

    recipes = {dc.FS: ps.Recipe(until(scaled(dc.FS_DEFAULT_PROFILE, 0.08)), dc.FS),
               dc.FOIL: ps.Recipe(until(scaled(dc.FOIL_DEFAULT_PROFILE, 0.08)), dc.FOIL),
               dc.FG: ps.Recipe(until(scaled(dc.FG_DEFAULT_PROFILE, 0.05)), dc.FG),
               dc.PRES: ps.Recipe(until(dc.PRESS_DEFAULT_PROFILE), dc.PRES),
               dc.DISCHARGE: ps.Recipe(until(dc.DISCHARGE_DEFAULT_PROFILE), dc.DISCHARGE),
               dc.WATER: ps.Recipe(until(scaled(dc.WATER_DEFAULT_PROFILE, 0.1)), dc.WATER),
               dc.PAA: ps.Recipe(until(scaled(dc.PAA_DEFAULT_PROFILE, 0.05)), dc.PAA)}
    env = ps.PenSimEnv(recipe_combo=ps.RecipeCombo(recipe_dict=recipes), fast=False)
    env.ctrl_flags.Faults = fault
    np.random.seed(seed)  # noqa: NPY002 (PenSimPy draws its noise from the legacy global generator)
    env.random_seed_ref = seed
    _, x = env.reset()
    env.yield_pre = 0
    k, done = 0, False
    while not done:
        k += 1
        v = env.recipe_combo.get_values_dict_at(time=k * ps.pc.STEP_IN_MINUTES / 60.0)
        _, x, _, done = env.step(k, x, v["Fs"], v["Foil"], v["Fg"], v["pressure"], v["discharge"], v["Fw"],
                                 v["Fpaa"])
    return x


#: IndPenSim's analysis delay of the offline assays [steps of 12 min] (``Off_line_delay``)
OFFLINE_DELAY = 4


def delayed_assay(t: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """An offline assay as IndPenSim records it: on the sampling rows (every 12 h, at 1 h and at
    the batch's end) the value ``OFFLINE_DELAY`` rows earlier, NaN elsewhere.

    IndPenSim writes ``P_offline(k) = P(k - Off_line_delay)`` on those rows; PenSimPy's scipy
    path compares its float ODE time with ``== 0`` and records none, so it is rebuilt here.
    """
    sampled = np.isclose(t % 12.0, 0.0) | np.isclose(t % 12.0, 12.0) | np.isclose(t, 1.0)
    sampled[-1] = True
    out = np.full(len(t), np.nan)
    rows = np.flatnonzero(sampled)
    out[rows] = truth[np.maximum(rows - OFFLINE_DELAY, 0)]
    return out


def _write(seed: int, fault: int, path: str, assay_cv: float, raman: bool = False, delayed: bool = False,
           full: bool = False) -> dict:
    """Simulate (trying later seeds when one fails) and write one batch; its metadata.

    ``raman``: also write the simulated Raman spectrum of every row (IndPenSim's, 2200
    channels from 2400 to 201 cm-1, with its noise), one column per wavenumber named by it
    as in the IndPenSim data set, to 1 a.u.

    ``delayed``: the offline penicillin and biomass as IndPenSim records them
    (:func:`delayed_assay`: the value of the sample taken 0.8 h before the row); without it,
    the value on the sampling row itself, every 12 h and at the end.

    ``full``: also the IndPenSim data set's other columns (:data:`STATE_COLUMNS` on every row,
    :data:`OFFLINE_RECORDS` as IndPenSim records them, the fault flag, the control and PAT flags
    and the batch number), so the files carry every column of the data set but the spectrum."""
    import warnings

    ps = _pensimpy()
    used = seed
    for attempt in range(20):
        used = seed + 1000 * attempt
        try:
            with warnings.catch_warnings(), np.errstate(all="ignore"):
                warnings.simplefilter("ignore")
                x = _simulate(used, fault)
            break
        except (OverflowError, ValueError, ZeroDivisionError):
            continue
    else:
        raise RuntimeError(f"PenSimPy failed on 20 seeds from {seed}")
    n = ps.pc.NUM_STEPS
    t = np.round(np.arange(1, n + 1) * ps.pc.STEP_IN_HOURS, 6)
    data: dict[str, Any] = {TIME: t}
    for attr, col in ONLINE_COLUMNS.items():
        data[col] = np.asarray(getattr(x, attr).y[:n], float)
    truth = pd.DataFrame({"time_h": t, "P": np.asarray(x.P.y[:n], float), "X": np.asarray(x.X.y[:n], float),
                          "fault": np.asarray(x.Fault_ref.y[:n], float)})
    arng = np.random.RandomState(20_000 + used)
    sampled = np.isclose(t % 12.0, 0.0) | np.isclose(t % 12.0, 12.0)
    sampled[-1] = True
    for col, key in TARGETS.items():
        noise = 1.0 + assay_cv * arng.randn(n) if assay_cv > 0 else np.ones(n)
        if delayed:
            data[col] = delayed_assay(t, truth[key].to_numpy()) * noise
        else:
            data[col] = np.where(sampled, truth[key].to_numpy() * noise, np.nan)
    data[BATCH_ID] = used
    if full:
        for attr, col in STATE_COLUMNS.items():
            data[col] = np.asarray(getattr(x, attr).y[:n], float)
        for attr, col in OFFLINE_RECORDS.items():
            data[col] = delayed_assay(t, np.asarray(getattr(x, attr).y[:n], float))
        data[FAULT_REF] = truth["fault"].to_numpy()
        data.update({col: np.full(n, v) for col, v in FLAG_COLUMNS.items()})
        data[BATCH_REF] = float(seed)
    frame = pd.DataFrame(data)
    if raman:
        spectra = np.round(np.asarray(x.Raman_Spec.Intensity, float)[:n], 0)
        names = [str(int(w)) for w in ps.pc.RAMAN_WAVENUMBER]
        frame = pd.concat([frame, pd.DataFrame(spectra, columns=names)], axis=1)
    frame.to_csv(path, index=False)
    truth.to_csv(path.replace(".csv", ".truth.csv"), index=False)
    on = np.flatnonzero(truth["fault"].to_numpy() > 0)
    return {"path": path, "seed": used, "fault": FAULTS.get(fault, "none"),
            "onset_h": float(t[on[0]]) if len(on) else None}


def campaign(root: str | Path, n_train: int = 30, n_test: int = 10, n_per_fault: int = 2,
             assay_cv: float = 0.0, workers: int = 2, raman: bool = False,
             delayed: bool = False, full: bool = False) -> dict[str, list[dict]]:
    """Write (or reuse from the cache) a campaign: ``train``, ``test`` and ``faulty`` file metadata.

    Seeds: training 101.., test 201.., faulty 301.. (one per batch). The cache under ``root``
    is reused when its ``spec.json`` matches.
    """
    root = Path(root)
    spec = {"n_train": n_train, "n_test": n_test, "n_per_fault": n_per_fault, "assay_cv": assay_cv,
            "faults": list(FAULTS), "recipes": "indpensim", "version": 2}
    if raman:
        spec["raman"] = True
    if delayed:
        spec["offline"] = "indpensim, delayed"
    if full:
        spec["columns"] = "indpensim data set"
    jobs: list[tuple[str, int, int, str]] = []
    jobs += [("train", 101 + i, 0, str(root / f"PEN_train{i:03d}.csv")) for i in range(n_train)]
    jobs += [("test", 201 + i, 0, str(root / f"PEN_test{i:03d}.csv")) for i in range(n_test)]
    i = 0
    for code, name in FAULTS.items():
        for r in range(n_per_fault):
            jobs.append(("faulty", 301 + i, code, str(root / f"PEN_fault_{name}_{r}.csv")))
            i += 1
    return _simulated(root / "campaign.json", spec, jobs, assay_cv, workers, ("train", "test", "faulty"),
                      raman, delayed, full)


def _simulated(meta_file: Path, spec: dict, jobs: list[tuple[str, int, int, str]], assay_cv: float, workers: int,
               splits: Sequence[str], raman: bool = False, delayed: bool = False,
               full: bool = False) -> dict[str, list[dict]]:
    """The metadata of the batches ``jobs`` (split, seed, fault code, path) by split: read from
    ``meta_file`` when its spec is ``spec``, else simulated and written there."""
    if meta_file.exists():
        cached = json.loads(meta_file.read_text())
        if cached.get("spec") == spec:
            return cached["batches"]
    meta_file.parent.mkdir(parents=True, exist_ok=True)
    out: dict[str, list[dict]] = {split: [] for split in splits}
    with ProcessPoolExecutor(max_workers=workers) as pool:
        futures = [(split, pool.submit(_write, seed, code, path, assay_cv, raman, delayed, full))
                   for split, seed, code, path in jobs]
        for split, fut in futures:
            out[split].append(fut.result())
    meta_file.write_text(json.dumps({"spec": spec, "batches": out}, indent=1))
    return out


def extra_normal(root: str | Path, n: int, assay_cv: float = 0.0, workers: int = 2) -> list[dict]:
    """``n`` more normal batches (seeds 401..) under ``root/extra``, cached there by their own spec,
    for a false-alarm rate on more than the campaign's 10 normal test batches."""
    root = Path(root) / "extra"
    spec = {"n": n, "assay_cv": assay_cv, "recipes": "indpensim", "version": 3}
    jobs = [("extra", 401 + i, 0, str(root / f"PEN_extra{i:03d}.csv")) for i in range(n)]
    return _simulated(root / "extra.json", spec, jobs, assay_cv, workers, ("extra",))["extra"]

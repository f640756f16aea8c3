"""Synthetic campaigns with ground truth, for tests and benchmarks (no virtual plant needed).

Two processes with different variable names and units, so that nothing can be tuned to one:

- :func:`cho_campaign`: the CHO fed-batch of Kotidis et al. 2019 simulated with
  :mod:`biotwin.simulation`, batch-to-batch variation from ``ParameterSet.sample``;
- :func:`monod_campaign`: an E. coli-like fed-batch (Monod growth, Luedeking-Piret product,
  exponential feed; Luedeking & Piret 1959, J Biochem Microbiol Technol Eng 1:393,
  doi:10.1002/jbmte.390010406) integrated with scipy.

Each returns :class:`SyntheticBatch` objects: the measured frame (noise, optional sensor
drift, optional process fault) and the ground truth of what was injected, when.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd
from scipy.integrate import solve_ivp

#: Process faults each generator can inject.
CHO_FAULTS = ("temperature", "aeration", "ph_setpoint", "missed_feed")
MONOD_FAULTS = ("feed_stop", "temperature", "aeration", "overfeed")


@dataclass
class SyntheticBatch:
    """One batch: measured frame plus what was injected.

    Attributes
    ----------
    frame : DataFrame
        ``time_h`` and measured columns (online signals with noise; offline truths).
    fault : str or None
        Process fault kind, ``sensor_drift:<column>``, or None for a normal batch.
    onset_h : float or None
        When the fault started [h].
    spec_h : float or None
        For sensor drifts: when the drift reaches its spec limit [h].
    """

    frame: pd.DataFrame
    fault: str | None = None
    onset_h: float | None = None
    spec_h: float | None = None
    info: dict[str, float] = field(default_factory=dict)


def _noise(frame: pd.DataFrame, cols: dict[str, float], rng: np.random.Generator) -> None:
    for c, rel in cols.items():
        v = frame[c].to_numpy(float)
        scale = rel * (np.abs(v) + 0.02 * (np.abs(v).mean() + 1e-12))
        frame[c] = v + rng.normal(0.0, 1.0, len(v)) * scale


def add_drift(batch: SyntheticBatch, column: str, rate_per_h: float, onset_h: float, spec: float) -> SyntheticBatch:
    """Add a linear sensor drift ``rate_per_h * (t - onset_h)`` to one column after ``onset_h``.

    ``spec`` is the absolute drift at which the sensor is out of specification; ``spec_h``
    records when it gets there.
    """
    f = batch.frame.copy()
    t = f["time_h"].to_numpy(float)
    f[column] = f[column].to_numpy(float) + rate_per_h * np.clip(t - onset_h, 0.0, None)
    return replace(batch, frame=f, fault=f"sensor_drift:{column}", onset_h=onset_h,
                   spec_h=onset_h + abs(spec / rate_per_h))


# ----------------------------------------------------------------------------- CHO

_CHO_ONLINE = {"OUR [mM/h]": 0.02, "CER [mM/h]": 0.02, "DO [%]": 0.01, "pH [-]": 0.0005,
               "dCO2 [mM]": 0.01, "Osmolality [mOsm/kg]": 0.003, "Na [mM]": 0.01, "T [degC]": 0.001,
               "V [L]": 0.002}
_CHO_OFFLINE = ("mAb [mg/L]", "Xv [cells/L]", "Glc [mM]", "Lac [mM]")


def cho_campaign(n: int, *, faults: tuple[str | None, ...] = (None,), seed: int = 0, dt_h: float = 1.0,
                 scale: float = 1.0) -> list[SyntheticBatch]:
    """Simulate ``n`` CHO fed-batches, cycling through ``faults`` (None = normal).

    Parameters
    ----------
    n : int
    faults : tuple of (str or None)
        From :data:`CHO_FAULTS`; batch ``i`` gets ``faults[i % len(faults)]``.
    seed : int
    dt_h : float
        Sampling interval [h].
    scale : float
        Scale of the parameter variation (1 = the parameter set's own uncertainty).

    Returns
    -------
    list of SyntheticBatch
        Frames with the online signals of ``_CHO_ONLINE`` (noisy) and offline truths
        ``mAb [mg/L]``, ``Xv [cells/L]``, ``Glc [mM]``, ``Lac [mM]``.
    """
    from biotwin.models import convert_recipe
    from biotwin.parameters import get_parameter_set
    from biotwin.recipes import load_recipe
    from biotwin.recipes.recipe import Event
    from biotwin.simulation import simulate

    ps = get_parameter_set("cho_t127_kotidis2019")
    model = ps.get_model()
    from importlib.resources import files

    base = load_recipe(str(files("biotwin.recipes") / "data" / "kotidis2019_control.yaml"))
    rng = np.random.default_rng(seed)
    P = ps.sample(n, random_state=seed, scale=scale)
    out = []
    for i in range(n):
        fault = faults[i % len(faults)]
        onset = float(rng.uniform(72.0, 200.0)) if fault else None
        events = list(base.events)
        if fault == "temperature":
            assert onset is not None
            events.append(Event(onset, "set", "T", 33.0))
        elif fault == "aeration":
            assert onset is not None
            events.append(Event(onset, "set", "kLa", 4.0))
        elif fault == "ph_setpoint":
            assert onset is not None
            events.append(Event(onset, "set", "pH_sp", 6.85))
        elif fault == "missed_feed":
            assert onset is not None
            boluses = [e.time_h for e in events if e.kind == "bolus" and e.time_h >= onset]
            onset = float(boluses[0]) if boluses else onset
            events = [e for e in events if not (e.kind == "bolus" and e.time_h >= onset)]
        elif fault is not None:
            raise ValueError(f"unknown CHO fault {fault!r}; expected one of {CHO_FAULTS}")
        events.sort(key=lambda e: e.time_h)
        rec = convert_recipe(base.with_events(events), model)
        t = np.arange(0.0, rec.duration_h + 1e-9, dt_h)
        fr = simulate(model, P[i], rec, t_out=t).to_frame()
        meas = fr[["time_h", *_CHO_ONLINE, *_CHO_OFFLINE]].copy()
        _noise(meas, _CHO_ONLINE, rng)
        out.append(SyntheticBatch(meas, fault, onset))
    return out


# ----------------------------------------------------------------------------- Monod

def _monod_rhs(t: float, y: np.ndarray, p: dict[str, float], fault: str | None, onset: float) -> np.ndarray:
    X, S, P, V, O, _ = y  # noqa: E741
    after = fault is not None and t >= onset
    temp_factor = 0.55 if (after and fault == "temperature") else 1.0
    kla = p["kla"] * (0.25 if (after and fault == "aeration") else 1.0)
    F = p["F0"] * np.exp(p["mu_set"] * max(t - p["t_feed"], 0.0)) if t >= p["t_feed"] else 0.0
    if after and fault == "feed_stop":
        F = 0.0
    if after and fault == "overfeed":
        F *= 2.5
    o_lim = O / (p["K_O"] + O)
    mu = temp_factor * p["mu_max"] * S / (p["K_S"] + S) * o_lim
    qp = p["alpha"] * mu + p["beta"]
    dX = mu * X - F / V * X
    dS = -mu * X / p["Y_XS"] - p["m_s"] * X + F / V * (p["S_f"] - S)
    dP = qp * X - F / V * P
    our = (mu / p["Y_XO"] + p["m_o"]) * X * 31.25  # [mmol O2/L/h]
    dO = kla * (p["O_sat"] - O) - our  # dissolved O2 [mmol/L]
    dbase = p["Y_base"] * mu * X * V
    return np.array([dX, dS, dP, F, dO, dbase])


def monod_campaign(n: int, *, faults: tuple[str | None, ...] = (None,), seed: int = 0,
                   dt_h: float = 0.25) -> list[SyntheticBatch]:
    """Simulate ``n`` E. coli-like fed-batches (different names, units and lengths from CHO).

    Columns: ``time_h``, ``biomass [g/L]`` (offline truth), ``product [g/L]`` (offline truth),
    ``glucose [g/L]`` (offline truth), and online ``DOT [%]``, ``OUR [mmol/L/h]``,
    ``CER [mmol/L/h]``, ``feed_total [L]``, ``base_total [g]``, ``weight [kg]``, ``temp [degC]``.
    Batch length varies between 30 and 40 h.
    """
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        fault = faults[i % len(faults)]
        p = {"mu_max": 0.55 * rng.lognormal(0, 0.06), "K_S": 0.05, "Y_XS": 0.5 * rng.lognormal(0, 0.04),
             "m_s": 0.02, "alpha": 0.12 * rng.lognormal(0, 0.1), "beta": 0.004, "S_f": 500.0,
             "F0": 0.004 * rng.lognormal(0, 0.08), "mu_set": 0.12 * rng.lognormal(0, 0.05),
             "t_feed": 8.0 + rng.uniform(-1, 1), "kla": 1500.0 * rng.lognormal(0, 0.05), "O_sat": 0.21,
             "K_O": 0.004, "Y_XO": 1.1, "m_o": 0.01, "Y_base": 0.08}
        duration = float(rng.uniform(30.0, 40.0))
        onset = float(rng.uniform(12.0, duration - 8.0)) if fault else None
        y0 = np.array([0.2 * rng.lognormal(0, 0.1), 20.0 * rng.lognormal(0, 0.03), 0.0, 2.0, 0.21, 0.0])
        t = np.arange(0.0, duration + 1e-9, dt_h)
        sol = solve_ivp(_monod_rhs, (0.0, duration), y0, t_eval=t, args=(p, fault, onset if onset else 1e9),
                        method="LSODA", rtol=1e-6, atol=1e-9, max_step=0.25)
        X, S, P, V, O, base = sol.y  # noqa: E741
        S = np.maximum(S, 0.0)
        temp = np.full_like(t, 37.0)
        if fault == "temperature":
            assert onset is not None
            temp[t >= onset] = 30.0
        mu = np.gradient(np.log(np.maximum(X * V, 1e-9)), t)
        our = np.clip((np.clip(mu, 0, None) / p["Y_XO"] + p["m_o"]) * X, 0, None) * 31.25  # [mmol/L/h]
        frame = pd.DataFrame({
            "time_h": t, "biomass [g/L]": X, "product [g/L]": P, "glucose [g/L]": S,
            "DOT [%]": 100.0 * np.clip(O, 0, None) / p["O_sat"], "OUR [mmol/L/h]": our,
            "CER [mmol/L/h]": our * 1.05, "feed_total [L]": V - 2.0, "base_total [g]": base,
            "weight [kg]": 1.02 * V, "temp [degC]": temp,
        })
        _noise(frame, {"DOT [%]": 0.01, "OUR [mmol/L/h]": 0.02, "CER [mmol/L/h]": 0.02, "feed_total [L]": 0.002,
                       "base_total [g]": 0.01, "weight [kg]": 0.001, "temp [degC]": 0.002}, rng)
        out.append(SyntheticBatch(frame, fault, onset))
    return out


def frames(batches: list[SyntheticBatch]) -> list[pd.DataFrame]:
    """The measured frames of synthetic batches."""
    return [b.frame for b in batches]

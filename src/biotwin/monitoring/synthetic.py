"""Synthetic campaigns with ground truth, for tests and benchmarks (no virtual plant needed).

Two processes with different variable names and units, so that nothing can be tuned to one:

- :func:`cho_campaign`: the CHO fed-batch of Kotidis et al. 2019 simulated with
  :mod:`biotwin.simulation`, batch-to-batch variation from ``ParameterSet.sample``;
- :func:`monod_campaign`: an E. coli-like fed-batch (Monod growth, Luedeking-Piret product,
  exponential feed; Luedeking & Piret 1959, J Biochem Microbiol Technol Eng 1:393,
  doi:10.1002/jbmte.390010406) integrated with scipy;
- :func:`pichia_campaign`: a Pichia pastoris pilot-scale (about 100 L) methanol-induced
  fed-batch: glycerol batch and fed-batch, then a methanol feed with Haldane-inhibited growth
  (after Zhang et al. 2000, Biotechnol Bioeng 70:1,
  doi:10.1002/1097-0290(20001005)70:1<1::AID-BIT1>3.0.CO;2-Y), a secreted product whose
  specific rate depends on growth rate and temperature, DO control by agitation, whole-vessel
  gas rates [mol/h], feed balances [kg], online data every 5 min with dropouts, and sparse,
  noisy offline samples (``DCW``, ``titre``, methanol) every 4 to 8 h;
- :func:`bacillus_campaign`: a Bacillus subtilis protease fed-batch at 10 m3: glucose-limited
  feed given as a rate [L/h], only off-gas CO2 [%] and air flow [Nm3/h] instead of gas rates,
  a product made mostly at low growth rate (the inverse of Luedeking-Piret, as for
  subtilisin; Pirt 1975, Principles of Microbe and Cell Cultivation, Blackwell), OD600 and
  protease activity [U/mL] assayed every 2 and 6 h.

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
PICHIA_FAULTS = ("methanol_overfeed", "aeration", "temperature", "feed_stop", "contamination")
BACILLUS_FAULTS = ("feed_stop", "aeration", "temperature", "overfeed")

#: Offline (assay) columns of each generator: what a soft sensor infers and a monitor leaves out.
OFFLINE = {"cho": ("mAb [mg/L]", "Xv [cells/L]", "Glc [mM]", "Lac [mM]"),
           "monod": ("biomass [g/L]", "product [g/L]", "glucose [g/L]"),
           "pichia": ("DCW [g/L]", "titre [mg/L]", "MeOH [g/L]"),
           "bacillus": ("OD600 [-]", "protease [U/mL]", "glucose [g/L]")}


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
    info : dict
        Generator-specific facts (e.g. the induction time).
    truth : DataFrame or None
        Noise-free values of the offline variables at every row, where the generator has them.
    """

    frame: pd.DataFrame
    fault: str | None = None
    onset_h: float | None = None
    spec_h: float | None = None
    info: dict[str, float] = field(default_factory=dict)
    truth: pd.DataFrame | None = None


def _noise(frame: pd.DataFrame, cols: dict[str, float], rng: np.random.Generator) -> None:
    """Relative noise ``rel`` on each column with a floor of 2 % of the largest magnitude seen so
    far (causal: a sensor's noise before a fault does not depend on what the fault does later)."""
    for c, rel in cols.items():
        v = frame[c].to_numpy(float)
        seen = np.maximum.accumulate(np.nan_to_num(np.abs(v)))
        scale = rel * (np.abs(v) + 0.02 * seen + 1e-12)
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
_CHO_OFFLINE = OFFLINE["cho"]


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


# ----------------------------------------------------------------------------- Pichia

_RHO_GLY, _RHO_MEOH = 1.13, 0.79  # 50 % w/w glycerol, pure methanol [kg/L]
#: Bacterial contamination of a Pichia culture (engineering assumptions): the contaminant's O2
#: uptake [mmol/L/h] is ``_CONTAM_Q0`` at the fault's onset (about the noise of the off-gas
#: OUR, 3 %, at the methanol phase's 40-190 mmol/L/h) and grows at ``_CONTAM_MU`` [1/h]
#: (doubling in 1 h) up to ``_CONTAM_CAP`` of the vessel's O2 transfer capacity, with a
#: respiratory quotient of 1 and ``_CONTAM_ACID`` mmol of acid per mmol O2 (overflow
#: metabolism), which the pH loop neutralises with NH3. Before the onset it is there too,
#: below a tenth of ``_CONTAM_Q0`` from 3.3 h earlier.
_CONTAM_Q0, _CONTAM_MU, _CONTAM_CAP, _CONTAM_ACID = 2.0, 0.7, 0.4, 0.5


def _pichia_rates(t: float, y: np.ndarray, p: dict[str, float], fault: str | None, onset: float) -> dict[str, float]:
    X, Sg, Sm, _, V = (max(float(v), 0.0) for v in y[:5])
    after = fault is not None and t >= onset
    induced = t >= p["t_ind"]
    # feeds [kg/h]: glycerol fed-batch between the end of the batch phase and induction,
    # methanol exponential from induction (capped)
    Fg = p["Fg"] if p["t_gfb"] <= t < p["t_ind"] else 0.0
    Fm = min(p["Fm0"] * np.exp(p["mu_set"] * (t - p["t_ind"])), p["Fm_max"]) if induced else 0.0
    if after and fault == "methanol_overfeed":
        Fm *= 4.0  # runaway pump: more than the cells can take up, methanol accumulates
    if after and fault == "feed_stop":
        Fm = 0.0
    T = p["T_ind"] if induced else 30.0
    if after and fault == "temperature":
        T += 5.0
    fT = np.exp(0.07 * (T - 30.0))  # growth speeds up with temperature (Q10 ~ 2)
    mu_g = p["mu_g"] * fT * Sg / (0.1 + Sg)
    repress = 0.05 / (0.05 + Sg)  # glycerol represses methanol utilisation
    mu_m = p["mu_m"] * fT * repress * Sm / (p["Ks_m"] + Sm + Sm**2 / p["Ki_m"])
    # O2 demand [mmol/L/h] and the vessel's transfer capacity: above it growth is O2-limited
    qO = (mu_g / p["Y_xo_g"] + mu_m / p["Y_xo_m"] + 0.01) * X * 1000.0 / 32.0
    cap = p["otr_max"] * (0.5 if (after and fault == "aeration") else 1.0)
    qc = 0.0
    if fault == "contamination":
        qc = min(_CONTAM_Q0 * np.exp(_CONTAM_MU * (t - onset)), _CONTAM_CAP * p["otr_max"])
    lim = min(1.0, cap / max(qO + qc, 1e-9))
    mu_g, mu_m, qO, qc = mu_g * lim, mu_m * lim, (qO + qc) * lim, qc * lim
    mu = mu_g + mu_m
    # product [mg/gX/h]: bell-shaped in growth rate, higher at low temperature, only when induced
    qp = p["qp"] * (mu_m / (0.01 + mu_m)) * np.exp(-mu_m / 0.06) * np.exp(-0.12 * (T - 25.0)) if induced else 0.0
    D = (Fg / _RHO_GLY + Fm / _RHO_MEOH) / max(V, 1e-9)
    return {"mu": mu, "mu_g": mu_g, "mu_m": mu_m, "qO": qO, "cap": cap, "qp": qp, "D": D, "Fg": Fg, "Fm": Fm,
            "T": T, "X": X, "Sg": Sg, "Sm": Sm, "V": V, "qc": qc,
            "CER": (p["rq_g"] * mu_g / p["Y_xo_g"] + p["rq_m"] * mu_m / p["Y_xo_m"] + 0.008)
            * X * lim * 1000.0 / 32.0 + qc}


def _pichia_rhs(t: float, y: np.ndarray, p: dict[str, float], fault: str | None, onset: float) -> np.ndarray:
    r = _pichia_rates(t, y, p, fault, onset)
    X, Sg, Sm, P, V = r["X"], r["Sg"], r["Sm"], max(float(y[3]), 0.0), r["V"]
    dX = r["mu"] * X - r["D"] * X
    dSg = -(r["mu_g"] / p["Y_xg"] + 0.01 * Sg / (0.01 + Sg)) * X + 500.0 * r["Fg"] / V - r["D"] * Sg
    dSm = -(r["mu_m"] / p["Y_xm"] + p["m_m"] * (Sm / (0.05 + Sm))) * X + 1000.0 * r["Fm"] / V - r["D"] * Sm
    dP = r["qp"] * X - 0.002 * P - r["D"] * P
    dV = r["D"] * V
    dNH3 = 0.12 * r["mu"] * X * V / 250.0 + _CONTAM_ACID * r["qc"] * V * 17e-6  # [kg/h]
    return np.array([dX, dSg, dSm, dP, dV, r["Fg"], r["Fm"], dNH3])


def pichia_campaign(n: int, *, faults: tuple[str | None, ...] = (None,), seed: int = 0,
                    dt_h: float = 1.0 / 12.0, sample_every_h: float = 4.0) -> list[SyntheticBatch]:
    """Simulate ``n`` Pichia pastoris methanol-induced fed-batches at about 100 L.

    Parameters
    ----------
    n : int
    faults : tuple of (str or None)
        From :data:`PICHIA_FAULTS`; batch ``i`` gets ``faults[i % len(faults)]``, starting
        during the methanol phase.
    seed : int
    dt_h : float
        Online sampling interval [h] (default 5 min).
    sample_every_h : float
        Offline sampling interval of ``DCW`` and methanol [h]; ``titre`` is assayed every
        other sample, from induction on.

    Returns
    -------
    list of SyntheticBatch
        Frames with ``time_h``, online ``T_broth [C]``, ``pO2 [%]``, ``stirrer [1/min]``,
        ``OUR [mol/h]``, ``CER [mol/h]`` (whole vessel), ``RQ [-]``, ``pH [-]``,
        ``glycerol_bottle [kg]`` (remaining, falls), ``methanol_fed [kg]``, ``NH3_fed [kg]``,
        ``broth_mass [kg]``, ``pressure [bar]`` (constant), ``methanol_probe [%v/v]`` (lagged,
        noisy), and offline ``DCW [g/L]``, ``titre [mg/L]``, ``MeOH [g/L]`` on sampled rows
        only (NaN elsewhere, 4-7 % assay noise). ``truth`` holds the noise-free offline values
        at every row; ``info`` the induction time.
    """
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        fault = faults[i % len(faults)]
        if fault is not None and fault not in PICHIA_FAULTS:
            raise ValueError(f"unknown Pichia fault {fault!r}; expected one of {PICHIA_FAULTS}")
        t_gfb = float(rng.uniform(18.0, 24.0))
        p = {"mu_g": 0.22 * rng.lognormal(0, 0.05), "Y_xg": 0.55 * rng.lognormal(0, 0.03),
             "mu_m": 0.09 * rng.lognormal(0, 0.08), "Ks_m": 0.1, "Ki_m": 4.0 * rng.lognormal(0, 0.1),
             "Y_xm": 0.38 * rng.lognormal(0, 0.04), "m_m": 0.013, "Y_xo_g": 1.1,
             "Y_xo_m": 0.42 * rng.lognormal(0, 0.03),
             "rq_g": 0.65, "rq_m": 0.5, "qp": 0.9 * rng.lognormal(0, 0.04),
             "otr_max": 330.0 * rng.lognormal(0, 0.06), "t_gfb": t_gfb, "t_ind": t_gfb + float(rng.uniform(3.0, 6.0)),
             "Fg": 0.8 * rng.lognormal(0, 0.1), "Fm0": 0.06 * rng.lognormal(0, 0.1),
             "mu_set": 0.03 * rng.lognormal(0, 0.15), "Fm_max": 0.55 * rng.lognormal(0, 0.08),
             "T_ind": float(rng.uniform(23.0, 28.0))}
        duration = p["t_ind"] + float(rng.uniform(55.0, 80.0))
        onset = float(rng.uniform(p["t_ind"] + 10.0, duration - 12.0)) if fault else None
        V0 = 60.0 * rng.lognormal(0, 0.05)
        y0 = np.array([0.4 * rng.lognormal(0, 0.15), 40.0 * rng.lognormal(0, 0.04), 0.0, 0.0, V0, 0.0, 0.0, 0.0])
        t = np.arange(0.0, duration + 1e-9, dt_h)
        args = (p, fault, onset if onset is not None else 1e9)
        sol = solve_ivp(_pichia_rhs, (0.0, duration), y0, t_eval=t, args=args, method="LSODA", rtol=1e-6,
                        atol=1e-8, max_step=0.25)
        if not sol.success:  # pragma: no cover - stiff corner cases
            raise RuntimeError(f"Pichia batch {i} did not integrate: {sol.message}")
        Y = sol.y
        R = [_pichia_rates(float(tk), Y[:, k], p, fault, args[2]) for k, tk in enumerate(t)]
        qO = np.array([r["qO"] for r in R])  # [mmol/L/h]
        cap = np.array([r["cap"] for r in R])
        V = np.maximum(Y[4], 1e-9)
        # DO held at 30 % by the stirrer (kLa ~ N^2.2) until it tops out at 80 % of the
        # transfer capacity, then DO falls
        stirrer = np.clip(900.0 * (qO / (0.8 * cap)) ** (1 / 2.2), 250.0, 900.0)
        do = 30.0 * np.clip(1.0 - (qO - 0.8 * cap) / (0.2 * cap), 0.0, 1.0)
        do = np.where(t < 2.0, 100.0 - 35.0 * t, do)
        Sm = np.maximum(Y[2], 0.0)
        probe = np.empty_like(Sm)  # methanol sensor: first-order lag, 20 min
        probe[0] = Sm[0]
        for k in range(1, len(t)):
            probe[k] = probe[k - 1] + (1 - np.exp(-(t[k] - t[k - 1]) / 0.33)) * (Sm[k] - probe[k - 1])
        X, P = np.maximum(Y[0], 0.0), np.maximum(Y[3], 0.0)
        frame = pd.DataFrame({
            "time_h": t,
            "T_broth [C]": np.array([r["T"] for r in R]),
            "pO2 [%]": do,
            "stirrer [1/min]": stirrer,
            "OUR [mol/h]": qO * V / 1000.0,
            "CER [mol/h]": np.array([r["CER"] for r in R]) * V / 1000.0,
            "pH [-]": np.full_like(t, 5.0),
            "glycerol_bottle [kg]": 40.0 - Y[5],
            "methanol_fed [kg]": Y[6],
            "NH3_fed [kg]": Y[7],
            "broth_mass [kg]": 1.03 * V,
            "pressure [bar]": np.full_like(t, 0.5),
            "methanol_probe [%v/v]": probe / 7.9,
        })
        frame["RQ [-]"] = frame["CER [mol/h]"] / np.maximum(frame["OUR [mol/h]"], 1e-3)
        _noise(frame, {"T_broth [C]": 0.003, "pO2 [%]": 0.02, "stirrer [1/min]": 0.005, "OUR [mol/h]": 0.03,
                       "CER [mol/h]": 0.03, "RQ [-]": 0.03, "glycerol_bottle [kg]": 0.001,
                       "methanol_fed [kg]": 0.003, "NH3_fed [kg]": 0.01, "broth_mass [kg]": 0.002,
                       "methanol_probe [%v/v]": 0.1}, rng)
        frame["pH [-]"] += rng.normal(0.0, 0.02, len(t))
        for c in ("OUR [mol/h]", "CER [mol/h]", "pO2 [%]"):  # analyser and probe dropouts
            frame.loc[rng.random(len(t)) < 0.01, c] = np.nan
        truth = pd.DataFrame({"time_h": t, "DCW [g/L]": X, "titre [mg/L]": P, "MeOH [g/L]": Sm})
        step = max(1, round(sample_every_h / dt_h))
        sampled = np.zeros(len(t), bool)
        sampled[::step] = True
        titre_rows = sampled & (t >= p["t_ind"]) & ((np.arange(len(t)) // step) % 2 == 0)
        frame["DCW [g/L]"] = np.where(sampled, X * (1 + rng.normal(0, 0.04, len(t))) + rng.normal(0, 0.1, len(t)),
                                      np.nan)
        frame["titre [mg/L]"] = np.where(titre_rows, P * (1 + rng.normal(0, 0.07, len(t))), np.nan)
        frame["MeOH [g/L]"] = np.where(sampled, np.maximum(Sm * (1 + rng.normal(0, 0.05, len(t)))
                                                           + rng.normal(0, 0.05, len(t)), 0.0), np.nan)
        out.append(SyntheticBatch(frame, fault, onset, info={"t_induction_h": p["t_ind"]}, truth=truth))
    return out


# ----------------------------------------------------------------------------- Bacillus

def _bacillus_rhs(t: float, y: np.ndarray, p: dict[str, float], fault: str | None, onset: float) -> np.ndarray:
    X, S, P, V, _ = (max(float(v), 0.0) for v in y)  # [g/L], [g/L], [U/mL], [m3]
    after = fault is not None and t >= onset
    F = _bacillus_feed(t, p, fault, after)  # [L/h]
    T = 37.0 + (-5.0 if (after and fault == "temperature") else 0.0)
    air = p["air"] * (0.4 if (after and fault == "aeration") else 1.0)
    o2_cap = p["otr"] * air / p["air"]  # [mmol/L/h]
    mu = p["mu_max"] * np.exp(0.06 * (T - 37.0)) * S / (p["K_S"] + S)
    need = (mu / p["Y_XO"] + p["m_o"]) * X * 1000.0 / 32.0
    lim = min(1.0, o2_cap / max(need, 1e-9))
    mu *= lim
    qp = p["qp"] * p["K_P"] / (p["K_P"] + mu) * (S < 5.0)  # protease made when growth slows [U/mL per g/L/h]
    D = F / 1000.0 / max(V, 1e-9)
    dX = mu * X - D * X
    dS = -(mu / p["Y_XS"] + p["m_s"] * S / (0.01 + S)) * X + D * p["S_f"] - D * S
    dP = qp * X - 0.01 * P - D * P
    return np.array([dX, dS, dP, F / 1000.0, mu * X * V])


def _bacillus_feed(t: float, p: dict[str, float], fault: str | None, after: bool) -> float:
    if t < p["t_feed"]:
        return 0.0
    F = p["F0"] * np.exp(min(p["mu_set"] * (t - p["t_feed"]), np.log(p["F_max"] / p["F0"])))
    if after and fault == "feed_stop":
        return 0.0
    if after and fault == "overfeed":
        return 3.0 * F
    return float(F)


def bacillus_campaign(n: int, *, faults: tuple[str | None, ...] = (None,), seed: int = 0,
                      dt_h: float = 2.0 / 60.0) -> list[SyntheticBatch]:
    """Simulate ``n`` Bacillus subtilis protease fed-batches at about 10 m3.

    Parameters
    ----------
    n : int
    faults : tuple of (str or None)
        From :data:`BACILLUS_FAULTS`; batch ``i`` gets ``faults[i % len(faults)]``.
    seed : int
    dt_h : float
        Online sampling interval [h] (default 2 min).

    Returns
    -------
    list of SyntheticBatch
        Frames with ``time_h``, online ``temp [degC]``, ``DO [%]``, ``pH [-]``,
        ``level [m3]``, ``feed_rate [L/h]`` (a rate, not a total), ``air [Nm3/h]``,
        ``CO2_out [%]``, ``O2_out [%]`` (off-gas), ``power [kW]``, ``backpressure [bar]``
        (constant), and offline ``OD600 [-]`` (every 2 h), ``protease [U/mL]`` (every 6 h),
        ``glucose [g/L]`` (every 2 h) on sampled rows only, with assay noise. ``truth``
        holds the noise-free offline values (and dry cell weight) at every row.
    """
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        fault = faults[i % len(faults)]
        if fault is not None and fault not in BACILLUS_FAULTS:
            raise ValueError(f"unknown Bacillus fault {fault!r}; expected one of {BACILLUS_FAULTS}")
        p = {"mu_max": 0.7 * rng.lognormal(0, 0.06), "K_S": 0.1, "Y_XS": 0.45 * rng.lognormal(0, 0.04),
             "m_s": 0.03, "Y_XO": 1.2 * rng.lognormal(0, 0.04), "m_o": 0.02, "qp": 40.0 * rng.lognormal(0, 0.06),
             "K_P": 0.05 * rng.lognormal(0, 0.1), "S_f": 550.0, "t_feed": 0.0, "air": 400.0 * rng.lognormal(0, 0.05),
             "otr": 180.0 * rng.lognormal(0, 0.05), "F0": 40.0 * rng.lognormal(0, 0.1),
             "mu_set": 0.15 * rng.lognormal(0, 0.1), "F_max": 250.0 * rng.lognormal(0, 0.1)}
        y0 = np.array([0.3 * rng.lognormal(0, 0.15), 15.0 * rng.lognormal(0, 0.05), 0.0, 6.0 * rng.lognormal(0, 0.04),
                       0.0])
        p["t_feed"] = float(np.log(y0[1] * p["Y_XS"] / y0[0] + 1.0) / p["mu_max"])  # when the batch sugar runs out
        duration = p["t_feed"] + float(rng.uniform(24.0, 36.0))
        onset = float(rng.uniform(p["t_feed"] + 4.0, duration - 6.0)) if fault else None
        t = np.arange(0.0, duration + 1e-9, dt_h)
        args = (p, fault, onset if onset is not None else 1e9)
        sol = solve_ivp(_bacillus_rhs, (0.0, duration), y0, t_eval=t, args=args, method="LSODA", rtol=1e-6,
                        atol=1e-8, max_step=0.1)
        if not sol.success:  # pragma: no cover
            raise RuntimeError(f"Bacillus batch {i} did not integrate: {sol.message}")
        X, S, P, V, _ = (np.maximum(v, 0.0) for v in sol.y)
        after = np.array([fault is not None and tk >= args[2] for tk in t])
        F = np.array([_bacillus_feed(float(tk), p, fault, bool(a)) for tk, a in zip(t, after, strict=True)])
        air = np.where(after & (fault == "aeration"), 0.4, 1.0) * p["air"]
        temp = np.where(after & (fault == "temperature"), 32.0, 37.0)
        mu = np.clip(np.gradient(np.log(np.maximum(X * V, 1e-12)), t), 0.0, None)
        our = (mu / p["Y_XO"] + p["m_o"]) * X * 1000.0 / 32.0  # [mmol/L/h]
        cer = our + 2.0 * mu * X  # RQ ~ 1 on glucose plus growth-associated CO2 [mmol/L/h]
        n_air = air * 1000.0 / 22.414  # [mol/h]
        co2 = 0.04 + 100.0 * cer * V / n_air  # [%]: CER [mmol/L/h] x V [m3] = [mol/h]
        o2 = 20.95 - 100.0 * our * V / n_air
        do = np.clip(100.0 * (1.0 - our / (p["otr"] * air / p["air"])), 2.0, 100.0) * 0.6 + 0.4 * 30.0
        frame = pd.DataFrame({
            "time_h": t, "temp [degC]": temp, "DO [%]": do, "pH [-]": np.full_like(t, 6.8), "level [m3]": V,
            "feed_rate [L/h]": F, "air [Nm3/h]": air, "CO2_out [%]": co2, "O2_out [%]": o2,
            "power [kW]": 8.0 + 0.004 * air * (1 + 0.1 * X / 30.0), "backpressure [bar]": np.full_like(t, 0.3),
        })
        _noise(frame, {"temp [degC]": 0.002, "DO [%]": 0.02, "level [m3]": 0.003, "feed_rate [L/h]": 0.02,
                       "air [Nm3/h]": 0.01, "CO2_out [%]": 0.01, "O2_out [%]": 0.0005, "power [kW]": 0.01}, rng)
        frame["pH [-]"] += rng.normal(0.0, 0.01, len(t))
        frame.loc[rng.random(len(t)) < 0.005, ["CO2_out [%]", "O2_out [%]"]] = np.nan  # analyser dropouts
        truth = pd.DataFrame({"time_h": t, "OD600 [-]": 2.6 * X, "protease [U/mL]": P, "glucose [g/L]": S,
                              "DCW [g/L]": X})
        k = np.arange(len(t))
        every2, every6 = max(1, round(2.0 / dt_h)), max(1, round(6.0 / dt_h))
        s2, s6 = k % every2 == 0, k % every6 == 0
        frame["OD600 [-]"] = np.where(s2, 2.6 * X * (1 + rng.normal(0, 0.05, len(t))), np.nan)
        frame["protease [U/mL]"] = np.where(s6, P * (1 + rng.normal(0, 0.08, len(t))), np.nan)
        frame["glucose [g/L]"] = np.where(s2, np.maximum(S + rng.normal(0, 0.05, len(t)), 0.0), np.nan)
        out.append(SyntheticBatch(frame, fault, onset, info={"t_feed_h": p["t_feed"]}, truth=truth))
    return out


def frames(batches: list[SyntheticBatch]) -> list[pd.DataFrame]:
    """The measured frames of synthetic batches."""
    return [b.frame for b in batches]

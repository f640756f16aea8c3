"""E. coli high-cell-density fed-batch (recombinant rhGH, IPTG-induced) in a 300-L vessel: a campaign generator.

Used by ``bench/blind_process.py`` as a stand-in for a hidden acceptance set: another organism and
scale than the processes biotwin was developed on, other column names and units (time in minutes,
off-gas in percent, cumulative balances in kg), delivered as one wide CSV file per batch.

Process model (mechanistic ODEs, integrated with ``scipy.integrate.solve_ivp``/LSODA on every
15-min interval; the dissolved O2 is quasi-steady under a DO cascade):

States: biomass ``mX``, glucose ``mS``, acetate ``mA``, product ``mP`` (g in the vessel), broth
weight ``W`` (kg; volume = W / 1.03 kg/L), cumulative feed and NH4OH (kg), broth temperature ``T``.

Kinetics:

* Glucose uptake ``qS = qSmax S/(KS+S) / (1 + A/KiA)`` with acetate inhibition, and overflow
  metabolism by a limited respiratory capacity: glucose is oxidised up to the capacity
  ``qO2max`` and the excess is excreted as acetate, which is re-consumed with the spare capacity
  (Xu, Jahic & Enfors 1999, Biotechnol Prog 15:81-90; Anane et al. 2017, Biotechnol Bioeng
  114:2494). Parameter values in the ranges of those papers (qSmax 1.4 g/g/h, KS 0.05 g/L,
  Yxs_ox 0.50, Yxs_of 0.15, Yas 0.667, Yxa 0.4 g/g, qm 0.04 g/g/h, qO2max 9.4 mmol/g/h, i.e. acetate
  above mu ~ 0.35 1/h at 37 degC as for K-12 strains).
* O2 and CO2 yields of each route from carbon and degree-of-reduction balances (glucose and
  acetate gamma 4, biomass CH1.8O0.5N0.2 gamma 4.2, 24.6 g/Cmol; Roels 1983, *Energetics and
  kinetics in biotechnology*; Villadsen, Nielsen & Liden 2011, *Bioreaction Engineering
  Principles* ch. 3); maintenance as complete glucose oxidation (Pirt 1965, Proc R Soc B 163:224),
  from biomass when the cells starve (endogenous metabolism).
* Dissolved O2 limitation of the respiratory capacity ``DO/(KO+DO)`` (KO 0.1 mg/L).
* Temperature: cardinal temperature model with inflection (Rosso et al. 1993, J Theor Biol
  162:447; E. coli Tmin 5, Topt 40, Tmax 47 degC) on the uptake capacities; maintenance with a
  Q10 of 2.
* Recombinant product after IPTG induction: specific rate growth-associated, saturating in mu
  (``qPmax mu/(Kmu+mu)``), switched on with a 0.7-h lag and decaying with induction age, lower
  above 30 degC (more inclusion bodies / proteolysis) and with acetate; metabolic burden on the
  biomass yield (-15 %) and on the respiratory capacity (-30 %) (Bentley et al. 1990,
  Biotechnol Bioeng 35:668; Glick 1995, Biotechnol Adv 13:247; Shin et al. 1998, J Biotechnol
  62:143 for rhGH in E. coli HCDC).
* Base demand for pH 7.0 with 25 % NH4OH: nitrogen of the new biomass (12 % N) and product and
  the acid of excreted acetate (1 mol NH3 per mol acetate); re-consumption of acetate gives the
  base back, which the controller cannot remove (pH rises).

Operation (HCDC as reviewed by Lee 1996, Trends Biotechnol 14:98; Riesenberg & Guthke 1999 Appl
Microbiol Biotechnol 51:422; Korz et al. 1995 J Biotechnol 39:59 for the exponential feed; van't
Riet 1979, Ind Eng Chem Process Des Dev 18:357 for kLa):

* Batch on 12 g/L glucose (about 140 kg medium), inoculum OD 0.4-0.7, 37 degC, pH 7.0, top
  pressure 0.5 bar(g), air 100 NL/min.
* Glucose depletion (DO spike) starts, after 15-30 min, an exponential feed of 600 g/L glucose
  (1.23 kg/L) at mu_set = 0.18 1/h (batch-to-batch +-0.01) computed from the recipe's estimate of the
  biomass at feed start: ``F = (mu_set/Yxs + m) X0V0 / SF exp(mu_set (t - tF))``; air 200 NL/min.
* IPTG induction when the culture reaches the target OD (about 50, +-15 min to 1 h of operator
  delay; not before 13 h, at the latest 18 h); the temperature is shifted 37 -> 30 degC and the
  feed is held constant at 50 % of its rate at induction.
* Harvest 15-19 h after induction.
* DO controlled at 30 %sat by a cascade: stirrer 150-600 rpm, then pure O2 enrichment (share of
  the inlet gas, up to 40 %). ``kLa = 480 (N/500)^2 (Q/200)^0.5 (160/V)^0.4 1.024^(T-37)`` [1/h]
  (van't Riet 1979 correlation form); saturation from the fresh-water solubility at T, the
  absolute pressure and a salting-out factor 0.92; probes calibrated to 100 %sat with air at
  process conditions.
* Off-gas (dry) from O2, CO2 and inert balances on the inlet gas; weight from feed, base, sampling
  (0.1 kg per sample), CO2 out / O2 in and a little evaporation.

Plant export: every 15 min ``Process time [min]``, ``Temp [degC]``, ``pH [-]``, ``pO2 [%sat]``,
``Stirrer [rpm]``, ``Airflow [NL/min]``, ``O2 enrichment [%]``, ``Exhaust O2 [%]``, ``Exhaust CO2 [%]``,
``Weight [kg]``, ``NH4OH added [kg]``, ``Feed balance [kg]``, ``Pressure [bar]`` with sensor noise,
and the offline assays every 2-4 h (and at induction and harvest), NaN between samples:
``OD600 [-]`` (5 %), ``rhGH [g/L]`` (8 %, only after induction), ``Acetate [g/L]`` and
``Glucose [g/L]`` (6 % + a small absolute error, never negative). A noise-free truth frame is kept
for each batch.

Faults (onset uniform in 12-26 h, kept in the batch's metadata, never in the CSV):

* ``feed_pump_stop``: the feed stops for good.
* ``aeration_loss``: the air supply delivers only 40-60 % of its setpoint (the flow meter shows it);
  kLa falls with the gas flow and the cascade compensates.
* ``temperature_fault``: the temperature controller lets the broth drift 2-3 degC above its
  setpoint within about 0.5-1 h (2.5-5 degC/h).
* ``overfeed``: the feed rate is 1.5-2 x the recipe's (pump calibration / recipe error): glucose in
  excess of the respiratory capacity (or O2 transfer) overflows to acetate.
* ``phage_lysis``: cells lyse at a rate 0.005 1/h doubling every 0.8-1.3 h from onset (capped at
  1 1/h); the released proteases degrade the product, half the lysed N is recycled (less base).
  Under glucose-limited feeding the survivors take up the feed, so OUR/CER only fall once their
  respiratory capacity is exceeded (a few hours after onset); base demand falls first.
* ``po2_probe_drift`` (sensor fault): the pO2 reading drifts by 3-6 %sat/h (either sign); the DO
  cascade acts on the wrong reading, so the *reading* stays at 30 %sat while the true DO, the
  stirrer speed (and O2 enrichment) move away; reading low -> more stirring, reading high -> less,
  down to O2 limitation.
"""

from __future__ import annotations

import itertools
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy.integrate import solve_ivp
from scipy.optimize import brentq

TIME = "Process time [min]"
ONLINE = ["Temp [degC]", "pH [-]", "pO2 [%sat]", "Stirrer [rpm]", "Airflow [NL/min]", "O2 enrichment [%]",
          "Exhaust O2 [%]", "Exhaust CO2 [%]", "Weight [kg]", "NH4OH added [kg]", "Feed balance [kg]",
          "Pressure [bar]"]
OFFLINE = ["OD600 [-]", "rhGH [g/L]", "Acetate [g/L]", "Glucose [g/L]"]
FAULTS = ("feed_pump_stop", "aeration_loss", "temperature_fault", "overfeed", "phage_lysis", "po2_probe_drift")
PROCESS_FAULTS = FAULTS  # the probe drift is scored from its onset like the process faults

DT = 0.25  # h, online sampling
RHO_BROTH = 1.03  # kg/L
RHO_FEED = 1.23  # kg/L of 600 g/L glucose
SF = 600.0  # g/L glucose in the feed
MW_O2, MW_CO2 = 32.0, 44.0
G_X, G_S = 24.6, 30.0  # g/Cmol biomass (with ash), glucose and acetate (CH2O)
NL_PER_MOL = 22.414
Y_IN_O2, Y_IN_CO2 = 0.2095, 0.0004
T_MIN, T_OPT, T_MAX = 5.0, 40.0, 47.0


def _ctmi(t: float) -> float:
    """Cardinal temperature model with inflection (Rosso et al. 1993)."""
    if t <= T_MIN or t >= T_MAX:
        return 0.0
    num = (t - T_MAX) * (t - T_MIN) ** 2
    den = (T_OPT - T_MIN) * ((T_OPT - T_MIN) * (t - T_OPT) - (T_OPT - T_MAX) * (T_OPT + T_MIN - 2 * t))
    return num / den


CTMI_37 = _ctmi(37.0)


def _o2_sat_air(t: float, p_gauge: float) -> float:
    """mg/L O2 in equilibrium with air at T [degC] and top pressure [bar(g)], salting-out 0.92."""
    cs = 14.652 - 0.41022 * t + 0.007991 * t**2 - 0.000077774 * t**3  # fresh water, 1 atm
    return cs * (1.01325 + p_gauge) / 1.01325 * 0.92


@dataclass
class Params:
    """Kinetic and equipment parameters of one batch (drawn with a few % batch-to-batch spread)."""

    qs_max: float = 1.4  # g/g/h
    ks: float = 0.05  # g/L
    ki_a: float = 4.0  # g/L acetate inhibition of glucose uptake
    qo_max: float = 0.30  # g O2/g/h (9.4 mmol/g/h; K-12-like, acetate above mu ~ 0.35 1/h)
    ko: float = 0.1  # mg/L
    qm: float = 0.04  # g glucose/g/h
    y_ox: float = 0.50  # g/g oxidative
    y_of: float = 0.15  # g/g overflow
    y_as: float = 0.667  # g acetate/g glucose overflow
    y_xa: float = 0.40  # g/g on acetate
    qa_max: float = 0.20  # g/g/h acetate uptake
    ka: float = 0.05  # g/L
    burden_y: float = 0.15
    burden_c: float = 0.30
    qp_max: float = 0.015  # g/g/h
    k_mu: float = 0.05  # 1/h
    kd_p: float = 0.05  # 1/h decay of specific productivity after induction
    ki_ap: float = 3.0  # g/L acetate on product formation
    tau_ind: float = 0.7  # h
    od_factor: float = 0.37  # g DCW/L per OD unit
    kla0: float = 480.0  # 1/h at 500 rpm, 200 NL/min, 160 L


@dataclass
class Recipe:
    """Set points and recipe times of one batch; phase times are filled in as the batch runs."""

    w0: float = 140.0  # kg medium + inoculum
    s0: float = 12.0  # g/L
    x0: float = 0.15  # g/L
    mu_set: float = 0.18
    od_target: float = 50.0
    feed_delay: float = 0.3  # h from glucose depletion
    ind_delay: float = 0.5  # h from reaching the target OD
    post_feed: float = 0.5  # share of the feed rate at induction
    harvest_after: float = 19.0  # h after induction
    air_batch: float = 100.0  # NL/min
    air_fed: float = 200.0
    do_sp: float = 30.0  # %sat
    p_gauge: float = 0.5  # bar(g)
    n_min: float = 150.0
    n_max: float = 600.0
    e_max: float = 0.4
    t_feed: float = math.inf
    t_ind: float = math.inf
    t_harv: float = math.inf
    f_ind: float = 0.0  # L/h at induction (recipe value)


@dataclass
class Fault:
    kind: str
    onset: float  # h
    size: float  # kind-specific magnitude
    rate: float = 0.0  # kind-specific rate


@dataclass
class Batch:
    name: str
    frame: pd.DataFrame
    truth: pd.DataFrame
    fault: str | None = None
    onset_min: float | None = None
    meta: dict[str, Any] = field(default_factory=dict)


class _Sim:
    """One batch: right-hand side, DO cascade and recipe logic."""

    def __init__(self, p: Params, r: Recipe, fault: Fault | None) -> None:
        self.p, self.r, self.f = p, r, fault
        # recipe's estimate of the biomass at feed start (g): inoculum + 0.5 g/g of the batch glucose
        v0 = r.w0 / RHO_BROTH
        self.xv_est = (r.x0 + 0.5 * r.s0) * v0

    # --- recipe -----------------------------------------------------------------------------
    def active(self, kind: str, t: float) -> bool:
        return self.f is not None and self.f.kind == kind and t >= self.f.onset

    def feed_recipe(self, t: float) -> float:
        """Feed set point [L/h] from the recipe (before any pump fault)."""
        r = self.r
        if t < r.t_feed:
            return 0.0
        if t >= r.t_ind:
            return r.f_ind * r.post_feed
        return (r.mu_set / 0.5 + 0.04) * self.xv_est / SF * math.exp(r.mu_set * (t - r.t_feed))

    def feed(self, t: float) -> float:
        f = self.feed_recipe(t)
        if self.active("feed_pump_stop", t):
            return 0.0
        if self.active("overfeed", t):
            assert self.f is not None
            return f * self.f.size
        return f

    def air(self, t: float) -> float:
        q = self.r.air_fed if t >= self.r.t_feed else self.r.air_batch
        if self.active("aeration_loss", t):
            assert self.f is not None
            q *= 1.0 - self.f.size
        return q

    def t_set(self, t: float) -> float:
        return 30.0 if t >= self.r.t_ind else 37.0

    def t_offset(self, t: float) -> float:
        if not self.active("temperature_fault", t):
            return 0.0
        assert self.f is not None
        return min(self.f.size, self.f.rate * (t - self.f.onset))

    def probe_drift(self, t: float) -> float:
        if not self.active("po2_probe_drift", t):
            return 0.0
        assert self.f is not None
        return self.f.rate * (t - self.f.onset)

    def lysis(self, t: float) -> float:
        if not self.active("phage_lysis", t):
            return 0.0
        assert self.f is not None
        return min(1.0, 0.005 * 2.0 ** ((t - self.f.onset) / self.f.rate))

    def induced(self, t: float) -> float:
        return 0.0 if t < self.r.t_ind else 1.0 - math.exp(-(t - self.r.t_ind) / self.p.tau_ind)

    # --- kinetics -----------------------------------------------------------------------------
    def fluxes(self, t: float, temp: float, s: float, a: float, c_o2: float) -> dict[str, float]:
        """Specific rates [g/g/h; qC mol/g/h] at glucose s, acetate a [g/L], dissolved O2 c_o2 [mg/L]."""
        p = self.p
        ind = self.induced(t)
        ft = _ctmi(temp) / CTMI_37
        qm = p.qm * 2.0 ** ((temp - 37.0) / 10.0)
        y_ox = p.y_ox * (1.0 - p.burden_y * ind)
        # O2 [g/g glucose] and CO2 [mol/g glucose] of each route (electron and carbon balances)
        a_m, c_m = MW_O2 / G_S, 1.0 / G_S
        a_ox = (4.0 / G_S - 4.2 * y_ox / G_X) / 4.0 * MW_O2
        c_ox = 1.0 / G_S - y_ox / G_X
        a_of = (4.0 / G_S - 4.2 * p.y_of / G_X - 4.0 * p.y_as / G_S) / 4.0 * MW_O2
        c_of = 1.0 / G_S - p.y_of / G_X - p.y_as / G_S
        a_a = (4.0 / G_S - 4.2 * p.y_xa / G_X) / 4.0 * MW_O2
        c_a = 1.0 / G_S - p.y_xa / G_X
        cap = p.qo_max * ft * (1.0 - p.burden_c * ind) * c_o2 / (p.ko + c_o2)
        qs = p.qs_max * ft * max(s, 0.0) / (p.ks + max(s, 0.0)) / (1.0 + max(a, 0.0) / p.ki_a)
        need = a_m * qm + a_ox * max(qs - qm, 0.0)
        if qs <= qm or need <= cap:
            qs_ox, qs_of = qs, 0.0
        elif cap > a_m * qm:
            # the O2 of glucose oxidation and overflow together fill the capacity
            qs_ox = qm + (cap - a_m * qm - a_of * (qs - qm)) / (a_ox - a_of)
            qs_ox = min(max(qs_ox, qm), qs)
            qs_of = qs - qs_ox
        else:
            qs_ox, qs_of = 0.0, qs
        used = a_m * qm + a_ox * max(qs_ox - qm, 0.0) + a_of * qs_of
        qa_pot = p.qa_max * ft * max(a, 0.0) / (p.ka + max(a, 0.0))
        qa = min(qa_pot, max(cap - used, 0.0) / a_a)
        mu = y_ox * max(qs_ox - qm, 0.0) + 0.78 * min(qs_ox - qm, 0.0) + p.y_of * qs_of + p.y_xa * qa
        qo = min(used + a_a * qa, max(cap, 0.0)) if cap < used else used + a_a * qa
        qc = c_m * qm + c_ox * max(qs_ox - qm, 0.0) + c_of * qs_of + c_a * qa
        mu_pos = max(mu, 0.0)
        ftp = math.exp(-0.2 * max(temp - 30.0, 0.0))
        qp = 0.0
        if ind > 0:
            qp = (p.qp_max * ind * math.exp(-p.kd_p * (t - self.r.t_ind)) * mu_pos / (p.k_mu + mu_pos) * ftp
                  / (1.0 + max(a, 0.0) / p.ki_ap))
        return {"qs": qs, "qs_ox": qs_ox, "qs_of": qs_of, "qa": qa, "mu": mu, "qo": qo, "qc": qc, "qp": qp}

    def kla(self, n: float, q_air: float, v: float, temp: float) -> float:
        return self.p.kla0 * (n / 500.0) ** 2 * (q_air / 200.0) ** 0.5 * (160.0 / v) ** 0.4 * 1.024 ** (temp - 37.0)

    def oxygen(self, t: float, x: float, s: float, a: float, v: float, temp: float) -> dict[str, Any]:
        """DO cascade, quasi-steady: stirrer first, then O2 enrichment; returns DO [mg/L], N, e, kLa, fluxes."""
        r = self.r
        q_air = self.air(t)
        c_air = _o2_sat_air(temp, r.p_gauge)
        # the controller holds the *reading* (true + drift) at the set point
        c_t = max(r.do_sp - self.probe_drift(t), 0.5) / 100.0 * c_air

        def our(c: float) -> float:
            return x * self.fluxes(t, temp, s, a, c)["qo"] * 1000.0  # mg/L/h

        def kla_n(n: float) -> float:
            return self.kla(n, q_air, v, temp)

        need_t = our(c_t)
        k_min, k_max = kla_n(r.n_min), kla_n(r.n_max)
        e = 0.0
        if c_air > c_t and need_t <= k_min * (c_air - c_t):
            n = r.n_min
            c = brentq(lambda c: k_min * (c_air - c) - our(c), c_t, c_air) if need_t > 0 else c_air
        elif c_air > c_t and need_t <= k_max * (c_air - c_t):
            n = 500.0 * (need_t / (c_air - c_t) / kla_n(500.0)) ** 0.5
            c = c_t
        else:
            n = r.n_max
            c_gas = c_t + need_t / k_max
            y_o2 = Y_IN_O2 * c_gas / c_air
            e = (y_o2 - Y_IN_O2) / (1.0 - Y_IN_O2)
            if e <= r.e_max:
                c = c_t
            else:
                e = r.e_max
                c_sat = c_air * (Y_IN_O2 + e * (1.0 - Y_IN_O2)) / Y_IN_O2
                c = brentq(lambda c: k_max * (c_sat - c) - our(c), 1e-9, c_t)
        fl = self.fluxes(t, temp, s, a, c)
        return {"c": c, "n": n, "e": e, "kla": kla_n(n), "c_air": c_air, "q_air": q_air, **fl}

    def rhs(self, t: float, y: np.ndarray) -> list[float]:
        m_x, m_s, m_a, m_p, w, _fc, _bc, temp = y
        v = max(w, 1.0) / RHO_BROTH
        x, s, a = max(m_x, 0.0) / v, m_s / v, m_a / v
        o = self.oxygen(t, x, s, a, v, temp)
        kl = self.lysis(t)
        f_l = self.feed(t)
        growth = max(o["mu"], 0.0) * m_x
        acid = (self.p.y_as * o["qs_of"] - o["qa"]) * m_x  # g acetate/h
        # N of new biomass and product, acid of acetate; lysed cells give half their N back
        nh3 = 0.146 * (growth - 0.5 * kl * m_x) + 0.19 * o["qp"] * m_x + 0.283 * acid  # g/h
        base = max(nh3, 0.0) / 0.25 / 1000.0  # kg/h of 25 % NH4OH
        gas = (o["qo"] * m_x - o["qc"] * MW_CO2 * m_x) / 1000.0  # kg/h: O2 in minus CO2 out
        evap = 0.03 * o["q_air"] / 200.0
        d_w = f_l * RHO_FEED + base + gas - evap
        return [
            (o["mu"] - kl) * m_x,
            f_l * SF - o["qs"] * m_x,
            acid,
            o["qp"] * m_x - 0.5 * kl * m_p,
            d_w,
            f_l * RHO_FEED,
            base,
            (self.t_set(t) + self.t_offset(t) - temp) / 0.3,
        ]


def _draw(rng: np.random.Generator) -> tuple[Params, Recipe]:
    def ln(v: float, cv: float) -> float:
        return float(v * math.exp(rng.normal(0.0, cv)))

    d = Params()
    p = Params(qs_max=ln(d.qs_max, 0.03), ks=ln(d.ks, 0.10), ki_a=ln(d.ki_a, 0.05), qo_max=ln(d.qo_max, 0.04),
               qm=ln(d.qm, 0.05), y_ox=ln(d.y_ox, 0.025), y_of=ln(d.y_of, 0.05), y_xa=ln(d.y_xa, 0.05),
               qa_max=ln(d.qa_max, 0.05), burden_y=ln(d.burden_y, 0.1), burden_c=ln(d.burden_c, 0.1),
               qp_max=ln(d.qp_max, 0.05), kd_p=ln(d.kd_p, 0.1), tau_ind=ln(d.tau_ind, 0.1),
               od_factor=ln(d.od_factor, 0.03), kla0=ln(d.kla0, 0.05))
    r = Recipe(w0=float(rng.normal(140.0, 2.0)), s0=ln(12.0, 0.04), x0=float(rng.uniform(0.4, 0.7)) * p.od_factor,
               mu_set=float(np.clip(rng.normal(0.18, 0.01), 0.15, 0.25)), od_target=float(rng.normal(50.0, 2.0)),
               feed_delay=float(rng.uniform(0.25, 0.5)), ind_delay=float(rng.uniform(0.25, 1.0)),
               harvest_after=float(rng.uniform(15.0, 19.0)), air_batch=ln(100.0, 0.01), air_fed=ln(200.0, 0.01),
               p_gauge=float(rng.normal(0.5, 0.005)))
    return p, r


def _sample_plan(rng: np.random.Generator) -> list[float]:
    """Routine offline sampling on the 15-min grid: at inoculation, then every 2-4 h (operator shifts)."""
    ts, t = [0.0], 0.0
    while t < 48.0:
        t += DT * round(float(rng.uniform(2.0, 4.0)) / DT)
        ts.append(t)
    return ts


def simulate(rng: np.random.Generator, fault_kind: str | None = None, name: str = "batch") -> Batch:
    """Simulate one batch; returns the plant export, the truth and the fault's onset."""
    p, r = _draw(rng)
    fault = None
    if fault_kind is not None:
        onset = round(float(rng.uniform(12.0, 26.0)) * 60.0) / 60.0  # whole minutes
        size, rate = {
            "feed_pump_stop": (1.0, 0.0),
            "aeration_loss": (float(rng.uniform(0.4, 0.6)), 0.0),
            "temperature_fault": (float(rng.uniform(2.0, 3.0)), float(rng.uniform(2.5, 5.0))),
            "overfeed": (float(rng.uniform(1.5, 2.0)), 0.0),
            "phage_lysis": (0.0, float(rng.uniform(0.8, 1.3))),
            "po2_probe_drift": (0.0, float(rng.choice([-1.0, 1.0]) * rng.uniform(3.0, 6.0))),
        }[fault_kind]
        fault = Fault(fault_kind, onset, size, rate)
    sim = _Sim(p, r, fault)
    v0 = r.w0 / RHO_BROTH
    y = np.array([r.x0 * v0, r.s0 * v0, 0.05 * v0, 0.0, r.w0, 0.0, 0.0, 37.0])
    rows: list[dict[str, float]] = []
    samples = _sample_plan(rng)
    k = 0
    s_thr = 0.1  # g/L: the DO spike marks glucose depletion
    while True:
        t0 = k * DT
        v = y[4] / RHO_BROTH
        o = sim.oxygen(t0, max(y[0], 0.0) / v, y[1] / v, y[2] / v, v, y[7])
        rows.append(_row(sim, t0, y, o))
        if math.isfinite(r.t_harv) and t0 >= r.t_harv - 1e-9:
            break
        if any(abs(t0 - ts) < 1e-9 for ts in samples):
            frac = 0.1 / y[4]  # 0.1 kg sample incl. line flush
            y[:4] *= 1.0 - frac
            y[4] -= 0.1
        t1 = t0 + DT
        cuts = sorted({t0, t1, *(b for b in (r.t_feed, r.t_ind, fault.onset if fault else math.inf) if t0 < b < t1)})
        for a, b in itertools.pairwise(cuts):
            events = []
            if not math.isfinite(r.t_feed):
                def ev_s(t: float, yy: np.ndarray) -> float:
                    return yy[1] / (yy[4] / RHO_BROTH) - s_thr
                ev_s.direction = -1  # type: ignore[attr-defined]
                events.append(ev_s)
            elif not math.isfinite(r.t_ind) and b > r.t_feed:
                def ev_od(t: float, yy: np.ndarray) -> float:
                    return yy[0] / (yy[4] / RHO_BROTH) / p.od_factor - r.od_target
                ev_od.direction = 1  # type: ignore[attr-defined]
                events.append(ev_od)
            sol = solve_ivp(sim.rhs, (a, b), y, method="LSODA", rtol=1e-6, atol=1e-6, events=events or None)
            if not sol.success:
                raise RuntimeError(f"{name}: integration failed at t={a:.2f} h: {sol.message}")
            y = sol.y[:, -1].copy()
            if events and sol.t_events[0].size:
                te = float(sol.t_events[0][0])
                if not math.isfinite(r.t_feed):
                    r.t_feed = te + r.feed_delay
                else:
                    r.t_ind = min(max(te + r.ind_delay, 13.0), 18.0)
        if not math.isfinite(r.t_ind) and t1 >= 18.0 - 1e-9:
            r.t_ind = 18.0
        if math.isfinite(r.t_ind) and not math.isfinite(r.t_harv):
            r.f_ind = sim.feed_recipe(r.t_ind - 1e-9)
            r.t_harv = DT * round((r.t_ind + r.harvest_after) / DT)
            # a sample at induction (pre-induction OD) and at harvest
            samples = sorted({*(ts for ts in samples if ts < r.t_harv), DT * math.ceil(r.t_ind / DT - 1e-9), r.t_harv})
        k += 1
    truth = pd.DataFrame(rows)
    frame = _export(truth, samples, rng, sim)
    meta = {"fault": fault_kind, "onset_min": None if fault is None else fault.onset * 60.0,
            "t_feed_h": r.t_feed, "t_ind_h": r.t_ind, "t_harv_h": r.t_harv, "mu_set": r.mu_set,
            "fault_size": None if fault is None else fault.size, "fault_rate": None if fault is None else fault.rate}
    return Batch(name, frame, truth, fault_kind, meta["onset_min"], meta)


def _row(sim: _Sim, t: float, y: np.ndarray, o: dict[str, Any]) -> dict[str, float]:
    """Noise-free values of one 15-min row (states, controller outputs, off-gas)."""
    m_x, m_s, m_a, m_p, w, fc, bc, temp = (float(v) for v in y)
    v = w / RHO_BROTH
    our = o["qo"] * m_x / MW_O2  # mol/h
    cer = o["qc"] * m_x  # mol/h
    n_air = o["q_air"] * 60.0 / NL_PER_MOL
    n_o2 = o["e"] / (1.0 - o["e"]) * n_air
    o2_out = Y_IN_O2 * n_air + n_o2 - our
    co2_out = Y_IN_CO2 * n_air + cer
    inert = (1.0 - Y_IN_O2 - Y_IN_CO2) * n_air
    tot = o2_out + co2_out + inert
    acid = (sim.p.y_as * o["qs_of"] - o["qa"]) * m_x
    growth = max(o["mu"], 0.0) * m_x
    nh3 = 0.146 * (growth - 0.5 * sim.lysis(t) * m_x) + 0.19 * o["qp"] * m_x + 0.283 * acid
    return {"t_h": t, "X [g/L]": m_x / v, "OD600": m_x / v / sim.p.od_factor, "S [g/L]": max(m_s / v, 0.0),
            "A [g/L]": max(m_a / v, 0.0), "P [g/L]": max(m_p / v, 0.0), "V [L]": v, "W [kg]": w,
            "feed [kg]": fc, "base [kg]": bc, "T [degC]": temp, "DO [%sat]": 100.0 * o["c"] / o["c_air"],
            "DO reading [%sat]": 100.0 * o["c"] / o["c_air"] + sim.probe_drift(t), "N [rpm]": o["n"],
            "air [NL/min]": o["q_air"], "O2 enrichment [%]": 100.0 * o["e"], "kLa [1/h]": o["kla"],
            "OUR [mmol/L/h]": 1000.0 * our / v, "CER [mmol/L/h]": 1000.0 * cer / v,
            "exhaust O2 [%]": 100.0 * o2_out / tot, "exhaust CO2 [%]": 100.0 * co2_out / tot,
            "mu [1/h]": o["mu"], "qS [g/g/h]": o["qs"], "overflow [g/g/h]": o["qs_of"],
            "feed rate [L/h]": sim.feed(t), "base demand [g/h]": nh3, "p [bar]": sim.r.p_gauge,
            "induced": float(t >= sim.r.t_ind)}


def _export(truth: pd.DataFrame, samples: list[float], rng: np.random.Generator, sim: _Sim) -> pd.DataFrame:
    """The plant's wide export: online sensors with noise, offline assays on the sampled rows."""
    n = len(truth)

    def ar1(sd: float, phi: float = 0.7) -> np.ndarray:
        e = rng.normal(0.0, sd * math.sqrt(1 - phi**2), n)
        out = np.empty(n)
        acc = rng.normal(0.0, sd)
        for i in range(n):
            acc = phi * acc + e[i]
            out[i] = acc
        return out

    tr = truth
    # pH: held at 7.00 within the controller's deadband; rises when acetate re-consumption releases base
    ph_dev = 0.06 * np.tanh(np.clip(-tr["base demand [g/h]"].to_numpy(), 0, None) / 20.0)
    ctrl = ar1(1.0)  # DO loop oscillation, mirrored (smaller) on the stirrer
    controlled = (tr["N [rpm]"] > sim.r.n_min + 1).to_numpy()
    f = pd.DataFrame({TIME: np.round(tr["t_h"].to_numpy() * 60.0, 1)})
    f["Temp [degC]"] = np.round(tr["T [degC]"] + rng.normal(0.0, 0.05) + rng.normal(0.0, 0.04, n), 2)
    f["pH [-]"] = np.round(7.0 + rng.normal(0.0, 0.01) + ph_dev + rng.normal(0.0, 0.01, n), 3)
    f["pO2 [%sat]"] = np.round(np.clip(tr["DO reading [%sat]"] + np.where(controlled, ctrl, 0.0)
                                       + rng.normal(0.0, 0.5, n), 0.0, None), 1)
    f["Stirrer [rpm]"] = np.round(tr["N [rpm]"] * (1.0 - np.where(controlled, 0.004 * ctrl, 0.0))
                                  * (1.0 + rng.normal(0.0, 0.003, n)), 0)
    f["Airflow [NL/min]"] = np.round(tr["air [NL/min]"] * (1.0 + rng.normal(0.0, 0.01, n)), 1)
    f["O2 enrichment [%]"] = np.round(np.clip(tr["O2 enrichment [%]"] + rng.normal(0.0, 0.1, n), 0.0, None), 1)
    f["Exhaust O2 [%]"] = np.round(tr["exhaust O2 [%]"] + rng.normal(0.0, 0.02, n), 2)
    f["Exhaust CO2 [%]"] = np.round(np.clip(tr["exhaust CO2 [%]"] + rng.normal(0.0, 0.02, n), 0.0, None), 2)
    f["Weight [kg]"] = np.round(tr["W [kg]"] + rng.normal(0.0, 0.3, n), 1)
    f["NH4OH added [kg]"] = np.round(tr["base [kg]"] + rng.normal(0.0, 0.01, n), 2)
    f["Feed balance [kg]"] = np.round(tr["feed [kg]"] + rng.normal(0.0, 0.02, n), 2)
    f["Pressure [bar]"] = np.round(tr["p [bar]"] + rng.normal(0.0, 0.005, n), 3)
    sampled = np.isin(np.round(tr["t_h"].to_numpy() / DT).astype(int), np.round(np.array(samples) / DT).astype(int))
    induced = tr["induced"].to_numpy() > 0

    def assay(col: str, cv: float, floor: float, mask: np.ndarray, digits: int) -> np.ndarray:
        val = tr[col].to_numpy() * (1.0 + rng.normal(0.0, cv, n)) + rng.normal(0.0, floor, n)
        return np.where(mask, np.round(np.clip(val, 0.0, None), digits), np.nan)

    f["OD600 [-]"] = assay("OD600", 0.05, 0.0, sampled, 1)
    f["rhGH [g/L]"] = assay("P [g/L]", 0.08, 0.0, sampled & induced, 3)
    f["Acetate [g/L]"] = assay("A [g/L]", 0.06, 0.03, sampled, 2)
    f["Glucose [g/L]"] = assay("S [g/L]", 0.06, 0.02, sampled, 2)
    return f + 0.0  # no "-0.0" in the export


def campaign(n_normal: int, faults: tuple[str, ...] = (), seed: int = 0, n_per_fault: int = 3,
             prefix: str = "ECO300") -> list[Batch]:
    """``n_normal`` normal batches, then ``n_per_fault`` batches of each fault kind, from one seed."""
    kinds: list[str | None] = [None] * n_normal + [k for k in faults for _ in range(n_per_fault)]
    rngs = np.random.default_rng(seed).spawn(len(kinds))
    out = []
    for i, (kind, rng) in enumerate(zip(kinds, rngs, strict=True)):
        tag = "N" if kind is None else "F"
        out.append(simulate(rng, kind, name=f"{prefix}-S{seed}-{tag}{i + 1:02d}"))
    return out


def write_campaign(batches: list[Batch], folder: str | Path) -> list[dict[str, Any]]:
    """One CSV per batch (the plant export), the truth under ``truth/``; returns the sidecars (onsets)."""
    folder = Path(folder)
    (folder / "truth").mkdir(parents=True, exist_ok=True)
    metas = []
    for b in batches:
        path = folder / f"{b.name}.csv"
        b.frame.to_csv(path, index=False)
        b.truth.to_csv(folder / "truth" / f"{b.name}.truth.csv", index=False)
        metas.append({"name": b.name, "path": str(path), **b.meta})
    (folder / "sidecar.json").write_text(json.dumps(metas, indent=1) + "\n")
    return metas

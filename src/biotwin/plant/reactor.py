"""A virtual bioreactor: the CHO process model as truth, its environment, control loops,
sensors, offline sampling and faults, advanced with a do-mpc-style ``make_step``.

Truth: the CHO model of Kotidis et al. (2019) (:mod:`biotwin.models.cho`) stepped with the
compiled Dormand-Prince kernels, with parameters drawn per batch (batch-to-batch
variability), a seeding density and a raw-material lot factor, and a small multiplicative
random walk on the viable cells (process noise).

Environment (around the cells; engineering assumptions, constants stated):

- temperature: first order towards the jacket, ``dT/dt = (T_j - T) / 0.25 h``;
- dissolved O2: ``dO2/dt = k_O2 (C* y_O2/0.2095 - O2) - OUR``, updated exactly over a step
  for constant rates; ``C* = 0.214 mM`` (air, 37 degC); ``kLa = 10 (N/100 rpm)^1.5`` [1/h]
  (power-law in agitation, van 't Riet 1979, doi:10.1021/i260072a001); ``k_O2`` is kLa
  corrected for the O2 the bubbles lose on their way up (:func:`gas_transfer_conductance`,
  below; 0.9 kLa at 60 rpm, 0.4 kLa at 300 rpm with the 0.01 vvm sparge);
- medium (engineering assumptions, stated): a bicarbonate-buffered chemically defined medium
  with ``NAHCO3_MM`` = 24 mM NaHCO3 (2 g/L; CHO media hold about 20-40 mM) and 1 mM
  phosphate (pK2 6.8), equilibrated at the pH setpoint, so the initial pCO2 is
  ``HCO3- 10^(pK1 - pH) / H_CO2`` (about 95 mmHg at pH 7.0) and the pH loop starts with
  the CO2 sparge that holds it (12.6 %); pCO2 of 40-150 mmHg and pH held by CO2 sparging and
  base are typical of CHO fed-batch (Mostafa & Gu 2003, Biotechnol Prog 19:45-51,
  doi:10.1021/bp0256263; deZengotita et al. 2002, Biotechnol Bioeng 77:369-380,
  doi:10.1002/bit.10176);
  feeds are bicarbonate-free and pH-neutral (their lactate and ammonium as neutral salts), so
  they dilute the inorganic carbon and the strong-ion difference;
- total inorganic carbon TIC = CO2 + HCO3- [mM]: ``dTIC/dt = CER - k_s (CO2 - H_CO2 y_CO2)``
  with CER = RQ OUR of the cells (plus the contaminant's) and the CO2/HCO3- split from the
  pH (Henderson-Hasselbalch, :func:`biotwin.models.environment.co2_fraction`; Royce &
  Thornhill 1991, AIChE J 37:1680-1686, doi:10.1002/aic.690371111); updated exactly over a
  step at that split. The stripping conductance ``k_s`` takes the gas side into account: a
  bubble swarm in plug flow through well-mixed liquid leaves with
  ``y_out = C/H - (C/H - y_in) exp(-kLa_CO2 H / G)``, so
  ``k_s = (G / H) (1 - exp(-kLa_CO2 H / G))`` with ``G`` the molar gas flow per litre of
  broth [mM/h] and ``kLa_CO2 = 0.89 kLa`` (Higbie 1935 penetration theory). CO2 being
  soluble (H = 23.9 mM/atm, Sander 2015), the bubbles of a 0.01 vvm sparge leave nearly
  saturated and stripping is limited by the gas flow, not by kLa: the exit gas carries
  about CER/G (4-6 % CO2 here), so pCO2 builds up to tens of mmHg once the cells make the
  CO2 (Mostafa & Gu 2003; Sieblist et al. 2011, Insights into large-scale cell-culture
  reactors II: gas-phase mixing and CO2 stripping, Biotechnol J 6:1547-1556). The same
  correction applies to O2 (H about 1 mM/atm, a smaller one). pCO2 [mmHg] = CO2 / H_CO2 * 760
  (:func:`biotwin.models.environment.pco2_mmHg`). The off-gas CER is the CO2 transfer rate
  out of the liquid (production minus the change of TIC: lactic acid and base shift
  HCO3- to CO2 too) after mixing in a 1-L headspace swept by the sparge gas (a first-order
  lag of about 50 min at 0.01 vvm), so a loss of stripping shows in the off-gas at once; the off-gas
  fractions from the gas balance of :func:`biotwin.models.environment.offgas_fractions`;
- pH: the charge balance ``HCO3- + HPO4-- share = Z`` solved in closed form by
  :func:`biotwin.models.environment.hydrogen_ion` (Stewart 1983, doi:10.1139/y83-207), with
  ``Z = Z_bg + Amm - Lac`` [mM] and ``Z_bg`` the strong-ion difference of the medium
  (its NaHCO3) plus the base added (1 M NaOH, carbon-free) minus the contaminant's acid.

Control layer: PID temperature (jacket), split-range pH (CO2 sparge up / base down), and the
DO cascade (agitation first, then O2 enrichment), all acting on *measured* values, so sensor
faults move the true culture: a drifting pH electrode held at setpoint moves the true pH, and
at the same bicarbonate the dissolved CO2 by ``10^0.1 - 1 = 26 %`` per 0.1 pH.

Sensors: every measured tag carries the noise of its transmitter (off-gas analysers
0.01-0.02 % abs, Heinzle & Dunn 1993; balances 0.02 g); set values (T_jacket, agitation, gas
fractions of the mass-flow controllers, pump totalisers) are published as commanded.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from biotwin.lake.records import QUALITY_GOOD
from biotwin.models import cho
from biotwin.models.environment import (
    H_CO2,
    KLA_CO2_RATIO,
    MOLAR_GAS_VOLUME,
    PK1_CO2,
    co2_fraction,
    hydrogen_ion,
    offgas_fractions,
    pco2_mmHg,
)
from biotwin.plant.control import PID, split_range
from biotwin.plant.faults import Fault
from biotwin.plant.sensors import Sensor
from biotwin.recipes.recipe import CompiledRecipe
from biotwin.simulation.kernels import get_kernels

C_O2_AIR_MM = 0.214  # O2 saturation with air at 37 degC [mM]
#: Medium: NaHCO3 [mM] (2 g/L) and phosphate [mM], its pK2 at 37 degC (Dawson et al. 1986,
#: Data for Biochemical Research, 3rd ed., Oxford University Press).
NAHCO3_MM = 24.0
PHOSPHATE_MM, PK_PHOSPHATE = 1.0, 6.8
K1_CO2_M = 10.0 ** -PK1_CO2
K_PHOSPHATE_M = 10.0 ** -PK_PHOSPHATE
#: Sparge gas flow [vvm]: 20 mL/min in a 2-L bench reactor (engineering assumption; bench CHO
#: reactors sparge about 0.005-0.05 vvm, kept low against bubble shear and foam).
GAS_VVM = 0.01
TAU_T_H = 0.25
BASE_MAX_MM_H = 3.0  # base pump capacity [mmol per L broth per h]
BASE_M = 1.0  # base concentration [mol/L]
N_MIN, N_MAX = 60.0, 300.0  # agitation [rpm]
CO2_SPARGE_MAX = 0.15
#: Bacterial contaminant (engineering assumptions, E. coli-like aerobe in a rich medium):
#: seeding load [cells/L] (1e3 CFU/mL, e.g. a breach at a sampling port or a contaminated feed),
#: specific growth rate [1/h] (doubling 42 min at 36.5 degC), specific O2 uptake [mmol/g/h]
#: (10-20 for E. coli growing aerobically on glucose; Andersen & von Meyenburg 1980, J Bacteriol
#: 144:114, doi:10.1128/jb.144.1.114-123.1980), dry mass per cell [g] (about 0.3 pg; Neidhardt
#: et al. 1990, Physiology of the Bacterial Cell, Sinauer, ch. 1), acid (acetate overflow)
#: [mmol per mmol O2] and respiratory quotient [-]. Growth stops when its O2 uptake reaches
#: ``CONTAM_OUR_MAX`` x severity [mM/h] (O2 transfer and substrate limit).
#: Headspace gas volume [L] (a 3-L vessel at 2 L working volume): with 0.01 vvm of sparge gas it is
#: swept in about 50 min, so the off-gas composition follows the CO2 transfer with that lag.
HEADSPACE_L = 1.0
CONTAM_SEED_PER_L = 1e6
CONTAM_MU_1_H = 1.0
CONTAM_QO2 = 15.0
CONTAM_CELL_G = 3e-13
CONTAM_ACID_PER_O2 = 0.5
CONTAM_RQ = 1.0
CONTAM_OUR_MAX = 20.0
#: CO2 stripping lost at once when a ``co2_accumulation`` fault starts (a blocked vent filter
#: or sparger), and in all at its failure time, fractions x severity of the stripping
#: conductance (see :func:`gas_transfer_conductance`).
CO2_STRIP_LOSS_STEP, CO2_STRIP_LOSS_FULL = 0.5, 0.8

#: Online tags: name -> (unit, EURange low, high, description).
ONLINE_TAGS: dict[str, tuple[str, float, float, str]] = {
    "T": ("degC", 0.0, 60.0, "culture temperature"),
    "T_jacket": ("degC", 0.0, 80.0, "jacket temperature (controller output)"),
    "pH": ("-", 5.0, 9.0, "culture pH (glass electrode)"),
    "DO": ("%", 0.0, 150.0, "dissolved O2, % of air saturation"),
    "dCO2": ("mmHg", 0.0, 300.0, "dissolved CO2 partial pressure"),
    "agitation": ("rpm", 0.0, 400.0, "agitator speed"),
    "O2_sparge": ("%", 0.0, 100.0, "O2 fraction of the sparge gas"),
    "CO2_sparge": ("%", 0.0, 20.0, "CO2 fraction of the sparge gas"),
    "base_total": ("mL", 0.0, 5000.0, "base commanded (pump totaliser)"),
    "base_delivered": ("mL", 0.0, 5000.0, "base delivered (base-bottle balance)"),
    "feed_total": ("mL", 0.0, 20000.0, "feed commanded (pump totaliser)"),
    "feed_delivered": ("mL", 0.0, 20000.0, "feed delivered (feed-bottle balance)"),
    "V": ("L", 0.0, 10.0, "working volume (load cell)"),
    "OUR": ("mM/h", 0.0, 50.0, "O2 uptake rate (off-gas balance)"),
    "CER": ("mM/h", 0.0, 50.0, "CO2 evolution rate (off-gas balance)"),
    "offgas_O2": ("%", 0.0, 100.0, "O2 in the off-gas"),
    "offgas_CO2": ("%", 0.0, 30.0, "CO2 in the off-gas"),
    "vibration": ("mm/s", 0.0, 50.0, "agitator bearing vibration velocity (RMS)"),
    "motor_current": ("A", 0.0, 10.0, "agitator motor current"),
    "capacitance": ("pF/cm", 0.0, 200.0, "biomass capacitance probe"),
    "pressure": ("mbar", 0.0, 500.0, "headspace overpressure"),
}
#: Offline assays: name -> (unit, low, high, description); results arrive hours after sampling (the
#: at-line ones of :data:`ATLINE_TAGS` within minutes). One sample every ``sample_every_h`` (the
#: campaign: 12 h; once or twice a day is usual for fed-batch CHO cultures).
OFFLINE_TAGS: dict[str, tuple[str, float, float, str]] = {
    "Xv": ("cells/L", 0.0, 1e11, "viable cell density (offline counter)"),
    "viability": ("%", 0.0, 100.0, "viability (offline counter)"),
    "Glc": ("mM", 0.0, 200.0, "glucose (offline analyser)"),
    "Lac": ("mM", 0.0, 200.0, "lactate (offline analyser)"),
    "Amm": ("mM", 0.0, 50.0, "ammonium (offline analyser)"),
    "mAb": ("mg/L", 0.0, 20000.0, "titre (offline, protein A HPLC)"),
    "pH_atline": ("-", 5.0, 9.0, "culture pH of the sample (at-line blood-gas analyser, 37 degC)"),
    "pCO2_atline": ("mmHg", 0.0, 300.0, "dissolved CO2 of the sample (at-line blood-gas analyser)"),
}
#: At-line assays of the same sample (a blood-gas analyser next to the reactor): results within
#: minutes, not hours. Process measurements, not soft-sensor targets: the reference against which
#: plants check (and re-standardise) the online pH electrode during the culture.
ATLINE_TAGS = ("pH_atline", "pCO2_atline")
#: At-line blood-gas analyser: pH noise sd [-] (instrument error about +-0.02 pH, taken as 2 sd;
#: Nolan et al. 2017, Extraction of indirectly captured information for use in a comparison of
#: offline pH measurement technologies, J Biotechnol 251:160-165, doi:10.1016/j.jbiotec.2017.04.025),
#: pCO2 relative noise sd [-] (engineering assumption, blood-gas analysers are specified at a few %
#: of reading) and the delay from sampling to result [h] (an analyser at line: minutes).
ATLINE_PH_SD = 0.01
ATLINE_PCO2_REL_SD = 0.03
ATLINE_DELAY_H = (0.05, 0.25)
#: Drift of a faulty pH electrode [pH/h], reading high (``ph_drift`` fault, x severity): 0.048 pH per day.
#: A glass electrode in culture loses about 0.1 pH of accuracy over a whole batch (about +-0.02 pH
#: fresh, +-0.1 pH at the end of a two-week batch: a few thousandths per day; Bioprocess Tools 2024,
#: Bioreactor instrumentation guide, https://bioprocesstools.com/blog/bioreactor-instrumentation-guide/,
#: sensor table; and electrochemical probes lose accuracy with batch age: Schmitt et al. 2024,
#: PMC10873650); the fault is a probe at the fast end, a few hundredths of a pH unit per day, that
#: reaches the 0.1 pH spec limit about two days after onset. Plants catch such drifts by comparing
#: the online pH with the pH of the daily sample (Hoffmann et al. 2020, Novel carbon dioxide-based
#: method for accurate determination of pH and pCO2 in mammalian cell culture processes, Processes
#: 8:520, doi:10.3390/pr8050520: "a sample-based offline pH measurement is commonly used ... as a
#: detection measure for drifts of probe signals").
PH_DRIFT_PER_H = 0.002


@dataclass
class Reading:
    """One published value: tag, culture time [h], value, OPC quality."""

    tag: str
    t_h: float
    value: float
    quality: int = QUALITY_GOOD


def gas_transfer_conductance(kla_h: float, gas_mM_h: float, henry_mM: float = H_CO2) -> float:
    """Gas-liquid transfer conductance ``k`` [1/h] of a sparge: rate ``k (C - H y_in)`` [mM/h].

    Plug-flow bubbles through well-mixed liquid: ``k = (G/H) (1 - exp(-kLa H/G))``, ``G``
    [mM/h] the molar gas flow per litre of broth, ``H`` [mM per unit mole fraction at 1 atm]
    the solubility (:data:`H_CO2` for CO2, ``C_O2_AIR_MM / 0.2095`` for O2); it tends to
    ``kLa`` at high gas flow and to ``G/H`` (bubbles leaving saturated) at low gas flow.

    References
    ----------
    Sieblist C., Jenzsch M., Pohlscheidt M., Lubbert A. (2011) Insights into large-scale
    cell-culture reactors: II. Gas-phase mixing and CO2 stripping. Biotechnol J 6:1547-1556
    (stripping set by the change of the gas composition on the bubbles' way up).

    Examples
    --------
    >>> round(gas_transfer_conductance(1.0, 1e6), 3)
    1.0
    """
    if gas_mM_h <= 0.0:
        return 0.0
    return gas_mM_h / henry_mM * -math.expm1(-kla_h * henry_mM / gas_mM_h)


def ph_from_charge(tic_mM: float, z_mM: float) -> float:
    """pH of the medium from its total inorganic carbon and strong-ion difference [mM].

    The closed-form charge balance of :func:`biotwin.models.environment.hydrogen_ion` with
    the medium's phosphate (:data:`PHOSPHATE_MM`, pK2 6.8).
    """
    h = float(hydrogen_ion(tic_mM, z_mM, K1_CO2_M, PHOSPHATE_MM, K_PHOSPHATE_M))
    return -math.log10(h)


@dataclass
class VirtualBioreactor:
    """One stirred-tank bioreactor running one fed-batch culture.

    Parameters
    ----------
    unit_id : str
        ISA-95 unit name (``BR01``).
    params : ndarray, shape (n_parameters,)
        CHO parameters of this batch (draw them with ``ParameterSet.sample``).
    recipe : CompiledRecipe
        Feeds and initial conditions (volumes are scaled by ``volume_L / V0``).
    volume_L : float
        Initial working volume [L].
    seed_factor, lot_factor : float
        Seeding density and raw-material (feed strength) multipliers.
    faults : list of Fault
        Faults of this reactor.
    random_state : int or Generator
    sample_every_h : float
        Sampling interval [h] (cell counts, metabolites, titre and the at-line blood-gas pH/pCO2).
    sample_delay_h : (float, float)
        Range of the delay from sampling to the offline results [h].
    restandardise_ph : bool
        Re-standardise the online pH probe (its offset) on the blood-gas pH of the first sample,
        as plants do after sterilisation and inoculation (e.g. Hoffmann et al. 2020, Processes
        8:520, doi:10.3390/pr8050520; GEN 38(15), 2018, "pH sensor recalibration based on exhaust
        CO2 concentration"): the probe then starts within the analyser's error of the true pH.
    """

    unit_id: str
    params: np.ndarray
    recipe: CompiledRecipe
    volume_L: float = 2.0
    seed_factor: float = 1.0
    lot_factor: float = 1.0
    faults: list[Fault] = field(default_factory=list)
    random_state: int | np.random.Generator | None = None
    sample_every_h: float = 24.0
    sample_delay_h: tuple[float, float] = (2.0, 6.0)
    restandardise_ph: bool = True

    def __post_init__(self) -> None:
        self.rng = np.random.default_rng(self.random_state)
        seq = getattr(self.rng.bit_generator, "seed_seq", None)
        self.rng_atline = np.random.default_rng(seq.spawn(1)[0] if isinstance(seq, np.random.SeedSequence) else 1)
        self.kern = get_kernels(cho.CHO_KOTIDIS2019)
        cr = self.recipe
        self.scale = self.volume_L / cr.y0[0]
        self.y = cr.y0.copy()
        self.y[cho.IV] *= self.scale
        self.y[cho.IXV] *= self.seed_factor
        self.u = cr.u0.copy()
        self.conc = cr.stream_conc * self.lot_factor
        self.ev_i = 0
        self.t_h = 0.0
        self.h = 1e-3
        self.work = np.empty((9, self.y.size))
        self.atol = cho.CHO_KOTIDIS2019.state_scales * 1e-6
        self.lac0, self.amm0 = float(self.y[cho.ILAC]), float(self.y[cho.IAMM])
        self.T = float(self.u[cho.UT])
        self.o2 = 0.9 * C_O2_AIR_MM
        # the medium equilibrated at the pH setpoint: HCO3- from its NaHCO3, CO2 from Henderson-Hasselbalch
        ph0 = float(self.u[cho.UPH])
        h0 = 10.0 ** -ph0
        co2_0 = NAHCO3_MM * h0 / K1_CO2_M
        self.tic = NAHCO3_MM + co2_0
        self.co2 = co2_0
        #: strong-ion difference of everything but lactate and ammonium [mM]: medium, base, contaminant acid
        self.z_bg = NAHCO3_MM + PHOSPHATE_MM * K_PHOSPHATE_M / (K_PHOSPHATE_M + h0) + (
            float(self.y[cho.ILAC]) - float(self.y[cho.IAMM]))
        self.base_mm = 0.0
        self.acid_contam = 0.0
        self.our_contam = 0.0
        self.contam_cells = 0.0  # contaminant [cells/L]
        self.cer = 0.0  # CO2 transfer rate out of the liquid [mM/h]
        #: the plant's own record of when each fault first changed the process [h]
        self.fault_log: dict[str, float] = {}
        self.base_total_mL = 0.0
        self.base_delivered_mL = 0.0
        self.feed_total_mL = 0.0
        self.feed_delivered_mL = 0.0
        self.N = N_MIN
        self.y_o2 = 0.2095
        self.y_co2 = co2_0 / H_CO2  # the sparge the medium was equilibrated with
        self.base_rate = 0.0
        self.base_cmd_rate = 0.0
        self.missed = False
        self.our = 0.0
        self.ph = ph0
        self.t_loop = PID(kp=8.0, ti_h=0.5, low=5.0, high=50.0, setpoint=float(self.u[cho.UT]),
                          bias=float(self.u[cho.UT]))
        self.ph_loop = PID(kp=3.0, ti_h=2.0, low=-1.0, high=1.0, setpoint=float(self.u[cho.UPH]),
                           reverse=True)
        self.ph_loop.integral = min(self.y_co2 / CO2_SPARGE_MAX, 1.0)  # bumpless start at that sparge
        self.do_loop = PID(kp=0.02, ti_h=1.0, low=0.0, high=1.0, setpoint=40.0)
        self.sensors = {
            "T": Sensor(0.02, 0.02, 0.01, self.rng.normal(0, 0.05), 0, 60),
            "pH": Sensor(0.005, 0.01, 0.001, self.rng.normal(0, 0.02), 5, 9),
            "DO": Sensor(0.3, 1 / 60, 0.1, self.rng.normal(0, 1.0), 0, 150),
            # a Severinghaus-type pCO2 probe (membrane lag ~3 min), 2 mmHg offset sd and 3 % slope sd
            # after calibration (e.g. against a blood-gas analyser)
            "dCO2": Sensor(0.5, 0.05, 0.1, self.rng.normal(0, 2.0), 0, 300, gain=1.0 + self.rng.normal(0, 0.03)),
            "OUR": Sensor(0.02, 0.05, 0.01, 0.0, 0, 50),
            "CER": Sensor(0.02, 0.05, 0.01, 0.0, 0, 50),
            "capacitance": Sensor(0.1, 0.1, 0.01, 0.0, 0, 200),
            "V": Sensor(0.002, 0.0, 0.001, 0.0, 0, 10),
            "pressure": Sensor(1.0, 0.0, 0.1, 0.0, 0, 500),
            "vibration": Sensor(0.05, 0.0, 0.01, 0.0, 0, 50),
            "motor_current": Sensor(0.01, 0.0, 0.001, 0.0, 0, 10),
            # a 5-kg balance under the base bottle: 0.01 g resolution, 0.02 g noise (1 M NaOH/Na2CO3
            # taken as 1 g/mL)
            "base_delivered": Sensor(0.02, 0.0, 0.01, 0.0, 0, 5000),
            # the same balance under the feed bottle
            "feed_delivered": Sensor(0.02, 0.0, 0.01, 0.0, 0, 20000),
            # off-gas analysers (paramagnetic O2, infrared CO2): 0.015 and 0.01 % abs noise, 0.01 %
            # resolution (Heinzle & Dunn 1993, in Rehm & Reed, Biotechnology 2nd ed., vol 4, VCH)
            "offgas_O2": Sensor(0.015, 0.0, 0.01, 0.0, 0, 100),
            "offgas_CO2": Sensor(0.01, 0.0, 0.01, 0.0, 0, 30),
        }
        self.sensor_state = {name: s for name, s in self.sensors.items()}
        self.pending: list[tuple[float, Reading]] = []  # (arrival [h], reading)
        self.next_sample_h = 1.0
        self.ph_standardised = False
        self.failed_agitator = False
        self.vib = 1.5
        self.current = 2.0

    # ------------------------------------------------------------------ operator actions
    def change_setpoint(self, loop: str, value: float) -> None:
        """Change the setpoint of loop ``T``, ``pH`` or ``DO``."""
        loops = {"T": self.t_loop, "pH": self.ph_loop, "DO": self.do_loop}
        if loop not in loops:
            raise ValueError(f"unknown loop {loop!r}; expected one of {sorted(loops)}")
        loops[loop].setpoint = float(value)

    def add_bolus(self, stream: str, volume_mL: float) -> None:
        """Add a bolus of ``volume_mL`` [mL] of recipe stream ``stream`` now."""
        names = self.recipe.stream_names
        if stream not in names:
            raise ValueError(f"unknown stream {stream!r}; expected one of {list(names)}")
        self.kern.apply_event(self.y, self.u, self.conc, 0, names.index(stream), volume_mL / 1000.0)
        self._feed_event(0, names.index(stream), volume_mL / 1000.0)
        self.feed_total_mL += volume_mL
        self.feed_delivered_mL += volume_mL

    # ------------------------------------------------------------------ dynamics
    def _fault(self, kind: str) -> Fault | None:
        for f in self.faults:
            if f.kind == kind and f.active(self.t_h):
                return f
        return None

    def _feed_event(self, kind: int, idx: int, val: float) -> None:
        """Apply a feed event: the CHO model adds the stream; the feed (bicarbonate-free, its
        lactate and ammonium as neutral salts, buffered at the setpoint) dilutes the inorganic
        carbon, and leaves the charge balance of what it brings neutral."""
        v0, lac0, amm0 = float(self.y[cho.IV]), float(self.y[cho.ILAC]), float(self.y[cho.IAMM])
        self.kern.apply_event(self.y, self.u, self.conc, kind, idx, val)
        v1 = float(self.y[cho.IV])
        if kind != 0 or v1 <= 0.0 or v1 == v0:
            return
        d = v0 / v1
        h_sp = 10.0 ** -self.ph_loop.setpoint
        buf = PHOSPHATE_MM * K_PHOSPHATE_M / (K_PHOSPHATE_M + h_sp)
        lac_in = float(self.y[cho.ILAC]) - lac0 * d
        amm_in = float(self.y[cho.IAMM]) - amm0 * d
        self.tic *= d
        self.z_bg = self.z_bg * d + (1.0 - d) * buf + lac_in - amm_in
        self.base_mm *= d

    def _apply_recipe_events(self) -> None:
        cr = self.recipe
        while self.ev_i < cr.ev_time.size and cr.ev_time[self.ev_i] <= self.t_h:
            kind, idx, val = int(cr.ev_kind[self.ev_i]), int(cr.ev_index[self.ev_i]), float(cr.ev_value[self.ev_i])
            self.ev_i += 1
            if kind in (0, 1):
                val *= self.scale
            if kind == 0:
                self.feed_total_mL += val * 1000.0
                f = self._fault("missed_feed")
                if f is not None and not self.missed:
                    self.missed = True
                    continue
                w = self._fault("feed_pump_wear")
                if w is not None:
                    val *= 1.0 - 0.4 * w.severity * w.progress(self.t_h)
                self.feed_delivered_mL += val * 1000.0
            if kind == 2 and idx in (cho.UT, cho.UPH):
                (self.t_loop if idx == cho.UT else self.ph_loop).setpoint = val
                continue
            self._feed_event(kind, idx, val)

    def _substep(self, dt: float) -> None:
        t = self.t_h
        # faults that act on equipment and sensors
        f = self._fault("ph_drift")
        if f is not None:
            self.sensors["pH"].drift_per_h, self.sensors["pH"].drift_start_h = PH_DRIFT_PER_H * f.severity, f.onset_h
        f = self._fault("temp_drift")
        if f is not None:
            self.sensors["T"].drift_per_h, self.sensors["T"].drift_start_h = 0.02 * f.severity, f.onset_h
        f = self._fault("do_fouling")
        if f is not None:
            self.sensors["DO"].tau_h = 1 / 60 + 0.5 * f.severity * f.progress(t)
        f = self._fault("bearing_wear")
        wear = f.progress(t) if f is not None else 0.0
        if wear >= 1.0:
            self.failed_agitator = True
        # measurements seen by the controllers
        rng = self.rng
        t_meas, _ = self.sensors["T"].make_step(self.T, t, dt, rng)
        ph_meas, _ = self.sensors["pH"].make_step(self.ph, t, dt, rng)
        do_meas, _ = self.sensors["DO"].make_step(100 * self.o2 / C_O2_AIR_MM, t, dt, rng)
        # control
        tj = self.t_loop.make_step(t_meas, dt)
        u_ph = self.ph_loop.make_step(ph_meas, dt)
        self.y_co2 = CO2_SPARGE_MAX * max(u_ph, 0.0)
        self.base_rate = BASE_MAX_MM_H * max(-u_ph, 0.0)
        # the totaliser counts what the pump is commanded; the balance under the base bottle
        # weighs what left it (as feed_total / feed_delivered for the feed)
        self.base_cmd_rate = self.base_rate
        if self._fault("base_pump_failure") is not None:
            self.base_rate = 0.0
        agit, enrich = split_range(self.do_loop.make_step(do_meas, dt))
        self.N = 0.0 if self.failed_agitator else N_MIN + (N_MAX - N_MIN) * agit
        self.y_o2 = 0.2095 + (1 - 0.2095) * enrich
        kla = 10.0 * (self.N / 100.0) ** 1.5 + 1.0
        gas_mm_h = GAS_VVM * 60.0 / MOLAR_GAS_VOLUME * 1000.0  # sparge [mmol per L broth per h]
        k_strip = gas_transfer_conductance(KLA_CO2_RATIO * kla, gas_mm_h)
        k_o2 = gas_transfer_conductance(kla, gas_mm_h, C_O2_AIR_MM / 0.2095)
        co2_block = self._fault("co2_accumulation")
        if co2_block is not None:
            loss = CO2_STRIP_LOSS_STEP + (CO2_STRIP_LOSS_FULL - CO2_STRIP_LOSS_STEP) * co2_block.progress(t)
            k_strip *= 1.0 - min(loss * co2_block.severity, 0.95)
            self.fault_log.setdefault("co2_accumulation", t)
        # the cells
        u = self.u
        u[cho.UT], u[cho.UPH], u[cho.UKLA] = self.T, self.ph, kla
        u[cho.UVVM], u[cho.UYO2], u[cho.UYCO2] = GAS_VVM, self.y_o2, self.y_co2
        r = cho.rates(self.y, self.params, u)
        mu = float(r[0])
        xv = float(self.y[cho.IXV])
        o2_lim = self.o2 / (self.o2 + 0.005)
        our_cells = (mu / self.params[cho.P_YX_O2] + self.params[cho.P_M_O2]) * xv * o2_lim
        c = self._fault("contamination")
        if c is not None:
            if self.contam_cells == 0.0:
                self.contam_cells = CONTAM_SEED_PER_L * c.severity
            cap = CONTAM_OUR_MAX * c.severity / (CONTAM_QO2 * CONTAM_CELL_G)
            self.contam_cells = min(self.contam_cells * math.exp(CONTAM_MU_1_H * dt), cap)
            self.our_contam = CONTAM_QO2 * CONTAM_CELL_G * self.contam_cells
            self.acid_contam += CONTAM_ACID_PER_O2 * self.our_contam * dt
            self.z_bg -= CONTAM_ACID_PER_O2 * self.our_contam * dt
            if self.our_contam >= self.sensors["OUR"].noise_sd:
                # its O2 demand reaches the off-gas OUR's noise: the first time a signal can show it
                self.fault_log.setdefault("contamination", t)
        self.our = our_cells + self.our_contam
        h, _, status = self.kern.integrate(t, t + dt, self.y, self.params, u, self.conc, self.h, 1e-6,
                                           self.atol, 100_000, self.work)
        if status == 0:
            self.h = h
        self.y[cho.IXV] *= math.exp(0.003 * math.sqrt(dt) * rng.standard_normal())
        np.maximum(self.y, 0.0, out=self.y)
        # environment
        self.T += (tj - self.T) * (1 - math.exp(-dt / TAU_T_H))
        o2_eq = max(C_O2_AIR_MM * self.y_o2 / 0.2095 - self.our / k_o2, 0.0)
        self.o2 = max(o2_eq + (self.o2 - o2_eq) * math.exp(-k_o2 * dt), 0.0)
        cer = self.params[cho.P_RQ] * our_cells + CONTAM_RQ * self.our_contam  # CO2 produced
        # inorganic carbon: exact over the step at the CO2 share of the current pH
        frac = float(co2_fraction(10.0 ** -self.ph, K1_CO2_M))
        rate = k_strip * frac
        tic_old = self.tic
        if rate > 0.0:
            tic_eq = (cer + k_strip * H_CO2 * self.y_co2) / rate
            self.tic = tic_eq + (self.tic - tic_eq) * math.exp(-rate * dt)
        else:
            self.tic += cer * dt
        # the off-gas sees what leaves the liquid (production minus what accumulates), mixed in
        # the headspace first: a stirred gas volume of HEADSPACE_L swept by the sparge gas
        ctr = cer - (self.tic - tic_old) / dt if dt > 0 else cer
        tau_head = HEADSPACE_L / (GAS_VVM * float(self.y[cho.IV]) * 60.0)  # [h]
        self.cer += (ctr - self.cer) * (1.0 - math.exp(-dt / tau_head))
        self.base_mm += self.base_rate * dt
        self.z_bg += self.base_rate * dt
        self.base_total_mL += self.base_cmd_rate * dt * float(self.y[cho.IV]) / BASE_M
        self.base_delivered_mL += self.base_rate * dt * float(self.y[cho.IV]) / BASE_M
        if (self._fault("base_pump_failure") is not None
                and self.base_total_mL - self.base_delivered_mL >= self.sensors["base_delivered"].noise_sd):
            # the base the failed pump did not deliver reaches the balance's noise: the first time
            # a signal can show it (as for a contamination, see above); a pH loop that only
            # brushes the pump with a sub-microlitre demand has not yet changed anything
            self.fault_log.setdefault("base_pump_failure", t)
        z = self.z_bg - float(self.y[cho.ILAC]) + float(self.y[cho.IAMM])
        self.ph = ph_from_charge(self.tic, z)
        self.co2 = self.tic * float(co2_fraction(10.0 ** -self.ph, K1_CO2_M))
        self.vib = 1.5 + 9.5 * (math.exp(4 * wear) - 1) / (math.exp(4) - 1)
        self.current = (0.0 if self.failed_agitator else 0.8 + 1.2 * (self.N / 100.0) ** 3 / 8 * (1 + 0.5 * wear**2))
        self.t_h = t + dt

    def make_step(self, dt_h: float, max_substep_h: float = 1 / 120) -> None:
        """Advance the culture, its environment and its control by ``dt_h`` [h]."""
        n = max(1, math.ceil(dt_h / max_substep_h - 1e-9))
        for _ in range(n):
            self._apply_recipe_events()
            self._substep(dt_h / n)
        self._apply_recipe_events()

    # ------------------------------------------------------------------ outputs
    def truth(self) -> dict[str, float]:
        """True values of the quantities the probes measure."""
        xv, xd = float(self.y[cho.IXV]), float(self.y[cho.IXD])
        cer = self.cer
        y_o2_out, y_co2_out = offgas_fractions(self.our, cer, float(self.y[cho.IV]), GAS_VVM, self.y_o2, self.y_co2)
        return {"T": self.T, "pH": self.ph, "DO": 100 * self.o2 / C_O2_AIR_MM,
                "dCO2": float(pco2_mmHg(self.co2)), "OUR": self.our, "CER": cer,
                "V": float(self.y[cho.IV]), "capacitance": xv / 1e9 * 2.0,
                "pressure": 50.0, "vibration": self.vib, "motor_current": self.current,
                "base_delivered": self.base_delivered_mL,
                "offgas_O2": 100 * max(float(y_o2_out), 0.0), "offgas_CO2": 100 * float(y_co2_out),
                "feed_delivered": self.feed_delivered_mL,
                "Xv": xv, "viability": 100 * xv / (xv + xd) if xv + xd > 0 else 0.0,
                "Glc": float(self.y[cho.IGLC]), "Lac": float(self.y[cho.ILAC]),
                "Amm": float(self.y[cho.IAMM]), "mAb": float(self.y[cho.IMAB]),
                "pH_atline": self.ph, "pCO2_atline": float(pco2_mmHg(self.co2))}

    def measure(self, dt_h: float, final: bool = False) -> list[Reading]:
        """Readings at the current time: every online tag, plus offline results that arrived.

        ``final`` releases every pending offline result (the batch ends).
        """
        t, rng = self.t_h, self.rng
        tr = self.truth()
        out: list[Reading] = []
        for name in ONLINE_TAGS:
            if name in self.sensors and name not in ("T", "pH", "DO"):
                v, q = self.sensors[name].make_step(tr[name], t, dt_h, rng)
            elif name in ("T", "pH", "DO"):
                s = self.sensors[name]
                v, q = float(round((s.state or 0.0) + s.offset + (s.drift_per_h * (t - s.drift_start_h)
                                   if t > s.drift_start_h else 0.0), 3)), QUALITY_GOOD
            else:
                v, q = {"T_jacket": self.t_loop.output, "agitation": self.N,
                        "O2_sparge": 100 * self.y_o2, "CO2_sparge": 100 * self.y_co2,
                        "base_total": self.base_total_mL, "feed_total": self.feed_total_mL}[name], QUALITY_GOOD
                v = round(float(v), 3)
            out.append(Reading(name, t, v, q))
        while t >= self.next_sample_h - 1e-9:
            ts = self.next_sample_h
            delay = float(rng.uniform(*self.sample_delay_h))
            for name in OFFLINE_TAGS:
                if name in ATLINE_TAGS:
                    continue
                sd = 0.05 if name in ("Xv", "mAb") else 0.03
                val = tr[name] * (1 + sd * rng.standard_normal()) if name != "viability" else (
                    min(tr[name] + rng.normal(0, 1.0), 100.0))
                self.pending.append((ts + delay, Reading(name, ts, float(f"{val:.6g}"))))
            # the same sample on the blood-gas analyser at line: pH to 0.001, pCO2 to 0.1 mmHg (its own
            # random stream, so the rest of the plant draws what it drew before the analyser was added)
            ra = self.rng_atline
            at = ts + float(ra.uniform(*ATLINE_DELAY_H))
            ph_at = round(tr["pH_atline"] + ATLINE_PH_SD * ra.standard_normal(), 3)
            pco2_at = round(max(tr["pCO2_atline"] * (1 + ATLINE_PCO2_REL_SD * ra.standard_normal()), 0.0), 1)
            self.pending.append((at, Reading("pH_atline", ts, ph_at)))
            self.pending.append((at, Reading("pCO2_atline", ts, pco2_at)))
            if self.restandardise_ph and not self.ph_standardised:
                # the first sample after inoculation: the operator re-standardises the online probe
                # (one-point, its offset) on the blood-gas pH (minutes later; applied at once here)
                s = self.sensors["pH"]
                s.offset -= (s.state or 0.0) + s.offset - ph_at
                self.ph_standardised = True
            self.next_sample_h += self.sample_every_h
        keep = []
        for arrival, r in self.pending:
            (out.append(r) if (final or arrival <= t + 1e-9) else keep.append((arrival, r)))
        self.pending = keep
        return out

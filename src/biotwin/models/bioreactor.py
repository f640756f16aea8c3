"""The CHO model of Kotidis 2019 in a stirred-tank bioreactor with a dynamic environment.

The cells are those of :mod:`biotwin.models.cho` (its 16 states first, in the same order;
its compiled ``reactions`` are called unchanged, so no kinetic equation is repeated here).
Around them this model adds what a plant records online, with its own dynamics:

- dissolved O2 [mM]: ``dO2/dt = kLa (C* - O2) - OUR`` (two-film transfer, Lewis & Whitman
  1924); ``C*`` follows the O2 fraction of the gas (Henry's law); OUR from the cells'
  growth and maintenance demand (``Y_X_O2``, ``m_O2`` of the CHO set, Pirt 1965), limited
  by Monod in O2 (``K_O2``, engineering assumption) so that DO stays >= 0;
- DO control: O2 enrichment of the inlet gas, ``y_O2 = y_air + Kp e + I`` clipped to
  [y_air, y_O2_max], ``e = DO_sp - DO`` [%], with back-calculation anti-windup
  (Astrom & Hagglund 2006); ``DO_sp <= 0`` switches it off;
- total inorganic carbon TIC = CO2 + HCO3- [mM]: ``dTIC/dt = CER - kLa_CO2 (CO2 - CO2*)``,
  ``CER = RQ OUR``, ``kLa_CO2 = 0.89 kLa`` (penetration theory, Higbie 1935),
  ``CO2* = H_CO2 y_CO2_in`` (Henry; the gas is taken at its inlet composition, engineering
  assumption); CO2 and HCO3- from the pH (Royce & Thornhill 1991);
- pH, algebraic: the charge balance ``HCO3- + buffer- = Z``,
  ``Z = Z_bg + Na + Amm - Lac`` (strong-ion difference, Stewart 1983; NH4+ and lactate
  taken as fully ionised at pH 6.5-7.5: pKa 9.2 and 3.9), solved for [H+] in closed form
  (a quadratic) on every right-hand-side call (:func:`environment.hydrogen_ion`), so the pH
  adds no state and no stiffness; galactosylation sees this pH, not the setpoint;
  ``Z_bg`` [mM] is the medium's background strong-ion difference (its NaHCO3), a conserved
  solute that feeds dilute;
- pH control by base: a PI law on the base dose rate [mmol/L/h], clipped at 0 (base only;
  no CO2 or acid is added when the pH rises), with back-calculation anti-windup; the base
  cation is the CHO model's ``Na`` [mM] (base volume neglected as in the CHO model: a 1 M
  base adds < 2% volume);
- off-gas O2/CO2 from a gas balance on the transfer rates OTR and CTR (Heinzle & Dunn 1993),
  osmolality as in the CHO model (now with the controller's Na+).

The controller integrals are states in [unit per litre of broth]; feeds dilute them like
solutes, which matches the load they learn (acid and O2 demand per litre scale with the
diluted cells). The charge and the carbon of feeds come from :func:`bioreactor_recipe`.

Growth and productivity do not depend on DO, pCO2 or pH (the CHO kinetics are reused as
published); only respiration stops as O2 runs out.

Stiffness: O2 and CO2 relax at rates ~kLa (the Jacobian's fastest eigenvalues are -kLa and
-0.94 kLa), which bounds the step of an explicit integrator at about 3.3/kLa [h]: the
compiled Dormand-Prince takes ~1,460 steps for 288 h at kLa = 15 1/h, ~970 at 8 and ~620
at 4 (the CHO model alone: ~80). The pH is algebraic and the controllers are tuned slower
than kLa (closed-loop poles ~1/h), so they do not tighten that bound further.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
from numba import njit

from biotwin.models import cho, environment
from biotwin.models.base import Model, Variable
from biotwin.models.environment import (
    clipped_pi,
    co2_fraction,
    gas_transfer_rate,
    hydrogen_ion,
    o2_limited_uptake,
    o2_saturation,
    pi_integral_rate,
)
from biotwin.models.kinetics import JIT_OPTIONS

STATES = (
    *cho.STATES,
    Variable("O2", "mM", "dissolved O2", 1e-4),
    Variable("TIC", "mM", "total inorganic carbon (CO2 + HCO3-)", 1e-3),
    Variable("Z_bg", "mM", "background strong-ion difference of the medium", 1e-3),
    Variable("I_DO", "-", "integral term of the DO controller (O2 fraction)", 1e-4),
    Variable("I_pH", "mM/h", "integral term of the pH controller (base dose rate)", 1e-4),
)

INPUTS = (
    *cho.INPUTS[: cho.UPH],
    Variable("pH_sp", "-", "pH setpoint of the base controller"),
    *cho.INPUTS[cho.UPH + 1 : cho.UYO2],
    Variable("y_O2_in", "-", "O2 mole fraction of the gas before O2 enrichment (air: 0.2095)"),
    *cho.INPUTS[cho.UYO2 + 1 :],
    Variable("DO_sp", "%", "DO setpoint of the O2-enrichment controller (<= 0: off)"),
    Variable("base_conc", "mM", "concentration of the base solution (for the pump rate)"),
)

PARAMETERS = (
    *cho.PARAMETERS,
    Variable("K_O2", "mM"),
    Variable("C_O2_air", "mM"),
    Variable("H_CO2", "mM/atm"),
    Variable("K1_CO2", "M"),
    Variable("kLa_CO2_ratio", "-"),
    Variable("B_buf", "mM"),
    Variable("K_buf", "M"),
    Variable("Kp_DO", "1/%"),
    Variable("Ki_DO", "1/%/h"),
    Variable("y_O2_max", "-"),
    Variable("Kp_pH", "mM/h"),
    Variable("Ki_pH", "mM/h2"),
    Variable("Tt_DO", "h"),
    Variable("Tt_pH", "h"),
)

NC = len(cho.STATES)
IO2, ITIC, IZ, IIDO, IIPH = range(NC, NC + 5)
UDOSP, UBASE = len(cho.INPUTS), len(cho.INPUTS) + 1
(
    P_K_O2, P_C_O2_AIR, P_H_CO2, P_K1_CO2, P_KLA_CO2_RATIO, P_B_BUF, P_K_BUF,
    P_KP_DO, P_KI_DO, P_Y_O2_MAX, P_KP_PH, P_KI_PH, P_TT_DO, P_TT_PH,
) = range(len(cho.PARAMETERS), len(cho.PARAMETERS) + 14)

LN10 = np.log(10.0)
#: Upper clip of the base dose rate [mM/h]: effectively none.
BASE_RATE_MAX = 1e30


@njit(**JIT_OPTIONS)
def environment_rates(y, p, u, growth):  # type: ignore[no-untyped-def]
    """The environment at state ``y`` given the biomass growth rate ``growth = mu Xv``.

    Returns
    -------
    tuple of float
        ``(our, cer, otr, ctr, y_o2, h, co2, base_rate, d_i_do, d_i_ph, ph)``: O2 uptake, CO2
        evolution, O2 and CO2 transfer [mM/h] (CTR > 0 when stripped), the O2 fraction of
        the controlled gas [-], [H+] [M], dissolved CO2 [mM], the base dose [mM/h] and the
        rates of the two integral terms, and pH [-].
    """
    xv = y[cho.IXV]
    our_max = growth / p[cho.P_YX_O2] + p[cho.P_M_O2] * xv
    o2 = y[IO2]
    our = o2_limited_uptake(our_max, o2, p[P_K_O2])
    cer = p[cho.P_RQ] * our
    kla = u[cho.UKLA]
    c_air = p[P_C_O2_AIR]
    # DO control: O2 enrichment of the inlet gas
    y_air = u[cho.UYO2]
    sp = u[UDOSP]
    if sp > 0.0:
        err = sp - 100.0 * o2 / c_air
        y_o2 = clipped_pi(err, p[P_KP_DO], y[IIDO], y_air, p[P_Y_O2_MAX])
        d_i_do = pi_integral_rate(
            err, p[P_KP_DO], p[P_KI_DO], y[IIDO], y_air, p[P_Y_O2_MAX], p[P_TT_DO]
        )
    else:
        y_o2 = y_air
        d_i_do = 0.0
    otr = gas_transfer_rate(kla, o2_saturation(y_o2, c_air), o2)
    # charge balance -> [H+] -> CO2
    k1 = p[P_K1_CO2]
    kb = p[P_K_BUF]
    z = y[IZ] + y[cho.INA] + y[cho.IAMM] - y[cho.ILAC]
    tic = y[ITIC]
    h = hydrogen_ion(tic, z, k1, p[P_B_BUF], kb)
    co2 = tic * co2_fraction(h, k1)
    ctr = -gas_transfer_rate(p[P_KLA_CO2_RATIO] * kla, p[P_H_CO2] * u[cho.UYCO2], co2)
    # pH control: base dose, PI, base only
    ph = -np.log(h) / LN10
    err_ph = u[cho.UPH] - ph
    base = clipped_pi(err_ph, p[P_KP_PH], y[IIPH], 0.0, BASE_RATE_MAX)
    d_i_ph = pi_integral_rate(
        err_ph, p[P_KP_PH], p[P_KI_PH], y[IIPH], 0.0, BASE_RATE_MAX, p[P_TT_PH]
    )
    return our, cer, otr, ctr, y_o2, h, co2, base, d_i_do, d_i_ph, ph


@njit(**JIT_OPTIONS)
def reactions(t, y, p, u, dydt):  # type: ignore[no-untyped-def]
    """Reaction part of dy/dt [unit/h] for :data:`STATES` (volume row left at 0)."""
    cho.reactions(t, y, p, u, dydt)
    growth = dydt[cho.IXV] + dydt[cho.IXD]  # mu Xv
    our, cer, otr, ctr, _, _, _, base, d_i_do, d_i_ph, ph = environment_rates(y, p, u, growth)
    dydt[IO2] = otr - our
    dydt[ITIC] = cer - ctr
    dydt[IZ] = 0.0
    dydt[IIDO] = d_i_do
    dydt[IIPH] = d_i_ph
    dydt[cho.INA] = base  # replaces the CHO model's ideal neutralisation
    # galactosylation at the actual pH instead of the setpoint (its pH factor is Gaussian)
    w = p[cho.P_PH_WIDTH_GAL]
    d_act = (ph - p[cho.P_PH_OPT_GAL]) / w
    d_sp = (u[cho.UPH] - p[cho.P_PH_OPT_GAL]) / w
    dydt[cho.IGAL] *= np.exp(d_sp * d_sp - d_act * d_act)


def outputs(y: np.ndarray, p: np.ndarray, u: np.ndarray) -> dict[str, np.ndarray]:
    """Derived signals along a trajectory, from the dynamic states.

    Parameters
    ----------
    y : ndarray, shape (n_times, n_states)
    p : ndarray, shape (n_parameters,)
    u : ndarray, shape (n_times, n_inputs)

    Returns
    -------
    dict
        The keys of :func:`biotwin.models.cho.outputs`, with ``DO [%]``, ``pH [-]``,
        ``dCO2 [mM]``, ``pCO2 [mmHg]``, ``HCO3 [mM]``, ``OUR``/``CER [mM/h]`` and the
        off-gas fractions computed from this model's states, plus ``OTR [mM/h]``,
        ``CTR [mM/h]``, ``RQ_offgas [-]`` (CTR/OTR, what a gas analyser sees),
        ``y_O2_gas [-]`` (controlled O2 fraction), ``base rate [mM/h]``,
        ``base pump [mL/h]`` and ``base in broth [mmol]`` (Na x V).
    """
    y = np.atleast_2d(y)
    u = np.atleast_2d(u)
    nc_in = len(cho.INPUTS)
    out = cho.outputs(y[:, :NC], p[: len(cho.PARAMETERS)], u[:, :nc_in])
    n = y.shape[0]
    env = np.empty((n, 11))
    for i in range(n):
        mu = cho.rates(y[i], p, u[i])[0]
        env[i] = environment_rates(y[i], p, u[i], mu * y[i, cho.IXV])
    our, cer, otr, ctr, y_o2, h, co2, base = (env[:, k] for k in range(8))
    vol = y[:, cho.IV]
    ph = -np.log10(h)
    y_off_o2, y_off_co2 = environment.offgas_fractions(
        otr, ctr, vol, u[:, cho.UVVM], y_o2, u[:, cho.UYCO2]
    )
    with np.errstate(divide="ignore", invalid="ignore"):
        rq_off = np.where(otr > 0, ctr / otr, np.nan)
        pump = np.where(u[:, UBASE] > 0, base * vol / u[:, UBASE] * 1000.0, np.nan)
    out.update({
        "OUR [mM/h]": our,
        "CER [mM/h]": cer,
        "DO [%]": 100.0 * y[:, IO2] / p[P_C_O2_AIR],
        "dCO2 [mM]": co2,
        "pCO2 [mmHg]": co2 / p[P_H_CO2] * 760.0,
        "HCO3 [mM]": y[:, ITIC] - co2,
        "pH [-]": ph,
        "offgas_O2 [-]": y_off_o2,
        "offgas_CO2 [-]": y_off_co2,
        "OTR [mM/h]": otr,
        "CTR [mM/h]": ctr,
        "RQ_offgas [-]": rq_off,
        "y_O2_gas [-]": y_o2,
        "base rate [mM/h]": base,
        "base pump [mL/h]": pump,
        "base in broth [mmol]": y[:, cho.INA] * vol,
    })
    return out


def initial_environment(
    p: np.ndarray, ph0: float, y_o2: float, y_co2: float, na: float, amm: float, lac: float,
    do0: float = 100.0,
) -> dict[str, float]:
    """Initial environment states in equilibrium with the gas at pH ``ph0``.

    Dissolved O2 at ``do0`` [% air saturation] scaled by ``y_o2/0.2095``; CO2 [mM] at Henry
    equilibrium with ``y_co2``; HCO3- [mM] from Henderson-Hasselbalch at ``ph0``; ``Z_bg``
    [mM] closes the charge balance with the tracked ions ``na``, ``amm``, ``lac`` [mM].

    Parameters
    ----------
    p : ndarray, shape (n_parameters,)
        Parameter vector of :data:`CHO_BIOREACTOR`.

    Returns
    -------
    dict
        ``O2``, ``TIC``, ``Z_bg`` [mM] and zero integral terms.
    """
    h0 = 10.0 ** (-ph0)
    k1 = p[P_K1_CO2]
    kb = p[P_K_BUF]
    co2 = p[P_H_CO2] * y_co2
    hco3 = co2 * k1 / h0
    z = hco3 + p[P_B_BUF] * kb / (kb + h0)
    return {
        "O2": float(p[P_C_O2_AIR] * do0 / 100.0 * y_o2 / environment.Y_O2_AIR),
        "TIC": float(co2 + hco3),
        "Z_bg": float(z - na - amm + lac),
        "I_DO": 0.0,
        "I_pH": 0.0,
    }


def bioreactor_recipe(
    recipe,  # type: ignore[no-untyped-def]
    params=None,
    do_sp: float = 40.0,
    ph0: float | None = None,
    base_conc: float = 1000.0,
    kla: float | None = None,
    gas_vvm: float | None = None,
):
    """Convert a ``cho_kotidis2019`` recipe to the ``cho_bioreactor`` model.

    Parameters
    ----------
    recipe : Recipe
        E.g. from :func:`biotwin.recipes.recipe_from_culture`.
    params : ParameterSet or ndarray, optional
        Values for the equilibrium constants (default: ``cho_t127_bioreactor``).
    do_sp : float
        DO setpoint [%] of the O2-enrichment controller (<= 0: no DO control).
    ph0 : float, optional
        Initial pH [-] (default: the recipe's ``pH_sp``).
    base_conc : float
        Base concentration [mM] (1 M NaOH by default), for the pump-rate signal.
    kla, gas_vvm : float, optional
        Override the recipe's kLa [1/h] and gas flow [1/min]; a surface-aerated recipe
        (``gas_vvm`` = 0) is given 0.05 vvm of sparge gas, a typical CHO rate (engineering
        assumption), so that off-gas signals exist.

    Returns
    -------
    Recipe
        Same events; initial DO at air saturation, CO2 at equilibrium with the gas, TIC and
        ``Z_bg`` from ``ph0``; feeds air-saturated, bicarbonate-free, with the medium's buffer
        at ``pH_sp`` and their lactate and ammonium as neutral salts (engineering
        assumptions).

    Examples
    --------
    >>> from biotwin.recipes import Recipe
    >>> r = Recipe("x", "cho_kotidis2019", 10.0, {"V": 1.0, "Xv": 2e8}, {"pH_sp": 7.0,
    ...     "kLa": 15.0, "y_O2_in": 0.2095, "y_CO2_in": 0.05})
    >>> bioreactor_recipe(r).model
    'cho_bioreactor'
    """
    from biotwin.parameters import ParameterSet, get_parameter_set
    from biotwin.recipes.recipe import Stream

    if recipe.model != cho.CHO_KOTIDIS2019.name:
        raise ValueError(f"recipe {recipe.name!r} is for {recipe.model!r}, not cho_kotidis2019")
    if params is None:
        params = get_parameter_set("cho_t127_bioreactor")
    p = params.vector(CHO_BIOREACTOR) if isinstance(params, ParameterSet) else np.asarray(params)
    inputs = dict(recipe.inputs)
    inputs.setdefault("y_O2_in", environment.Y_O2_AIR)
    inputs.setdefault("y_CO2_in", 0.0)
    inputs.setdefault("pH_sp", 7.0)
    if kla is not None:
        inputs["kLa"] = kla
    if gas_vvm is not None:
        inputs["gas_vvm"] = gas_vvm
    elif inputs.get("gas_vvm", 0.0) <= 0.0:
        inputs["gas_vvm"] = 0.05
    inputs["DO_sp"] = do_sp
    inputs["base_conc"] = base_conc
    ini = dict(recipe.initial)
    ini.update(initial_environment(
        p, inputs["pH_sp"] if ph0 is None else ph0, inputs["y_O2_in"], inputs["y_CO2_in"],
        ini.get("Na", 0.0), ini.get("Amm", 0.0), ini.get("Lac", 0.0),
    ))
    c_air = float(p[P_C_O2_AIR]) * inputs["y_O2_in"] / environment.Y_O2_AIR
    kb = p[P_K_BUF]
    buf = float(p[P_B_BUF] * kb / (kb + 10.0 ** (-inputs["pH_sp"])))  # buffer anion at pH_sp
    streams = {}
    for name, s in recipe.streams.items():
        comp = dict(s.composition)
        comp.setdefault("O2", c_air)
        comp.setdefault("TIC", 0.0)
        zbg = buf + comp.get("Lac", 0.0) - comp.get("Amm", 0.0) - comp.get("Na", 0.0)
        comp.setdefault("Z_bg", zbg)
        streams[name] = Stream(s.name, comp, s.description)
    return replace(
        recipe, model=CHO_BIOREACTOR.name, initial=ini, inputs=inputs, streams=streams,
        description=(recipe.description + " (bioreactor environment)").strip(),
    )


CHO_BIOREACTOR = Model(
    name="cho_bioreactor",
    states=STATES,
    inputs=INPUTS,
    parameters=PARAMETERS,
    reactions=reactions,
    outputs=outputs,
    references=(
        *cho.CHO_KOTIDIS2019.references,
        "Royce P.N., Thornhill N.F. (1991) AIChE J 37:1680-1686. doi:10.1002/aic.690371111",
        "van 't Riet K. (1979) Ind Eng Chem Process Des Dev 18:357-364. doi:10.1021/i260071a001",
        "Stewart P.A. (1983) Can J Physiol Pharmacol 61:1444-1461. doi:10.1139/y83-207",
        "Astrom K.J., Hagglund T. (2006) Advanced PID Control. ISA.",
    ),
    description="CHO (Kotidis 2019) in a bioreactor: dynamic DO, CO2, pH with DO and pH control",
    stiff=True,
    extra={"convert_recipe": bioreactor_recipe},
)


__all__ = ["CHO_BIOREACTOR", "bioreactor_recipe", "initial_environment"]

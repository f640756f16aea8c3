"""The bioreactor environment: O2 and CO2 transfer, off-gas, carbonate equilibrium.

Pure functions with units in brackets; :func:`online_signals` combines them into the
plant-like online signals of the fast model (dissolved O2 in quasi-steady state, which the
issue's measurement showed cuts the integration work about tenfold).
"""

from __future__ import annotations

import numpy as np

#: O2 solubility in culture medium under air at 37 degC and 1 atm [mM].
#: Source: Ozturk S.S. (1996) Engineering challenges in high density cell culture systems.
#: Cytotechnology 22:3-16, doi:10.1007/BF00353919 (0.21 mM for air-saturated medium).
C_O2_SAT_AIR = 0.21
#: CO2 solubility (Henry) in medium at 37 degC [mM/atm]; Sander R. (2015) Atmos Chem Phys
#: 15:4399-4981, doi:10.5194/acp-15-4399-2015 (0.0239 M/atm).
H_CO2 = 23.9
#: Apparent first dissociation constant pK1 of CO2/HCO3- in culture medium at 37 degC.
#: Source: Royce P.N., Thornhill N.F. (1991) AIChE J 37:1680-1686. doi:10.1002/aic.690371111
PK1_CO2 = 6.1
#: Molar gas volume at 37 degC, 1 atm [L/mol].
MOLAR_GAS_VOLUME = 25.4
#: kLa(CO2)/kLa(O2) = sqrt(D_CO2/D_O2) by penetration theory (Higbie 1935).
KLA_CO2_RATIO = 0.89


def kla_van_t_riet(power_per_volume_W_m3, superficial_gas_velocity_m_s, a=0.026, alpha=0.4, beta=0.5):  # type: ignore[no-untyped-def]
    """Volumetric O2 transfer coefficient kLa [1/s] in a stirred tank (coalescing broth).

    ``kLa = a (P/V)^alpha v_s^beta`` with P/V [W/m3] and v_s [m/s].

    References
    ----------
    van 't Riet K. (1979) Review of measuring methods and results in nonviscous gas-liquid
    mass transfer in stirred vessels. Ind Eng Chem Process Des Dev 18:357-364.
    doi:10.1021/i260071a001
    """
    return a * np.power(power_per_volume_W_m3, alpha) * np.power(superficial_gas_velocity_m_s, beta)


def dissolved_o2_qss(our_mM_h, kla_h, y_o2_in):  # type: ignore[no-untyped-def]
    """Dissolved O2 [% of air saturation] where transfer equals uptake (quasi-steady state).

    ``kLa (C* - C) = OUR`` with ``C* = C_air * y_O2_in / 0.2095``; clipped at 0.
    """
    c_star = C_O2_SAT_AIR * np.asarray(y_o2_in) / 0.2095
    with np.errstate(divide="ignore", invalid="ignore"):
        c = c_star - np.asarray(our_mM_h) / np.asarray(kla_h)
    return np.clip(100.0 * c / C_O2_SAT_AIR, 0.0, None)


def dissolved_co2_qss(cer_mM_h, kla_h, y_co2_in):  # type: ignore[no-untyped-def]
    """Dissolved CO2 [mM] where stripping equals production (quasi-steady state)."""
    c_star = H_CO2 * np.asarray(y_co2_in)
    with np.errstate(divide="ignore", invalid="ignore"):
        return c_star + np.asarray(cer_mM_h) / (KLA_CO2_RATIO * np.asarray(kla_h))


def bicarbonate(co2_mM, ph):  # type: ignore[no-untyped-def]
    """Bicarbonate [mM] in equilibrium with dissolved CO2 at pH (Henderson-Hasselbalch)."""
    return np.asarray(co2_mM) * np.power(10.0, np.asarray(ph) - PK1_CO2)


def pco2_mmHg(co2_mM):  # type: ignore[no-untyped-def]
    """Partial pressure of dissolved CO2 [mmHg] from its concentration [mM] (Henry)."""
    return np.asarray(co2_mM) / H_CO2 * 760.0


def offgas_fractions(our_mM_h, cer_mM_h, volume_L, gas_vvm, y_o2_in, y_co2_in):  # type: ignore[no-untyped-def]
    """Exit-gas O2 and CO2 mole fractions [-] from a gas balance (total molar flow).

    Returns NaN where there is no gas flow (surface aeration).

    References
    ----------
    Heinzle E., Dunn I.J. (1993) Methods and instruments in fermentation gas analysis. In:
    Rehm H.-J., Reed G. (eds) Biotechnology, 2nd ed., vol 4, VCH, pp 27-74.
    """
    q_gas_mol_h = np.asarray(gas_vvm) * np.asarray(volume_L) * 60.0 / MOLAR_GAS_VOLUME
    o2_mol_h = np.asarray(our_mM_h) * np.asarray(volume_L) / 1000.0
    co2_mol_h = np.asarray(cer_mM_h) * np.asarray(volume_L) / 1000.0
    with np.errstate(divide="ignore", invalid="ignore"):
        n_in = q_gas_mol_h
        n_out = n_in - o2_mol_h + co2_mol_h
        y_o2 = np.where(q_gas_mol_h > 0, (n_in * y_o2_in - o2_mol_h) / n_out, np.nan)
        y_co2 = np.where(q_gas_mol_h > 0, (n_in * y_co2_in + co2_mol_h) / n_out, np.nan)
    return y_o2, y_co2


def online_signals(our_mM_h, rq, volume_L, ph, kla_h, gas_vvm, y_o2_in, y_co2_in):  # type: ignore[no-untyped-def]
    """The online signals a plant would record, from the O2 uptake rate.

    Returns
    -------
    dict
        ``OUR [mM/h]``, ``CER [mM/h]``, ``RQ [-]``, ``DO [%]``, ``dCO2 [mM]``,
        ``pCO2 [mmHg]``, ``HCO3 [mM]``, ``pH [-]``, ``offgas_O2 [-]``, ``offgas_CO2 [-]``.
    """
    our = np.asarray(our_mM_h, dtype=float)
    cer = rq * our
    co2 = dissolved_co2_qss(cer, kla_h, y_co2_in)
    y_o2, y_co2 = offgas_fractions(our, cer, volume_L, gas_vvm, y_o2_in, y_co2_in)
    return {
        "OUR [mM/h]": our,
        "CER [mM/h]": cer,
        "RQ [-]": np.full_like(our, rq),
        "DO [%]": dissolved_o2_qss(our, kla_h, y_o2_in),
        "dCO2 [mM]": co2,
        "pCO2 [mmHg]": pco2_mmHg(co2),
        "HCO3 [mM]": bicarbonate(co2, ph),
        "pH [-]": np.asarray(ph, dtype=float) * np.ones_like(our),
        "offgas_O2 [-]": y_o2,
        "offgas_CO2 [-]": y_co2,
    }


# --- Dynamic environment (the "cho_bioreactor" model) ---------------------------------------
# Compiled helpers: numba inlines them into the model's right-hand side; each also runs from
# Python on scalars and NumPy arrays (ufuncs only, no branches), NaN in, NaN out.
from numba import njit  # noqa: E402

from biotwin.models.kinetics import JIT_OPTIONS  # noqa: E402

#: O2 mole fraction of air [-].
Y_O2_AIR = 0.2095


@njit(**JIT_OPTIONS)
def o2_saturation(y_o2, c_o2_air):  # type: ignore[no-untyped-def]
    """O2 solubility C* [mM] under a gas of O2 mole fraction ``y_o2`` [-] at 1 atm.

    Henry's law, proportional to the O2 partial pressure: ``C* = C_air y_O2 / 0.2095``,
    with ``c_o2_air`` [mM] the solubility under air (0.21 mM in medium at 37 degC, Ozturk
    S.S. (1996) Cytotechnology 22:3-16, doi:10.1007/BF00353919).
    """
    return c_o2_air * y_o2 / Y_O2_AIR


@njit(**JIT_OPTIONS)
def gas_transfer_rate(kla_h, c_star_mM, c_mM):  # type: ignore[no-untyped-def]
    """Gas-liquid transfer rate ``kLa (C* - C)`` [mM/h] into the liquid (two-film theory).

    Positive for O2 absorption (OTR); for CO2 the stripping rate CTR is ``-rate``.

    References
    ----------
    Lewis W.K., Whitman W.G. (1924) Principles of gas absorption. Ind Eng Chem 16:1215-1220.
    doi:10.1021/ie50180a002
    """
    return kla_h * (c_star_mM - c_mM)


@njit(**JIT_OPTIONS)
def o2_limited_uptake(our_max_mM_h, o2_mM, k_o2_mM):  # type: ignore[no-untyped-def]
    """O2 uptake rate [mM/h] with Monod limitation by dissolved O2 [mM] (O2 clipped at 0).

    Engineering assumption of biotwin: the respiration demand ``our_max`` falls smoothly as
    dissolved O2 approaches zero, so that DO cannot turn negative. Monod J. (1949) Annu Rev
    Microbiol 3:371-394, doi:10.1146/annurev.mi.03.100149.002103.
    """
    c = np.maximum(o2_mM, 0.0)
    return our_max_mM_h * c / (k_o2_mM + c)


@njit(**JIT_OPTIONS)
def hydrogen_ion(tic_mM, charge_mM, k1_M, buffer_mM, k_buffer_M):  # type: ignore[no-untyped-def]
    """[H+] [M] from the charge balance of a bicarbonate + one weak-acid buffer medium.

    Solves ``TIC K1/(K1+h) + B Kb/(Kb+h) = Z`` for ``h`` where ``Z`` [mM] is the net charge
    of the strong ions (cations minus anions of strong electrolytes), ``TIC`` [mM] the total
    inorganic carbon (CO2 + HCO3-; carbonate neglected below pH 8, pK2 = 10.3; H+ and OH-
    neglected against mM ions), ``B`` [mM] a non-volatile buffer of dissociation constant
    ``Kb`` [M]. Multiplied out, the balance is the quadratic
    ``Z h^2 + (Z (K1+Kb) - TIC K1 - B Kb) h + K1 Kb (Z - TIC - B) = 0`` with exactly one
    positive root when ``0 < Z < TIC + B``, taken in the cancellation-free form for the sign
    of the linear coefficient. Out of range, ``h`` is clipped to pH 4-10.

    References
    ----------
    Stewart P.A. (1983) Modern quantitative acid-base chemistry. Can J Physiol Pharmacol
    61:1444-1461. doi:10.1139/y83-207 (strong-ion difference); Royce P.N., Thornhill N.F.
    (1991) Estimation of dissolved carbon dioxide concentrations in aerobic fermentations.
    AIChE J 37:1680-1686. doi:10.1002/aic.690371111 (CO2/HCO3- in culture broth).
    """
    z = np.maximum(charge_mM, 1e-9)
    a = z
    b = z * (k1_M + k_buffer_M) - tic_mM * k1_M - buffer_mM * k_buffer_M
    c = k1_M * k_buffer_M * (z - tic_mM - buffer_mM)
    s = np.sqrt(np.maximum(b * b - 4.0 * a * c, 0.0))
    w = b >= 0.0
    h = w * (-2.0 * c / (b + s + 1e-300)) + (1.0 - w) * ((s - b) / (2.0 * a))
    return np.minimum(np.maximum(h, 1e-10), 1e-4)


@njit(**JIT_OPTIONS)
def co2_fraction(h_M, k1_M):  # type: ignore[no-untyped-def]
    """Fraction [-] of total inorganic carbon present as dissolved CO2 at [H+] ``h_M`` [M].

    ``h/(K1 + h)`` (Henderson-Hasselbalch; Royce & Thornhill 1991, AIChE J 37:1680-1686,
    doi:10.1002/aic.690371111).
    """
    return h_M / (k1_M + h_M)


@njit(**JIT_OPTIONS)
def clipped_pi(error, k_p, integral, low, high):  # type: ignore[no-untyped-def]
    """Output ``low + k_p*error + integral`` of a PI law, clipped to [low, high].

    The integral term's rate is the caller's state equation, :func:`pi_integral_rate`.

    References
    ----------
    Astrom K.J., Hagglund T. (2006) Advanced PID Control. ISA, ch. 3.
    """
    return np.minimum(np.maximum(low + k_p * error + integral, low), high)


@njit(**JIT_OPTIONS)
def pi_integral_rate(error, k_p, k_i, integral, low, high, t_track_h):  # type: ignore[no-untyped-def]
    """Rate of a PI law's integral term with back-calculation anti-windup [unit/h].

    ``dI/dt = k_i*error + (clip(v) - v)/t_track``, ``v = low + k_p*error + integral``: while
    the output is clipped the integral tracks the limit with time constant ``t_track`` [h]
    instead of winding up. Unlike conditional integration (switching the integral off),
    the rate stays continuous in the state, so an adaptive integrator does not chatter.

    References
    ----------
    Astrom K.J., Hagglund T. (2006) Advanced PID Control. ISA, sec. 3.5 (tracking time
    constant ``T_t``, of the order of the integral time ``k_p/k_i``).
    """
    raw = low + k_p * error + integral
    sat = np.minimum(np.maximum(raw, low), high)
    return k_i * error + (sat - raw) / t_track_h

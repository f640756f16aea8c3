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
    """Exit-gas O2 and CO2 mole fractions [-] from a gas balance (inert gas conserved).

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
        inert_in = 1.0 - np.asarray(y_o2_in) - np.asarray(y_co2_in)
        n_in = q_gas_mol_h
        n_out = n_in - o2_mol_h + co2_mol_h
        y_o2 = np.where(q_gas_mol_h > 0, (n_in * y_o2_in - o2_mol_h) / n_out, np.nan)
        y_co2 = np.where(q_gas_mol_h > 0, (n_in * y_co2_in + co2_mol_h) / n_out, np.nan)
        del inert_in
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

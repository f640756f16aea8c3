"""The CHO fed-batch model of Kotidis et al. (2019) with biotwin's extensions.

Core (Kotidis et al. 2019, Biotechnol Bioeng 116:1612-1626, doi:10.1002/bit.26960;
parameters for CHO-T127 in Kotidis & Kontoravdi 2019, Processes 7:174,
doi:10.3390/pr7030174): viable cells Xv grow on glucose and asparagine, inhibited by
ammonium and lactate, die with an ammonium-promoted rate; glucose, glutamine, glutamate,
asparagine, aspartate, lactate and ammonium follow yield and maintenance laws; the mAb
follows Luedeking-Piret kinetics. The Asn/Asp interconversion is solved exactly
(:func:`biotwin.models.kinetics.asn_asp_exchange`).

Extensions, each labelled:

- dead cells Xd [cells/L] accumulate ``mu_d*Xv`` (no lysis), for viability;
- temperature: mu_max, mu_d_max, the specific productivity and the lactate switch points
  scale by log-linear factors between 36.5 and 32 degC (engineering assumption, calibrated
  on Sou et al. 2015; see :mod:`biotwin.parameters.calibration`);
- growth arrest with culture age: growth slows with the viable cell-time made in the broth,
  Age [cells*h/L] (:func:`kinetics.growth_arrest_factor`; ``K_age = 0`` switches it off);
- uptake of an exhausted substrate stops smoothly (:func:`kinetics.substrate_guard`);
- galactosylation: galactosylated product mAb_gal [mg/L] is made at the fraction
  :func:`kinetics.galactosylation_fraction` of the productivity (Mn, NH4+, pH); the
  galactosylation index is ``mAb_gal / mAb``;
- base added by an ideal pH controller neutralises net acid (lactate made minus ammonia
  made), tracked as Na [mM] (base volume neglected: 1 M base adds < 1% volume); Osm_bg
  [mOsm/kg] carries the solutes the model does not track, for osmolality.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from biotwin.models import environment
from biotwin.models.base import Model, Variable
from biotwin.models.kinetics import (
    JIT_OPTIONS,
    asn_asp_exchange,
    galactosylation_fraction,
    growth_arrest_factor,
    lactate_rate,
    luedeking_piret,
    specific_death_rate,
    specific_growth_rate,
    substrate_guard,
    temperature_factor,
)

STATES = (
    Variable("V", "L", "working volume", 1e-3),
    Variable("Xv", "cells/L", "viable cell density", 1e3),
    Variable("Xd", "cells/L", "dead cell density", 1e3),
    Variable("Glc", "mM", "glucose", 1e-6),
    Variable("Gln", "mM", "glutamine", 1e-6),
    Variable("Glu", "mM", "glutamate", 1e-6),
    Variable("Asn", "mM", "asparagine", 1e-6),
    Variable("Asp", "mM", "aspartate", 1e-6),
    Variable("Lac", "mM", "lactate", 1e-6),
    Variable("Amm", "mM", "ammonium", 1e-6),
    Variable("mAb", "mg/L", "antibody titre", 1e-6),
    Variable("Mn", "uM", "manganese", 1e-9),
    Variable("mAb_gal", "mg/L", "galactosylated antibody", 1e-6),
    Variable("Na", "mM", "cation of base added for pH control", 1e-6),
    Variable("Osm_bg", "mOsm/kg", "untracked solutes (medium salts)", 1e-6),
    Variable("Age", "cells*h/L", "culture-age indicator: viable cell-time made in the broth", 1e3),
)

INPUTS = (
    Variable("T", "degC", "culture temperature setpoint"),
    Variable("pH_sp", "-", "pH setpoint (ideal control in this model)"),
    Variable("kLa", "1/h", "O2 volumetric mass-transfer coefficient"),
    Variable("gas_vvm", "1/min", "gas flow per liquid volume (0 = surface aeration)"),
    Variable("y_O2_in", "-", "O2 mole fraction of the inlet gas"),
    Variable("y_CO2_in", "-", "CO2 mole fraction of the inlet gas"),
)

PARAMETERS = (
    Variable("mu_max", "1/h"),
    Variable("mu_d_max", "1/h"),
    Variable("K_glc", "mM"),
    Variable("K_asn", "mM"),
    Variable("KI_lac", "mM"),
    Variable("KI_amm", "mM"),
    Variable("Kd_amm", "mM"),
    Variable("m_lac", "mmol/cell/h"),
    Variable("m_glc", "mmol/cell/h"),
    Variable("Lac_max1", "mM"),
    Variable("Lac_max2", "mM"),
    Variable("Y_X_glc", "cells/mmol"),
    Variable("Y_X_gln", "cells/mmol"),
    Variable("Y_X_glu", "cells/mmol"),
    Variable("Y_X_lac", "cells/mmol"),
    Variable("Y_X_amm", "cells/mmol"),
    Variable("Y_X_asn", "cells/mmol"),
    Variable("Y_X_asp", "cells/mmol"),
    Variable("Y_gln_amm", "mmol/mmol"),
    Variable("Y_lac_glc", "mmol/mmol"),
    Variable("Y_asp_asn", "mmol/mmol"),
    Variable("Y_asn_asp", "mmol/mmol"),
    Variable("m_mAb", "mg/cell/h"),
    Variable("Y_mAb_mu", "mg/cell"),
    # temperature extension
    Variable("T_ref", "degC"),
    Variable("T_low", "degC"),
    Variable("f_mu_low", "-"),
    Variable("f_mud_low", "-"),
    Variable("f_qmAb_low", "-"),
    Variable("f_lac_low", "-"),
    # positivity guard
    Variable("K_guard", "mM"),
    # galactosylation
    Variable("GI_max", "-"),
    Variable("K_Mn", "uM"),
    Variable("KI_amm_gal", "mM"),
    Variable("pH_opt_gal", "-"),
    Variable("pH_width_gal", "-"),
    # respiration (online signals)
    Variable("Y_X_O2", "cells/mmol"),
    Variable("m_O2", "mmol/cell/h"),
    Variable("RQ", "-"),
    # growth arrest with culture age
    Variable("K_age", "cells*h/L"),
)

# State, input and parameter indices (module constants, so numba folds them).
IV, IXV, IXD, IGLC, IGLN, IGLU, IASN, IASP, ILAC, IAMM, IMAB, IMN, IGAL, INA, IOSM, IAGE = range(16)
UT, UPH, UKLA, UVVM, UYO2, UYCO2 = range(6)
(
    P_MU_MAX, P_MUD_MAX, P_K_GLC, P_K_ASN, P_KI_LAC, P_KI_AMM, P_KD_AMM, P_M_LAC, P_M_GLC,
    P_LACMAX1, P_LACMAX2, P_YX_GLC, P_YX_GLN, P_YX_GLU, P_YX_LAC, P_YX_AMM, P_YX_ASN,
    P_YX_ASP, P_Y_GLN_AMM, P_Y_LAC_GLC, P_Y_ASP_ASN, P_Y_ASN_ASP, P_M_MAB, P_Y_MAB_MU,
    P_T_REF, P_T_LOW, P_F_MU, P_F_MUD, P_F_QMAB, P_F_LAC, P_K_GUARD,
    P_GI_MAX, P_K_MN, P_KI_AMM_GAL, P_PH_OPT_GAL, P_PH_WIDTH_GAL, P_YX_O2, P_M_O2, P_RQ, P_K_AGE,
) = range(40)


@njit(**JIT_OPTIONS)
def rates(y, p, u):  # type: ignore[no-untyped-def]
    """Specific rates at state ``y``: (mu, mu_d, q_glc, q_gln, q_glu, q_asn, q_asp, q_lac,
    q_amm, q_mab, gal_frac) in [1/h], [mmol/cell/h] and [mg/cell/h]."""
    temp = u[UT]
    if temp == p[P_T_REF]:  # the common case: skip four exponentials
        f_mu = f_mud = f_qp = f_lac = 1.0
    else:
        f_mu = temperature_factor(temp, p[P_F_MU], p[P_T_REF], p[P_T_LOW])
        f_mud = temperature_factor(temp, p[P_F_MUD], p[P_T_REF], p[P_T_LOW])
        f_qp = temperature_factor(temp, p[P_F_QMAB], p[P_T_REF], p[P_T_LOW])
        f_lac = temperature_factor(temp, p[P_F_LAC], p[P_T_REF], p[P_T_LOW])

    glc = max(y[IGLC], 0.0)
    asn = max(y[IASN], 0.0)
    amm = max(y[IAMM], 0.0)
    lac = max(y[ILAC], 0.0)
    kg = p[P_K_GUARD]

    f_age = growth_arrest_factor(y[IAGE], p[P_K_AGE])
    mu = specific_growth_rate(
        glc, asn, amm, lac, p[P_MU_MAX] * f_mu, p[P_K_GLC], p[P_K_ASN], p[P_KI_AMM], p[P_KI_LAC]
    ) * f_age
    mu_d = specific_death_rate(amm, p[P_MUD_MAX] * f_mud, p[P_KD_AMM])
    q_glc = (-mu / p[P_YX_GLC] - p[P_M_GLC]) * substrate_guard(glc, kg)
    q_amm = mu / p[P_YX_AMM]
    q_gln = mu / p[P_YX_GLN] + p[P_Y_GLN_AMM] * q_amm
    q_glu = -mu / p[P_YX_GLU] * substrate_guard(y[IGLU], kg)
    q_asn, q_asp = asn_asp_exchange(
        mu, p[P_YX_ASN], p[P_YX_ASP], p[P_Y_ASN_ASP], p[P_Y_ASP_ASN]
    )
    q_asp = q_asp * substrate_guard(y[IASP], kg) if q_asp < 0.0 else q_asp
    q_lac = lactate_rate(
        mu, q_glc, lac, p[P_YX_LAC], p[P_Y_LAC_GLC], p[P_M_LAC],
        p[P_LACMAX1] * f_lac, p[P_LACMAX2] * f_lac,
    )
    if q_lac < 0.0:
        q_lac = q_lac * substrate_guard(lac, kg)
    q_mab = luedeking_piret(mu, p[P_Y_MAB_MU], p[P_M_MAB] * f_age) * f_qp
    gal = galactosylation_fraction(
        max(y[IMN], 0.0), amm, u[UPH], p[P_GI_MAX], p[P_K_MN], p[P_KI_AMM_GAL],
        p[P_PH_OPT_GAL], p[P_PH_WIDTH_GAL],
    )
    return mu, mu_d, q_glc, q_gln, q_glu, q_asn, q_asp, q_lac, q_amm, q_mab, gal


@njit(**JIT_OPTIONS)
def reactions(t, y, p, u, dydt):  # type: ignore[no-untyped-def]
    """Reaction part of dy/dt [unit/h] for :data:`STATES` (volume row left at 0)."""
    mu, mu_d, q_glc, q_gln, q_glu, q_asn, q_asp, q_lac, q_amm, q_mab, gal = rates(y, p, u)
    xv = y[IXV]
    dydt[IV] = 0.0
    dydt[IXV] = (mu - mu_d) * xv
    dydt[IXD] = mu_d * xv
    dydt[IGLC] = q_glc * xv
    dydt[IGLN] = q_gln * xv
    dydt[IGLU] = q_glu * xv
    dydt[IASN] = q_asn * xv
    dydt[IASP] = q_asp * xv
    dydt[ILAC] = q_lac * xv
    dydt[IAMM] = q_amm * xv
    dydt[IMAB] = q_mab * xv
    dydt[IMN] = 0.0
    dydt[IGAL] = gal * q_mab * xv
    net_acid = (q_lac - q_amm) * xv
    dydt[INA] = net_acid if net_acid > 0.0 else 0.0
    dydt[IOSM] = 0.0
    dydt[IAGE] = xv


def outputs(y: np.ndarray, p: np.ndarray, u: np.ndarray) -> dict[str, np.ndarray]:
    """Derived signals along a trajectory.

    Parameters
    ----------
    y : ndarray, shape (n_times, n_states)
    p : ndarray, shape (n_parameters,)
    u : ndarray, shape (n_times, n_inputs)
        Inputs in force at each time.

    Returns
    -------
    dict
        ``viability [%]``, ``mu [1/h]``, ``q_mAb [pg/cell/d]``, ``GI [-]`` (galactosylation
        index of the product), ``Osmolality [mOsm/kg]`` and the online signals of
        :func:`biotwin.models.environment.online_signals`.
    """
    y = np.atleast_2d(y)
    u = np.atleast_2d(u)
    n = y.shape[0]
    mu = np.empty(n)
    qp = np.empty(n)
    for i in range(n):
        r = rates(y[i], p, u[i])
        mu[i] = r[0]
        qp[i] = r[9]
    xv = y[:, IXV]
    xt = xv + y[:, IXD]
    with np.errstate(invalid="ignore", divide="ignore"):
        viability = np.where(xt > 0, 100.0 * xv / xt, np.nan)
        gi = np.where(y[:, IMAB] > 0, y[:, IGAL] / y[:, IMAB], np.nan)
    tracked = y[:, IGLC : IAMM + 1].sum(axis=1)
    osm = y[:, IOSM] + tracked + 2.0 * y[:, INA]
    our = (mu / p[P_YX_O2] + p[P_M_O2]) * xv
    signals = environment.online_signals(
        our_mM_h=our,
        rq=p[P_RQ],
        volume_L=y[:, IV],
        ph=u[:, UPH],
        kla_h=u[:, UKLA],
        gas_vvm=u[:, UVVM],
        y_o2_in=u[:, UYO2],
        y_co2_in=u[:, UYCO2],
    )
    return {
        "viability [%]": viability,
        "mu [1/h]": mu,
        "q_mAb [pg/cell/d]": qp * 1e9 * 24.0,
        "GI [-]": gi,
        "Osmolality [mOsm/kg]": osm,
        **signals,
    }


CHO_KOTIDIS2019 = Model(
    name="cho_kotidis2019",
    states=STATES,
    inputs=INPUTS,
    parameters=PARAMETERS,
    reactions=reactions,
    outputs=outputs,
    references=(
        "Kotidis P. et al. (2019) Biotechnol Bioeng 116:1612-1626. doi:10.1002/bit.26960",
        "Kotidis P., Kontoravdi C. (2019) Processes 7:174. doi:10.3390/pr7030174",
    ),
    description="CHO fed-batch model (Kotidis 2019) + temperature, galactosylation, base, osmolality",
)

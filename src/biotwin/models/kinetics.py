"""Pure kinetic laws, one function each, units in brackets, with their source.

Every function is compiled with numba so that the ensemble kernels inline it (on CPU and,
translated, on CUDA GPUs). The rational laws work on scalars and NumPy arrays (NaN in,
NaN out); the laws with exponentials use :mod:`math` and take scalars.
"""

from __future__ import annotations

import math
from typing import Any

from numba import njit

#: Compilation options shared by every compiled law: no Python zero-division checks, and
#: floating-point contraction/reassociation but never assuming away NaN or inf.
JIT_OPTIONS: dict[str, Any] = {
    "cache": True,
    "inline": "always",
    "error_model": "numpy",
    "fastmath": {"contract", "arcp", "nsz", "afn", "reassoc"},
}


@njit(**JIT_OPTIONS)
def monod(s, k_s):  # type: ignore[no-untyped-def]
    """Monod saturation ``s / (k_s + s)`` [-].

    Parameters
    ----------
    s : float or ndarray
        Substrate concentration [mM], >= 0.
    k_s : float
        Half-saturation constant [mM].

    References
    ----------
    Monod J. (1949) The growth of bacterial cultures. Annu Rev Microbiol 3:371-394.
    doi:10.1146/annurev.mi.03.100149.002103
    """
    return s / (k_s + s)


@njit(**JIT_OPTIONS)
def noncompetitive_inhibition(i, k_i):  # type: ignore[no-untyped-def]
    """Inhibition factor ``k_i / (k_i + i)`` [-] of an inhibitor concentration ``i`` [mM].

    References
    ----------
    Kontoravdi C. et al. (2005) Application of global sensitivity analysis to determine goals
    for design of experiments: an example study on antibody-producing cell cultures.
    Biotechnol Prog 21:1128-1135. doi:10.1021/bp050028k (form used by Kotidis et al. 2019).
    """
    return k_i / (k_i + i)


@njit(**JIT_OPTIONS)
def specific_growth_rate(glc, asn, amm, lac, mu_max, k_glc, k_asn, ki_amm, ki_lac):  # type: ignore[no-untyped-def]
    """Specific growth rate mu [1/h]: double Monod on Glc, Asn, inhibited by Amm and Lac.

    ``mu = mu_max * Glc/(K_glc+Glc) * Asn/(K_asn+Asn) * KI_amm/(KI_amm+Amm) * KI_lac/(KI_lac+Lac)``

    References
    ----------
    Kotidis P. et al. (2019) Model-based optimization of antibody galactosylation in CHO cell
    culture. Biotechnol Bioeng 116:1612-1626. doi:10.1002/bit.26960
    """
    return (
        mu_max
        * monod(glc, k_glc)
        * monod(asn, k_asn)
        * noncompetitive_inhibition(amm, ki_amm)
        * noncompetitive_inhibition(lac, ki_lac)
    )


@njit(**JIT_OPTIONS)
def specific_death_rate(amm, mu_d_max, kd_amm):  # type: ignore[no-untyped-def]
    """Specific death rate mu_d [1/h], promoted by ammonium: ``mu_d_max * Amm/(Kd_amm+Amm)``.

    References
    ----------
    Kotidis et al. (2019) Biotechnol Bioeng 116:1612-1626. doi:10.1002/bit.26960
    """
    return mu_d_max * monod(amm, kd_amm)


@njit(**JIT_OPTIONS)
def asn_asp_exchange(mu, y_x_asn, y_x_asp, y_asn_asp, y_asp_asn):  # type: ignore[no-untyped-def]
    """Specific Asn and Asp rates [mmol/cell/h] with their interconversion solved exactly.

    The two balances are coupled: ``q_Asn = -mu/Y_X,Asn - Y_Asn,Asp * q_Asp`` and
    ``q_Asp = -mu/Y_X,Asp - Y_Asp,Asn * q_Asn``. Solving the 2x2 linear system gives
    ``q_Asn = (-mu/Y_X,Asn + Y_Asn,Asp*mu/Y_X,Asp) / (1 - Y_Asn,Asp*Y_Asp,Asn)`` and
    ``q_Asp = (-mu/Y_X,Asp + Y_Asp,Asn*mu/Y_X,Asn) / (1 - Y_Asn,Asp*Y_Asp,Asn)``.

    Parameters
    ----------
    mu : float
        Specific growth rate [1/h].
    y_x_asn, y_x_asp : float
        Biomass yields on Asn and Asp [cells/mmol].
    y_asn_asp, y_asp_asn : float
        Interconversion yields [mmol/mmol]; their product must be < 1.

    Returns
    -------
    (q_asn, q_asp) : tuple of float
        Specific net production rates [mmol/cell/h] (negative = uptake).

    References
    ----------
    Kotidis et al. (2019) Biotechnol Bioeng 116:1612-1626. doi:10.1002/bit.26960;
    Kotidis P., Kontoravdi C. (2019) Processes 7:174. doi:10.3390/pr7030174
    """
    det = 1.0 - y_asn_asp * y_asp_asn
    q_asn = (-mu / y_x_asn + y_asn_asp * mu / y_x_asp) / det
    q_asp = (-mu / y_x_asp + y_asp_asn * mu / y_x_asn) / det
    return q_asn, q_asp


@njit(**JIT_OPTIONS)
def lactate_rate(mu, q_glc, lac, y_x_lac, y_lac_glc, m_lac, lac_max1, lac_max2):  # type: ignore[no-untyped-def]
    """Specific lactate rate [mmol/cell/h] with the metabolic shift to consumption.

    ``q_Lac = (mu/Y_X,Lac - Y_Lac,Glc*q_Glc) (Lac_max1 - Lac)/Lac_max1
    + m_Lac (Lac_max2 - Lac)/Lac_max2``: production falls and turns to uptake as lactate
    approaches Lac_max1 and Lac_max2 [mM].

    References
    ----------
    Kotidis et al. (2019) Biotechnol Bioeng 116:1612-1626. doi:10.1002/bit.26960
    """
    return (mu / y_x_lac - y_lac_glc * q_glc) * (lac_max1 - lac) / lac_max1 + m_lac * (
        lac_max2 - lac
    ) / lac_max2


@njit(**JIT_OPTIONS)
def luedeking_piret(mu, alpha, beta):  # type: ignore[no-untyped-def]
    """Growth- and non-growth-associated product rate ``alpha*mu + beta``.

    With ``alpha = Y_mAb,mu`` [mg/cell] and ``beta = m_mAb`` [mg/cell/h] this is the
    specific mAb productivity [mg/cell/h] of Kotidis et al. (2019).

    References
    ----------
    Luedeking R., Piret E.L. (1959) A kinetic study of the lactic acid fermentation.
    J Biochem Microbiol Technol Eng 1:393-412. doi:10.1002/jbmte.390010406
    """
    return alpha * mu + beta


@njit(**JIT_OPTIONS)
def temperature_factor(temp_c, f_low, t_ref_c, t_low_c):  # type: ignore[no-untyped-def]
    """Log-linear temperature factor [-]: 1 at ``t_ref_c``, ``f_low`` at ``t_low_c`` [degC].

    ``f(T) = f_low ** ((t_ref - T) / (t_ref - t_low))``, an Arrhenius-like interpolation
    (ln k linear in T over the narrow 32-37 degC range). Engineering assumption, calibrated
    on the 32 degC culture of Sou et al. (2015) Biotechnol Bioeng 112:1165-1176,
    doi:10.1002/bit.25524; valid for 32-37 degC.
    """
    return math.exp(math.log(f_low) * ((t_ref_c - temp_c) / (t_ref_c - t_low_c)))


@njit(**JIT_OPTIONS)
def galactosylation_fraction(mn_um, amm, ph, gal_max, k_mn, ki_amm_gal, ph_opt, ph_width):  # type: ignore[no-untyped-def]
    """Galactosylated fraction [-] of the glycans made now, from Mn, NH4+ and pH.

    Mn2+ is the cofactor of beta-1,4-galactosyltransferase (Michaelis-Menten in Mn [uM]);
    ammonium raises Golgi pH and lowers galactosylation (non-competitive inhibition in
    Amm [mM]); culture pH acts through a Gaussian optimum around ``ph_opt``.

    References
    ----------
    Karst D.J. et al. (2017) Modulation and modeling of monoclonal antibody N-linked
    glycosylation in mammalian cell perfusion reactors. Biotechnol Bioeng 114:1978-1990.
    doi:10.1002/bit.26315; Villiger T.K. et al. (2016) Controlling the time evolution of mAb
    N-linked glycosylation - Part II: Model-based predictions. Biotechnol Prog 32:1135-1148.
    doi:10.1002/btpr.2315; Gawlitzek M. et al. (2000) Biotechnol Bioeng 68:637-646 (NH4+).
    """
    d = (ph - ph_opt) / ph_width
    return gal_max * monod(mn_um, k_mn) * noncompetitive_inhibition(amm, ki_amm_gal) * math.exp(-d * d)


@njit(**JIT_OPTIONS)
def substrate_guard(s, k_guard):  # type: ignore[no-untyped-def]
    """Smooth switch ``s/(s + k_guard)`` [-] that stops uptake of an exhausted substrate.

    Engineering assumption of biotwin: the published maintenance and yield terms do not
    vanish at zero substrate, so without this factor Glc, Glu or Asp could turn negative.
    With ``k_guard`` = 0.01 mM it changes rates by < 0.1% above 10 mM.
    """
    sp = s if s > 0.0 else 0.0
    return sp / (sp + k_guard)


@njit(**JIT_OPTIONS)
def growth_arrest_factor(inh, k_age):  # type: ignore[no-untyped-def]
    """Growth-arrest factor ``1 / (1 + (inh/k_age)**2)`` [-] of the culture-age indicator.

    ``inh`` [cells*h/L] is the viable cell-time made in the broth (an integral viable cell
    density that feeds dilute, a proxy for unmeasured inhibitors and nutrients the model
    does not track); ``k_age`` [same unit] is where growth is halved. ``k_age <= 0`` switches
    the law off (factor 1), which is the published Kotidis et al. (2019) model.

    Engineering assumption of biotwin, in the Hill form of a cooperative inhibition (Hill
    A.V. (1910) J Physiol 40:iv-vii). Fed-batch CHO cultures stop growing at an integral
    viable cell density of about 0.7e12 to 1.5e12 cells*h/L whatever their glucose and
    asparagine, which the Monod/ammonium laws alone cannot reproduce (see the culture
    data of Kotidis et al. 2019 and Sou et al. 2015, doi:10.1002/bit.25524).
    """
    if k_age <= 0.0:
        return 1.0
    r = (inh if inh > 0.0 else 0.0) / k_age
    return 1.0 / (1.0 + r * r)

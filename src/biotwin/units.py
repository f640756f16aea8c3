"""Units of measure: one pint registry, header parsing and vectorised conversion.

Every unit that enters biotwin passes through :func:`parse_unit` and every conversion
through :func:`convert`; nothing converts by hand. Column headers carry their unit in
brackets, ``"DO2 [mg/L]"``, ``"pH [-]"`` (``-`` means dimensionless).

Examples
--------
>>> split_header("DO2 [mg/L]")
('DO2', 'mg/L')
>>> float(convert(1.0, "g/L", "mg/L"))
1000.0
>>> round(float(convert(1.8016, "g/L", "mM", molar_mass_g_per_mol=180.16)), 6)
10.0
"""

from __future__ import annotations

import re
from functools import lru_cache

import numpy as np
import numpy.typing as npt
import pint

#: The registry every biotwin module shares (pint quantities from two registries do not mix).
ureg: pint.UnitRegistry = pint.UnitRegistry(autoconvert_offset_to_baseunit=True)
ureg.define("cell = [cell_count] = cells")
ureg.define("osmole = mole = Osm = osmol")
ureg.define("vvm = 1 / minute")

DIMENSIONLESS = "-"

#: Canonical units of the glossary's variables; data is converted to these at ingest.
CANONICAL_UNITS: dict[str, str] = {
    "Xv": "cells/L",
    "Xt": "cells/L",
    "Xd": "cells/L",
    "mAb": "mg/L",
    "Glc": "mM",
    "Gln": "mM",
    "Glu": "mM",
    "Lac": "mM",
    "Amm": "mM",
    "Asn": "mM",
    "Asp": "mM",
    "V": "L",
    "T": "degC",
    "pH": DIMENSIONLESS,
}

#: Molar masses [g/mol] used to convert mass concentrations of metabolites to [mM].
MOLAR_MASS_G_PER_MOL: dict[str, float] = {
    "Glc": 180.156,
    "Gln": 146.146,
    "Glu": 147.130,
    "Lac": 89.070,
    "Amm": 18.038,
    "Asn": 132.119,
    "Asp": 133.103,
}

_HEADER = re.compile(r"^\s*(?P<name>.*?)\s*\[(?P<unit>[^\[\]]*)\]\s*$")


class UnitError(ValueError):
    """A unit string is unknown to the registry, or two units are incompatible."""


def split_header(header: str) -> tuple[str, str | None]:
    """Split ``"name [unit]"`` into ``(name, unit)``; unit is None when there is no bracket."""
    m = _HEADER.match(header)
    if m is None:
        return header.strip(), None
    return m.group("name"), m.group("unit").strip()


#: A time unit written as a header's suffix: ``time_min``, ``EFT_s``, ``age-d``, ``process time hours``.
_TIME_SUFFIX = re.compile(r"^(.*?[a-z].*?)[\s_\-.](s|sec|secs|seconds|min|mins|minutes|h|hr|hrs|hours|d|day|days)$",
                          re.IGNORECASE)
_TIME_SUFFIX_UNIT = {"s": "s", "sec": "s", "secs": "s", "seconds": "s", "min": "min", "mins": "min",
                     "minutes": "min", "h": "h", "hr": "h", "hrs": "h", "hours": "h", "d": "d", "day": "d",
                     "days": "d"}


def time_suffix_unit(name: str) -> str | None:
    """The time unit a time column's name ends with (``time_min`` -> ``min``, ``EFT_s`` -> ``s``,
    ``age_d`` -> ``d``) or is (``Minutes`` -> ``min``), or None.

    For the time column only: ``time_min`` read as hours would stretch every batch 60-fold, and
    every rate, integral and persistence rule with it, without a word.
    """
    word = name.strip().lower()
    if len(word) > 1 and word in _TIME_SUFFIX_UNIT:  # the name is the unit: "Hours", "Minutes"
        return _TIME_SUFFIX_UNIT[word]
    m = _TIME_SUFFIX.match(name.strip())
    return _TIME_SUFFIX_UNIT[m.group(2).lower()] if m else None


@lru_cache(maxsize=512)
def _quantity(text: str) -> pint.Quantity:
    text = text.strip()
    if text in ("-", "", "1"):
        return ureg.Quantity(1.0, ureg.dimensionless)
    try:
        q = ureg.parse_expression(text)
    except Exception as exc:  # pint raises many kinds of errors on bad input
        raise UnitError(f"unknown unit {text!r}") from exc
    if not isinstance(q, ureg.Quantity) or str(q.units) == "dimensionless":
        raise UnitError(f"unknown unit {text!r}: a number is not a unit; write '-'")
    if not np.isfinite(q.magnitude) or q.magnitude <= 0:
        raise UnitError(f"unknown unit {text!r}: the scale must be positive")
    return q


def parse_unit(text: str) -> str:
    """Check a unit string against the registry; return it stripped, or raise :class:`UnitError`.

    ``"-"``, ``""`` and ``"1"`` mean dimensionless and are returned as ``"-"``; scaled units
    such as ``"1e6 cells/mL"`` are accepted.
    """
    _quantity(text)
    text = text.strip()
    return DIMENSIONLESS if text in ("", "1") else text


def compatible(a: str, b: str, *, molar_mass_g_per_mol: float | None = None) -> bool:
    """Whether values in unit ``a`` can be converted to unit ``b``."""
    try:
        convert(1.0, a, b, molar_mass_g_per_mol=molar_mass_g_per_mol)
    except UnitError:
        return False
    return True


def convert(
    values: npt.ArrayLike,
    from_unit: str,
    to_unit: str,
    *,
    molar_mass_g_per_mol: float | None = None,
) -> npt.NDArray[np.float64]:
    """Convert ``values`` from one unit to another with pint (vectorised).

    Parameters
    ----------
    values : array_like
        Magnitudes in ``from_unit``.
    from_unit, to_unit : str
        Unit strings understood by :func:`parse_unit`.
    molar_mass_g_per_mol : float, optional
        Molar mass [g/mol] that bridges mass and amount concentrations (``g/L`` to ``mM``).

    Returns
    -------
    numpy.ndarray
        Magnitudes in ``to_unit``.

    Raises
    ------
    UnitError
        If a unit is unknown or the two are not convertible.
    """
    arr = np.asarray(values, dtype=float)
    src, dst = _quantity(from_unit), _quantity(to_unit)
    if src == dst:
        return arr
    q = ureg.Quantity(arr * src.magnitude, src.units)
    candidates = [q]
    if molar_mass_g_per_mol is not None:
        mm = ureg.Quantity(molar_mass_g_per_mol, "g/mol")
        candidates += [q / mm, q * mm]
    for cand in candidates:
        try:
            return np.asarray(cand.to(dst.units).magnitude / dst.magnitude, dtype=float)
        except pint.errors.DimensionalityError:
            continue
    raise UnitError(f"cannot convert {from_unit!r} to {to_unit!r}")


def canonical_unit(name: str) -> str | None:
    """The glossary's unit of variable ``name`` (``None`` if it is not in the glossary)."""
    return CANONICAL_UNITS.get(name)

"""Specifications on batch outcomes, and the outcomes (metrics) they are written on.

A spec is ``QUANTITY OP NUMBER`` (``"mAb >= 450"``, ``"Amm_peak <= 6"``, ``"GI >= 0.2"``),
parsed with a regular expression: nothing is evaluated as code.

Quantities, for any model state ``S``: ``S`` (value at harvest), ``S_peak`` (maximum over
the culture), ``S_min`` (minimum); and ``GI`` (galactosylation index ``mAb_gal / mAb`` at
harvest [-]), ``viability`` (at harvest [%]), ``harvest_h`` [h] and ``productivity``
(``mAb / harvest time`` [mg/L/d]).
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from biotwin.errors import DataError
from biotwin.models.base import Model

_OPS: dict[str, Callable[[np.ndarray, float], np.ndarray]] = {
    ">=": operator.ge, "<=": operator.le, ">": operator.gt, "<": operator.lt,
}
_NUMBER = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"
_SPEC_RE = re.compile(rf"^\s*([A-Za-z_]\w*)\s*(>=|<=|>|<)\s*({_NUMBER})\s*$")
DERIVED = ("GI", "viability", "harvest_h", "productivity")


@dataclass(frozen=True)
class Spec:
    """One specification: ``quantity op value``."""

    quantity: str
    op: str
    value: float

    def __str__(self) -> str:
        return f"{self.quantity} {self.op} {self.value:g}"

    def met(self, values: np.ndarray) -> np.ndarray:
        """Boolean array: where ``values`` meet the spec (NaN never does)."""
        v = np.asarray(values, float)
        with np.errstate(invalid="ignore"):
            return _OPS[self.op](v, self.value) & np.isfinite(v)


def parse_spec(text: str, model: Model | None = None) -> Spec:
    """Parse ``"mAb >= 450"``; with ``model``, check that the quantity exists.

    Examples
    --------
    >>> parse_spec("Amm_peak <= 6")
    Spec(quantity='Amm_peak', op='<=', value=6.0)
    """
    m = _SPEC_RE.match(text)
    if not m:
        raise DataError(f"spec {text!r}: expected QUANTITY OP NUMBER with OP one of >=, <=, >, <, "
                        "e.g. 'mAb >= 450'")
    spec = Spec(m.group(1), m.group(2), float(m.group(3)))
    if model is not None:
        check_quantity(spec.quantity, model)
    return spec


def check_quantity(name: str, model: Model) -> None:
    """Raise :class:`DataError` unless ``name`` is a quantity of ``model`` (see module doc)."""
    base = name
    for suffix in ("_peak", "_min"):
        if name.endswith(suffix) and name[: -len(suffix)] in model.state_names:
            base = name[: -len(suffix)]
    if base in model.state_names or name in DERIVED:
        return
    raise DataError(f"unknown quantity {name!r}; use a state ({', '.join(model.state_names)}), "
                    f"STATE_peak, STATE_min or one of {', '.join(DERIVED)}")


def quantity_unit(name: str, model: Model) -> str:
    """The unit of a quantity, e.g. ``mg/L`` for ``mAb``."""
    fixed = {"GI": "-", "viability": "%", "harvest_h": "h", "productivity": "mg/L/d"}
    if name in fixed:
        return fixed[name]
    base = name.removesuffix("_peak").removesuffix("_min")
    return model.states[model.state_index(base)].unit


def compute_quantities(
    model: Model, t: np.ndarray, y: np.ndarray, t_end: np.ndarray, names: list[str] | tuple[str, ...],
    ok: np.ndarray | None = None,
) -> dict[str, np.ndarray]:
    """Batch outcomes from trajectories.

    Parameters
    ----------
    model : Model
    t : ndarray, shape (n_times,)
        Output times [h]; members hold their harvest state after their ``t_end``, so the
        last row is every member's harvest state when ``t[-1] >= max(t_end)``.
    y : ndarray, shape (n_members, n_times, n_states)
    t_end : ndarray, shape (n_members,)
        Harvest times [h].
    names : list of str
        Quantities to compute (see the module doc).
    ok : ndarray of bool, shape (n_members,), optional
        Members whose integration succeeded; the others get NaN.

    Returns
    -------
    dict
        Quantity name -> values, shape (n_members,).
    """
    out: dict[str, np.ndarray] = {}
    last = y[:, -1, :]
    for name in names:
        check_quantity(name, model)
        if name == "GI":
            with np.errstate(invalid="ignore", divide="ignore"):
                mab = last[:, model.state_index("mAb")]
                v = np.where(mab > 0, last[:, model.state_index("mAb_gal")] / mab, np.nan)
        elif name == "viability":
            xv, xd = last[:, model.state_index("Xv")], last[:, model.state_index("Xd")]
            with np.errstate(invalid="ignore", divide="ignore"):
                v = np.where(xv + xd > 0, 100.0 * xv / (xv + xd), np.nan)
        elif name == "harvest_h":
            v = np.asarray(t_end, float).copy()
        elif name == "productivity":
            v = last[:, model.state_index("mAb")] / (np.asarray(t_end, float) / 24.0)
        elif name.endswith("_peak") and name[:-5] in model.state_names:
            v = y[:, :, model.state_index(name[:-5])].max(axis=1)
        elif name.endswith("_min") and name[:-4] in model.state_names:
            v = y[:, :, model.state_index(name[:-4])].min(axis=1)
        else:
            v = last[:, model.state_index(name)].copy()
        if ok is not None:
            v = np.where(ok, v, np.nan)
        out[name] = v
    return out

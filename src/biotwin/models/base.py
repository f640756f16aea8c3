"""What every process model declares: its states, inputs, parameters and equations.

A :class:`Model` holds equations and names, never numbers: numbers live in a
:class:`biotwin.parameters.ParameterSet`. The vessel balance (volume, dilution by additions,
continuous feeds) is generic and lives in :mod:`biotwin.simulation`; a model contributes
only its per-volume reaction rates through ``reactions(t, y, p, u, dydt)``, a numba-compiled
function, so that the same equations run in scipy, in the compiled CPU ensemble and on a GPU.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass(frozen=True)
class Variable:
    """A named model quantity with its unit and a short description."""

    name: str
    unit: str
    description: str = ""
    scale: float = 1.0
    """Typical magnitude; sets the absolute tolerance of the integrators."""

    @property
    def label(self) -> str:
        """``"name [unit]"``, the house style for column names."""
        return f"{self.name} [{self.unit}]"


@dataclass(frozen=True)
class Model:
    """A process model: declarations plus compiled equations.

    Attributes
    ----------
    name : str
        Identifier, e.g. ``"cho_kotidis2019"``.
    states : tuple of Variable
        State vector layout. ``states[0]`` is always the volume ``V [L]``; every other
        state is a concentration diluted by additions and carried by feeds.
    inputs : tuple of Variable
        Piecewise-constant inputs set by the recipe (temperature, pH setpoint, ...).
    parameters : tuple of Variable
        Parameter vector layout; values come from a parameter set.
    reactions : callable
        ``reactions(t, y, p, u, dydt)`` writes the reaction part of dC/dt [unit/h] into
        ``dydt`` (index 0, the volume, is left at zero).
    outputs : callable
        ``outputs(y, p, u) -> dict[str, ndarray]`` derived signals (columns of a result).
    references : tuple of str
        Where the equations come from.
    """

    name: str
    states: tuple[Variable, ...]
    inputs: tuple[Variable, ...]
    parameters: tuple[Variable, ...]
    reactions: Any
    outputs: Callable[..., dict[str, np.ndarray]]
    references: tuple[str, ...] = ()
    description: str = ""
    stiff: bool = False
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def state_names(self) -> list[str]:
        return [s.name for s in self.states]

    @property
    def input_names(self) -> list[str]:
        return [u.name for u in self.inputs]

    @property
    def parameter_names(self) -> list[str]:
        return [p.name for p in self.parameters]

    def state_index(self, name: str) -> int:
        """Index of a state by name; raises ``KeyError`` naming the known states."""
        try:
            return self.state_names.index(name)
        except ValueError:
            raise KeyError(f"unknown state {name!r}; {self.name} has {self.state_names}") from None

    def input_index(self, name: str) -> int:
        """Index of an input by name."""
        try:
            return self.input_names.index(name)
        except ValueError:
            raise KeyError(f"unknown input {name!r}; {self.name} has {self.input_names}") from None

    @property
    def state_scales(self) -> np.ndarray:
        return np.array([s.scale for s in self.states], dtype=float)

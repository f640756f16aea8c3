"""A protein A chromatography skid that cycles load / wash / elute / regenerate.

The profiles are shapes, not a column model: UV280 rises with breakthrough during load
(logistic), the product elutes as a Gaussian peak, conductivity and pH step with the buffers,
pressure follows flow through the bed (Darcy's law, linear in flow) and creeps up with bed
compression over cycles (engineering assumptions). It gives the lake a second kind of
equipment with a different batch structure (one batch per campaign of cycles).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from biotwin.plant.reactor import Reading

#: Tags: name -> (unit, EURange low, high, description).
SKID_TAGS: dict[str, tuple[str, float, float, str]] = {
    "UV280": ("mAU", 0.0, 3000.0, "UV absorbance at 280 nm"),
    "conductivity": ("mS/cm", 0.0, 200.0, "outlet conductivity"),
    "column_pH": ("-", 2.0, 12.0, "outlet pH"),
    "flow": ("L/h", 0.0, 100.0, "mobile-phase flow"),
    "column_pressure": ("bar", 0.0, 10.0, "column inlet pressure"),
    "cycle": ("-", 0.0, 1000.0, "cycle counter"),
}
#: Phases of a cycle and their length [h].
CYCLE = (("Equilibrate", 0.5), ("Load", 2.0), ("Wash", 0.75), ("Elute", 0.5), ("Regenerate", 0.75))


@dataclass
class ChromatographySkid:
    """A protein A capture skid (``make_step`` / ``measure`` like the bioreactor)."""

    unit_id: str = "CHROM01"
    random_state: int | np.random.Generator | None = None

    def __post_init__(self) -> None:
        self.rng = np.random.default_rng(self.random_state)
        self.t_h = 0.0
        self.cycle_h = sum(d for _, d in CYCLE)
        self.phase = CYCLE[0][0]

    def make_step(self, dt_h: float) -> None:
        """Advance by ``dt_h`` [h]."""
        self.t_h += dt_h

    def _state(self) -> tuple[int, str, float, float]:
        n = int(self.t_h // self.cycle_h)
        tc = self.t_h - n * self.cycle_h
        for name, d in CYCLE:
            if tc < d:
                return n, name, tc, d
            tc -= d
        return n, CYCLE[-1][0], CYCLE[-1][1], CYCLE[-1][1]

    def measure(self, dt_h: float, final: bool = False) -> list[Reading]:
        """Readings of every tag at the current time."""
        n, phase, tc, d = self._state()
        self.phase = phase
        flow = {"Equilibrate": 30.0, "Load": 20.0, "Wash": 30.0, "Elute": 15.0, "Regenerate": 25.0}[phase]
        cond = {"Equilibrate": 15.0, "Load": 14.0, "Wash": 50.0, "Elute": 2.0, "Regenerate": 80.0}[phase]
        ph = {"Equilibrate": 7.4, "Load": 7.2, "Wash": 7.4, "Elute": 3.6, "Regenerate": 12.0 - 0.5}[phase]
        uv = 40.0
        if phase == "Load":
            uv = 400.0 + 600.0 / (1 + math.exp(-(tc - 1.6 * d) * 8))
        elif phase == "Elute":
            uv = 40.0 + 2200.0 * math.exp(-0.5 * ((tc - 0.4 * d) / (0.12 * d)) ** 2)
        pressure = 0.04 * flow * (1 + 0.002 * n)
        r = self.rng
        vals = {"UV280": uv + r.normal(0, 2.0), "conductivity": cond + r.normal(0, 0.1),
                "column_pH": ph + r.normal(0, 0.01), "flow": flow + r.normal(0, 0.05),
                "column_pressure": pressure + r.normal(0, 0.005), "cycle": float(n)}
        return [Reading(k, self.t_h, round(float(v), 3)) for k, v in vals.items()]

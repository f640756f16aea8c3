"""Sensors of the virtual plant: lag, calibration offset, drift, noise and quantisation.

A reading is ``q(gain lag(x) + offset + drift (t - t_drift) + noise)`` where ``lag`` is a
first-order filter with time constant ``tau_h`` (a DO membrane, a pH glass electrode) and
``q`` rounds to the transmitter's resolution. Faults change the parameters while the
sensor runs (:mod:`biotwin.plant.faults`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from biotwin.lake.records import QUALITY_GOOD, QUALITY_UNCERTAIN


@dataclass
class Sensor:
    """One transmitter.

    Parameters
    ----------
    noise_sd : float
        Standard deviation of white measurement noise [unit].
    tau_h : float
        First-order lag time constant [h] (0: none).
    resolution : float
        Quantisation step [unit] (0: none).
    offset : float
        Calibration offset [unit].
    low, high : float
        Measuring range (EURange); readings are clipped there and flagged uncertain.
    drift_per_h, drift_start_h : float
        Drift rate [unit/h] and its start [h].
    gain : float
        Calibration slope [-] (1: none).
    """

    noise_sd: float = 0.0
    tau_h: float = 0.0
    resolution: float = 0.0
    offset: float = 0.0
    low: float = -math.inf
    high: float = math.inf
    drift_per_h: float = 0.0
    drift_start_h: float = math.inf
    gain: float = 1.0
    state: float | None = field(default=None, init=False)

    def make_step(self, truth: float, t_h: float, dt_h: float, rng: np.random.Generator) -> tuple[float, int]:
        """Advance the sensor by ``dt_h`` [h] towards ``truth``; return (reading, OPC quality)."""
        if self.state is None or self.tau_h <= 0:
            self.state = truth
        else:
            a = math.exp(-dt_h / self.tau_h)
            self.state = truth + (self.state - truth) * a
        value = self.gain * self.state + self.offset
        if t_h > self.drift_start_h:
            value += self.drift_per_h * (t_h - self.drift_start_h)
        if self.noise_sd > 0:
            value += self.noise_sd * rng.standard_normal()
        if self.resolution > 0:
            value = round(value / self.resolution) * self.resolution
        quality = QUALITY_GOOD
        if value < self.low or value > self.high:
            value = min(max(value, self.low), self.high)
            quality = QUALITY_UNCERTAIN
        return float(value), quality

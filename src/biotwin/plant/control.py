"""Control loops of the virtual plant: a discrete PID law with anti-windup and a split range.

The PID is the textbook parallel form in velocity-free positional form with
back-calculation anti-windup (Astrom K.J., Hagglund T. (2006) Advanced PID Control, ISA,
ch. 3.5). ``make_step`` follows the do-mpc convention: one call per controller sample.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class PID:
    """A PID controller on a sampled signal.

    Parameters
    ----------
    kp : float
        Proportional gain [output unit / measurement unit].
    ti_h : float
        Integral time [h]; ``inf`` switches the integral action off.
    td_h : float
        Derivative time [h] (on the measurement, so setpoint steps do not kick).
    low, high : float
        Output limits.
    setpoint : float
        Initial setpoint [measurement unit].
    reverse : bool
        True when the output must rise as the measurement rises above the setpoint.
    bias : float
        Output at zero error and zero integral.
    """

    kp: float
    ti_h: float
    td_h: float = 0.0
    low: float = 0.0
    high: float = 1.0
    setpoint: float = 0.0
    reverse: bool = False
    bias: float = 0.0
    integral: float = field(default=0.0, init=False)
    _last_pv: float | None = field(default=None, init=False, repr=False)
    output: float = field(default=0.0, init=False)

    def make_step(self, pv: float, dt_h: float) -> float:
        """Advance one sample of ``dt_h`` [h] with measurement ``pv``; return the output."""
        e = (pv - self.setpoint) if self.reverse else (self.setpoint - pv)
        d = 0.0
        if self.td_h > 0 and self._last_pv is not None and dt_h > 0:
            slope = (pv - self._last_pv) / dt_h
            d = -self.kp * self.td_h * (-slope if self.reverse else slope)
        self._last_pv = pv
        raw = self.bias + self.kp * e + self.integral + d
        out = min(max(raw, self.low), self.high)
        if self.ti_h != float("inf") and self.ti_h > 0:
            # integrate, and bleed off what the limits cut (back-calculation, Tt = Ti)
            self.integral += dt_h * (self.kp * e / self.ti_h + (out - raw) / self.ti_h)
        self.output = out
        return out


def split_range(u: float, split: float = 0.5) -> tuple[float, float]:
    """Split one controller output ``u`` in [0, 1] into two sequential actuators.

    The first actuator goes 0 -> 1 while ``u`` goes 0 -> ``split``; the second then goes
    0 -> 1 while ``u`` goes ``split`` -> 1 (the usual agitation-then-O2 DO cascade).

    Examples
    --------
    >>> split_range(0.25)
    (0.5, 0.0)
    >>> split_range(0.75)
    (1.0, 0.5)
    """
    u = min(max(u, 0.0), 1.0)
    first = min(u / split, 1.0)
    second = max((u - split) / (1.0 - split), 0.0)
    return first, second

"""Faults and degradation of the virtual plant, injectable with an onset time.

A fault is written ``KIND:reactor=1:at=5d[:severity=1.0][:fail=3d]`` on the command line
(times in ``s``, ``min``, ``h`` or ``d``; ``fail`` is the time from onset to functional
failure for progressive faults). Every fault keeps its ground truth (kind, unit, onset,
failure time) so detection methods can be scored against it (:func:`ground_truth_rows`).

Kinds and their effect (engineering assumptions unless cited):

``ph_drift``            pH probe reads high by 0.002 x severity per hour after onset (0.048 pH/day,
                        a fast-ageing glass electrode; source and reasoning at
                        :data:`biotwin.plant.reactor.PH_DRIFT_PER_H`); the controller then drives
                        the true pH down; the at-line pH of the sample shows it.
``do_fouling``          DO membrane lag grows from 1 min to 30 min x severity over ``fail``.
``temp_drift``          temperature sensor reads 0.02 degC/h x severity high.
``feed_pump_wear``      delivered feed falls short of the command, up to 40% x severity at ``fail``.
``bearing_wear``        agitator vibration and motor current rise exponentially towards
                        ISO 10816 zone D (11 mm/s) at ``fail``; the agitator then stops.
``contamination``       a bacterial contaminant seeded at 1e3 cells/mL x severity grows with a
                        42-min doubling time; its O2 uptake, CO2 and acid (acetate overflow) add
                        to the culture's (constants in :mod:`biotwin.plant.reactor`).
``base_pump_failure``   the base pump delivers nothing after onset (nothing changes until the pH
                        loop asks it for base; the plant records when the base it did not get
                        reaches the balance noise). Its totaliser still counts the command; the
                        base-bottle balance stops.
``missed_feed``         the first glucose/feed bolus after onset is not given.
``co2_accumulation``    CO2 stripping falls by 50 % x severity at once (a blocked vent filter or
                        sparger), then to 80 % at ``fail``: dCO2 rises, the off-gas CER dips, pH
                        falls.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from biotwin.errors import BiotwinError

FAULT_KINDS = (
    "ph_drift", "do_fouling", "temp_drift", "feed_pump_wear", "bearing_wear",
    "contamination", "base_pump_failure", "missed_feed", "co2_accumulation",
)
#: Default time from onset to functional failure [h] of progressive faults.
DEFAULT_FAIL_H = {"do_fouling": 72.0, "feed_pump_wear": 120.0, "bearing_wear": 96.0,
                  "contamination": 24.0, "co2_accumulation": 48.0}

_DURATION = re.compile(r"^\s*([0-9.eE+-]+)\s*(s|sec|min|m|h|d|day|days)?\s*$")
_TO_H = {"s": 1 / 3600, "sec": 1 / 3600, "min": 1 / 60, "m": 1 / 60, "h": 1.0, "d": 24.0,
         "day": 24.0, "days": 24.0, None: 1.0}


def parse_duration_h(text: str) -> float:
    """Parse ``"90s"``, ``"5min"``, ``"12h"`` or ``"5d"`` into hours (a bare number is hours).

    Examples
    --------
    >>> parse_duration_h("5d"), parse_duration_h("90s")
    (120.0, 0.025)
    """
    m = _DURATION.match(str(text))
    if m is None:
        raise BiotwinError(f"cannot read duration {text!r}; expected e.g. 90s, 5min, 12h, 5d")
    return float(m.group(1)) * _TO_H[m.group(2)]


@dataclass(frozen=True)
class Fault:
    """One injected fault.

    Attributes
    ----------
    kind : str
        One of :data:`FAULT_KINDS`.
    reactor : int
        1-based reactor number.
    onset_h : float
        Onset in culture time [h].
    severity : float
        Scale of the effect (1 = nominal).
    fail_h : float
        Time from onset to functional failure [h] (``inf`` if the fault never fails the unit;
        0 for abrupt faults).
    """

    kind: str
    reactor: int
    onset_h: float
    severity: float = 1.0
    fail_h: float = math.inf

    @property
    def failure_time_h(self) -> float:
        """Culture time of functional failure [h]."""
        return self.onset_h + self.fail_h

    def progress(self, t_h: float) -> float:
        """Fraction of the way from onset (0) to failure (1) at ``t_h``; 0 before onset."""
        if t_h < self.onset_h:
            return 0.0
        if not math.isfinite(self.fail_h) or self.fail_h <= 0:
            return 1.0
        return min((t_h - self.onset_h) / self.fail_h, 1.0)

    def active(self, t_h: float) -> bool:
        """Whether the fault has started at ``t_h``."""
        return t_h >= self.onset_h


def parse_fault(text: str) -> Fault:
    """Parse ``KIND:reactor=1:at=5d[:severity=1][:fail=3d]``.

    Examples
    --------
    >>> parse_fault("ph_drift:reactor=2:at=5d")
    Fault(kind='ph_drift', reactor=2, onset_h=120.0, severity=1.0, fail_h=inf)
    """
    parts = [p.strip() for p in text.split(":") if p.strip()]
    if not parts or parts[0] not in FAULT_KINDS:
        raise BiotwinError(f"unknown fault {text!r}; kinds: {', '.join(FAULT_KINDS)}")
    kind = parts[0]
    opts: dict[str, str] = {}
    for p in parts[1:]:
        if "=" not in p:
            raise BiotwinError(f"fault {text!r}: {p!r} is not key=value")
        k, v = p.split("=", 1)
        opts[k.strip().lower()] = v.strip()
    unknown = set(opts) - {"reactor", "at", "severity", "fail"}
    if unknown:
        raise BiotwinError(f"fault {text!r}: unknown option(s) {sorted(unknown)}; "
                           "expected reactor, at, severity, fail")
    fail = parse_duration_h(opts["fail"]) if "fail" in opts else DEFAULT_FAIL_H.get(kind, math.inf)
    if kind in ("base_pump_failure", "missed_feed") and "fail" not in opts:
        fail = 0.0
    return Fault(kind=kind, reactor=int(opts.get("reactor", "1")),
                 onset_h=parse_duration_h(opts.get("at", "0h")),
                 severity=float(opts.get("severity", "1")), fail_h=fail)


def ground_truth_rows(
    faults: list[Fault], unit_of: dict[int, str], batch_of: dict[int, str]
) -> list[dict[str, object]]:
    """Ground truth of the injected faults: kind, unit, batch, onset and failure [h]."""
    return [{"kind": f.kind, "unit": unit_of.get(f.reactor, f"BR{f.reactor:02d}"),
             "batch_id": batch_of.get(f.reactor, ""), "onset_h": f.onset_h,
             "failure_h": f.failure_time_h if math.isfinite(f.failure_time_h) else None,
             "severity": f.severity} for f in faults]

"""The virtual plant: several bioreactors and a chromatography skid on one plant clock.

:class:`VirtualPlant` builds the units with batch-to-batch variability (parameters drawn
from the parameter set's uncertainty, seeding density, raw-material lot) and injected
faults, and advances them together with ``make_step(dt_h)``, returning what the plant
publishes: (unit, tag, culture time, value, quality) readings.
"""

from __future__ import annotations

import copy
import math
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

from biotwin.models import cho
from biotwin.parameters import get_parameter_set
from biotwin.plant.faults import Fault
from biotwin.plant.reactor import OFFLINE_TAGS, ONLINE_TAGS, Reading, VirtualBioreactor
from biotwin.plant.skid import SKID_TAGS, ChromatographySkid
from biotwin.recipes import load_recipe
from biotwin.recipes.recipe import compile_recipe

SITE, UPSTREAM, DOWNSTREAM = "Site1", "Upstream", "Downstream"
DEFAULT_RECIPE = Path(__file__).resolve().parent.parent / "recipes" / "data" / "kotidis2019_control.yaml"


@dataclass(frozen=True)
class TagSpec:
    """One published variable: its unit (equipment), name, unit of measure and range."""

    unit_id: str
    area: str
    name: str
    eu: str
    low: float
    high: float
    description: str


@dataclass
class UnitInfo:
    """Batch context of one unit (ISA-88): equipment kind, batch id, phase, batch start."""

    unit_id: str
    area: str
    kind: str
    batch_id: str
    start_h: float = 0.0
    phase: str = "Idle"
    start_utc: datetime | None = None


@dataclass
class VirtualPlant:
    """Bioreactors plus one chromatography skid, with variability and faults.

    Parameters
    ----------
    n_reactors : int
        Number of bioreactors (``BR01`` ...).
    duration_h : float
        Length of the batches [h].
    faults : list of Fault
    random_state : int
        Seed: same seed, same plant.
    start_utc : datetime, optional
        Wall-clock time of culture time 0 (source timestamps are ``start_utc + t``). Left
        out, the clock is provisional (the build time) until :meth:`start_clock` sets it
        to the moment the plant starts stepping.
    skid : bool
        Include the chromatography skid ``CHROM01``.
    """

    n_reactors: int = 2
    duration_h: float = 288.0
    faults: list[Fault] = field(default_factory=list)
    random_state: int = 0
    start_utc: datetime | None = None
    skid: bool = True
    volume_L: float = 2.0
    variability: float = 0.5

    def __post_init__(self) -> None:
        self.clock_given = self.start_utc is not None
        if self.start_utc is None:
            self.start_utc = datetime.now(UTC).replace(microsecond=0)
        rng = np.random.default_rng(self.random_state)
        model = cho.CHO_KOTIDIS2019
        recipe = load_recipe(DEFAULT_RECIPE)
        cr = compile_recipe(recipe, model)
        pset = get_parameter_set("cho_t127_kotidis2019")
        draws = pset.sample(max(self.n_reactors, 1), random_state=rng, scale=self.variability)
        stamp = self.start_utc.strftime("%Y%m%dT%H%M%S")
        self.units: dict[str, UnitInfo] = {}
        self.reactors: dict[str, VirtualBioreactor] = {}
        for i in range(self.n_reactors):
            uid = f"BR{i + 1:02d}"
            self.reactors[uid] = VirtualBioreactor(
                uid, draws[i], cr, volume_L=self.volume_L,
                seed_factor=float(np.exp(rng.normal(0, 0.15))),
                lot_factor=float(np.exp(rng.normal(0, 0.05))),
                faults=[f for f in self.faults if f.reactor == i + 1],
                random_state=int(rng.integers(2**31)))
            self.units[uid] = UnitInfo(uid, UPSTREAM, "bioreactor", f"{uid}-{stamp}-s{self.random_state}",
                                         start_utc=self.start_utc)
        self.skid_unit: ChromatographySkid | None = None
        if self.skid:
            self.skid_unit = ChromatographySkid("CHROM01", random_state=int(rng.integers(2**31)))
            self.units["CHROM01"] = UnitInfo("CHROM01", DOWNSTREAM, "chromatography_skid",
                                             f"CHROM01-{stamp}-s{self.random_state}",
                                             start_utc=self.start_utc)
        self.t_h = 0.0
        for u in self.units.values():
            u.phase = "Inoculation" if u.kind == "bioreactor" else "Equilibrate"

    # ------------------------------------------------------------------ description
    def tag_specs(self) -> list[TagSpec]:
        """Every published variable, unit by unit."""
        specs = []
        for uid, info in self.units.items():
            tags = {**ONLINE_TAGS, **OFFLINE_TAGS} if info.kind == "bioreactor" else SKID_TAGS
            specs += [TagSpec(uid, info.area, name, eu, lo, hi, desc) for name, (eu, lo, hi, desc) in tags.items()]
        return specs

    def time_utc(self, t_h: float) -> datetime:
        """Source timestamp of culture time ``t_h`` [h] (rounded to the microsecond)."""
        assert self.start_utc is not None
        return self.start_utc + timedelta(microseconds=round(t_h * 3.6e9))

    def start_clock(self, start_utc: datetime | None = None) -> datetime:
        """Set the wall-clock time of culture time 0 (default: now), before the first step.

        A plant paced in real time must start its clock when it starts stepping, not when it
        was built: otherwise every value is published the build (and server start) time
        after its source timestamp. Batch ids keep the build time stamp.
        """
        if self.t_h > 0:
            raise RuntimeError(f"the plant clock runs already (t = {self.t_h} h)")
        self.start_utc = start_utc or datetime.now(UTC)
        for u in self.units.values():
            u.start_utc = self.start_utc
        return self.start_utc

    def warm_up(self) -> float:
        """Compile the kernels on a throwaway copy of one reactor; return the time taken [s].

        The first step of a reactor compiles its kernels (seconds); done here, before the
        clock starts, the first published values are not late.
        """
        t0 = time.perf_counter()
        if self.reactors:
            r = copy.deepcopy(next(iter(self.reactors.values())))
            r.make_step(1 / 3600)
            r.measure(1 / 3600)
        return time.perf_counter() - t0

    @property
    def finished(self) -> bool:
        """Whether the batches reached their duration."""
        return self.t_h >= self.duration_h - 1e-9

    # ------------------------------------------------------------------ stepping
    def make_step(self, dt_h: float) -> list[tuple[str, Reading]]:
        """Advance every unit by ``dt_h`` [h]; return the (unit, reading) pairs published now."""
        self.t_h += dt_h
        final = self.finished
        out: list[tuple[str, Reading]] = []
        for uid, r in self.reactors.items():
            r.make_step(dt_h)
            info = self.units[uid]
            info.phase = ("Complete" if final else "Inoculation" if r.t_h < 1 else
                          "Growth" if r.t_h < 96 else "Production")
            out += [(uid, rd) for rd in r.measure(dt_h, final=final)]
        if self.skid_unit is not None:
            self.skid_unit.make_step(dt_h)
            out += [("CHROM01", rd) for rd in self.skid_unit.measure(dt_h)]
            self.units["CHROM01"].phase = "Complete" if final else self.skid_unit.phase
        return out

    def n_steps(self, dt_h: float) -> int:
        """Number of steps of ``dt_h`` in the batch."""
        return math.ceil(self.duration_h / dt_h - 1e-9)

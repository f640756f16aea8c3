"""Live mode: the twin follows a batch in the lake as its samples arrive.

:class:`LiveTwin` reads the batch's recipe and samples from the lake, assimilates every
sample it has not seen (late ones too: the estimator rewinds and replays), forecasts to
harvest and writes both to the lake's ``predictions`` table, tagged with the model id and
version. :meth:`LiveTwin.poll` does one round; :meth:`LiveTwin.run` polls until harvest.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import pandas as pd

import biotwin
from biotwin.lake import Lake
from biotwin.parameters import ParameterSet, get_parameter_set
from biotwin.recipes import recipe_from_culture
from biotwin.service.cultures import culture_from_lake
from biotwin.twin.estimators import OBSERVED, EnsembleEstimator, make_estimator
from biotwin.twin.forecast import forecast

MODEL_ID = "biotwin.twin"


class LiveTwin:
    """Follow one lake batch; write estimates and forecasts as predictions.

    Parameters
    ----------
    lake : Lake
    batch_id : str
    params : str or ParameterSet
    estimator : str
        ``"enkf"`` or ``"pf"``.
    n_members : int
    random_state : int or None
    model_version : str, optional
        Default ``<biotwin version>+<estimator>-<parameter set>``.
    specs : mapping, optional
        Harvest specs for the forecast's probability.
    """

    def __init__(self, lake: Lake, batch_id: str, params: str | ParameterSet = "cho_t127_kotidis2019",
                 estimator: str = "enkf", n_members: int = 512, random_state: int | None = 0,
                 model_version: str | None = None, specs: dict[str, tuple[float | None, float | None]] | None = None,
                 **options: Any) -> None:
        self.lake = lake
        self.batch_id = batch_id
        self.params = params if isinstance(params, ParameterSet) else get_parameter_set(params)
        self.estimator = estimator
        self.n_members = n_members
        self.random_state = random_state
        self.model_version = model_version or f"{biotwin.__version__}+{estimator}-{self.params.name}"
        self.specs = specs
        self.options = options
        self.seen_: set[float] = set()
        self.latency_s_: list[float] = []
        self.est_: EnsembleEstimator | None = None

    @property
    def model_id(self) -> str:
        return f"{MODEL_ID}.{self.estimator}"

    def _setup(self) -> None:
        ds = culture_from_lake(self.lake, self.batch_id)
        self.recipe_ = recipe_from_culture(ds)
        self.est_ = make_estimator(self.estimator, self.params, self.recipe_, n_members=self.n_members,
                                   random_state=self.random_state, **self.options)

    def _samples(self) -> pd.DataFrame:
        s = self.lake.samples(self.batch_id)
        s = s[s["assay"].isin(OBSERVED)]
        return s

    def poll(self) -> list[dict[str, Any]]:
        """Assimilate every new sample time; returns one record per update (``t_h``,
        ``latency_s``, ``rows`` written)."""
        if self.est_ is None:
            self._setup()
        est = self.est_
        assert est is not None
        s = self._samples()
        new_times = sorted(set(s["sample_time_h"].astype(float)) - self.seen_)
        done = []
        for t in new_times:
            start = time.perf_counter()
            rows = s[s["sample_time_h"] == t]
            y = {a: v for a, v in zip(rows["assay"], rows["value"], strict=True)}
            sd = {a: (v if v is not None and np.isfinite(v) else np.nan)
                  for a, v in zip(rows["assay"], rows["std"], strict=True)}
            e = est.make_step(y, t, sd)
            f = forecast(est, specs=self.specs, n_points=2)
            n = self._write(e, f)
            self.seen_.add(t)
            lat = time.perf_counter() - start
            self.latency_s_.append(lat)
            done.append({"t_h": t, "latency_s": lat, "rows": n})
        return done

    def _write(self, e: Any, f: Any) -> int:
        records = []
        for s in OBSERVED:
            i = e.states.index(s)
            unit = self.est_.model_.states[i].unit if self.est_ is not None else ""
            records.append({"target": s, "time_h": e.t, "value": e.mean[i], "lower": e.lo[i],
                            "upper": e.hi[i], "unit": unit})
        for col, unit in (("mAb", "mg/L"), ("GI", "-"), ("Xv", "cells/L")):
            fin = f.final(col)
            records.append({"target": f"harvest_{col}", "time_h": e.t, "value": fin["mean"], "lower": fin["lo"],
                            "upper": fin["hi"], "unit": unit})
        for k, p in f.spec_probability.items():
            records.append({"target": f"p_spec_{k}", "time_h": e.t, "value": p, "lower": None, "upper": None,
                            "unit": "-"})
        frame = pd.DataFrame(records)
        frame.insert(0, "batch_id", self.batch_id)
        frame.insert(0, "model_version", self.model_version)
        frame.insert(0, "model_id", self.model_id)
        return self.lake.add_records("predictions", frame,
                                     why=f"twin estimate and harvest forecast at {e.t:g} h")

    def run(self, poll_s: float = 1.0, max_polls: int | None = None, until_h: float | None = None) -> list[dict]:
        """Poll every ``poll_s`` seconds until ``max_polls`` rounds or a sample at or after
        ``until_h`` (default the recipe's harvest) was assimilated."""
        out: list[dict] = []
        k = 0
        while max_polls is None or k < max_polls:
            out += self.poll()
            k += 1
            end = until_h if until_h is not None else self.recipe_.duration_h
            if self.est_ is not None and self.est_.t_ >= end - 1e-9:
                break
            if max_polls is None or k < max_polls:
                time.sleep(poll_s)
        return out

"""Open-loop validation of a model and parameter set against a measured culture."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from biotwin.datasets import MEASURED_STATES, CultureDataset, load_culture
from biotwin.models.base import Model
from biotwin.parameters import ParameterSet, get_parameter_set
from biotwin.recipes import recipe_from_culture
from biotwin.simulation import SimulationResult, simulate


def fit_metrics(measured: np.ndarray, simulated: np.ndarray) -> dict[str, float]:
    """RMSE (same unit as the data) and coefficient of determination R2 [-].

    ``R2 = 1 - SS_res / SS_tot`` over the finite measured points (NaN ignored).
    """
    mask = np.isfinite(measured) & np.isfinite(simulated)
    m = measured[mask]
    s = simulated[mask]
    if m.size == 0:
        return {"rmse": float("nan"), "r2": float("nan"), "n": 0}
    ss_res = float(np.sum((m - s) ** 2))
    ss_tot = float(np.sum((m - m.mean()) ** 2))
    return {
        "rmse": float(np.sqrt(ss_res / m.size)),
        "r2": 1.0 - ss_res / ss_tot if ss_tot > 0 else float("nan"),
        "n": int(m.size),
    }


@dataclass(frozen=True)
class Validation:
    """The outcome of :func:`validate`: per-state metrics and the two trajectories."""

    dataset: CultureDataset
    params: ParameterSet
    at_samples: SimulationResult
    dense: SimulationResult
    states: dict[str, dict[str, float]]

    def summary(self) -> dict[str, Any]:
        """The JSON of ``biotwin validate``: units cells/L, mg/L and mM."""
        meas = self.dataset.measurements
        final_meas = float(meas["mAb"].dropna().iloc[-1])
        final_sim = float(self.at_samples["mAb"][-1])
        return {
            "dataset": self.dataset.name,
            "params": self.params.name,
            "model": self.dense.model.name,
            "units": dict(MEASURED_STATES),
            "states": self.states,
            "peak_Xv": float(np.max(self.dense["Xv"])),
            "final_mAb": final_sim,
            "peak_Xv_measured": float(np.nanmax(meas["Xv"])),
            "final_mAb_measured": final_meas,
            "final_mAb_rel_err": (final_sim - final_meas) / final_meas,
            "final_time_h": float(self.at_samples.t[-1]),
        }


def validate(
    dataset: str | Path | CultureDataset,
    params: str | ParameterSet = "cho_t127_kotidis2019",
    model: Model | None = None,
) -> Validation:
    """Simulate a culture's own recipe open loop (no fitting) and compare every state.

    Parameters
    ----------
    dataset : path or CultureDataset
        A shared culture folder.
    params : name, path or ParameterSet
    model : Model, optional
        Defaults to the parameter set's model.
    """
    ds = dataset if isinstance(dataset, CultureDataset) else load_culture(dataset)
    ps = params if isinstance(params, ParameterSet) else get_parameter_set(params)
    model = model or ps.get_model()
    recipe = recipe_from_culture(ds)
    if recipe.model != model.name:
        from biotwin.models import convert_recipe

        recipe = convert_recipe(recipe, model)
    t = ds.measurements["time_h"].to_numpy()
    at_samples = simulate(model, ps, recipe, t_out=t)
    dense = simulate(model, ps, recipe)
    states = {
        name: fit_metrics(ds.measurements[name].to_numpy(dtype=float), at_samples[name])
        for name in MEASURED_STATES
        if name in ds.measurements
    }
    return Validation(ds, ps, at_samples, dense, states)

"""Figures of the twin (matplotlib, Agg): estimate bands, forecast fans, scenario ranking."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from biotwin.twin.forecast import Forecast
    from biotwin.twin.replay import TrackResult
    from biotwin.twin.scenarios import ScenarioResult

_UNITS = {"Xv": "cells/L", "mAb": "mg/L"}


def _plt():  # type: ignore[no-untyped-def]
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_track(result: TrackResult, path: str | Path) -> Path:
    """Posterior mean and 90 % band of every measured state against the measurements,
    the one-step-ahead predictions, and the harvest-titre forecasts made along the way."""
    plt = _plt()
    obs = result.observed
    fig, axes = plt.subplots(3, 3, figsize=(13, 10))
    for ax, name in zip(axes.flat, obs, strict=False):
        i = result.estimates[0].states.index(name)
        lo = np.array([e.lo[i] for e in result.estimates])
        hi = np.array([e.hi[i] for e in result.estimates])
        j = obs.index(name)
        ax.fill_between(result.times, lo, hi, alpha=0.3, label="90% band")
        ax.plot(result.times, result.posterior[:, j], "-", label="estimate")
        ax.plot(result.times, result.prior[:, j], "x", label="one step ahead")
        ax.plot(result.times, result.measured[:, j], "ko", ms=4, label="measured")
        ax.set_title(f"{name} [{_UNITS.get(name, 'mM')}]")
        ax.set_xlabel("t [h]")
    ax = axes.flat[len(obs)] if len(obs) < 9 else axes.flat[-1]
    fc = result.forecasts
    if fc:
        t = [f["from_h"] for f in fc]
        ax.fill_between(t, [f["final_mAb_lo"] for f in fc], [f["final_mAb_hi"] for f in fc], alpha=0.3)
        ax.plot(t, [f["final_mAb_pred"] for f in fc], "-o", ms=3, label="forecast")
        ax.axhline(result.final_mab_measured(), color="k", ls="--", label="measured")
        ax.set_title("harvest mAb forecast [mg/L]")
        ax.set_xlabel("forecast made at t [h]")
        ax.legend(fontsize=7)
    used = len(obs) + (1 if fc else 0)
    for extra in list(axes.flat)[used:]:
        if not extra.has_data():
            extra.axis("off")
    axes.flat[0].legend(fontsize=7)
    fig.suptitle(f"{result.dataset}: {result.estimator.name}, {result.estimator.n_members} members")
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def plot_forecast(fc: Forecast, path: str | Path, names: Sequence[str] = ("Xv", "mAb", "Glc", "GI"),
                  measured: dict[str, tuple[np.ndarray, np.ndarray]] | None = None) -> Path:
    """Forecast fans (5-95 %, 25-75 %, mean) of some columns, with measurements if given."""
    plt = _plt()
    fig, axes = plt.subplots(1, len(names), figsize=(4 * len(names), 3.5))
    for ax, name in zip(np.atleast_1d(axes), names, strict=True):
        for q, a in (((0.05, 0.95), 0.25), ((0.25, 0.75), 0.4)):
            lo, hi = fc.band(name, q)
            ax.fill_between(fc.t, lo, hi, alpha=a, color="C0")
        ax.plot(fc.t, fc.mean(name), color="C0")
        if measured and name in measured:
            ax.plot(*measured[name], "ko", ms=4)
        ax.axvline(fc.t0, color="grey", ls=":")
        ax.set_title(name)
        ax.set_xlabel("t [h]")
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def plot_scenarios(results: Sequence[ScenarioResult], path: str | Path, objective: str = "mAb") -> Path:
    """Predicted harvest value of each action with its 90 % band, best on top."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(7, 0.45 * len(results) + 1.2))
    y = np.arange(len(results))[::-1]
    means = np.array([r.mean for r in results])
    err = np.array([[r.mean - r.lo for r in results], [r.hi - r.mean for r in results]])
    ax.errorbar(means, y, xerr=err, fmt="o", capsize=3)
    ax.set_yticks(y, [r.action.name for r in results])
    ax.set_xlabel(f"predicted harvest {objective}")
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path

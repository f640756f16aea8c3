"""Plots (matplotlib, Agg): monitor statistics, contributions, soft-sensor predictions and validation, golden
envelope."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd


def _plt() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def family_maxima(trajectory: pd.DataFrame) -> pd.DataFrame:
    """Each chart family's statistic over its limit: the one-chart families (``T2``, ``SPE``,
    ``MPLS-T2``) and, for the per-variable families (``value(...)``, ``residual(...)``,
    ``trend(...)``, ...), the largest over the variables."""
    out = {c: trajectory[c] for c in trajectory.columns if c != "time_h" and "(" not in c}
    families = dict.fromkeys(c.split("(", 1)[0] for c in trajectory.columns if "(" in c and c.endswith(")"))
    for fam in families:
        out[fam] = trajectory[[c for c in trajectory.columns if c.startswith(fam + "(")]].max(axis=1)
    return pd.DataFrame(out, index=trajectory.index)


def plot_monitor(trajectory: pd.DataFrame, result: dict[str, Any], path: str | Path) -> Path:
    """Every chart family over its limit (T2, SPE, the largest per-variable ratio of each other
    family) and the first alarm's contributions."""
    plt = _plt()
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    t = trajectory["time_h"]
    for fam, v in family_maxima(trajectory).items():
        label = f"{fam} / limit" if fam in ("T2", "SPE") else f"max {fam} / limit"
        axes[0].semilogy(t, v.clip(lower=1e-3), label=label)
    axes[0].axhline(1.0, color="k", ls="--", lw=1)
    if result.get("first_alarm_h") is not None:
        axes[0].axvline(result["first_alarm_h"], color="r", lw=1)
    axes[0].set_xlabel("time [h]")
    axes[0].legend()
    if result.get("alarms"):
        c = result["alarms"][0]["contributions"]
        axes[1].barh(list(c)[::-1], list(c.values())[::-1])
        first = result["alarms"][0]
        axes[1].set_title(f"contributions to {first['statistic']} at {first['time_h']:.1f} h")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return Path(path)


def plot_softsensor(pred: pd.DataFrame, path: str | Path, measured: pd.Series | None = None,
                    label: str = "prediction") -> Path:
    """Prediction with its conformal band, rows outside the domain marked, measurements if given."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(7, 4))
    ax.fill_between(pred["time_h"], pred["lower"], pred["upper"], alpha=0.3, label="interval")
    ax.plot(pred["time_h"], pred["prediction"], label=label)
    out = ~pred["in_domain"].astype(bool)
    ax.plot(pred["time_h"][out], pred["prediction"][out], "rx", label="outside domain")
    if measured is not None:
        ax.plot(pred["time_h"], measured, "k.", ms=3, label="measured")
    ax.set_xlabel("time [h]")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return Path(path)


def plot_validation(rows: pd.DataFrame, summary: dict[str, Any], path: str | Path) -> Path:
    """A soft sensor's validation: predicted against assayed (the baseline PLS beside it, the
    intervals as bars, rows outside the domain marked) and the errors over culture time."""
    plt = _plt()
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.5))
    y, p = rows["assay"].to_numpy(float), rows["prediction"].to_numpy(float)
    ax = axes[0]
    ax.errorbar(y, p, yerr=[p - rows["lower"].to_numpy(float), rows["upper"].to_numpy(float) - p], fmt="o", ms=3,
                lw=0.5, alpha=0.6, label=f"soft sensor (RMSE {summary['rmse']:.3g})")
    base = summary.get("baseline")
    if base is not None:
        ax.plot(y, rows["baseline"], "s", ms=3, mfc="none", alpha=0.6,
                label=f"{base['name']} (RMSE {base['rmse']:.3g})")
    out = ~rows["in_domain"].astype(bool).to_numpy()
    ax.plot(y[out], p[out], "rx", label="outside domain")
    lo, hi = float(min(y.min(), p.min())), float(max(y.max(), p.max()))
    ax.plot([lo, hi], [lo, hi], "k--", lw=1)
    ax.set_xlabel(f"assay {summary['target']}")
    ax.set_ylabel("prediction")
    ax.legend(fontsize=8)
    ax = axes[1]
    for name, g in rows.groupby("batch_id", sort=False):
        ax.plot(g["time_h"], g["prediction"] - g["assay"], ".-", lw=0.5, ms=3, label=str(name))
    ax.axhline(0.0, color="k", lw=1)
    ax.set_xlabel("time [h]")
    ax.set_ylabel("prediction - assay")
    if rows["batch_id"].nunique() <= 12:
        ax.legend(fontsize=7)
    fig.tight_layout()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return Path(path)


def plot_monitor_validation(summary: dict[str, Any], path: str | Path) -> Path:
    """A monitor's validation, one line per batch: each faulty batch from its onset (|) to the
    alarm that found it (o), its deadline (x) and an alarm before the onset (red dot); each normal
    batch with its first alarm (red dot), if any."""
    plt = _plt()
    normal = summary.get("normal", {}).get("batches", [])
    faulty = summary.get("faulty", {}).get("batches", [])
    rows = [("faulty", r) for r in faulty] + [("normal", r) for r in normal]
    fig, ax = plt.subplots(figsize=(9, max(2.5, 0.3 * len(rows) + 1.2)))
    for y, (part, r) in enumerate(rows):
        if part == "faulty":
            onset, found = r.get("onset_h"), r.get("detected_h")
            if onset is not None:
                ax.plot([onset], [y], "k|", ms=12)
                if found is not None:
                    ax.plot([onset, found], [y, y], "-", color="tab:blue", lw=2)
            if found is not None:
                ax.plot([found], [y], "o", color="tab:blue", ms=5)
            if r.get("deadline_h") is not None:
                ax.plot([r["deadline_h"]], [y], "x", color="tab:orange", ms=7)
            if r.get("alarm_before_onset"):
                ax.plot([r["first_alarm_h"]], [y], ".", color="tab:red", ms=8)
        elif r.get("first_alarm_h") is not None:
            ax.plot([r["first_alarm_h"]], [y], ".", color="tab:red", ms=8)
    ax.set_yticks(range(len(rows)))
    ax.set_yticklabels([f"{r['batch_id']}" + (f" ({r['fault']})" if r.get("fault") else "") for _, r in rows],
                       fontsize=7)
    ax.invert_yaxis()
    ax.set_xlabel("time [h]")
    ax.set_title("onset | ... o alarm that found it, x deadline, red: alarm before onset or on a normal batch",
                 fontsize=8)
    fig.tight_layout()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return Path(path)


def plot_envelope(envelope: pd.DataFrame, variable: str, path: str | Path, batch: pd.DataFrame | None = None,
                  axis: Any = None) -> Path:
    """The golden envelope of one variable, with a batch on top if given: on culture time, or on
    ``axis`` (the batch's values of the envelope's indicator, one per row) when given."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(7, 4))
    x = envelope.iloc[:, 0]
    ax.fill_between(x, envelope[f"{variable} lower"], envelope[f"{variable} upper"], alpha=0.3, label="golden band")
    ax.plot(x, envelope[variable], "k-", label="golden mean")
    if batch is not None:
        ax.plot(batch["time_h"] if axis is None else axis, batch[variable], "r-", lw=1, label="batch")
    ax.set_xlabel(envelope.columns[0])
    ax.set_ylabel(variable)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return Path(path)

"""Probabilistic design space: P(all specs met) over parameter uncertainty, on a factor grid.

The design space is the set of factor settings where ``P >= threshold`` (ICH Q8(R2)
design space, in the Bayesian reading of Peterson J.J. (2008) J Biopharm Stat 18:959-975,
doi:10.1080/10543400802278197).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from biotwin.design.campaign import Campaign, PointResults
from biotwin.design.designs import full_factorial, to_factor_units
from biotwin.design.executor import Executor


@dataclass
class DesignSpace:
    """A grid campaign's result.

    ``levels[i]`` are the grid values of factor ``i``; ``probability`` has shape
    ``(grid,) * n_factors`` (first factor along the first axis).
    """

    campaign: Campaign
    levels: list[np.ndarray]
    points: np.ndarray
    results: PointResults
    threshold: float

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(len(lv) for lv in self.levels)

    @property
    def probability(self) -> np.ndarray:
        return self.results.p_spec.reshape(self.shape)

    @property
    def fraction(self) -> float:
        """Share of the grid inside the design space [-]."""
        return float(np.mean(self.results.p_spec >= self.threshold))

    @property
    def n_simulations(self) -> int:
        return int(self.points.shape[0] * max(self.campaign.n_mc, 1))

    def table(self) -> pd.DataFrame:
        """One row per grid point: factor values, P(all specs), P per spec, mean and 5/95% of
        every quantity, and whether the point is in the design space."""
        res = self.results
        cols: dict[str, np.ndarray] = {f.name: self.points[:, j] for j, f in enumerate(self.campaign.factors)}
        cols["p_spec"] = res.p_spec
        for j, s in enumerate(res.specs):
            cols[f"P({s})"] = res.p_each[:, j]
        for q in res.quantities:
            cols[f"{q}_mean"] = res.column(q, "mean")
            cols[f"{q}_q05"] = res.column(q, "q05")
            cols[f"{q}_q95"] = res.column(q, "q95")
        cols["n_failed"] = res.n_failed
        cols["in_design_space"] = res.p_spec >= self.threshold
        return pd.DataFrame(cols)

    def plot(self, path: str | Path) -> Path:
        """Heatmap of P with the threshold contour (2 factors; 1 factor: a curve)."""
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        names = self.campaign.factor_names
        fig, ax = plt.subplots(figsize=(6.4, 5.0))
        if len(self.levels) == 1:
            ax.plot(self.levels[0], self.probability, marker="o")
            ax.axhline(self.threshold, color="k", ls="--", lw=1)
            ax.set_xlabel(names[0])
            ax.set_ylabel("P(all specs met)")
        else:
            p = self.probability
            if p.ndim > 2:  # marginalise extra factors by their worst case
                p = p.reshape(p.shape[0], p.shape[1], -1).min(axis=2)
            x, y = self.levels[1], self.levels[0]
            mesh = ax.pcolormesh(x, y, p, vmin=0, vmax=1, cmap="viridis", shading="nearest")
            fig.colorbar(mesh, ax=ax, label="P(all specs met)")
            if 0 < p.min() < self.threshold <= p.max() or (p.min() < self.threshold < p.max()):
                cs = ax.contour(x, y, p, levels=[self.threshold], colors="w", linewidths=2)
                ax.clabel(cs, fmt={self.threshold: f"P = {self.threshold:g}"})
            ax.set_xlabel(names[1])
            ax.set_ylabel(names[0])
        ax.set_title("; ".join(self.results.specs) or "design space", fontsize=9)
        fig.tight_layout()
        path = Path(path)
        fig.savefig(path, dpi=110)
        plt.close(fig)
        return path


def design_space(campaign: Campaign, grid: int = 20, threshold: float = 0.95, *, executor: Executor | None = None,
                 cache_dir: str | Path | None = None) -> DesignSpace:
    """P(all specs met) on a ``grid``-level full factorial of the campaign's factors.

    Parameters
    ----------
    campaign : Campaign
    grid : int
        Levels per factor.
    threshold : float
        Probability [-] a setting needs to be in the design space.
    executor : Executor, optional
        In-process by default.
    cache_dir : path, optional
        Chunk cache (resumable runs).
    """
    levels = [f.levels(grid) for f in campaign.factors]
    points = to_factor_units(full_factorial([grid] * len(campaign.factors)), campaign.factors)
    ex = executor or Executor()
    if ex.kind != "inprocess" and ex.client is None:
        with ex:
            res = ex.run(campaign, points, cache_dir=cache_dir)
    else:
        res = ex.run(campaign, points, cache_dir=cache_dir)
    return DesignSpace(campaign, levels, points, res, threshold)

"""Shared by the benchmarks: the virtual-plant campaign, generated once (in $BIOTWIN_CAMPAIGN or the temp dir)."""

import os
import tempfile
import time
from pathlib import Path

from biotwin.plant.campaign import CampaignSpec, load_campaign, run_campaign

OFFLINE = ["Xv [cells/L]", "viability [%]", "Glc [mM]", "Lac [mM]", "Amm [mM]", "mAb [mg/L]"]


def campaign(seed: int = 0) -> tuple[list[dict], float]:
    """Sidecars of the campaign (with ``path``) and the seconds it took to generate (0 if cached)."""
    out = Path(os.environ.get("BIOTWIN_CAMPAIGN", Path(tempfile.gettempdir()) / "biotwin-campaign")) / f"seed{seed}"
    if (out / "campaign.json").exists():
        return load_campaign(out), 0.0
    t0 = time.perf_counter()
    run_campaign(out, CampaignSpec(seed=seed))
    return load_campaign(out), time.perf_counter() - t0

"""Shared by the benchmarks: the virtual-plant campaign, generated once (in $BIOTWIN_CAMPAIGN or the temp dir)."""

import json
import os
import shutil
import tempfile
import time
from dataclasses import asdict
from pathlib import Path

from biotwin.plant.campaign import CampaignSpec, load_campaign, run_campaign

OFFLINE = ["Xv [cells/L]", "viability [%]", "Glc [mM]", "Lac [mM]", "Amm [mM]", "mAb [mg/L]"]


def spec(seed: int = 0) -> CampaignSpec:
    """The campaign's spec; $BIOTWIN_CAMPAIGN_DT_H sets its logging interval [h] (default: the spec's)."""
    dt = os.environ.get("BIOTWIN_CAMPAIGN_DT_H")
    return CampaignSpec(seed=seed) if dt is None else CampaignSpec(seed=seed, dt_h=float(dt))


def campaign(seed: int = 0) -> tuple[list[dict], float]:
    """Sidecars of the campaign (with ``path``) and the seconds it took to generate (0 if cached).

    A cached campaign of another spec (another logging interval) is generated anew."""
    out = Path(os.environ.get("BIOTWIN_CAMPAIGN", Path(tempfile.gettempdir()) / "biotwin-campaign")) / f"seed{seed}"
    want = spec(seed)
    saved = out / "campaign.json"
    if saved.exists():
        if json.loads(saved.read_text()).get("spec") == json.loads(json.dumps(asdict(want))):
            return load_campaign(out), 0.0
        shutil.rmtree(out)
    t0 = time.perf_counter()
    run_campaign(out, want)
    return load_campaign(out), time.perf_counter() - t0

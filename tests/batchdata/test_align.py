"""Regridding a batch logged more often than a model's training batches."""

import numpy as np
import pandas as pd
import pytest

from biotwin.batchdata import regrid, sampling_interval
from biotwin.batchdata.align import warn_if_coarser


def _fine() -> pd.DataFrame:
    t = np.arange(0.0, 2.0 + 1e-9, 1.0 / 60.0)  # one row a minute for 2 h
    assay = np.full(len(t), np.nan)
    assay[37] = 5.0  # an at-line sample at 37 min, between two 15-min ticks
    return pd.DataFrame({"time_h": t, "DO [%]": 40.0 + t, "titre [mg/L]": assay})


def test_regrid_takes_a_point_sample_per_tick_and_keeps_every_sparse_value():
    f = _fine()
    assert abs(sampling_interval([f]) - 1.0 / 60.0) < 1e-12
    g = regrid(f, 0.25)
    np.testing.assert_allclose(g["time_h"], np.arange(0.0, 2.0 + 1e-9, 0.25))
    np.testing.assert_allclose(g["DO [%]"], 40.0 + g["time_h"])  # the row at each tick
    titre = g["titre [mg/L]"].to_numpy()
    assert np.isfinite(titre).sum() == 1 and titre[3] == 5.0  # 37 min lands on the 45-min tick
    # a last tick at the last row, and a batch already as coarse is left as it is
    g2 = regrid(f.iloc[:-7], 0.25)
    assert g2["time_h"].iloc[-1] == f["time_h"].iloc[-8] and g2["time_h"].iloc[-2] == 1.75
    assert regrid(g, 0.25) is g and regrid(f, 0.0) is f


def test_regrid_phases_cover_every_row():
    f = _fine()
    ticks = np.concatenate([regrid(f, 0.25, offset_h=k * 0.25 / 15)["time_h"].to_numpy() for k in range(15)])
    assert np.isin(np.round(f["time_h"].to_numpy(), 9), np.round(ticks, 9)).all()
    g = regrid(f, 0.25, offset_h=0.1)
    assert g["time_h"].iloc[0] == 0.0 and abs(g["time_h"].iloc[1] - 0.1) < 1e-12


def test_a_coarser_batch_is_warned_about():
    f = _fine().iloc[::30]  # every 30 min
    with pytest.warns(UserWarning, match="logged every 0.5 h, more coarsely than the 0.25 h"):
        warn_if_coarser(f, 0.25)
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        warn_if_coarser(f, 0.4)  # within 1.5 times: no warning

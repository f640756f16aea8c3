"""Gaps in dense signals."""

import numpy as np
import pandas as pd

from biotwin.batchdata.gaps import find_gaps


def test_runs_of_missing_rows_are_found_per_variable():
    t = np.arange(0.0, 10.0, 0.5)
    our = np.ones(len(t))
    our[4:8] = np.nan  # 2.0 .. 3.5 h, back at 4.0 h
    our[10] = np.nan  # one row: not a gap
    do = np.ones(len(t))
    do[-3:] = np.nan  # never came back
    f = pd.DataFrame({"time_h": t, "OUR [mM/h]": our, "DO [%]": do})
    gaps = find_gaps(f, ["OUR [mM/h]", "DO [%]", "absent"])
    assert gaps == [{"variable": "OUR [mM/h]", "from_h": 2.0, "to_h": 4.0, "rows": 4},
                    {"variable": "DO [%]", "from_h": 8.5, "to_h": 9.5, "rows": 3}]
    assert find_gaps(f, ["OUR [mM/h]"], min_rows=1)[1] == {"variable": "OUR [mM/h]", "from_h": 5.0, "to_h": 5.5,
                                                           "rows": 1}


def test_bridge_fills_interior_outages_only():
    from biotwin.batchdata.gaps import bridge

    t = np.arange(0.0, 5.0, 0.5)
    x = np.arange(len(t), dtype=float)
    x[2:5] = np.nan  # an outage: bridged
    x[7] = np.nan  # one missing row: held by the models, not bridged
    x[-1] = np.nan  # trailing: the signal has not come back yet
    f = pd.DataFrame({"time_h": t, "OUR [mM/h]": x, "pH_atline [-]": x})
    out = bridge(f, ["OUR [mM/h]"])
    np.testing.assert_allclose(out["OUR [mM/h]"].to_numpy()[:7], np.arange(7.0))
    assert np.isnan(out["OUR [mM/h]"].iloc[7]) and np.isnan(out["OUR [mM/h]"].iloc[-1])
    assert out["pH_atline [-]"].isna().sum() == 5  # not named: untouched
    assert f["OUR [mM/h]"].isna().sum() == 5  # the input is not altered
    assert bridge(f, ["DO [%]"]) is f


def test_gap_rows_marks_runs_of_any_variable():
    from biotwin.batchdata.gaps import gap_rows

    t = np.arange(0.0, 4.0, 0.5)
    a = np.ones(len(t))
    a[1:3] = np.nan
    b = np.ones(len(t))
    b[4] = np.nan  # one row: not an outage
    b[-2:] = np.nan  # trailing outage
    f = pd.DataFrame({"time_h": t, "a": a, "b": b})
    assert gap_rows(f, ["a", "b", "absent"]).tolist() == [False, True, True, False, False, False, True, True]


def test_bridge_of_many_columns_fills_each_gap_on_its_own():
    from biotwin.batchdata.gaps import bridge

    t = np.arange(0.0, 5.0, 0.5)
    cols = {f"{2400 - k}": np.arange(len(t), dtype=float) + k for k in range(60)}
    cols["2390"][3:6] = np.nan  # an outage in one channel only
    cols["2350"][:2] = np.nan  # leading: not between two values, not bridged
    f = pd.DataFrame({"time_h": t, **cols})
    out = bridge(f, [*cols, "absent", "2390"])  # a name twice and one absent change nothing
    np.testing.assert_allclose(out["2390"].to_numpy(), np.arange(len(t)) + 10.0)
    assert out["2350"].isna().sum() == 2
    pd.testing.assert_frame_equal(out.drop(columns="2390"), f.drop(columns="2390"))

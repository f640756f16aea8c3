"""Validating a fitted monitor on normal and faulty batches (monitoring.validate, `monitor validate`)."""

import json

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from biotwin.errors import DataError
from biotwin.monitoring import BatchMonitor
from biotwin.monitoring.synthetic import MONOD_FAULTS, frames, monod_campaign
from biotwin.monitoring.validate import clopper_pearson, judge_monitor, read_onsets, validate_monitor

OFFLINE = ["biomass [g/L]", "product [g/L]", "glucose [g/L]"]


def test_clopper_pearson_bounds_match_their_closed_forms():
    # no event in n: the upper bound solves (1 - p)^n = 0.05; n of n: the lower solves p^n = 0.05
    assert clopper_pearson(0, 10, "upper") == pytest.approx(1 - 0.05 ** (1 / 10))
    assert clopper_pearson(0, 10, "upper") == pytest.approx(0.2589, abs=1e-4)
    assert clopper_pearson(18, 18, "lower") == pytest.approx(0.05 ** (1 / 18))
    assert clopper_pearson(0, 10, "lower") == 0.0 and clopper_pearson(10, 10, "upper") == 1.0
    lo, hi = clopper_pearson(3, 10, "lower"), clopper_pearson(3, 10, "upper")
    assert lo < 0.3 < hi
    with pytest.raises(ValueError):
        clopper_pearson(1, 10, "both")


class _Scripted:
    """A monitor whose alarms are written in each frame's attrs (to check the bookkeeping alone)."""

    def score(self, frame):
        return {"alarms": [{"time_h": t, "kind": "process", "statistic": "T2", "contributions": {"x": 2.0, "y": -3.0}}
                           for t in frame.attrs["alarms"]]}


def _frame(alarms):
    f = pd.DataFrame({"time_h": [0.0, 1.0]})
    f.attrs["alarms"] = alarms
    return f


def test_delays_count_from_the_onset_and_earlier_alarms_are_reported_apart():
    normal = [_frame([]), _frame([5.0, 3.0]), _frame([])]
    faulty = [_frame([10.5, 12.0]), _frame([2.0, 21.0]), _frame([]), _frame([7.0])]
    s = validate_monitor(_Scripted(), normal, ["n1", "n2", "n3"], faulty, ["f1", "f2", "f3", "f4"],
                         {"f1": 10.0, "f2": 20.0, "f3": 5.0})
    n = s["normal"]
    assert n["alarmed_batches"] == ["n2"] and n["false_alarm_share"] == pytest.approx(1 / 3)
    assert n["batches"][1]["first_alarm_h"] == 3.0 and n["batches"][1]["top_variables"] == ["y", "x"]
    f = s["faulty"]
    rows = {r["batch_id"]: r for r in f["batches"]}
    assert rows["f1"]["delay_h"] == pytest.approx(0.5) and not rows["f1"]["alarm_before_onset"]
    # f2 alarmed at 2 h, 18 h before its onset: found at 21 h (delay 1 h), the early alarm named
    assert rows["f2"]["detected_h"] == 21.0 and rows["f2"]["delay_h"] == pytest.approx(1.0)
    assert rows["f2"]["alarm_before_onset"] and f["alarmed_before_onset"] == ["f2"]
    assert rows["f3"]["detected_h"] is None and rows["f3"]["delay_h"] is None
    # no onset recorded: found by any alarm, no delay
    assert rows["f4"]["detected_h"] == 7.0 and rows["f4"]["delay_h"] is None
    assert f["detected"] == 3 and f["detected_share"] == pytest.approx(0.75)
    assert f["median_delay_h"] == pytest.approx(0.75)
    assert f["detected_share_lower95"] == pytest.approx(clopper_pearson(3, 4, "lower"))
    assert judge_monitor(s, 0.4, 0.8, 1.0) == {"false_alarm_share<=0.4": True, "detected_share>=0.8": False,
                                               "median_delay_h<=1": True}
    assert judge_monitor({"faulty": f}, max_false_alarm_share=0.1) == {"false_alarm_share<=0.1": False}
    with pytest.raises(DataError, match="not among the faulty ones: \\['zz'\\]"):
        validate_monitor(_Scripted(), faulty=faulty[:1], faulty_ids=["f1"], onsets={"zz": 1.0})
    with pytest.raises(DataError, match="not among the faulty ones: \\['yy'\\]"):
        validate_monitor(_Scripted(), faulty=faulty[:1], faulty_ids=["f1"], deadlines={"yy": 1.0})
    with pytest.raises(DataError, match="no batch to validate"):
        validate_monitor(_Scripted())


def test_each_fault_kind_is_summarised_and_judged_on_its_own():
    faulty = [_frame([10.5]), _frame([11.0]), _frame([25.0]), _frame([])]
    s = validate_monitor(_Scripted(), faulty=faulty, faulty_ids=["a1", "a2", "c1", "c2"],
                         onsets={"a1": 10.0, "a2": 10.0, "c1": 20.0, "c2": 20.0},
                         kinds={"a1": "aeration", "a2": "aeration", "c1": "contamination", "c2": "contamination"})
    by = s["faulty"]["by_fault"]
    assert by["aeration"] == {"n_batches": 2, "detected": 2, "median_delay_h": pytest.approx(0.75),
                              "median_lead_h": None}
    assert by["contamination"]["detected"] == 1 and by["contamination"]["median_delay_h"] == pytest.approx(5.0)
    assert s["faulty"]["batches"][0]["fault"] == "aeration"
    # per kind: contamination misses a batch; the overall median (1.0 h over the three found) passes
    assert judge_monitor(s, max_median_delay_h=2, max_median_delay_h_per_fault=6) == {
        "median_delay_h<=2": True, "median_delay_h_per_fault<=6": False}
    s2 = validate_monitor(_Scripted(), faulty=faulty[:3], faulty_ids=["a1", "a2", "c1"],
                          onsets={"a1": 10.0, "a2": 10.0, "c1": 20.0},
                          kinds={"a1": "aeration", "a2": "aeration", "c1": "contamination"})
    assert judge_monitor(s2, max_median_delay_h_per_fault=6) == {"median_delay_h_per_fault<=6": True}
    assert judge_monitor(s2, max_median_delay_h_per_fault=2) == {"median_delay_h_per_fault<=2": False}
    # without kinds there is nothing to judge per kind
    s3 = validate_monitor(_Scripted(), faulty=faulty[:1], faulty_ids=["a1"], onsets={"a1": 10.0})
    assert "by_fault" not in s3["faulty"]
    assert judge_monitor(s3, max_median_delay_h_per_fault=2) == {"median_delay_h_per_fault<=2": False}


def test_a_monitor_alarming_more_than_its_budget_beyond_chance_is_flagged():
    class Budgeted(_Scripted):
        batch_alpha = 0.015

    # 1 of 10 alarmed: within what a 1.5 % budget allows by chance (the lower bound is 0.5 %)
    s = validate_monitor(Budgeted(), [_frame([4.0])] + [_frame([])] * 9, [f"n{i}" for i in range(10)])
    n = s["normal"]
    assert n["budget"] == 0.015 and n["false_alarm_share_lower95"] == pytest.approx(1 - 0.95 ** (1 / 10))
    assert n["above_budget"] is False
    # 3 of 10: beyond chance
    s = validate_monitor(Budgeted(), [_frame([4.0])] * 3 + [_frame([])] * 7, [f"n{i}" for i in range(10)])
    assert s["normal"]["above_budget"] is True
    # a monitor without a budget: not judged
    assert validate_monitor(_Scripted(), [_frame([])], ["n"])["normal"]["above_budget"] is None


def test_lead_times_count_back_from_each_deadline():
    # a drift that reaches its spec limit at 30 h, alarmed at 21 h: 9 h early; a pump alarmed after
    # its failure threshold: late; a batch never alarmed: no lead, not in time
    faulty = [_frame([2.0, 21.0]), _frame([50.0]), _frame([])]
    s = validate_monitor(_Scripted(), faulty=faulty, faulty_ids=["drift", "pump", "quiet"],
                         onsets={"drift": 20.0}, deadlines={"drift": 30.0, "pump": 40.0, "quiet": 10.0})
    f = s["faulty"]
    rows = {r["batch_id"]: r for r in f["batches"]}
    assert rows["drift"]["lead_h"] == pytest.approx(9.0) and rows["drift"]["in_time"]
    assert rows["pump"]["lead_h"] == pytest.approx(-10.0) and not rows["pump"]["in_time"]
    assert rows["quiet"]["lead_h"] is None and not rows["quiet"]["in_time"]
    assert f["with_deadline"] == 3 and f["in_time"] == 1 and f["median_lead_h"] == pytest.approx(-0.5)
    assert judge_monitor(s, min_median_lead_h=-1.0) == {"median_lead_h>=-1": True}
    assert judge_monitor(s, min_median_lead_h=48) == {"median_lead_h>=48": False}
    # without deadlines there is no lead to judge
    s = validate_monitor(_Scripted(), faulty=faulty[:1], faulty_ids=["drift"])
    assert "median_lead_h" not in s["faulty"] and judge_monitor(s, min_median_lead_h=0) == {"median_lead_h>=0": False}


def test_onsets_file_errors_name_the_line_and_field(tmp_path):
    p = tmp_path / "onsets.csv"
    p.write_text("batch_id,onset_h\nB01,12.5\nB02,soon\n")
    with pytest.raises(DataError, match="line 3, column 'onset_h': onset_h 'soon' is not a number"):
        read_onsets(str(p))
    p.write_text("batch_id,onset_h\nB01,12.5\nB01,13\n")
    with pytest.raises(DataError, match="line 3, column 'batch_id': batch 'B01' is given twice"):
        read_onsets(str(p))
    p.write_text("batch,onset\nB01,12.5\n")
    with pytest.raises(DataError, match="no column 'batch_id'"):
        read_onsets(str(p))
    p.write_text("batch_id,onset_h\n007,12.5\n")
    assert read_onsets(str(p)).onsets == {"007": 12.5}  # ids kept as written, not read as numbers
    p.write_text("batch_id,onset_h,deadline_h\nB1,12.5,\nB2,,80\nB3,3,9\n")
    reg = read_onsets(str(p))
    assert (reg.onsets, reg.deadlines, reg.kinds) == ({"B1": 12.5, "B3": 3.0}, {"B2": 80.0, "B3": 9.0}, {})
    p.write_text("batch_id,onset_h,fault\nB1,12.5,feed_stop\nB2,3,\n")
    assert read_onsets(str(p)).kinds == {"B1": "feed_stop"}
    p.write_text("batch_id,onset_h,deadline_h\nB1,12.5,\nB2,,\n")
    with pytest.raises(DataError, match="line 3, column 'onset_h': batch 'B2' has neither an onset nor a deadline"):
        read_onsets(str(p))
    p.write_text("batch_id,onset_h,deadline_h\nB1,12.5,late\n")
    with pytest.raises(DataError, match="line 2, column 'deadline_h': deadline_h 'late' is not a number"):
        read_onsets(str(p))


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp("monval")
    out = {"train": [], "normal": [], "faulty": []}
    for i, f in enumerate(frames(monod_campaign(30, seed=1))):
        out["train"].append(root / f"T{i:02d}.csv")
        f.to_csv(out["train"][-1], index=False)
    for i, f in enumerate(frames(monod_campaign(5, seed=7))):
        out["normal"].append(root / f"N{i}.csv")
        f.to_csv(out["normal"][-1], index=False)
    onsets = {}
    for i, b in enumerate(monod_campaign(4, faults=MONOD_FAULTS, seed=6)):
        out["faulty"].append(root / f"F{i}.csv")
        b.frame.to_csv(out["faulty"][-1], index=False)
        onsets[f"F{i}"] = b.onset_h
    pd.DataFrame({"batch_id": list(onsets), "onset_h": list(onsets.values())}).to_csv(root / "onsets.csv", index=False)
    return root, out, onsets


def test_cli_validate_scores_each_batch_as_monitor_score_does(files):
    from biotwin.batchdata import read_batch
    from biotwin.cli import (
        app,
        expand_multi_values,
        monitor_commands,  # noqa: F401
    )

    root, out, onsets = files
    mon = root / "m.mon"
    args = ["monitor", "fit", "--batches", *map(str, out["train"]), "--exclude", *OFFLINE, "--out", str(mon)]
    r = CliRunner().invoke(app, expand_multi_values(args))
    assert r.exit_code == 0, r.output
    args = ["monitor", "validate", "--monitor", str(mon), "--batches", *map(str, out["normal"]),
            "--faulty", *map(str, out["faulty"]), "--onsets", str(root / "onsets.csv"), "--json",
            "--csv", str(root / "val.csv"), "--max-false-alarm-share", "0.2", "--max-median-delay-h", "2",
            "--plot-dir", str(root / "plots")]
    r = CliRunner().invoke(app, expand_multi_values(args))
    assert r.exit_code == 0, r.output
    s = json.loads(r.stdout)
    assert set(s) >= {"normal", "faulty", "criteria", "passed", "training_batches_in_validation"}
    # the same monitor, scored batch by batch in process, gives the same first alarms
    fitted = BatchMonitor(exclude=OFFLINE).fit([pd.read_csv(p) for p in out["train"]])
    for row, p in zip(s["faulty"]["batches"], out["faulty"], strict=True):
        alarms = fitted.score(read_batch(p))["alarms"]
        after = [a["time_h"] for a in alarms if a["time_h"] >= onsets[row["batch_id"]] - 1e-9]
        assert row["detected_h"] == (min(after) if after else None)
        assert row["onset_h"] == pytest.approx(onsets[row["batch_id"]])
    assert s["faulty"]["detected"] == 4 and s["faulty"]["median_delay_h"] < 2
    assert s["normal"]["n_batches"] == 5 and s["criteria"] == {"false_alarm_share<=0.2": True,
                                                               "median_delay_h<=2": True}
    assert s["plot"] == str(root / "plots" / "validation.png")
    assert (root / "plots" / "validation.png").stat().st_size > 10_000
    table = pd.read_csv(root / "val.csv")
    assert list(table["set"]) == ["normal"] * 5 + ["faulty"] * 4
    np.testing.assert_allclose(table.loc[table["set"] == "faulty", "onset_h"], list(onsets.values()))
    # --onset on the command line, a criterion not met: the report, then exit status 1
    args = ["monitor", "validate", "--monitor", str(mon), "--faulty", str(out["faulty"][0]),
            "--onset", f"F0={onsets['F0']}", "--max-median-delay-h", "0.001"]
    r = CliRunner().invoke(app, expand_multi_values(args))
    assert r.exit_code == 1 and "faulty batches: 1 of 1 found" in r.output and "NOT met" in r.output
    for bad in ("F0", "F0=soon", "=3"):
        r = CliRunner().invoke(app, ["monitor", "validate", "--monitor", str(mon), "--faulty", str(out["faulty"][0]),
                                     "--onset", bad])
        assert r.exit_code == 2 and "expected BATCH=HOURS" in r.output
    # the register lists more batches than one run validates: the others are left aside; an onset
    # given on the command line for a batch not validated is refused, and a faulty batch without
    # an onset is named
    r = CliRunner().invoke(app, ["monitor", "validate", "--monitor", str(mon), "--faulty", str(out["faulty"][1]),
                                 "--onsets", str(root / "onsets.csv")])
    assert r.exit_code == 0 and "3 batches of" in r.output and "left aside" in r.output
    r = CliRunner().invoke(app, expand_multi_values(["monitor", "validate", "--monitor", str(mon), "--faulty",
                                                     str(out["faulty"][1]), "--onset", "F9=3"]))
    assert r.exit_code == 2 and "not among the faulty ones: ['F9']" in r.output
    r = CliRunner().invoke(app, expand_multi_values(["monitor", "validate", "--monitor", str(mon), "--faulty",
                                                     *map(str, out["faulty"][:2]), "--onset", "F1=13"]))
    assert r.exit_code == 0 and "note: no onset for F0: found by any alarm, no delay" in r.output
    # a deadline: the lead time before it, judged
    first = s["faulty"]["batches"][0]["detected_h"]
    args = ["monitor", "validate", "--monitor", str(mon), "--faulty", str(out["faulty"][0]),
            "--onset", f"F0={onsets['F0']}", "--deadline", f"F0={first + 5}", "--min-median-lead-h", "4", "--json"]
    r = CliRunner().invoke(app, expand_multi_values(args))
    assert r.exit_code == 0, r.output
    lead = json.loads(r.stdout)["faulty"]
    assert lead["median_lead_h"] == pytest.approx(5.0) and lead["in_time"] == 1
    r = CliRunner().invoke(app, ["monitor", "validate", "--monitor", str(mon)])
    assert r.exit_code == 2 and "no batches" in r.output
    # a training batch among the validation batches is named
    r = CliRunner().invoke(app, ["monitor", "validate", "--monitor", str(mon), "--batches", str(out["train"][3])])
    assert r.exit_code == 0 and "warning: T03 is one of the batches the monitor was fitted on" in r.output

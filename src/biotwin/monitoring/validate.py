"""Validate a fitted monitor on batches it has not seen: how many normal batches it alarms, and how
many faulty ones it finds and how soon after their fault began.

Before a monitor goes live (and each time it is refitted) a plant checks it on batches with a
known outcome: normal batches, each scored as if online, give the share that would have raised
any alarm (the false-alarm batches); batches with a recorded deviation give the share found and
the delay from the deviation's start (its onset, from the deviation record) to the first alarm
at or after it. An alarm before the onset is reported apart: it is a false alarm in that batch,
or an earlier sign of the fault than the record knows. Where the record also says by when the
alarm had to come (a drifting sensor reaching its specification limit, a pump or bearing reaching
its failure threshold: its deadline), the lead time is the deadline minus the alarm's time.

With 10 or 20 batches a share is uncertain: each comes with its one-sided 95 % Clopper-Pearson
bound (Clopper & Pearson 1934, Biometrika 26:404, doi:10.1093/biomet/26.4.404), the upper one
for the false-alarm share (no alarm in 10 normal batches still allows a rate of 26 %) and the
lower one for the share found. Against the false-alarm budget the monitor was fitted for
(``batch_alpha``), ``above_budget`` says whether even the lower bound of the share exceeds it:
more false alarms than the budget, beyond chance (continuous verification of a monitor in use).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from biotwin.errors import DataError


def clopper_pearson(k: int, n: int, side: str, level: float = 0.95) -> float:
    """One-sided Clopper-Pearson bound on a share from ``k`` of ``n``: ``side`` 'upper' or 'lower'."""
    from scipy import stats

    if n <= 0:
        return float("nan")
    if side == "upper":
        return 1.0 if k >= n else float(stats.beta.ppf(level, k + 1, n - k))
    if side == "lower":
        return 0.0 if k <= 0 else float(stats.beta.ppf(1.0 - level, k, n - k + 1))
    raise ValueError(f"side must be 'upper' or 'lower', got {side!r}")


def _first(alarms: list[dict[str, Any]], after: float | None = None) -> dict[str, Any] | None:
    hits = [a for a in alarms if after is None or a["time_h"] >= after - 1e-9]
    return min(hits, key=lambda a: a["time_h"]) if hits else None


def _brief(a: dict[str, Any] | None) -> dict[str, Any]:
    if a is None:
        return {"kind": None, "statistic": None, "top_variables": []}
    top = sorted(a.get("contributions", {}).items(), key=lambda kv: -abs(float(kv[1])))[:3]
    return {"kind": a["kind"], "statistic": a["statistic"], "top_variables": [k for k, _ in top]}


def validate_monitor(monitor: Any, normal: Sequence[pd.DataFrame] = (), normal_ids: Sequence[str] = (),
                     faulty: Sequence[pd.DataFrame] = (), faulty_ids: Sequence[str] = (),
                     onsets: Mapping[str, float] | None = None, deadlines: Mapping[str, float] | None = None,
                     kinds: Mapping[str, str] | None = None,
                     context: Callable[[str], AbstractContextManager[Any]] | None = None) -> dict[str, Any]:
    """Score each batch and summarise.

    Parameters
    ----------
    monitor : BatchMonitor
        A fitted monitor (anything with ``score(frame) -> {"alarms": [...]}``).
    normal, normal_ids : sequences of DataFrame and str
        Batches known to be normal, and their names.
    faulty, faulty_ids : sequences of DataFrame and str
        Batches with a recorded deviation, and their names.
    onsets : mapping, optional
        Faulty batch name -> the deviation's start [h of culture time]. A faulty batch without
        one counts as found when it has any alarm, with no delay.
    deadlines : mapping, optional
        Faulty batch name -> the time [h] by which an alarm had to come (a sensor drift
        reaching its specification limit, equipment its failure threshold).
    kinds : mapping, optional
        Faulty batch name -> its fault kind: ``faulty`` then also has ``by_fault`` (per kind:
        ``n_batches``, ``detected``, ``median_delay_h``, ``median_lead_h``).
    context : callable, optional
        Batch name -> a context manager each batch is scored in (the console's names the file
        in the errors and warnings raised inside).

    Returns
    -------
    dict
        ``normal``: ``n_batches``, ``alarmed_batches`` (names), ``false_alarm_share`` and its
        ``false_alarm_share_upper95`` and ``false_alarm_share_lower95``, ``budget`` (the
        monitor's ``batch_alpha``) and ``above_budget`` (the lower bound above it),
        ``batches`` (each: ``batch_id``, ``first_alarm_h``,
        ``kind``, ``statistic``, ``top_variables``). ``faulty``: ``n_batches``, ``detected``,
        ``detected_share`` and its ``detected_share_lower95``, ``median_delay_h`` (over the
        found batches with an onset; None without), ``alarmed_before_onset`` (names),
        ``batches`` (each: ``batch_id``, ``onset_h``, ``first_alarm_h``, ``detected_h``,
        ``delay_h``, ``alarm_before_onset``, ``kind``, ``statistic``, ``top_variables`` of
        the alarm that found it; with a deadline also ``deadline_h``, ``lead_h`` and
        ``in_time``). With deadlines, ``faulty`` also has ``in_time`` (found by its deadline,
        of those with one), ``with_deadline`` and ``median_lead_h`` (over the found batches
        with a deadline, negative when late).

    Raises
    ------
    DataError
        No batch at all, names and batches of different lengths, or an onset or deadline for
        a batch that is not among the faulty ones (named).
    """
    onsets = dict(onsets or {})
    deadlines = dict(deadlines or {})
    kinds = dict(kinds or {})
    if len(normal) != len(normal_ids) or len(faulty) != len(faulty_ids):
        raise DataError("validate_monitor: batches and their names differ in length")
    if not len(normal) and not len(faulty):
        raise DataError("no batch to validate the monitor on: give normal or faulty batches")
    unknown = sorted((set(onsets) | set(deadlines) | set(kinds)) - {str(i) for i in faulty_ids})
    if unknown:
        raise DataError(f"onsets, deadlines or fault kinds given for batches that are not among the faulty ones: "
                        f"{unknown} (faulty: {[str(i) for i in faulty_ids][:10]})")
    out: dict[str, Any] = {}
    if len(normal):
        rows = []
        for frame, name in zip(normal, normal_ids, strict=True):
            with context(str(name)) if context else nullcontext():
                alarms = monitor.score(frame)["alarms"]
            a = _first(alarms)
            rows.append({"batch_id": str(name), "first_alarm_h": None if a is None else float(a["time_h"]),
                         **_brief(a)})
        alarmed = [r["batch_id"] for r in rows if r["first_alarm_h"] is not None]
        n = len(rows)
        budget = getattr(monitor, "batch_alpha", None)
        lower = clopper_pearson(len(alarmed), n, "lower")
        out["normal"] = {"n_batches": n, "alarmed_batches": alarmed, "false_alarm_share": len(alarmed) / n,
                         "false_alarm_share_upper95": clopper_pearson(len(alarmed), n, "upper"),
                         "false_alarm_share_lower95": lower, "budget": budget,
                         "above_budget": None if budget is None else bool(lower > float(budget)), "batches": rows}
    if len(faulty):
        rows = []
        for frame, name in zip(faulty, faulty_ids, strict=True):
            with context(str(name)) if context else nullcontext():
                alarms = monitor.score(frame)["alarms"]
            onset = onsets.get(str(name))
            first = _first(alarms)
            found = _first(alarms, onset)
            row = {"batch_id": str(name), "onset_h": onset,
                   "first_alarm_h": None if first is None else float(first["time_h"]),
                   "detected_h": None if found is None else float(found["time_h"]),
                   "delay_h": None if found is None or onset is None else float(found["time_h"]) - onset,
                   "alarm_before_onset": bool(onset is not None and first is not None
                                              and first["time_h"] < onset - 1e-9),
                   **_brief(found)}
            if str(name) in kinds:
                row["fault"] = kinds[str(name)]
            due = deadlines.get(str(name))
            if due is not None:
                lead = None if found is None else due - float(found["time_h"])
                row.update(deadline_h=due, lead_h=lead, in_time=lead is not None and lead >= 0)
            rows.append(row)
        n = len(rows)
        k = sum(r["detected_h"] is not None for r in rows)
        delays = [r["delay_h"] for r in rows if r["delay_h"] is not None]
        out["faulty"] = {"n_batches": n, "detected": k, "detected_share": k / n,
                         "detected_share_lower95": clopper_pearson(k, n, "lower"),
                         "median_delay_h": float(np.median(delays)) if delays else None,
                         "alarmed_before_onset": [r["batch_id"] for r in rows if r["alarm_before_onset"]]}
        due_rows = [r for r in rows if "deadline_h" in r]
        if due_rows:
            leads = [r["lead_h"] for r in due_rows if r["lead_h"] is not None]
            out["faulty"].update(with_deadline=len(due_rows), in_time=sum(r["in_time"] for r in due_rows),
                                 median_lead_h=float(np.median(leads)) if leads else None)
        if kinds:
            by: dict[str, Any] = {}
            for kind in dict.fromkeys(r["fault"] for r in rows if "fault" in r):
                group = [r for r in rows if r.get("fault") == kind]
                d = [r["delay_h"] for r in group if r["delay_h"] is not None]
                group_leads = [r["lead_h"] for r in group if r.get("lead_h") is not None]
                by[kind] = {"n_batches": len(group), "detected": sum(r["detected_h"] is not None for r in group),
                            "median_delay_h": float(np.median(d)) if d else None,
                            "median_lead_h": float(np.median(group_leads)) if group_leads else None}
            out["faulty"]["by_fault"] = by
        out["faulty"]["batches"] = rows
    return out


def judge_monitor(summary: Mapping[str, Any], max_false_alarm_share: float | None = None,
                  min_detected_share: float | None = None, max_median_delay_h: float | None = None,
                  min_median_lead_h: float | None = None,
                  max_median_delay_h_per_fault: float | None = None) -> dict[str, bool]:
    """Each acceptance criterion given (None: not judged) -> whether the summary meets it; a
    criterion on batches (or deadlines, fault kinds) that were not given is not met.
    ``max_median_delay_h_per_fault``: every fault kind with onsets has a median delay at most
    this, and each of its batches was found."""
    out: dict[str, bool] = {}
    normal, faulty = summary.get("normal"), summary.get("faulty")
    if max_false_alarm_share is not None:
        out[f"false_alarm_share<={max_false_alarm_share:g}"] = (
            normal is not None and normal["false_alarm_share"] <= max_false_alarm_share + 1e-12)
    if min_detected_share is not None:
        out[f"detected_share>={min_detected_share:g}"] = (
            faulty is not None and faulty["detected_share"] >= min_detected_share - 1e-12)
    if max_median_delay_h is not None:
        d = None if faulty is None else faulty["median_delay_h"]
        out[f"median_delay_h<={max_median_delay_h:g}"] = d is not None and d <= max_median_delay_h
    if min_median_lead_h is not None:
        lead = None if faulty is None else faulty.get("median_lead_h")
        out[f"median_lead_h>={min_median_lead_h:g}"] = lead is not None and lead >= min_median_lead_h
    if max_median_delay_h_per_fault is not None:
        by = {} if faulty is None else faulty.get("by_fault", {})
        timed = {k: v for k, v in by.items() if v["median_delay_h"] is not None}
        out[f"median_delay_h_per_fault<={max_median_delay_h_per_fault:g}"] = bool(timed) and all(
            v["median_delay_h"] <= max_median_delay_h_per_fault and v["detected"] == v["n_batches"]
            for v in timed.values())
    return out


@dataclass
class Deviations:
    """A deviation register: per batch name, the onset [h], the deadline [h] and the fault kind."""

    onsets: dict[str, float] = field(default_factory=dict)
    deadlines: dict[str, float] = field(default_factory=dict)
    kinds: dict[str, str] = field(default_factory=dict)

    def only(self, names: set[str]) -> Deviations:
        """The register restricted to ``names``."""
        return Deviations({k: v for k, v in self.onsets.items() if k in names},
                          {k: v for k, v in self.deadlines.items() if k in names},
                          {k: v for k, v in self.kinds.items() if k in names})

    def names(self) -> set[str]:
        return set(self.onsets) | set(self.deadlines) | set(self.kinds)


def read_onsets(path: str) -> Deviations:
    """A deviation register from a CSV file with columns ``batch_id``, ``onset_h`` [h of culture
    time] and, optionally, ``deadline_h`` [h] (either may be empty on a row, not both) and
    ``fault`` (the kind, to summarise per kind); a missing column, a repeated batch or a value
    that is not a number is refused, naming the file, the line and the field."""
    from pathlib import Path

    p = Path(path)
    if not p.exists():
        raise DataError("onsets file not found", file=str(p))
    try:
        table = pd.read_csv(p, dtype={"batch_id": str})
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise DataError(f"cannot read the onsets: {exc}", file=str(p)) from exc
    for col in ("batch_id", "onset_h"):
        if col not in table.columns:
            raise DataError(f"onsets file has no column {col!r} (columns: {list(table.columns)})", file=str(p),
                            column=col)
    onsets: dict[str, float] = {}
    deadlines: dict[str, float] = {}
    kinds: dict[str, str] = {}
    seen: set[str] = set()
    due = table["deadline_h"] if "deadline_h" in table.columns else pd.Series([None] * len(table))
    if "fault" in table.columns:
        kinds = {str(b): str(k) for b, k in zip(table["batch_id"], table["fault"], strict=True)
                 if isinstance(k, str) and k.strip()}
    for i, (bid, val, dval) in enumerate(zip(table["batch_id"], table["onset_h"], due, strict=True)):
        line = i + 2  # the header is line 1
        if str(bid) in seen:
            raise DataError(f"batch {bid!r} is given twice", file=str(p), line=line, column="batch_id")
        seen.add(str(bid))
        given = 0
        for col, raw, into in (("onset_h", val, onsets), ("deadline_h", dval, deadlines)):
            if raw is None or (isinstance(raw, float) and np.isnan(raw)):
                continue  # empty
            try:
                h = float(raw)
            except (TypeError, ValueError):
                h = float("nan")
            if not np.isfinite(h):
                raise DataError(f"{col} {raw!r} is not a number of hours", file=str(p), line=line, column=col)
            into[str(bid)] = h
            given += 1
        if not given:
            raise DataError(f"batch {bid!r} has neither an onset nor a deadline", file=str(p), line=line,
                            column="onset_h")
    return Deviations(onsets, deadlines, kinds)

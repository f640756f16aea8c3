"""Results to the lake: soft-sensor predictions, monitor alarms, golden-band excursions and model
validations as catalog rows."""

from __future__ import annotations

import json
from typing import Any

import pandas as pd


def prediction_rows(pred: pd.DataFrame, *, model_id: str, batch_id: str, target: str,
                    model_version: str = "1") -> pd.DataFrame:
    """Rows for the lake's ``predictions`` table from :meth:`SoftSensor.predict_frame` output."""
    name, _, unit = target.partition(" [")
    return pd.DataFrame({
        "model_id": model_id, "model_version": model_version, "batch_id": batch_id, "target": name,
        "time_h": pred["time_h"].to_numpy(float), "value": pred["prediction"].to_numpy(float),
        "lower": pred["lower"].to_numpy(float), "upper": pred["upper"].to_numpy(float),
        "unit": unit.rstrip("]") or None,
    })


def alarm_rows(result: dict[str, Any], *, batch_id: str) -> pd.DataFrame:
    """Rows for the lake's ``alarms`` table from :meth:`BatchMonitor.score` output.

    ``tag`` is the top contributing variable; ``message`` holds kind, statistic and the
    contributions as JSON.
    """
    rows = []
    for a in result["alarms"]:
        top = next(iter(a["contributions"]), a["statistic"])
        rows.append({"batch_id": batch_id, "tag": top, "time_h": float(a["time_h"]),
                     "severity": "high" if a["kind"] == "process" else "medium",
                     "message": json.dumps({"kind": a["kind"], "statistic": a["statistic"],
                                            "contributions": a["contributions"]}),
                     "state": "active"})
    frame = pd.DataFrame(rows, columns=["batch_id", "tag", "time_h", "severity", "message", "state"])
    return frame.drop_duplicates(["batch_id", "tag", "time_h"])


def predictions_to_lake(lake: Any, pred: pd.DataFrame, **kw: Any) -> int:
    """Write predictions to ``lake`` (a :class:`biotwin.lake.Lake`); returns rows added."""
    return int(lake.add_records("predictions", prediction_rows(pred, **kw), why="soft-sensor prediction"))


def alarms_to_lake(lake: Any, result: dict[str, Any], *, batch_id: str) -> int:
    """Write alarms to ``lake``; returns rows added."""
    rows = alarm_rows(result, batch_id=batch_id)
    return int(lake.add_records("alarms", rows, why="MSPC monitor alarm")) if len(rows) else 0


def excursion_rows(excursions: list[dict[str, Any]], *, batch_id: str, envelope_id: str) -> pd.DataFrame:
    """Rows for the lake's ``events`` table from :meth:`GoldenEnvelope.excursions` output.

    Kind ``golden_excursion``, ``name`` the variable, ``time_h`` and ``end_h`` the run's first
    and last row [h], ``value`` its worst distance from the golden mean [sd]; ``description``
    holds the side, rows, the time of the worst row and the envelope as JSON.
    """
    rows = [{"batch_id": batch_id, "kind": "golden_excursion", "name": e["variable"], "time_h": float(e["from_h"]),
             "end_h": float(e["to_h"]), "value": e["worst_sd"], "unit": "sd",
             "description": json.dumps({"side": e["side"], "rows": e["rows"], "worst_h": e["worst_h"],
                                        "envelope": envelope_id})}
            for e in excursions]
    frame = pd.DataFrame(rows, columns=["batch_id", "kind", "name", "time_h", "end_h", "value", "unit", "description"])
    return frame.drop_duplicates(["batch_id", "kind", "name", "time_h"])


def excursions_to_lake(lake: Any, excursions: list[dict[str, Any]], *, batch_id: str, envelope_id: str) -> int:
    """Write golden-band excursions to ``lake``'s events; returns rows added."""
    rows = excursion_rows(excursions, batch_id=batch_id, envelope_id=envelope_id)
    return int(lake.add_records("events", rows, why="golden-batch excursion")) if len(rows) else 0


def validation_rows(summary: dict[str, Any], *, model_id: str, kind: str,
                    rows: pd.DataFrame | None = None) -> pd.DataFrame:
    """Rows for the lake's ``events`` table from a validation summary, one per validated batch.

    ``kind`` is ``softsensor_validation`` (from :meth:`softsensors.validate.Validation.summary`;
    ``value`` the batch's RMSE in the target's unit, ``time_h``/``end_h`` its first and last
    assay, from ``rows``) or ``monitor_validation`` (from
    :func:`monitoring.validate.validate_monitor`; ``value`` the delay from onset to alarm [h] of
    a faulty batch, ``time_h`` the alarm that found it, or 0 for a batch without one).
    ``name`` is the model; ``description`` holds the batch's statistics and the validation's
    overall numbers, criteria and verdict as JSON.
    """
    overall = {k: summary.get(k) for k in ("rmse", "rmse_pct_range", "coverage", "criteria", "passed")}
    out = []
    if kind == "softsensor_validation":
        unit = summary["target"].partition(" [")[2].rstrip("]") or None
        overall["gain_pct"] = (summary.get("baseline") or {}).get("gain_pct")
        span = rows.groupby("batch_id")["time_h"].agg(["min", "max"]) if rows is not None else None
        for b in summary["batches"]:
            t0, t1 = (float(span.loc[b["batch_id"], "min"]), float(span.loc[b["batch_id"], "max"])) \
                if span is not None else (0.0, None)
            out.append({"batch_id": b["batch_id"], "kind": kind, "name": model_id, "time_h": t0, "end_h": t1,
                        "value": b["rmse"], "unit": unit,
                        "description": json.dumps({"target": summary["target"], **b, "overall": overall})})
    elif kind == "monitor_validation":
        for part in ("normal", "faulty"):
            if part not in summary:
                continue
            numbers = {k: v for k, v in summary[part].items() if k != "batches"}
            for b in summary[part]["batches"]:
                at = b.get("detected_h", b.get("first_alarm_h"))
                out.append({"batch_id": b["batch_id"], "kind": kind, "name": model_id,
                            "time_h": 0.0 if at is None else float(at), "end_h": None, "value": b.get("delay_h"),
                            "unit": "h", "description": json.dumps(
                                {"set": part, **b, "overall": {**numbers, "criteria": summary.get("criteria"),
                                                               "passed": summary.get("passed")}})})
    else:
        raise ValueError(f"kind must be softsensor_validation or monitor_validation, not {kind!r}")
    frame = pd.DataFrame(out, columns=["batch_id", "kind", "name", "time_h", "end_h", "value", "unit", "description"])
    return frame.drop_duplicates(["batch_id", "kind", "name", "time_h"])


def validations_to_lake(lake: Any, summary: dict[str, Any], **kw: Any) -> int:
    """Write a validation's per-batch records to ``lake``'s events; returns rows added."""
    rows = validation_rows(summary, **kw)
    return int(lake.add_records("events", rows, why="model validation")) if len(rows) else 0

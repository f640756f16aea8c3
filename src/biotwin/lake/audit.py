"""The append-only, hash-chained audit trail (who, what, when, why, old and new value).

Each row's ``hash`` is the SHA-256 of its own fields and the previous row's hash, so
editing, deleting or reordering any stored row breaks the chain from that row on.
:func:`verify` recomputes the chain and names the first row that does not match.
The lake's write paths call :func:`record` inside their own transaction, so no caller
can write without leaving a trace.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import duckdb

GENESIS = "0" * 64
_FIELDS = (
    "seq", "ts_utc", "who", "action", "entity", "entity_key", "why",
    "old_value", "new_value", "prev_hash",
)


def _canonical_json(value: Any) -> str | None:
    if value is None:
        return None
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)


def row_hash(row: dict[str, Any]) -> str:
    """SHA-256 (hex) of an audit row's fields, ``prev_hash`` included."""
    payload = json.dumps([row[f] for f in _FIELDS], separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


def digest_rows(rows: list[tuple[Any, ...]]) -> str:
    """SHA-256 (hex) of a list of rows, to record what a bulk insert wrote."""
    h = hashlib.sha256()
    for row in rows:
        h.update(json.dumps(row, separators=(",", ":"), default=str).encode("utf-8"))
        h.update(b"\n")
    return h.hexdigest()


def record(
    con: duckdb.DuckDBPyConnection,
    *,
    who: str,
    action: str,
    entity: str,
    key: str,
    why: str,
    old: Any = None,
    new: Any = None,
) -> int:
    """Append one audit row (in the caller's transaction); return its sequence number.

    Parameters
    ----------
    con : duckdb.DuckDBPyConnection
        The catalog connection, inside the transaction of the write being audited.
    who, why : str
        The user and the reason.
    action : str
        ``insert``, ``update``, ``delete`` or ``migrate``.
    entity, key : str
        The table written and the natural key of what was written.
    old, new : JSON-serialisable, optional
        The value before and after (a summary with a row digest for bulk inserts).
    """
    last = con.execute("SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1").fetchall()
    seq, prev = (int(last[0][0]) + 1, str(last[0][1])) if last else (1, GENESIS)
    row = {
        "seq": seq,
        "ts_utc": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "who": who,
        "action": action,
        "entity": entity,
        "entity_key": key,
        "why": why,
        "old_value": _canonical_json(old),
        "new_value": _canonical_json(new),
        "prev_hash": prev,
    }
    row["hash"] = row_hash(row)
    cols = (*_FIELDS, "hash")
    con.execute(
        f"INSERT INTO audit ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})",
        [row[c] for c in cols],
    )
    return seq


@dataclass(frozen=True)
class AuditVerification:
    """Outcome of :func:`verify`: ``ok``, rows checked, and the first bad row if any."""

    ok: bool
    n_rows: int
    bad_seq: int | None = None
    reason: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {"ok": self.ok, "n_rows": self.n_rows, "bad_seq": self.bad_seq,
                "reason": self.reason}


def verify(con: duckdb.DuckDBPyConnection) -> AuditVerification:
    """Recompute the hash chain; report the first row whose hash or link does not match."""
    cols = (*_FIELDS, "hash")
    rows = con.execute(f"SELECT {', '.join(cols)} FROM audit ORDER BY seq").fetchall()
    prev = GENESIS
    for i, values in enumerate(rows):
        row = dict(zip(cols, values, strict=True))
        seq = int(row["seq"])
        if seq != i + 1:
            return AuditVerification(False, len(rows), seq, f"row {seq}: expected seq {i + 1} "
                                     "(a row was deleted or inserted)")
        if row["prev_hash"] != prev:
            return AuditVerification(False, len(rows), seq,
                                     f"row {seq}: prev_hash does not match row {seq - 1}")
        if row_hash(row) != row["hash"]:
            return AuditVerification(False, len(rows), seq,
                                     f"row {seq}: content does not match its hash (edited)")
        prev = row["hash"]
    return AuditVerification(True, len(rows))

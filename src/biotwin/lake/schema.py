"""The catalog schema (DuckDB) and its migrations.

The catalog holds the context and the small tables: the ISA-95 equipment hierarchy, tags,
ISA-88 batches, phases, events, offline samples, predictions, alarms, recipes, the list of
committed time-series Parquet files, quarantined rows and the hash-chained audit trail.
Time series themselves live in Parquet files listed in ``timeseries_files``.

Each migration is applied once, in order, in its own transaction; ``schema_version`` records
which ones a catalog has. Never edit a released migration: append a new one.
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb


@dataclass(frozen=True)
class Migration:
    """One schema change: a version number, what it does, and its SQL."""

    version: int
    description: str
    sql: str


_V1 = """
CREATE TABLE equipment (
    equipment_id VARCHAR PRIMARY KEY,
    level        VARCHAR NOT NULL CHECK (level IN ('site', 'area', 'unit', 'equipment')),
    kind         VARCHAR CHECK (kind IN
                   ('bioreactor', 'chromatography_skid', 'filtration', 'sensor', 'other')),
    parent_id    VARCHAR,
    name         VARCHAR,
    description  VARCHAR
);
CREATE TABLE tags (
    tag          VARCHAR PRIMARY KEY,
    unit         VARCHAR,            -- unit of measure of every stored value of this tag
    description  VARCHAR,
    equipment_id VARCHAR
);
CREATE TABLE recipes (
    recipe_id VARCHAR NOT NULL,
    version   INTEGER NOT NULL,
    name      VARCHAR,
    product   VARCHAR,
    body      VARCHAR,               -- JSON
    PRIMARY KEY (recipe_id, version)
);
CREATE TABLE batches (
    batch_id  VARCHAR PRIMARY KEY,
    product   VARCHAR,
    recipe_id VARCHAR,
    unit_id   VARCHAR,
    start_utc TIMESTAMPTZ,
    end_utc   TIMESTAMPTZ,
    status    VARCHAR NOT NULL,
    source    VARCHAR
);
CREATE TABLE phases (
    batch_id  VARCHAR NOT NULL,
    phase     VARCHAR NOT NULL,
    start_h   DOUBLE NOT NULL,
    end_h     DOUBLE,
    start_utc TIMESTAMPTZ,
    end_utc   TIMESTAMPTZ,
    PRIMARY KEY (batch_id, phase, start_h)
);
CREATE TABLE events (
    batch_id    VARCHAR NOT NULL,
    kind        VARCHAR NOT NULL,    -- feed, withdrawal, shift, alarm, operator_action, ...
    name        VARCHAR NOT NULL,
    time_h      DOUBLE NOT NULL,
    end_h       DOUBLE,
    time_utc    TIMESTAMPTZ,
    value       DOUBLE,
    unit        VARCHAR,
    description VARCHAR,
    PRIMARY KEY (batch_id, kind, name, time_h)
);
CREATE TABLE samples (
    batch_id        VARCHAR NOT NULL,
    assay           VARCHAR NOT NULL,
    sample_time_h   DOUBLE NOT NULL,
    sample_time_utc TIMESTAMPTZ,
    result_time_utc TIMESTAMPTZ,
    value           DOUBLE NOT NULL,
    std             DOUBLE,
    unit            VARCHAR,
    method          VARCHAR,
    lims_id         VARCHAR,
    PRIMARY KEY (batch_id, assay, sample_time_h)
);
CREATE TABLE predictions (
    model_id      VARCHAR NOT NULL,
    model_version VARCHAR NOT NULL,
    batch_id      VARCHAR NOT NULL,
    target        VARCHAR NOT NULL,
    time_h        DOUBLE NOT NULL,
    value         DOUBLE NOT NULL,
    lower         DOUBLE,
    upper         DOUBLE,
    unit          VARCHAR,
    created_utc   TIMESTAMPTZ,
    PRIMARY KEY (model_id, model_version, batch_id, target, time_h)
);
CREATE TABLE alarms (
    batch_id    VARCHAR NOT NULL,
    tag         VARCHAR NOT NULL,
    time_h      DOUBLE NOT NULL,
    time_utc    TIMESTAMPTZ,
    severity    VARCHAR NOT NULL,
    message     VARCHAR,
    state       VARCHAR NOT NULL DEFAULT 'active',
    PRIMARY KEY (batch_id, tag, time_h)
);
CREATE TABLE timeseries_files (
    path        VARCHAR PRIMARY KEY,  -- relative to the lake root
    batch_id    VARCHAR NOT NULL,
    unit_id     VARCHAR NOT NULL,
    n_rows      BIGINT NOT NULL,
    tags        VARCHAR[] NOT NULL,
    time_h_min  DOUBLE,
    time_h_max  DOUBLE,
    sha256      VARCHAR NOT NULL,
    size_bytes  BIGINT NOT NULL,
    created_utc TIMESTAMPTZ NOT NULL
);
CREATE INDEX timeseries_files_batch ON timeseries_files (batch_id);
CREATE TABLE quarantine (
    file        VARCHAR NOT NULL,
    line        BIGINT,
    column_name VARCHAR,
    reason      VARCHAR NOT NULL,
    raw         VARCHAR,
    batch_id    VARCHAR,
    created_utc TIMESTAMPTZ NOT NULL
);
CREATE TABLE audit (
    seq        BIGINT PRIMARY KEY,
    ts_utc     VARCHAR NOT NULL,     -- ISO 8601, kept as text so the hash is reproducible
    who        VARCHAR NOT NULL,
    action     VARCHAR NOT NULL,     -- insert, update, delete, migrate
    entity     VARCHAR NOT NULL,     -- the table written
    entity_key VARCHAR NOT NULL,
    why        VARCHAR NOT NULL,
    old_value  VARCHAR,              -- JSON
    new_value  VARCHAR,              -- JSON
    prev_hash  VARCHAR NOT NULL,
    hash       VARCHAR NOT NULL
);
"""

# One file may hold several batches (streamed appends, see ``Lake.append_timeseries``): the
# file list is keyed by (path, batch_id), one row per batch a file holds. DuckDB cannot
# change a primary key in place, so the table is rebuilt.
_V2 = """
CREATE TABLE timeseries_files_v2 (
    path        VARCHAR NOT NULL,     -- relative to the lake root
    batch_id    VARCHAR NOT NULL,
    unit_id     VARCHAR NOT NULL,
    n_rows      BIGINT NOT NULL,      -- rows of this batch in the file
    tags        VARCHAR[] NOT NULL,
    time_h_min  DOUBLE,
    time_h_max  DOUBLE,
    sha256      VARCHAR NOT NULL,
    size_bytes  BIGINT NOT NULL,
    created_utc TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (path, batch_id)
);
INSERT INTO timeseries_files_v2 SELECT * FROM timeseries_files;
DROP INDEX timeseries_files_batch;
DROP TABLE timeseries_files;
ALTER TABLE timeseries_files_v2 RENAME TO timeseries_files;
CREATE INDEX timeseries_files_batch ON timeseries_files (batch_id);
"""

#: Every migration, in order. The catalog's version is the last one applied.
MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "initial schema", _V1),
    Migration(2, "time-series files may hold several batches (streamed appends)", _V2),
)

#: Tables published as Parquet snapshots next to the time series (see docs/lake.md).
CATALOG_TABLES = (
    "equipment", "tags", "recipes", "batches", "phases", "events", "samples", "predictions",
    "alarms", "timeseries_files", "quarantine", "audit",
)


def current_version(con: duckdb.DuckDBPyConnection) -> int:
    """The catalog's schema version (0 for an empty database)."""
    exists = con.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_name = 'schema_version' "
        "AND table_catalog = current_database()"
    ).fetchall()
    if exists[0][0] == 0:
        return 0
    row = con.execute("SELECT max(version) FROM schema_version").fetchall()
    return int(row[0][0]) if row[0][0] is not None else 0


def migrate(
    con: duckdb.DuckDBPyConnection, migrations: tuple[Migration, ...] = MIGRATIONS
) -> list[int]:
    """Apply the pending migrations in order; return the versions applied.

    Each migration runs in its own transaction together with its ``schema_version`` row,
    so a catalog is always at a well-defined version.
    """
    con.execute(
        "CREATE TABLE IF NOT EXISTS schema_version ("
        " version INTEGER PRIMARY KEY, description VARCHAR NOT NULL,"
        " applied_utc TIMESTAMPTZ NOT NULL)"
    )
    have = current_version(con)
    applied = []
    for m in migrations:
        if m.version <= have:
            continue
        con.execute("BEGIN TRANSACTION")
        try:
            con.execute(m.sql)
            con.execute(
                "INSERT INTO schema_version VALUES (?, ?, now())", [m.version, m.description]
            )
            con.execute("COMMIT")
        except Exception:
            con.execute("ROLLBACK")
            raise
        applied.append(m.version)
    return applied

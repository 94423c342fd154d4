"""The tracker's SQL tables and the ordered migrations that create and change them.

``tracker_schema_version`` holds one row per applied migration; :func:`apply_migrations`
runs the missing ones in order, inside the caller's transaction (which holds a lock, so
two processes starting together never both migrate).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import orjson
import sqlalchemy as sa

from services.core.errors import ConfigurationError
from services.storage.timezones import as_utc

__all__ = [
    "MIGRATION_LOCK",
    "SCHEMA_VERSION",
    "apply_migrations",
    "attempts",
    "changes",
    "deliveries",
    "department_states",
    "schema_versions",
]

#: PostgreSQL advisory lock key taken by every migrating tracker ("tracker" in ASCII).
MIGRATION_LOCK = 0x74_72_61_63_6B_65_72
_SEQ = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _v1_tables(metadata: sa.MetaData) -> tuple[sa.Table, sa.Table]:
    # The tables as migration 1 creates them. A later migration that alters a table must
    # give the earlier migrations a frozen copy of its function, so old steps never change.
    changes = sa.Table(
        "tracker_changes",
        metadata,
        sa.Column("seq", _SEQ, primary_key=True, autoincrement=True),
        sa.Column("reference", sa.Text(), nullable=False, unique=True),
        sa.Column("event_id", sa.Text(), nullable=False, unique=True),
        sa.Column("type", sa.Text(), nullable=False),
        sa.Column("schema_version", sa.Integer(), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("channel", sa.Text(), nullable=False),
        sa.Column("notified", sa.Text(), nullable=False),  # JSON list
        sa.Column("document", sa.Text(), nullable=True),  # JSON; NULL once purged
        sa.Index("ix_tracker_changes_received_at", "received_at"),
        sqlite_autoincrement=True,
    )
    deliveries = sa.Table(
        "tracker_deliveries",
        metadata,
        # Order of first recording: the stable key of pagination, never updated.
        sa.Column("seq", _SEQ, primary_key=True, autoincrement=True),
        sa.Column("delivery_id", sa.Text(), nullable=False, unique=True),
        sa.Column("reference", sa.Text(), nullable=False),
        sa.Column("event_id", sa.Text(), nullable=False),
        sa.Column("department", sa.Text(), nullable=False),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("attempts", sa.Text(), nullable=False),  # JSON list
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("last_attempt_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Index("ix_tracker_deliveries_event_id", "event_id"),
        sa.Index("ix_tracker_deliveries_reference_seq", "reference", "seq"),
        sa.Index("ix_tracker_deliveries_department_status_seq", "department", "status", "seq"),
        sa.Index("ix_tracker_deliveries_department_delivered", "department", "delivered_at"),
        sa.Index("ix_tracker_deliveries_department_finished", "department", "finished_at"),
        sqlite_autoincrement=True,
    )
    return changes, deliveries


def _migration_1(connection: sa.Connection) -> None:
    """Changes and their deliveries."""
    metadata = sa.MetaData()
    _v1_tables(metadata)
    metadata.create_all(connection)


def _v2_department_states(metadata: sa.MetaData) -> sa.Table:
    return sa.Table(
        "tracker_department_states",
        metadata,
        sa.Column("department", sa.Text(), primary_key=True),
        sa.Column("paused", sa.Boolean(), nullable=False),
        sa.Column("circuit", sa.Text(), nullable=False),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("reported_at", sa.DateTime(timezone=True), nullable=False),
    )


def _migration_2(connection: sa.Connection) -> None:
    """Each department's pause and circuit state, as its adapters last reported it."""
    metadata = sa.MetaData()
    _v2_department_states(metadata)
    metadata.create_all(connection)


def _v3_attempts(metadata: sa.MetaData) -> sa.Table:
    return sa.Table(
        "tracker_attempts",
        metadata,
        # One row per attempt: its delivery and place in the (append-only) attempt log.
        sa.Column("delivery_id", sa.Text(), primary_key=True),
        sa.Column("position", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("department", sa.Text(), nullable=False),
        sa.Column("attempted_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=True),
        sa.Column("latency_ms", sa.Float(), nullable=False),
        # Covers the latency histogram per department (an index-only scan on PostgreSQL).
        sa.Index("ix_tracker_attempts_department_latency", "department", "latency_ms"),
    )


_BACKFILL_BATCH = 1000


def _migration_3(connection: sa.Connection) -> None:
    """Attempts in rows of their own (for latency metrics), filled from the attempt logs."""
    metadata = sa.MetaData()
    attempts_v3 = _v3_attempts(metadata)
    metadata.create_all(connection)
    _, deliveries_v1 = _v1_tables(sa.MetaData())
    d = deliveries_v1.c
    query = sa.select(d.seq, d.delivery_id, d.department, d.attempts).order_by(d.seq)
    last = 0
    while True:
        rows = connection.execute(query.where(d.seq > last).limit(_BACKFILL_BATCH)).all()
        if not rows:
            return
        last = rows[-1].seq
        filled = [
            {
                "delivery_id": row.delivery_id,
                "position": position,
                "department": row.department,
                "attempted_at": as_utc(datetime.fromisoformat(attempt["at"])),
                "status_code": attempt["status_code"],
                "latency_ms": attempt["latency_ms"],
            }
            for row in rows
            for position, attempt in enumerate(orjson.loads(row.attempts))
        ]
        if filled:  # an empty parameter list would insert one row of defaults
            connection.execute(sa.insert(attempts_v3), filled)


#: Applied in order; the N-th entry takes the schema from version N-1 to N. Append only.
_MIGRATIONS: tuple[Callable[[sa.Connection], None], ...] = (
    _migration_1,
    _migration_2,
    _migration_3,
)
#: The schema version this code reads and writes.
SCHEMA_VERSION = len(_MIGRATIONS)

_metadata = sa.MetaData()
#: The tables at :data:`SCHEMA_VERSION`, for queries (never created from here).
changes, deliveries = _v1_tables(_metadata)
department_states = _v2_department_states(_metadata)
attempts = _v3_attempts(_metadata)
schema_versions = sa.Table(
    "tracker_schema_version",
    _metadata,
    sa.Column("version", sa.Integer(), primary_key=True, autoincrement=False),
    sa.Column("applied_at", sa.DateTime(timezone=True), nullable=False),
)


def apply_migrations(connection: sa.Connection) -> int:
    """Apply the migrations this database lacks, in order; return the schema version.

    Call it inside a transaction that holds the migration lock.

    Raises:
        ConfigurationError: the database was migrated by newer code.
    """
    schema_versions.create(connection, checkfirst=True)
    current = connection.execute(
        sa.select(sa.func.coalesce(sa.func.max(schema_versions.c.version), 0))
    ).scalar_one()
    if current > SCHEMA_VERSION:
        raise ConfigurationError(
            f"the tracker database is at schema version {current}, newer than this code's "
            f"{SCHEMA_VERSION}: upgrade the tracker"
        )
    for version in range(current + 1, SCHEMA_VERSION + 1):
        _MIGRATIONS[version - 1](connection)
        applied = {"version": version, "applied_at": datetime.now(UTC)}
        connection.execute(sa.insert(schema_versions).values(**applied))
    return SCHEMA_VERSION

"""The tracker's SQL tables and the ordered migrations that create and change them.

``tracker_schema_version`` holds one row per applied migration; :func:`apply_migrations`
runs the missing ones in order, inside the caller's transaction (which holds a lock, so
two processes starting together never both migrate).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import sqlalchemy as sa

from services.core.errors import ConfigurationError

__all__ = [
    "MIGRATION_LOCK",
    "SCHEMA_VERSION",
    "apply_migrations",
    "changes",
    "deliveries",
    "schema_versions",
]

#: PostgreSQL advisory lock key taken by every migrating tracker ("tracker" in ASCII).
MIGRATION_LOCK = 0x74_72_61_63_6B_65_72
_SEQ = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _v1_tables(metadata: sa.MetaData) -> tuple[sa.Table, sa.Table]:
    # The tables as migration 1 creates them. A later migration that alters a table must
    # give migration 1 a frozen copy of this function, so old steps never change.
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


#: Applied in order; the N-th entry takes the schema from version N-1 to N. Append only.
_MIGRATIONS: tuple[Callable[[sa.Connection], None], ...] = (_migration_1,)
#: The schema version this code reads and writes.
SCHEMA_VERSION = len(_MIGRATIONS)

_metadata = sa.MetaData()
#: The tables at :data:`SCHEMA_VERSION`, for queries (never created from here).
changes, deliveries = _v1_tables(_metadata)
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

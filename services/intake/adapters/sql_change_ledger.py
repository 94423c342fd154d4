"""ChangeLedger in SQL: one row per accepted change, shared by every intake replica.

Rows are written through a :class:`GroupCommit`: the entries of concurrent requests are
inserted together (one ``executemany``, one transaction), and each ``record`` returns only
once its row is committed (a correction may name the reference a moment later). On the
SQLite writer's own connection the insert is driver SQL, its values written as
SQLAlchemy's types write them (a test compares the rows): SQLAlchemy's statement
execution and per-row processing cost more than SQLite's work on the rows (py-spy of the
intake under load). Lookups of concurrent requests are answered by one ``SELECT … WHERE
reference IN (…)``; a lookup is queued before that query starts, so it sees every row
committed before it was asked.
"""

from __future__ import annotations

from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncEngine

from services.intake.ports import LedgerEntry
from services.storage.batching import Batcher
from services.storage.group_commit import GroupCommit
from services.storage.tables import create_tables
from services.storage.timezones import as_utc

__all__ = ["SqlChangeLedger"]

_metadata = sa.MetaData()
_changes = sa.Table(
    "intake_changes",
    _metadata,
    sa.Column("reference", sa.String(14), primary_key=True),
    sa.Column("event_id", sa.String(36), nullable=False),
    sa.Column("type", sa.String(64), nullable=False),
    sa.Column("citizen_key", sa.String(64), nullable=False),
    sa.Column("notified", sa.Text(), nullable=False),  # a JSON list of organisation ids
    sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
)


class SqlChangeLedger:
    """Ledger rows keyed by reference; INSERT … ON CONFLICT DO NOTHING keeps the first."""

    def __init__(self, engine: AsyncEngine, *, writes: GroupCommit | None = None) -> None:
        """``writes``: the engine's group commit, shared with the other stores on it."""
        self._engine = engine
        self._writes = writes or GroupCommit(engine)
        dialect = postgresql if engine.dialect.name == "postgresql" else sqlite
        self._insert = dialect.insert(_changes).on_conflict_do_nothing()
        self._select = sa.select(_changes).where(
            _changes.c.reference.in_(sa.bindparam("refs", expanding=True))
        )
        self._lookups: Batcher[str, LedgerEntry | None] = Batcher(
            self._find_many, name="ledger-lookups"
        )

    async def create_schema(self) -> None:
        """Create the table if it does not exist (idempotent)."""
        await create_tables(self._engine, _metadata)

    async def record(self, entry: LedgerEntry) -> None:
        """Remember ``entry`` unless its reference is already known; return once committed."""
        values = {
            "reference": entry.reference,
            "event_id": entry.event_id,
            "type": entry.type,
            "citizen_key": entry.citizen_key,
            "notified": orjson.dumps(list(entry.notified)).decode(),
            "received_at": entry.received_at,
        }
        await self._writes.grouped(self._insert_rows, values)

    def _insert_rows(self, connection: sa.Connection, rows: list[dict[str, Any]]) -> list[None]:
        if connection.dialect.driver == "pysqlite":  # the SqliteWriter's synchronous connection
            dbapi = connection.connection.dbapi_connection
            assert dbapi is not None  # noqa: S101 - inside the batch's transaction
            dbapi.executemany(_SQLITE_INSERT, [_sqlite_row(row) for row in rows])
        else:
            connection.execute(self._insert, rows)
        return [None] * len(rows)

    async def find(self, reference: str) -> LedgerEntry | None:
        """The entry of a canonical reference, or None if no change has it."""
        return await self._lookups.submit(reference)

    async def aclose(self) -> None:
        """Answer the lookups already queued, then refuse new ones."""
        await self._lookups.aclose()

    async def _find_many(self, references: list[str]) -> list[LedgerEntry | None]:
        async with self._engine.connect() as connection:
            result = await connection.execute(self._select, {"refs": sorted(set(references))})
            found = {row.reference: _entry(row._mapping) for row in result}  # noqa: SLF001
        return [found.get(reference) for reference in references]


_SQLITE_INSERT = (
    "INSERT INTO intake_changes (reference, event_id, type, citizen_key, notified, received_at)"
    " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING"
)


def _sqlite_row(row: dict[str, Any]) -> tuple[Any, ...]:
    received_at = row["received_at"]
    return (
        row["reference"],
        row["event_id"],
        row["type"],
        row["citizen_key"],
        row["notified"],
        # SQLAlchemy's SQLite DATETIME text: the time's own fields, microseconds always.
        received_at.replace(tzinfo=None).isoformat(" ", "microseconds"),
    )


def _entry(row: Any) -> LedgerEntry:  # noqa: ANN401 - a SQLAlchemy row mapping
    return LedgerEntry(
        reference=row["reference"],
        event_id=row["event_id"],
        type=row["type"],
        citizen_key=row["citizen_key"],
        notified=tuple(orjson.loads(row["notified"])),
        received_at=as_utc(row["received_at"]),
    )

"""IdempotencyStore in SQL (SQLite by default, PostgreSQL in production).

Every intake replica pointed at the same database shares the keys: the primary key on
(channel, key) makes ``claim`` atomic across processes (INSERT … ON CONFLICT DO NOTHING,
then read back whichever row won). Claims and marks are written through a
:class:`GroupCommit`, in the same transactions as the other writes of concurrent requests:
the claims of one batch are three statements in all (expire, insert, read back), not three
each.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any, Literal, cast

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncEngine

from services.intake.ports import IdempotencyRecord
from services.storage.group_commit import GroupCommit
from services.storage.tables import create_tables
from services.storage.timezones import as_utc

__all__ = ["SqlIdempotencyStore"]

_metadata = sa.MetaData()
_keys = sa.Table(
    "intake_idempotency_keys",
    _metadata,
    sa.Column("channel", sa.String(64), primary_key=True),
    sa.Column("key", sa.String(255), primary_key=True),
    sa.Column("fingerprint", sa.String(64), nullable=False),
    sa.Column("reference", sa.String(14), nullable=False),
    sa.Column("event_id", sa.String(36), nullable=False),
    sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("state", sa.String(16), nullable=False),
)


class SqlIdempotencyStore:
    """Idempotency records in a SQL table, shared by every intake replica."""

    def __init__(
        self, engine: AsyncEngine, *, ttl: timedelta, writes: GroupCommit | None = None
    ) -> None:
        """``writes``: the engine's group commit, shared with the other stores on it."""
        self._engine = engine
        self._ttl = ttl
        self._writes = writes or GroupCommit(engine)
        dialect = postgresql if engine.dialect.name == "postgresql" else sqlite
        # Built once: a statement built per call is compiled (cache-keyed) per call.
        self._insert = (
            dialect.insert(_keys).on_conflict_do_nothing().returning(_keys.c.channel, _keys.c.key)
        )
        # A key older than the TTL may be used afresh: it is dropped before claiming.
        self._expire = sa.delete(_keys).where(
            _keys.c.channel == sa.bindparam("b_channel"),
            _keys.c.key == sa.bindparam("b_key"),
            _keys.c.received_at < sa.bindparam("b_cutoff"),
        )
        self._read_back = sa.select(_keys).where(
            _keys.c.channel.in_(sa.bindparam("b_channels", expanding=True)),
            _keys.c.key.in_(sa.bindparam("b_keys", expanding=True)),
        )
        self._mark = (
            sa.update(_keys)
            .where(_keys.c.channel == sa.bindparam("b_channel"))
            .where(_keys.c.key == sa.bindparam("b_key"))
            .values(state="published")
        )

    async def create_schema(self) -> None:
        """Create the table if it does not exist (idempotent)."""
        await create_tables(self._engine, _metadata)

    async def claim(self, candidate: IdempotencyRecord) -> tuple[IdempotencyRecord, bool]:
        """Store ``candidate`` unless the key is taken; return (record, created)."""
        return await self._writes.grouped(self._claim_all, candidate)

    def _claim_all(
        self, connection: sa.Connection, candidates: list[IdempotencyRecord]
    ) -> list[tuple[IdempotencyRecord, bool]]:
        """Claim every candidate of a batch, in order: the first of a key may create it."""
        connection.execute(
            self._expire,
            [
                {"b_channel": c.channel, "b_key": c.key, "b_cutoff": c.received_at - self._ttl}
                for c in candidates
            ],
        )
        inserted = connection.execute(
            self._insert,
            [
                {
                    "channel": c.channel,
                    "key": c.key,
                    "fingerprint": c.fingerprint,
                    "reference": c.reference,
                    "event_id": c.event_id,
                    "received_at": c.received_at,
                    "state": c.state,
                }
                for c in candidates
            ],
        )
        created = {(row.channel, row.key) for row in inserted}
        rows = connection.execute(
            self._read_back,
            {
                "b_channels": sorted({c.channel for c in candidates}),
                "b_keys": sorted({c.key for c in candidates}),
            },
        )
        stored = {(row.channel, row.key): _record(row._mapping) for row in rows}  # noqa: SLF001
        results = []
        for candidate in candidates:
            pair = (candidate.channel, candidate.key)
            # Rows are inserted in order, so of several claims of one key in this batch
            # only the first can have created it.
            results.append((stored[pair], pair in created))
            created.discard(pair)
        return results

    async def mark_published(self, channel: str, key: str) -> None:
        """Record that the event of this key is durably on Kafka."""
        await self._writes.execute(self._mark, {"b_channel": channel, "b_key": key})


def _record(row: Any) -> IdempotencyRecord:  # noqa: ANN401 - a SQLAlchemy row mapping
    received_at = as_utc(row["received_at"])
    return IdempotencyRecord(
        channel=row["channel"],
        key=row["key"],
        fingerprint=row["fingerprint"],
        reference=row["reference"],
        event_id=row["event_id"],
        received_at=received_at,
        state=cast("Literal['pending', 'published']", row["state"]),
    )

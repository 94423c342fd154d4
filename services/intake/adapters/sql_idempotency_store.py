"""IdempotencyStore in SQL (SQLite by default, PostgreSQL in production).

Every intake replica pointed at the same database shares the keys: the primary key on
(channel, key) makes ``claim`` atomic across processes (INSERT … ON CONFLICT DO NOTHING,
then read back whichever row won).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any, Literal, cast

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncEngine

from services.intake.ports import IdempotencyRecord
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

    def __init__(self, engine: AsyncEngine, *, ttl: timedelta) -> None:
        self._engine = engine
        self._ttl = ttl

    async def create_schema(self) -> None:
        """Create the table if it does not exist (idempotent)."""
        await create_tables(self._engine, _metadata)

    async def claim(self, candidate: IdempotencyRecord) -> tuple[IdempotencyRecord, bool]:
        """Store ``candidate`` unless the key is taken; return (record, created)."""
        values = {
            "channel": candidate.channel,
            "key": candidate.key,
            "fingerprint": candidate.fingerprint,
            "reference": candidate.reference,
            "event_id": candidate.event_id,
            "received_at": candidate.received_at,
            "state": candidate.state,
        }
        dialect = postgresql if self._engine.dialect.name == "postgresql" else sqlite
        insert = dialect.insert(_keys).values(**values).on_conflict_do_nothing()
        async with self._engine.begin() as connection:
            await self._expire(connection, candidate)
            created = (await connection.execute(insert)).rowcount == 1
            row = (
                await connection.execute(
                    sa.select(_keys).where(
                        _keys.c.channel == candidate.channel, _keys.c.key == candidate.key
                    )
                )
            ).one()
        return _record(row._mapping), created  # noqa: SLF001 - public SQLAlchemy API

    async def _expire(self, connection: Any, candidate: IdempotencyRecord) -> None:  # noqa: ANN401
        # A key older than the TTL may be used afresh: drop it before claiming.
        cutoff = candidate.received_at - self._ttl
        await connection.execute(
            sa.delete(_keys).where(
                _keys.c.channel == candidate.channel,
                _keys.c.key == candidate.key,
                _keys.c.received_at < cutoff,
            )
        )

    async def mark_published(self, channel: str, key: str) -> None:
        """Record that the event of this key is durably on Kafka."""
        async with self._engine.begin() as connection:
            await connection.execute(
                sa.update(_keys)
                .where(_keys.c.channel == channel, _keys.c.key == key)
                .values(state="published")
            )


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

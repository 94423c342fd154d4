"""Creating a store's tables safely when several processes start at once."""

from __future__ import annotations

import zlib

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

__all__ = ["create_tables"]

_ATTEMPTS = 3


async def create_tables(engine: AsyncEngine, metadata: sa.MetaData) -> None:
    """Create ``metadata``'s missing tables; safe for replicas starting together.

    ``CREATE TABLE`` after a check is a race between processes: on PostgreSQL a
    transaction-level advisory lock (keyed by the table names) serialises them; on SQLite
    a process that loses the race finds the table on its next try.
    """
    key = zlib.crc32(",".join(sorted(metadata.tables)).encode()) & 0x7FFFFFFF
    for attempt in range(_ATTEMPTS):
        try:
            async with engine.begin() as connection:
                if engine.dialect.name == "postgresql":
                    await connection.execute(sa.select(sa.func.pg_advisory_xact_lock(key)))
                await connection.run_sync(metadata.create_all)
        except (sa.exc.IntegrityError, sa.exc.OperationalError, sa.exc.ProgrammingError):
            if attempt == _ATTEMPTS - 1:
                raise
        else:
            return

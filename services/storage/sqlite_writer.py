"""Writes to a SQLite file on the event loop's own thread, without waiting for its lock.

aiosqlite runs every call (cursor, execute, fetch, commit…) on a thread of its own: each is
a round trip between two threads, and a single-row transaction costs ~0.6 ms of CPU
(measured on this project's 2-core VM at 200 transactions/s, most of it waking threads).
A short SQLite transaction run directly on the loop's thread costs ~0.15 ms through
SQLAlchemy and holds the loop for about that long: cheaper than the round trips, and
sooner done.

The one thing that must never happen on the loop's thread is waiting: the writer's
connection has no busy timeout and begins with ``BEGIN IMMEDIATE``, so if another process
holds the file's write lock the transaction fails at once with :class:`WriteLockBusy`,
having written nothing, and the caller runs it elsewhere (on the async engine, whose busy
timeout waits off the loop).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

__all__ = ["SqliteWriter", "WriteLockBusy"]

T = TypeVar("T")
_BUSY = {sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED}


class WriteLockBusy(Exception):  # noqa: N818 - a condition, not a fault
    """Another connection holds the database's write lock; nothing was written."""


class SqliteWriter:
    """One synchronous connection to the SQLite file of an async engine, for writes only.

    Use :meth:`for_engine`; ``None`` means the engine is not a SQLite file (PostgreSQL, or
    an in-memory database, which another connection would not see).
    """

    def __init__(self, url: sa.URL) -> None:
        # No busy timeout: a locked file must fail the BEGIN at once, not block the loop.
        self._engine = sa.create_engine(
            url,
            connect_args={"timeout": 0, "check_same_thread": False},
            poolclass=sa.pool.StaticPool,
        )
        sa.event.listen(self._engine, "connect", _configure)
        sa.event.listen(self._engine, "begin", _begin_immediate)
        self._connection: sa.Connection | None = None

    @classmethod
    def for_engine(cls, engine: AsyncEngine) -> SqliteWriter | None:
        """A writer for the engine's SQLite file, or None if it has none."""
        url = engine.url
        if url.get_backend_name() != "sqlite" or url.database in {None, "", ":memory:"}:
            return None
        return cls(url.set(drivername="sqlite"))

    def run(self, work: Callable[[sa.Connection], T]) -> T:
        """Run ``work`` in one transaction and commit it; roll it back if anything raises.

        Raises:
            WriteLockBusy: the file's write lock is held elsewhere; nothing was written.
        """
        try:
            connection = self._connection
            if connection is None or connection.closed:
                connection = self._connection = self._engine.connect()
            with connection.begin():
                return work(connection)
        except sa.exc.OperationalError as exc:
            if getattr(exc.orig, "sqlite_errorcode", None) in _BUSY:
                raise WriteLockBusy from None
            raise

    def close(self) -> None:
        """Close the connection (a later ``run`` opens a new one)."""
        if self._connection is not None:
            self._connection.close()
            self._connection = None
        self._engine.dispose()


def _configure(dbapi_connection: Any, _: Any) -> None:  # noqa: ANN401 - a DBAPI connection
    # pysqlite's own transaction handling off, so that BEGIN IMMEDIATE is ours.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def _begin_immediate(connection: sa.Connection) -> None:
    # Take the write lock at the start: the only point at which a transaction can find it
    # busy, before it has written anything.
    connection.exec_driver_sql("BEGIN IMMEDIATE")

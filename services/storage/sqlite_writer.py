"""Writes to a SQLite file in one call per transaction, without waiting for its lock.

aiosqlite runs every call (cursor, execute, fetch, commit…) on a thread of its own: each is
a round trip between two threads, and a single-row transaction costs ~0.6 ms of CPU
(measured on this project's 2-core VM at 200 transactions/s, most of it waking threads).
Here a whole transaction is one call: run directly on the loop's thread (``run``: ~0.15 ms
through SQLAlchemy for a short one, holding the loop for about that long), or as one round
trip to the writer's own thread (``run_in_thread``: for long ones, as SQLite releases the
GIL while it works).

What must never happen is waiting for the lock: the writer's connection has no busy
timeout and begins with ``BEGIN IMMEDIATE``, so if another process holds the file's write
lock the transaction fails at once with :class:`WriteLockBusy`, having written nothing,
and the caller runs it elsewhere (on the async engine, whose busy timeout waits off the
loop).
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

__all__ = ["SqliteWriter", "WriteLockBusy"]

T = TypeVar("T")
# Primary result codes; the extended ones (SQLITE_BUSY_SNAPSHOT…) carry them in the low byte.
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
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite-writer")
        # The transaction on the writer's thread, which may outlive a cancelled caller.
        self._in_thread: Future[Any] | None = None

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
            WriteLockBusy: the file's write lock is held elsewhere (or by this writer's
                thread, still at work); nothing was written.
        """
        self._check_idle()
        return self._transaction(work)

    async def run_in_thread(self, work: Callable[[sa.Connection], T]) -> T:
        """``run`` on the writer's own thread, the event loop free meanwhile."""
        self._check_idle()
        self._in_thread = self._thread.submit(self._transaction, work)
        result: T = await asyncio.wrap_future(self._in_thread)
        return result

    def close(self) -> None:
        """Wait for a transaction under way on the writer's thread; close the connection."""
        self._thread.shutdown(wait=True)
        if self._connection is not None:
            self._connection.close()
            self._connection = None
        self._engine.dispose()

    def _check_idle(self) -> None:
        # The connection must never carry two transactions at once.
        if self._in_thread is not None and not self._in_thread.done():
            raise WriteLockBusy

    def _transaction(self, work: Callable[[sa.Connection], T]) -> T:
        try:
            connection = self._connection
            if connection is None or connection.closed:
                connection = self._connection = self._engine.connect()
            with connection.begin():
                return work(connection)
        except sa.exc.OperationalError as exc:
            code = getattr(exc.orig, "sqlite_errorcode", None)
            if isinstance(code, int) and (code & 0xFF) in _BUSY:
                raise WriteLockBusy from None
            raise


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

"""Writes to a SQLite file in one call per transaction, without waiting for its lock.

aiosqlite runs every call (cursor, execute, fetch, commit…) on a thread of its own: each is
a round trip between two threads, and a single-row transaction costs ~0.6 ms of CPU
(measured on this project's 2-core VM at 200 transactions/s, most of it waking threads).
Here a whole transaction is one call: a short one runs directly on the event loop's thread
(~0.15 ms through SQLAlchemy, holding the loop for about that long), a long one as one
round trip to the writer's own thread (SQLite releases the GIL while it works, so the loop
goes on meanwhile).

What the loop's thread must never do is wait:

- for the lock: the writer's connection has no busy timeout and begins with ``BEGIN
  IMMEDIATE``, so if another process holds the file's write lock the transaction fails at
  once with :class:`WriteLockBusy`, having written nothing, and the caller runs it
  elsewhere (on the async engine, whose busy timeout waits off the loop);
- for a checkpoint of the WAL, which SQLite otherwise runs inside the committing
  transaction (an fsync or two: ~5 ms every few hundred commits, measured): the writer's
  connection does not checkpoint by itself; once ``CHECKPOINT_ROWS`` rows and a second
  have passed, the next transaction goes to the writer's thread and checkpoints there
  after its commit, before the next one begins (so the checkpoint completes and the WAL
  starts over).
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from services.core.logging import get_logger

__all__ = [
    "CHECKPOINT_INTERVAL_S",
    "CHECKPOINT_ROWS",
    "INLINE_ROWS",
    "SqliteWriter",
    "WriteLockBusy",
]

#: A transaction of at most this many rows runs on the event loop's thread (~10 µs a row).
INLINE_ROWS = 64
#: A checkpoint of the WAL is due once this many rows were written (a transaction counts at
#: least one) and ``CHECKPOINT_INTERVAL_S`` passed since the last: each costs an fsync or two.
CHECKPOINT_ROWS = 500
CHECKPOINT_INTERVAL_S = 1.0

T = TypeVar("T")
# Primary result codes; the extended ones (SQLITE_BUSY_SNAPSHOT…) carry them in the low byte.
_BUSY = {sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED}
_log = get_logger(__name__)


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
        self._rows_since_checkpoint = 0
        self._last_checkpoint = time.monotonic()

    @classmethod
    def for_engine(cls, engine: AsyncEngine) -> SqliteWriter | None:
        """A writer for the engine's SQLite file, or None if it has none."""
        url = engine.url
        if url.get_backend_name() != "sqlite" or url.database in {None, "", ":memory:"}:
            return None
        return cls(url.set(drivername="sqlite"))

    async def write(self, work: Callable[[sa.Connection], T], *, rows: int = 1) -> T:
        """Run ``work`` in one transaction and commit it; roll it back if anything raises.

        ``rows``: about how many rows it writes; up to ``INLINE_ROWS`` it runs on the
        event loop's thread (unless a checkpoint is due), beyond on the writer's thread.

        Raises:
            WriteLockBusy: the file's write lock is held elsewhere (or by this writer's
                thread, still at work); nothing was written.
        """
        if self._in_thread is not None and not self._in_thread.done():
            raise WriteLockBusy  # the connection never carries two transactions at once
        rows = max(rows, 1)
        self._rows_since_checkpoint += rows
        due = (
            self._rows_since_checkpoint >= CHECKPOINT_ROWS
            and time.monotonic() - self._last_checkpoint >= CHECKPOINT_INTERVAL_S
        )
        if rows <= INLINE_ROWS and not due:
            return self._transaction(work)
        self._in_thread = self._thread.submit(self._transaction, work, checkpoint=due)
        result: T = await asyncio.wrap_future(self._in_thread)
        return result

    def close(self) -> None:
        """Wait for a transaction under way on the writer's thread; close the connection."""
        self._thread.shutdown(wait=True)
        if self._connection is not None:
            self._connection.close()
            self._connection = None
        self._engine.dispose()

    def _transaction(self, work: Callable[[sa.Connection], T], *, checkpoint: bool = False) -> T:
        try:
            connection = self._connection
            if connection is None or connection.closed:
                connection = self._connection = self._engine.connect()
            with connection.begin():
                result = work(connection)
        except (sa.exc.OperationalError, sqlite3.OperationalError) as exc:
            # The BEGIN is the driver's own (unwrapped); a statement's error is SQLAlchemy's.
            error = exc.orig if isinstance(exc, sa.exc.OperationalError) else exc
            code = getattr(error, "sqlite_errorcode", None)
            if isinstance(code, int) and (code & 0xFF) in _BUSY:
                raise WriteLockBusy from None
            raise
        if checkpoint:
            self._checkpoint(connection)
        return result

    def _checkpoint(self, connection: sa.Connection) -> None:
        # PASSIVE: copies what no reader still needs; never waits for or blocks anyone. On
        # the driver's connection, outside any transaction (SQLAlchemy's would begin one).
        self._rows_since_checkpoint = 0
        self._last_checkpoint = time.monotonic()
        try:
            dbapi = connection.connection.dbapi_connection
            if dbapi is not None:
                dbapi.cursor().execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
        except sqlite3.Error as exc:  # the commit stands; the next checkpoint catches up
            _log.warning("WAL checkpoint failed", error=type(exc).__name__)


def _configure(dbapi_connection: Any, _: Any) -> None:  # noqa: ANN401 - a DBAPI connection
    # pysqlite's own transaction handling off, so that BEGIN IMMEDIATE is ours.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA wal_autocheckpoint=0")  # see the module's docstring
    cursor.close()


def _begin_immediate(connection: sa.Connection) -> None:
    # Take the write lock at the start: the only point at which a transaction can find it
    # busy, before it has written anything. On the driver's connection: SQLAlchemy's
    # statement machinery (exec_driver_sql) cost as much as the batch's inserts (py-spy).
    dbapi = connection.connection.dbapi_connection
    assert dbapi is not None  # noqa: S101 - begin is dispatched on a live connection
    dbapi.execute("BEGIN IMMEDIATE")

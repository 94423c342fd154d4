"""Group commit on a SQLite file: written on the loop's thread, never waiting there for a lock."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from services.storage import sqlite_writer
from services.storage.engine import create_engine
from services.storage.group_commit import MANY_ROWS, GroupCommit
from services.storage.sqlite_writer import INLINE_ROWS, SqliteWriter, WriteLockBusy

pytestmark = pytest.mark.integration

_metadata = sa.MetaData()
_rows = sa.Table("rows", _metadata, sa.Column("n", sa.Integer, primary_key=True))


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'rows.db'}")
    async with engine.begin() as connection:
        await connection.run_sync(_metadata.create_all)
    yield engine
    await engine.dispose()


@pytest.fixture
def other_process(tmp_path: Path) -> Iterator[sqlite3.Connection]:
    """Another connection to the file, as another process would have (autocommit mode)."""
    connection = sqlite3.connect(tmp_path / "rows.db", isolation_level=None)
    yield connection
    connection.close()


def _insert(n: int, connection: sa.Connection) -> None:
    connection.execute(_rows.insert(), {"n": n})


async def _stored(engine: AsyncEngine) -> list[int]:
    async with engine.connect() as connection:
        return list((await connection.execute(sa.select(_rows.c.n).order_by(_rows.c.n))).scalars())


def test_only_a_sqlite_file_gets_a_writer():
    assert SqliteWriter.for_engine(create_engine("sqlite+aiosqlite:///:memory:")) is None
    assert SqliteWriter.for_engine(create_engine("postgresql+asyncpg://u@h/db")) is None


async def test_a_locked_file_fails_at_once_and_writes_nothing(engine, other_process):
    writer = SqliteWriter.for_engine(engine)
    assert writer is not None
    other_process.execute("BEGIN IMMEDIATE")
    try:
        with pytest.raises(WriteLockBusy):
            await writer.write(lambda connection: _insert(1, connection))
    finally:
        other_process.execute("ROLLBACK")
    await writer.write(lambda connection: _insert(2, connection))
    writer.close()
    assert await _stored(engine) == [2]


async def test_writes_wait_off_the_loop_while_another_process_holds_the_lock(engine, other_process):
    writes = GroupCommit(engine)
    await writes.run(lambda connection: _insert(1, connection))  # the writer is connected
    other_process.execute("BEGIN IMMEDIATE")
    waiting = asyncio.create_task(writes.run(lambda connection: _insert(2, connection)))
    ticks = 0
    while ticks < 20:  # the loop keeps running while the write waits for the lock
        await asyncio.sleep(0.01)
        ticks += 1
    assert not waiting.done()
    other_process.execute("COMMIT")
    await asyncio.wait_for(waiting, timeout=30)
    await writes.aclose()
    assert await _stored(engine) == [1, 2]


async def test_a_failing_batch_written_on_the_loop_keeps_nothing(engine):
    writes = GroupCommit(engine)

    def broken(connection: sa.Connection) -> None:
        _insert(5, connection)
        raise OSError("the disk is full")

    outcomes = await asyncio.gather(
        writes.run(lambda connection: _insert(4, connection)),
        writes.run(broken),
        return_exceptions=True,
    )
    assert all(isinstance(outcome, OSError) for outcome in outcomes)
    await writes.run(lambda connection: _insert(6, connection))
    await writes.aclose()
    assert await _stored(engine) == [6]


async def test_small_batches_run_on_the_loop_thread_and_large_ones_on_the_writers(engine):
    writes = GroupCommit(engine)
    threads: list[threading.Thread] = []

    def work(connection: sa.Connection) -> None:
        threads.append(threading.current_thread())
        _insert(len(threads), connection)

    await writes.run(work, rows=INLINE_ROWS)
    await writes.run(work, rows=INLINE_ROWS + 1)
    await writes.run(work, rows=MANY_ROWS)
    await writes.aclose()
    loop_thread = threading.current_thread()
    assert threads[0] is loop_thread
    assert threads[1] is not loop_thread
    assert threads[2] is threads[1]
    assert await _stored(engine) == [1, 2, 3]


async def test_the_connection_never_carries_two_transactions_at_once(engine):
    writer = SqliteWriter.for_engine(engine)
    assert writer is not None
    release = threading.Event()

    def slow(connection: sa.Connection) -> None:
        _insert(1, connection)
        release.wait(timeout=30)

    in_thread = asyncio.create_task(writer.write(slow, rows=INLINE_ROWS + 1))
    await asyncio.sleep(0)  # the task submits the transaction to the writer's thread
    in_thread.cancel()  # its caller gives up; the transaction goes on
    with pytest.raises(WriteLockBusy):
        await writer.write(lambda connection: _insert(2, connection))
    release.set()
    writer.close()  # waits for the thread's transaction
    assert await _stored(engine) == [1]


async def test_the_wal_is_checkpointed_off_the_loop_and_stays_small(engine, tmp_path, monkeypatch):
    monkeypatch.setattr(sqlite_writer, "CHECKPOINT_INTERVAL_S", 0.0)  # every 500 rows
    writes = GroupCommit(engine)
    for n in range(1, 3001):
        await writes.run(lambda connection, n=n: _insert(n, connection))
    await writes.aclose()  # waits for the last checkpoint
    wal = tmp_path / "rows.db-wal"
    # Without checkpoints 3,000 commits leave at least 3,000 pages (12 MB) of WAL.
    assert wal.stat().st_size < 1000 * 4096
    assert len(await _stored(engine)) == 3000

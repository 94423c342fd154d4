"""One contract for every ChangeLedger: in memory, SQLite and PostgreSQL.

The SQL ledger writes through a group commit (the rows of concurrent requests in one
transaction) and answers concurrent lookups with one query; ``record`` must still return
only once its row is committed, so that a correction sent the moment the citizen gets the
reference finds it — from any replica.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from services.core.config import async_database_url
from services.intake.adapters.memory_change_ledger import InMemoryChangeLedger
from services.intake.adapters.sql_change_ledger import SqlChangeLedger
from services.intake.adapters.sql_idempotency_store import SqlIdempotencyStore
from services.intake.ports import IdempotencyRecord, LedgerEntry
from services.storage.engine import create_engine
from services.storage.group_commit import GroupCommit

NOW = datetime(2026, 11, 1, 9, 30, tzinfo=UTC)


def _entry(n: int, *, event_type: str = "address_changed") -> LedgerEntry:
    return LedgerEntry(
        reference=f"REF0-{n // 10000:04d}-{n % 10000:04d}",
        event_id=f"event-{n}",
        type=event_type,
        citizen_key=f"{n:032d}",
        notified=("hmrc", "dvla") if n % 2 else ("council-cardiff",),
        received_at=NOW + timedelta(microseconds=n),
    )


class ChangeLedgerContract:
    """Subclasses provide a ``ledger`` fixture."""

    async def test_a_recorded_change_is_found_by_its_reference(self, ledger):
        await ledger.record(_entry(1))
        assert await ledger.find(_entry(1).reference) == _entry(1)

    async def test_an_unknown_reference_is_not_found(self, ledger):
        assert await ledger.find("ZZZZ-ZZZZ-ZZZZ") is None

    async def test_the_first_entry_of_a_reference_is_kept(self, ledger):
        await ledger.record(_entry(2))
        await ledger.record(_entry(2, event_type="name_changed"))
        found = await ledger.find(_entry(2).reference)
        assert found is not None
        assert found.type == "address_changed"

    async def test_concurrent_records_are_all_found(self, ledger):
        entries = [_entry(n) for n in range(100, 160)]
        await asyncio.gather(*(ledger.record(e) for e in entries))
        found = await asyncio.gather(*(ledger.find(e.reference) for e in entries))
        assert found == entries

    async def test_concurrent_lookups_each_get_their_own_answer(self, ledger):
        await asyncio.gather(*(ledger.record(_entry(n)) for n in range(200, 210)))
        references = [_entry(n).reference for n in range(195, 215)] * 2
        found = await asyncio.gather(*(ledger.find(r) for r in references))
        assert [f.reference if f else None for f in found] == [
            r if 200 <= int(r[-4:]) < 210 else None for r in references
        ]


class TestInMemoryChangeLedger(ChangeLedgerContract):
    @pytest.fixture
    def ledger(self):
        return InMemoryChangeLedger()


class _SqlContract(ChangeLedgerContract):
    @pytest.fixture
    async def engine(self, url):
        engine = create_engine(async_database_url(url))
        yield engine
        await engine.dispose()

    @pytest.fixture
    async def writes(self, engine):
        writes = GroupCommit(engine)
        yield writes
        await writes.aclose()

    @pytest.fixture
    async def ledger(self, engine, writes):
        ledger = SqlChangeLedger(engine, writes=writes)
        await ledger.create_schema()
        yield ledger
        await ledger.aclose()

    @pytest.fixture
    async def replica(self, url, ledger):  # noqa: ARG002 - after ``ledger`` made the table
        """The same store seen through another engine, as another intake replica sees it."""
        engine = create_engine(async_database_url(url))
        yield SqlChangeLedger(engine)
        await engine.dispose()

    async def test_each_record_is_committed_before_it_returns(self, ledger, replica):
        # A correction may follow the 202 at once, and reach another replica.
        for n in range(300, 310):
            await ledger.record(_entry(n))
            assert await replica.find(_entry(n).reference) == _entry(n)

    async def test_concurrent_records_are_durable_and_share_transactions(
        self, ledger, writes, replica
    ):
        entries = [_entry(n) for n in range(400, 464)]
        before = writes.batches
        await asyncio.gather(*(ledger.record(e) for e in entries))
        assert writes.batches - before < len(entries)
        found = await asyncio.gather(*(replica.find(e.reference) for e in entries))
        assert found == entries

    async def test_a_failing_batch_fails_every_waiter_and_commits_none_of_it(
        self, ledger, writes, replica
    ):
        def broken(connection):
            raise OSError("the disk is full")

        entries = [_entry(n) for n in range(500, 510)]
        outcomes = await asyncio.gather(
            *(ledger.record(e) for e in entries), writes.run(broken), return_exceptions=True
        )
        assert all(isinstance(o, OSError) for o in outcomes)
        assert [await replica.find(e.reference) for e in entries] == [None] * len(entries)
        # The writer goes on: the next batch commits.
        await ledger.record(_entry(510))
        assert await replica.find(_entry(510).reference) == _entry(510)

    async def test_keys_and_ledger_rows_of_concurrent_requests_share_one_transaction(
        self, engine, writes, ledger
    ):
        store = SqlIdempotencyStore(engine, ttl=timedelta(hours=24), writes=writes)
        await store.create_schema()
        claim = IdempotencyRecord(
            channel="web",
            key="shared-1",
            fingerprint="f",
            reference=_entry(700).reference,
            event_id="event-700",
            received_at=NOW,
            state="pending",
        )
        before = writes.batches
        (record, created), _ = await asyncio.gather(store.claim(claim), ledger.record(_entry(700)))
        assert created
        assert record == claim
        assert writes.batches - before == 1
        await store.mark_published("web", "shared-1")
        again, created_again = await store.claim(claim)
        assert (again.state, created_again) == ("published", False)


@pytest.mark.integration
class TestSqliteChangeLedger(_SqlContract):
    @pytest.fixture
    def url(self, tmp_path):
        return f"sqlite:///{tmp_path / 'store.db'}"


@pytest.mark.integration
class TestPostgresChangeLedger(_SqlContract):
    @pytest.fixture
    def url(self, postgres_url):
        return postgres_url

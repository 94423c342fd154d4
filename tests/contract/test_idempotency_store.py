"""One contract for every IdempotencyStore: in memory, SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from services.core.config import async_database_url
from services.intake.adapters.memory_idempotency_store import InMemoryIdempotencyStore
from services.intake.adapters.sql_idempotency_store import SqlIdempotencyStore
from services.intake.ports import IdempotencyRecord
from services.storage.engine import create_engine

NOW = datetime(2026, 11, 1, 9, 30, tzinfo=UTC)


def _record(key: str = "k", fingerprint: str = "f1", at: datetime = NOW) -> IdempotencyRecord:
    return IdempotencyRecord(
        channel="web",
        key=key,
        fingerprint=fingerprint,
        reference=f"REF0-0000-{key[-4:].upper():0>4}"[:14],
        event_id=f"event-{key}-{fingerprint}",
        received_at=at,
        state="pending",
    )


class IdempotencyStoreContract:
    """Subclasses provide a ``store`` fixture."""

    async def test_the_first_claim_creates_and_later_claims_return_it(self, store):
        first, created = await store.claim(_record("a1", "f1"))
        again, created_again = await store.claim(_record("a1", "f2"))
        assert created
        assert not created_again
        assert again == first
        assert again.fingerprint == "f1"

    async def test_mark_published_is_visible_to_the_next_claim(self, store):
        await store.claim(_record("b1"))
        await store.mark_published("web", "b1")
        record, _ = await store.claim(_record("b1"))
        assert record.state == "published"
        assert record.received_at == NOW

    async def test_concurrent_claims_agree_on_one_record(self, store):
        results = await asyncio.gather(*(store.claim(_record("c1", f"f{i}")) for i in range(8)))
        assert sum(created for _, created in results) == 1
        assert len({record.event_id for record, _ in results}) == 1

    async def test_concurrent_claims_of_many_keys_each_get_their_own_record(self, store):
        await store.claim(_record("m-old", "f0"))
        keys = [f"m{i:03d}" for i in range(40)] + ["m-old", "m005", "m005"]
        results = await asyncio.gather(*(store.claim(_record(k, f"f-{k}")) for k in keys))
        for key, (record, created) in zip(keys[:40], results[:40], strict=True):
            assert created, key
            assert (record.key, record.fingerprint) == (key, f"f-{key}")
        assert [created for _, created in results[40:]] == [False, False, False]
        assert results[40][0].fingerprint == "f0"  # the earlier claim of that key won
        assert results[41][0] == results[42][0] == results[5][0]


class TestInMemoryIdempotencyStore(IdempotencyStoreContract):
    @pytest.fixture
    def store(self):
        return InMemoryIdempotencyStore()


class _SqlContract(IdempotencyStoreContract):
    @pytest.fixture
    async def store(self, url):
        engine = create_engine(async_database_url(url))
        store = SqlIdempotencyStore(engine, ttl=timedelta(hours=24))
        await store.create_schema()
        yield store
        await engine.dispose()

    async def test_concurrent_claims_and_marks_share_transactions(self, store):
        await store.claim(_record("t0"))
        before = store._writes.batches
        results = await asyncio.gather(
            store.mark_published("web", "t0"),
            *(store.claim(_record(f"t{i}")) for i in range(1, 30)),
        )
        assert store._writes.batches - before < len(results)
        record, created = await store.claim(_record("t0"))
        assert (record.state, created) == ("published", False)

    async def test_an_expired_key_can_be_used_afresh(self, store):
        old, _ = await store.claim(_record("d1", "f1", at=NOW - timedelta(hours=25)))
        fresh, created = await store.claim(_record("d1", "f2", at=NOW))
        assert created
        assert fresh.fingerprint == "f2" != old.fingerprint


@pytest.mark.integration
class TestSqliteIdempotencyStore(_SqlContract):
    @pytest.fixture
    def url(self, tmp_path):
        return f"sqlite:///{tmp_path / 'store.db'}"


@pytest.mark.integration
class TestPostgresIdempotencyStore(_SqlContract):
    @pytest.fixture
    def url(self, postgres_url):
        return postgres_url

"""One contract for every DeliveryStore: in memory, SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone

import pytest

from services.core.config import async_database_url
from services.delivery.adapters.memory_store import InMemoryDeliveryStore
from services.delivery.adapters.sql_store import SqlDeliveryStore
from services.delivery.domain import Attempt, Delivery, DeliveryState, delivery_id_for
from services.delivery.ports import CircuitState, DepartmentState
from services.storage.engine import create_engine

NOW = datetime(2026, 11, 1, 9, 30, tzinfo=UTC)


@pytest.fixture
def department():
    return f"dept-{uuid.uuid4().hex[:12]}"


def _delivery(department: str, n: int, *, partition: int = 0, citizen: str = "c1") -> Delivery:
    event_id = f"event-{department}-{n}"
    return Delivery(
        delivery_id=delivery_id_for(event_id, department),
        department=department,
        event_id=event_id,
        reference=f"TUO-{n:04d}",
        event_type="death",
        citizen_key=citizen,
        partition=partition,
        offset=100 + n,
        body=b'{"n": %d}' % n,
        created_at=NOW,
    )


def _batch(department: str, count: int, start: int = 0) -> list[Delivery]:
    return [_delivery(department, n) for n in range(start, start + count)]


def _attempt(at: datetime, status_code: int | None = 503, error: str | None = "boom") -> Attempt:
    return Attempt(at=at, status_code=status_code, latency_ms=12.5, error=error)


def _finished(delivery: Delivery, at: datetime) -> Delivery:
    tried = replace(delivery, attempts=(*delivery.attempts, _attempt(at, 200, None)))
    return tried.with_state(DeliveryState.DELIVERED)


class DeliveryStoreContract:
    """Subclasses provide a ``store`` fixture."""

    async def test_add_assigns_increasing_seq_in_input_order(self, store, department):
        added = await store.add(_batch(department, 5))
        seqs = [d.seq for d in added]
        assert [d.event_id for d in added] == [d.event_id for d in _batch(department, 5)]
        assert seqs == sorted(seqs)
        assert len(set(seqs)) == 5
        assert all(seq > 0 for seq in seqs)

    async def test_add_ignores_known_ids_and_returns_only_the_new_ones(self, store, department):
        first = await store.add(_batch(department, 3))
        again = await store.add([*_batch(department, 5), _delivery(department, 4)])
        assert [d.event_id for d in again] == [f"event-{department}-{n}" for n in (3, 4)]
        assert min(d.seq for d in again) > max(d.seq for d in first)
        assert len(await store.unfinished(department)) == 5

    async def test_new_ids_between_known_ones_are_all_returned_in_order(self, store, department):
        known = await store.add([_delivery(department, n) for n in (1, 3, 5)])
        added = await store.add([_delivery(department, n) for n in range(7)])
        assert [d.event_id for d in added] == [f"event-{department}-{n}" for n in (0, 2, 4, 6)]
        seqs = [d.seq for d in added]
        assert seqs == sorted(seqs)
        assert min(seqs) > max(d.seq for d in known)
        stored = {d.delivery_id: d.seq for d in await store.unfinished(department)}
        assert {d.delivery_id: d.seq for d in [*known, *added]} == stored

    async def test_a_batch_repeating_an_id_inserts_it_once(self, store, department):
        first = _delivery(department, 1)
        added = await store.add([first, replace(first, body=b"later"), _delivery(department, 2)])
        assert [d.body for d in added] == [first.body, _delivery(department, 2).body]

    async def test_add_of_nothing_returns_nothing(self, store):
        assert await store.add([]) == []

    async def test_a_delivery_reads_back_equal_to_what_was_added(self, store, department):
        original = replace(
            _delivery(department, 1),
            created_at=NOW.astimezone(timezone(timedelta(hours=2))),
            extra={"note": "ü"},
        )
        [added] = await store.add([original])
        assert added == replace(original, seq=added.seq)
        assert await store.get(added.delivery_id) == added
        assert await store.get("no-such-delivery") is None

    async def test_unfinished_filters_by_department_and_partition_ordered_by_seq(
        self, store, department
    ):
        other = f"{department}-other"
        mine = [_delivery(department, n, partition=n % 3) for n in range(6)]
        await store.add([_delivery(other, 0)])
        added = await store.add(mine)
        done = _finished(added[1], NOW)
        await store.save([done])
        unfinished = await store.unfinished(department)
        assert [d.event_id for d in unfinished] == [
            d.event_id for d in added if d.delivery_id != done.delivery_id
        ]
        in_partitions = await store.unfinished(department, {0, 2})
        assert [(d.offset, d.partition) for d in in_partitions] == [
            (100, 0),
            (102, 2),
            (103, 0),
            (105, 2),
        ]
        assert await store.unfinished(department, []) == []

    async def test_unfinished_pages_by_seq(self, store, department):
        added = await store.add([_delivery(department, n, partition=n % 2) for n in range(7)])
        await store.save([_finished(added[2], NOW)])
        seqs = [d.seq for d in added]
        first = await store.unfinished(department, after_seq=seqs[0], limit=3)
        assert [d.seq for d in first] == [seqs[1], seqs[3], seqs[4]]
        rest = await store.unfinished(department, after_seq=first[-1].seq, limit=3)
        assert [d.seq for d in rest] == [seqs[5], seqs[6]]
        assert await store.unfinished(department, after_seq=seqs[6]) == []
        odd = await store.unfinished(department, {1}, after_seq=seqs[1], limit=1)
        assert [d.seq for d in odd] == [seqs[3]]

    async def test_save_persists_state_attempts_schedule_reason_and_version(
        self, store, department
    ):
        [added] = await store.add([_delivery(department, 1)])
        retrying = replace(added, attempts=(_attempt(NOW),)).with_state(
            DeliveryState.RETRYING,
            next_attempt_at=NOW + timedelta(seconds=30),
            reason="HTTP 503",
            extra={"retry_base": "0"},
        )
        await store.save([retrying])
        assert await store.get(added.delivery_id) == retrying
        assert (await store.unfinished(department)) == [retrying]

    async def test_save_round_trips_every_state_and_attempt_outcome(self, store, department):
        added = await store.add(_batch(department, len(DeliveryState)))
        attempts = (
            _attempt(NOW),
            _attempt(NOW + timedelta(seconds=1), None, "timeout"),
            Attempt(at=NOW + timedelta(seconds=2), status_code=200, latency_ms=3, error=None),
        )
        saved = [
            replace(d, attempts=attempts[: i % 4]).with_state(
                state, reason=f"r{i}" if i % 2 else None
            )
            for i, (d, state) in enumerate(zip(added, DeliveryState, strict=True))
        ]
        await store.save(saved)
        for delivery in saved:
            assert await store.get(delivery.delivery_id) == delivery

    async def test_save_ignores_unknown_deliveries(self, store, department):
        await store.save([_delivery(department, 9).with_state(DeliveryState.DELIVERED)])
        assert await store.get(_delivery(department, 9).delivery_id) is None

    async def test_in_state_lists_one_state_of_one_department_by_seq(self, store, department):
        added = await store.add(_batch(department, 4))
        await store.add([_delivery(f"{department}-other", 0)])
        failed = [d.with_state(DeliveryState.FAILED, reason="exhausted") for d in added[::2]]
        await store.save(list(reversed(failed)))
        assert await store.in_state(department, DeliveryState.FAILED) == failed
        assert await store.in_state(department, DeliveryState.PENDING) == added[1::2]
        assert await store.in_state(department, DeliveryState.REJECTED) == []

    async def test_new_deliveries_are_unpublished_until_marked(self, store, department):
        added = await store.add(_batch(department, 3))
        mine = {d.delivery_id for d in added}
        unpublished = [d for d in await store.unpublished(10_000) if d.delivery_id in mine]
        assert unpublished == added
        await store.mark_published([(d.delivery_id, d.version) for d in added])
        assert not mine & {d.delivery_id for d in await store.unpublished(10_000)}

    async def test_a_new_version_is_unpublished_and_an_older_mark_never_wins(
        self, store, department
    ):
        [added] = await store.add([_delivery(department, 1)])
        v1 = added.with_state(DeliveryState.RETRYING)
        v2 = v1.with_state(DeliveryState.DELIVERED)
        await store.save([v2])
        await store.mark_published([(added.delivery_id, v2.version)])
        await store.mark_published([(added.delivery_id, v1.version)])  # late, older
        assert added.delivery_id not in {d.delivery_id for d in await store.unpublished(10_000)}
        v3 = v2.with_state(DeliveryState.PENDING)
        await store.save([v3])
        assert v3 in await store.unpublished(10_000)

    async def test_save_records_published_versions_in_the_same_call(self, store, department):
        saved, marked_only, untouched = await store.add(_batch(department, 3))
        v1 = saved.with_state(DeliveryState.RETRYING, next_attempt_at=NOW)
        # v0 of ``saved`` was published meanwhile; v1 is saved now and is not published yet.
        await store.save(
            [v1],
            published=[(saved.delivery_id, saved.version), (marked_only.delivery_id, 0)],
        )
        unpublished = {d.delivery_id: d for d in await store.unpublished(10_000)}
        assert unpublished[saved.delivery_id] == v1
        assert marked_only.delivery_id not in unpublished
        assert untouched.delivery_id in unpublished
        assert await store.get(marked_only.delivery_id) == marked_only
        # Recording v1 alone (no state to save) makes it published; a late, older mark
        # given with a save never lowers it.
        await store.save([], published=[(saved.delivery_id, v1.version)])
        await store.save([v1], published=[(saved.delivery_id, saved.version)])
        assert saved.delivery_id not in {d.delivery_id for d in await store.unpublished(10_000)}

    async def test_save_takes_the_last_of_a_repeated_delivery_and_the_highest_mark(
        self, store, department
    ):
        [added] = await store.add([_delivery(department, 1)])
        retrying = added.with_state(DeliveryState.RETRYING, reason="HTTP 503")
        delivered = _finished(retrying, NOW)
        await store.save(
            [retrying, delivered],
            published=[(added.delivery_id, delivered.version), (added.delivery_id, 0)],
        )
        assert await store.get(added.delivery_id) == delivered
        assert added.delivery_id not in {d.delivery_id for d in await store.unpublished(10_000)}

    async def test_batches_larger_than_one_statement_are_written_whole(self, store, department):
        # Over 1,000 rows: the SQL store splits its multi-row statements.
        known = await store.add(_batch(department, 5, start=1_000))
        batch = _batch(department, 2_100)
        added = await store.add(batch)
        assert [d.event_id for d in added] == [
            d.event_id for d in batch if d.delivery_id not in {k.delivery_id for k in known}
        ]
        seqs = [d.seq for d in added]
        assert seqs == sorted(seqs)
        assert len(set(seqs)) == len(seqs)
        assert min(seqs) > max(d.seq for d in known)
        everything = [*known, *added]
        done = [_finished(d, NOW) for d in everything]
        await store.save(done, published=[(d.delivery_id, d.version) for d in done[:1_500]])
        await store.mark_published([(d.delivery_id, d.version) for d in done[1_500:]])
        assert await store.unfinished(department) == []
        assert await store.in_state(department, DeliveryState.DELIVERED) == sorted(
            done, key=lambda d: d.seq
        )
        mine = {d.delivery_id for d in everything}
        assert not mine & {d.delivery_id for d in await store.unpublished(100_000)}

    async def test_unpublished_is_ordered_by_seq_and_limited(self, store, department):
        await store.add(_batch(department, 3))
        unpublished = await store.unpublished(2)
        assert len(unpublished) == 2
        assert unpublished[0].seq < unpublished[1].seq

    async def test_department_state_defaults_to_closed_and_running(self, store, department):
        assert await store.department_state(department) == DepartmentState(department=department)

    async def test_department_state_round_trips_and_is_replaced(self, store, department):
        opened = DepartmentState(
            department=department,
            paused=True,
            circuit=CircuitState.OPEN,
            opened_at=NOW,
            consecutive_failures=5,
        )
        await store.save_department_state(opened)
        assert await store.department_state(department) == opened
        closed = DepartmentState(department=department, paused=False)
        await store.save_department_state(closed)
        assert await store.department_state(department) == closed
        assert await store.department_state(f"{department}-other") == DepartmentState(
            department=f"{department}-other"
        )

    async def test_purge_bodies_touches_only_deliveries_finished_before_the_cutoff(
        self, store, department
    ):
        old, recent, unfinished = await store.add(_batch(department, 3))
        long_ago = NOW - timedelta(days=40)
        old_done = _finished(old, long_ago)
        recent_done = _finished(recent, NOW)
        waiting = replace(unfinished, attempts=(_attempt(long_ago),)).with_state(
            DeliveryState.RETRYING, next_attempt_at=NOW
        )
        await store.save([old_done, recent_done, waiting])
        purged = await store.purge_bodies(NOW - timedelta(days=30))
        assert purged >= 1  # the store is shared: other tests' rows may be purged too
        assert await store.get(old.delivery_id) == replace(old_done, body=b"")
        assert await store.get(recent.delivery_id) == recent_done
        assert await store.get(unfinished.delivery_id) == waiting
        assert await store.purge_bodies(NOW - timedelta(days=30)) == 0

    async def test_a_redelivered_delivery_is_no_longer_finished_for_purging(
        self, store, department
    ):
        [added] = await store.add([_delivery(department, 1)])
        done = _finished(added, NOW - timedelta(days=40))
        again = done.with_state(DeliveryState.PENDING, extra={"retry_base": "1"})
        await store.save([done])
        await store.save([again])
        await store.purge_bodies(NOW)
        assert await store.get(added.delivery_id) == again

    async def test_concurrent_overlapping_adds_insert_each_delivery_once(self, store, department):
        deliveries = _batch(department, 60)
        windows = [deliveries[start : start + 30] for start in range(0, 40, 5)]
        results = await asyncio.gather(*(store.add(window) for window in windows))
        inserted = [d for result in results for d in result]
        assert sorted(d.event_id for d in inserted) == sorted(d.event_id for d in deliveries)
        assert len({d.seq for d in inserted}) == len(inserted)
        stored = await store.unfinished(department)
        assert len(stored) == 60
        assert {d.delivery_id: d.seq for d in stored} == {d.delivery_id: d.seq for d in inserted}


class TestInMemoryDeliveryStore(DeliveryStoreContract):
    @pytest.fixture
    def store(self):
        return InMemoryDeliveryStore()


class _SqlContract(DeliveryStoreContract):
    @pytest.fixture
    async def store(self, url):
        engine = create_engine(async_database_url(url))
        store = SqlDeliveryStore(engine)
        await store.create_schema()
        await store.create_schema()  # idempotent
        yield store
        await store.dispose()


@pytest.mark.integration
class TestSqliteDeliveryStore(_SqlContract):
    @pytest.fixture
    def url(self, tmp_path):
        return f"sqlite:///{tmp_path / 'store.db'}"


@pytest.mark.integration
class TestPostgresDeliveryStore(_SqlContract):
    @pytest.fixture
    def url(self, postgres_url):
        return postgres_url

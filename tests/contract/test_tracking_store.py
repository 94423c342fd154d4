"""One contract for every TrackingStore: in memory, SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta, timezone

import pytest
import sqlalchemy as sa

from services.core.config import async_database_url
from services.core.ids import delivery_id_for
from services.tracker.adapters.memory_store import InMemoryTrackingStore
from services.tracker.adapters.sql_schema import SCHEMA_VERSION
from services.tracker.adapters.sql_store import SqlTrackingStore, create_engine
from services.tracker.domain import (
    UNHEARD_VERSION,
    Attempt,
    DeliveryStatus,
    TrackedChange,
    TrackedDelivery,
)
from tests.contract._tracking_sql import (
    PostgresDatabases,
    SqliteDatabases,
    SqlTrackingStoreFixture,
)

NOW = datetime(2026, 11, 1, 9, 30, tzinfo=UTC)
PARIS = timezone(timedelta(hours=1))


def _change(tag: str, n: int = 0, *, received_at: datetime = NOW, notify=None) -> TrackedChange:
    return TrackedChange(
        reference=f"REF-{tag}-{n}",
        event_id=f"event-{tag}-{n}",
        type="address_changed",
        schema_version=1,
        received_at=received_at,
        channel="online",
        notified=(f"hmrc-{tag}", f"dvla-{tag}") if notify is None else notify,
        document={"subject": {"nino": "QQ123456C"}, "data": {"new_address": {"line1": "1 Rd"}}},
    )


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat()


def _status(
    change: TrackedChange,
    department: str,
    status: str,
    version: int,
    *,
    attempts: Sequence[tuple[datetime, int | None, str | None]] = (),
    created_at: datetime | None = None,
    reason: str | None = None,
    next_attempt_at: datetime | None = None,
) -> TrackedDelivery:
    """A status as the adapters publish it (``status_document``), parsed as the tracker does."""
    return TrackedDelivery.from_status_document(
        {
            "delivery_id": delivery_id_for(change.event_id, department),
            "event_id": change.event_id,
            "reference": change.reference,
            "department": department,
            "event_type": change.type,
            "status": status,
            "version": version,
            "reason": reason,
            "next_attempt_at": _iso(next_attempt_at),
            "created_at": _iso(created_at or change.received_at),
            "attempts": [
                {"at": _iso(at), "status_code": code, "latency_ms": 12.5, "error": error}
                for at, code, error in attempts
            ],
        }
    )


async def _all(store, **filters):
    found, cursor = await store.deliveries(**filters, limit=2)
    while cursor is not None:
        page, cursor = await store.deliveries(**filters, limit=2, after=cursor)
        found += page
    return found


class TrackingStoreContract:
    """Subclasses provide a ``store`` fixture."""

    async def test_a_change_reads_back_with_a_pending_delivery_per_notified_organisation(
        self, store, tag
    ):
        change = _change(tag, received_at=NOW.astimezone(PARIS))
        await store.record_changes([change])
        stored, deliveries = await store.change(change.reference)
        assert stored == _change(tag)
        assert stored.received_at.tzinfo is not None
        assert [(d.department, d.status, d.version) for d in deliveries] == [
            (f"dvla-{tag}", DeliveryStatus.PENDING, UNHEARD_VERSION),
            (f"hmrc-{tag}", DeliveryStatus.PENDING, UNHEARD_VERSION),
        ]
        assert deliveries[1].delivery_id == delivery_id_for(change.event_id, f"hmrc-{tag}")
        assert all(d.created_at == NOW and d.attempts == () for d in deliveries)

    async def test_a_change_that_notifies_nobody_has_no_deliveries(self, store, tag):
        change = _change(tag, notify=())
        await store.record_changes([change])
        assert await store.change(change.reference) == (change, [])

    async def test_an_unknown_reference_has_no_change(self, store, tag):
        assert await store.change(f"REF-{tag}-missing") is None

    async def test_recording_the_same_records_again_changes_nothing(self, store, tag):
        changes = [_change(tag, n) for n in range(3)]
        statuses = [_status(changes[0], f"hmrc-{tag}", "delivered", 1, attempts=[(NOW, 200, None)])]
        await store.record_changes(changes)
        await store.record_statuses(statuses)
        before = [await store.change(c.reference) for c in changes]
        listed = await _all(store, department=f"hmrc-{tag}")
        await store.record_changes([*changes, changes[1]])
        await store.record_statuses([*statuses, *statuses])
        assert [await store.change(c.reference) for c in changes] == before
        assert await _all(store, department=f"hmrc-{tag}") == listed
        assert len(listed) == 3

    async def test_a_status_arriving_before_its_change_is_kept_when_the_change_arrives(
        self, store, tag
    ):
        change = _change(tag)
        early = _status(change, f"hmrc-{tag}", "delivered", 1, attempts=[(NOW, 202, None)])
        await store.record_statuses([early])
        assert await store.change(change.reference) is None
        assert await store.deliveries(reference=change.reference) == ([early], None)
        await store.record_changes([change])
        _, deliveries = await store.change(change.reference)
        assert [(d.department, d.status) for d in deliveries] == [
            (f"dvla-{tag}", DeliveryStatus.PENDING),
            (f"hmrc-{tag}", DeliveryStatus.DELIVERED),
        ]
        assert deliveries[1] == early

    async def test_an_older_version_arriving_later_does_not_overwrite_a_newer_one(self, store, tag):
        change = _change(tag)
        hmrc, dvla = f"hmrc-{tag}", f"dvla-{tag}"
        failed = _status(change, hmrc, "failed", 3, attempts=[(NOW, 503, "server error")])
        await store.record_changes([change])
        await store.record_statuses([failed])
        await store.record_statuses([_status(change, hmrc, "retrying", 1)])
        await store.record_statuses([_status(change, hmrc, "delivered", 3)])  # same version
        # One batch, newest first: the older one later in the batch loses too.
        newest = _status(change, dvla, "held", 2)
        await store.record_statuses([newest, _status(change, dvla, "pending", 0)])
        await store.record_changes([change])  # the change again: no reset to pending
        _, deliveries = await store.change(change.reference)
        assert deliveries == [newest, failed]

    async def test_attempts_reason_and_times_are_kept(self, store, tag):
        change = _change(tag)
        attempts = [
            (NOW.astimezone(PARIS), 503, "Service Unavailable"),
            (NOW + timedelta(seconds=30), None, "timeout"),
            (NOW + timedelta(seconds=90), 422, None),
        ]
        rejected = _status(
            change,
            f"hmrc-{tag}",
            "rejected",
            4,
            attempts=attempts,
            reason="unknown taxpayer",
            created_at=NOW - timedelta(seconds=1),
        )
        retrying = _status(
            change,
            f"dvla-{tag}",
            "retrying",
            2,
            attempts=attempts[:1],
            next_attempt_at=NOW + timedelta(minutes=1),
        )
        await store.record_changes([change])
        await store.record_statuses([rejected, retrying])
        _, (dvla, hmrc) = await store.change(change.reference)
        assert hmrc == rejected
        assert hmrc.attempts == (
            Attempt(at=NOW, status_code=503, latency_ms=12.5, error="Service Unavailable"),
            Attempt(
                at=NOW + timedelta(seconds=30), status_code=None, latency_ms=12.5, error="timeout"
            ),
            Attempt(at=NOW + timedelta(seconds=90), status_code=422, latency_ms=12.5, error=None),
        )
        assert hmrc.last_attempt_at == NOW + timedelta(seconds=90)
        assert hmrc.delivered_at is None
        assert dvla == retrying
        assert dvla.next_attempt_at == NOW + timedelta(minutes=1)

    async def test_deliveries_are_paged_in_a_stable_order_and_filtered(self, store, tag):
        hmrc = f"hmrc-{tag}"
        # Recorded in one batch: ordered by delivery id within it.
        changes = sorted(
            (_change(tag, n) for n in range(5)),
            key=lambda c: delivery_id_for(c.event_id, hmrc),
        )
        await store.record_changes(changes)
        first, cursor = await store.deliveries(department=hmrc, limit=2)
        # A status recorded mid-way does not move its row.
        await store.record_statuses([_status(changes[0], hmrc, "failed", 2)])
        rest = await _all(store, department=hmrc)
        assert [d.reference for d in first] == [c.reference for c in changes[:2]]
        second, _ = await store.deliveries(department=hmrc, limit=2, after=cursor)
        assert [d.reference for d in second] == [c.reference for c in changes[2:4]]
        assert [d.reference for d in rest] == [c.reference for c in changes]
        assert [d.status for d in rest] == ["failed", "pending", "pending", "pending", "pending"]
        failed, end = await store.deliveries(department=hmrc, status="failed")
        assert ([d.reference for d in failed], end) == ([changes[0].reference], None)
        one, _ = await store.deliveries(reference=changes[3].reference)
        assert {d.department for d in one} == {hmrc, f"dvla-{tag}"}
        by_id, end = await store.deliveries(delivery_id=one[1].delivery_id)
        assert (by_id, end) == ([one[1]], None)
        assert await store.deliveries(delivery_id="no-such-delivery") == ([], None)
        assert await store.deliveries(department=hmrc, limit=5) == (rest, None)
        assert await store.deliveries(department=f"nobody-{tag}") == ([], None)

    async def test_a_bad_cursor_or_limit_is_refused(self, store):
        for bad in ("x", "-1", "", "1" * 40):
            with pytest.raises(ValueError, match="cursor"):
                await store.deliveries(after=bad)
        with pytest.raises(ValueError, match="limit"):
            await store.deliveries(limit=0)

    async def test_department_health_figures_at_a_fixed_moment(self, store, tag):
        dept = f"hmrc-{tag}"
        minutes = [1, 4, 10, 20, 30, 120, 0, 0, 0]
        changes = [
            _change(tag, n, received_at=NOW - timedelta(hours=3), notify=(dept,))
            for n in range(len(minutes))
        ]

        def at(n: int, status: str, *, code: int | None = None, created_min: float = 180):
            tried = [(NOW - timedelta(minutes=minutes[n]), code, None)] if code else []
            created = NOW - timedelta(minutes=created_min)
            return _status(changes[n], dept, status, 2, attempts=tried, created_at=created)

        await store.record_changes(changes)
        await store.record_statuses(
            [
                at(0, "delivered", code=200),  # in the last 5 minutes
                at(1, "delivered", code=204),  # in the last 5 minutes
                at(2, "delivered", code=200),  # in the last hour only
                at(3, "failed", code=503),
                at(4, "rejected", code=422),
                at(5, "failed", code=500),  # finished two hours ago: not in the rate
                at(6, "retrying", created_min=10),
                at(7, "held", created_min=1.5),
            ]
        )
        await store.record_changes([_change(tag, 99, received_at=NOW, notify=(dept,))])
        health = await store.department_health(dept, NOW.astimezone(PARIS))
        assert health == {
            "delivered_per_min": pytest.approx(0.4),
            "failure_rate": pytest.approx(0.4),
            "backlog": 4,  # retrying, held, and two still pending
            "oldest_pending_s": pytest.approx(3 * 3600),
            "failed": 2,
            "rejected": 1,
        }

    async def test_a_department_with_nothing_is_healthy(self, store, tag):
        assert await store.department_health(f"idle-{tag}", NOW) == {
            "delivered_per_min": 0,
            "failure_rate": 0,
            "backlog": 0,
            "oldest_pending_s": 0,
            "failed": 0,
            "rejected": 0,
        }

    async def test_purging_drops_personal_data_and_keeps_the_metadata(self, store, tag):
        old = _change(tag, 1, received_at=NOW - timedelta(days=31))
        new = _change(tag, 2, received_at=NOW - timedelta(days=29))
        await store.record_changes([old, new])
        delivered = _status(old, f"hmrc-{tag}", "delivered", 1, attempts=[(NOW, 200, None)])
        await store.record_statuses([delivered])
        cutoff = NOW - timedelta(days=30)
        assert await store.purge_personal_data(cutoff) == 1
        assert await store.purge_personal_data(cutoff) == 0
        purged, deliveries = await store.change(old.reference)
        assert purged.document is None
        assert (purged.reference, purged.type, purged.received_at) == (
            old.reference,
            old.type,
            old.received_at,
        )
        assert delivered in deliveries
        assert len(deliveries) == 2
        kept, _ = await store.change(new.reference)
        assert kept.document == new.document
        await store.record_changes([old])  # replayed from Kafka: the data does not come back
        assert (await store.change(old.reference))[0].document is None


class TestInMemoryTrackingStore(TrackingStoreContract):
    @pytest.fixture
    def store(self):
        return InMemoryTrackingStore()


class _SqlContract(SqlTrackingStoreFixture, TrackingStoreContract):
    async def test_migrating_twice_is_harmless_and_keeps_the_data(self, store, url, tag):
        await store.record_changes([_change(tag)])
        assert await store.migrate() == SCHEMA_VERSION
        assert await store.migrate() == SCHEMA_VERSION
        assert (await store.change(_change(tag).reference))[0] == _change(tag)
        engine = create_engine(async_database_url(url))
        try:
            async with engine.connect() as connection:
                versions = await connection.execute(
                    sa.text("SELECT version FROM tracker_schema_version")
                )
                assert sorted(v for (v,) in versions) == list(range(1, SCHEMA_VERSION + 1))
        finally:
            await engine.dispose()

    async def test_processes_migrating_a_new_database_together_all_succeed(self, fresh_url):
        stores = [SqlTrackingStore(create_engine(async_database_url(fresh_url))) for _ in range(4)]
        try:
            results = await asyncio.gather(*(s.migrate() for s in stores))
        finally:
            for store in stores:
                await store.dispose()
        assert results == [SCHEMA_VERSION] * 4


@pytest.mark.integration
class TestSqliteTrackingStore(SqliteDatabases, _SqlContract):
    """On SQLite files of the test's own."""


@pytest.mark.integration
class TestPostgresTrackingStore(PostgresDatabases, _SqlContract):
    """On the session's PostgreSQL database."""

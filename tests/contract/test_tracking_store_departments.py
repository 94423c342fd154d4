"""The TrackingStore contract for department states and metric figures (memory, SQLite, PG)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from services.core.config import async_database_url
from services.core.ids import delivery_id_for
from services.tracker.adapters import sql_schema
from services.tracker.adapters.memory_store import InMemoryTrackingStore
from services.tracker.adapters.sql_store import SqlTrackingStore, _delivery_row, create_engine
from services.tracker.domain import (
    CircuitStatus,
    DeliveryStatus,
    DepartmentState,
    LatencyHistogram,
    TrackedChange,
    TrackedDelivery,
)
from tests.contract._tracking_sql import (
    PostgresDatabases,
    SqliteDatabases,
    SqlTrackingStoreFixture,
)

NOW = datetime(2026, 11, 1, 9, 30, tzinfo=UTC)
BOUNDS = (10, 100, 1000)


def _state(department: str, *, seconds: float, paused=False, circuit=CircuitStatus.CLOSED):
    opened = NOW if circuit is not CircuitStatus.CLOSED else None
    return DepartmentState(
        department=department,
        paused=paused,
        circuit=circuit,
        at=NOW + timedelta(seconds=seconds),
        opened_at=opened,
    )


def _change(tag: str, n: int, notify: tuple[str, ...]) -> TrackedChange:
    return TrackedChange(
        reference=f"FIG-{tag}-{n}",
        event_id=f"event-{tag}-{n}",
        type="address_changed",
        schema_version=1,
        received_at=NOW,
        channel="online",
        notified=notify,
        document={"subject": {"nino": "QQ123456C"}, "data": {}},
    )


def _status(change: TrackedChange, department: str, status: str, version: int, latencies=()):
    return TrackedDelivery.from_status_document(
        {
            "delivery_id": delivery_id_for(change.event_id, department),
            "event_id": change.event_id,
            "reference": change.reference,
            "department": department,
            "status": status,
            "version": version,
            "created_at": NOW.isoformat(),
            "attempts": [
                {
                    "at": (NOW + timedelta(seconds=i)).isoformat(),
                    "status_code": 503,
                    "latency_ms": ms,
                    "error": None,
                }
                for i, ms in enumerate(latencies)
            ],
        }
    )


def _mine(figures, tag):
    deliveries = {k: v for k, v in figures.deliveries.items() if k[0].endswith(tag)}
    latency = {k: v for k, v in figures.latency.items() if k.endswith(tag)}
    return deliveries, latency


class DepartmentFiguresContract:
    """Subclasses provide a ``store`` fixture."""

    async def test_the_latest_reported_state_of_each_department_wins(self, store, tag):
        hmrc, dvla = f"hmrc-{tag}", f"dvla-{tag}"
        newest = _state(hmrc, seconds=20, paused=True, circuit=CircuitStatus.OPEN)
        await store.record_department_states([_state(hmrc, seconds=10), newest])
        # Older, and as old with other content: neither replaces it, in a later batch either.
        await store.record_department_states(
            [_state(hmrc, seconds=5), _state(hmrc, seconds=20, circuit=CircuitStatus.HALF_OPEN)]
        )
        # One batch, newest first.
        dvla_new = _state(dvla, seconds=9, circuit=CircuitStatus.HALF_OPEN)
        await store.record_department_states([dvla_new, _state(dvla, seconds=1)])
        await store.record_department_states([])

        states = {k: v for k, v in (await store.department_states()).items() if k.endswith(tag)}

        assert states == {hmrc: newest, dvla: dvla_new}
        assert states[hmrc].at.tzinfo is not None

    async def test_recording_the_same_states_again_changes_nothing(self, store, tag):
        states = [_state(f"hmpo-{tag}", seconds=1, paused=True)]
        await store.record_department_states(states)
        await store.record_department_states(states)
        await store.record_department_states([*states, *states])

        assert (await store.department_states())[f"hmpo-{tag}"] == states[0]

    async def test_a_department_never_heard_of_has_no_state(self, store, tag):
        assert f"nobody-{tag}" not in await store.department_states()

    async def test_figures_count_deliveries_by_status_and_every_attempt_once(self, store, tag):
        hmrc, dvla = f"hmrc-{tag}", f"dvla-{tag}"
        changes = [_change(tag, n, (hmrc, dvla)) for n in range(3)]
        await store.record_changes(changes)
        await store.record_statuses(
            [
                _status(changes[0], hmrc, "delivered", 1, [5.0]),
                _status(changes[1], hmrc, "retrying", 1, [50.0]),
                _status(changes[2], dvla, "failed", 3, [8.0, 200.0, 5000.0]),
            ]
        )
        # The next version repeats the first attempt; a replay repeats everything.
        newer = _status(changes[1], hmrc, "delivered", 2, [50.0, 10.0])
        await store.record_statuses([newer])
        await store.record_statuses([newer, _status(changes[1], hmrc, "retrying", 1, [50.0])])

        deliveries, latency = _mine(await store.delivery_figures(BOUNDS), tag)

        assert deliveries == {
            (hmrc, DeliveryStatus.DELIVERED): 2,
            (hmrc, DeliveryStatus.PENDING): 1,
            (dvla, DeliveryStatus.PENDING): 2,
            (dvla, DeliveryStatus.FAILED): 1,
        }
        assert latency == {
            hmrc: LatencyHistogram(
                bounds_ms=(10.0, 100.0, 1000.0), cumulative=(2, 3, 3), count=3, sum_ms=65.0
            ),
            dvla: LatencyHistogram(
                bounds_ms=(10.0, 100.0, 1000.0), cumulative=(1, 1, 2), count=3, sum_ms=5208.0
            ),
        }

    async def test_attempts_of_a_status_heard_before_its_change_are_counted(self, store, tag):
        dwp = f"dwp-{tag}"
        change = _change(tag, 0, (dwp,))
        await store.record_statuses([_status(change, dwp, "delivered", 1, [12.0])])
        await store.record_changes([change])

        deliveries, latency = _mine(await store.delivery_figures(BOUNDS), tag)

        assert deliveries == {(dwp, DeliveryStatus.DELIVERED): 1}
        assert latency[dwp].count == 1
        assert latency[dwp].cumulative == (0, 1, 1)


class TestInMemoryDepartmentFigures(DepartmentFiguresContract):
    @pytest.fixture
    def store(self):
        return InMemoryTrackingStore()


class _SqlDepartmentFigures(SqlTrackingStoreFixture, DepartmentFiguresContract):
    async def test_upgrading_a_schema_1_store_fills_in_its_earlier_attempts(self, fresh_url, tag):
        engine = create_engine(async_database_url(fresh_url))
        hmrc = f"hmrc-{tag}"
        change = _change(tag, 0, (hmrc,))
        old = _status(change, hmrc, "delivered", 2, [20.0, 300.0])
        try:
            async with engine.begin() as connection:
                await connection.run_sync(_at_schema_1, [_delivery_row(old)])
            store = SqlTrackingStore(engine)
            assert await store.migrate() == sql_schema.SCHEMA_VERSION
            # The attempts arrive again with a later status: still counted once.
            await store.record_statuses([old])
            _, latency = _mine(await store.delivery_figures(BOUNDS), tag)
        finally:
            await engine.dispose()
        assert latency[hmrc].count == 2
        assert latency[hmrc].cumulative == (0, 1, 2)


def _at_schema_1(connection: sa.Connection, rows) -> None:
    """The database as the first tracker release left it, with some deliveries."""
    sql_schema.schema_versions.create(connection)
    sql_schema._MIGRATIONS[0](connection)
    connection.execute(sa.insert(sql_schema.schema_versions).values(version=1, applied_at=NOW))
    connection.execute(sa.insert(sql_schema.deliveries), rows)


@pytest.mark.integration
class TestSqliteDepartmentFigures(SqliteDatabases, _SqlDepartmentFigures):
    """On SQLite files of the test's own."""


@pytest.mark.integration
class TestPostgresDepartmentFigures(PostgresDatabases, _SqlDepartmentFigures):
    """On the session's PostgreSQL database."""

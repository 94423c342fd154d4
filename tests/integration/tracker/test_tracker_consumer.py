"""The tracker against a real broker: everything recorded once, and nothing lost over a restart."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import orjson
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from services.core.envelope import ChangeEvent
from services.core.ids import delivery_id_for
from services.core.topics import CHANGES, DELIVERY_STATUS
from services.delivery.adapters.kafka_status import KafkaStatusPublisher, status_document
from services.delivery.domain import Attempt, Delivery, DeliveryState
from services.delivery.ports import CircuitState, DepartmentState
from services.tracker.adapters.sql_store import SqlTrackingStore, create_engine
from services.tracker.bootstrap import build_runtime
from services.tracker.config import TrackerSettings
from services.tracker.entrypoints.consumer import TrackerProcess
from tests.conftest import start_broker
from tests.support.net import apoll

pytestmark = pytest.mark.integration
DEPARTMENTS = ("hmrc", "dvla")


@pytest.fixture(scope="module")
def own_broker(tmp_path_factory):
    broker = start_broker(tmp_path_factory.mktemp("tracker-broker"))
    yield broker
    broker.stop()


@pytest.fixture
async def producer(own_broker):
    instance = AIOKafkaProducer(bootstrap_servers=own_broker.bootstrap, acks="all")
    await instance.start()
    yield instance
    await instance.stop()


@pytest.fixture
async def reader(tmp_path):
    """A second connection to the tracker's SQLite file, as another process would have."""
    store = SqlTrackingStore(create_engine(f"sqlite+aiosqlite:///{tmp_path / 'tracker.db'}"))
    yield store
    await store.dispose()


def _event(n: int) -> ChangeEvent:
    return ChangeEvent(
        event_id=str(uuid.uuid4()),
        reference=f"TRK-{uuid.uuid4().hex[:8]}-{n}",
        type="address_changed",
        schema_version=1,
        received_at=datetime.now(UTC),
        channel="online",
        citizen_key=f"citizen-{n % 3}",
        subject={"nino": "QQ123456C"},
        data={"new_address": {"line1": "1 High Street", "postcode": "BS1 4DJ"}},
        notify=DEPARTMENTS,
    )


def _delivery(event: ChangeEvent, department: str, state: DeliveryState, version: int):
    attempts: tuple[Attempt, ...] = ()
    if state is not DeliveryState.PENDING:
        code = 200 if state is DeliveryState.DELIVERED else 503
        at = event.received_at + timedelta(seconds=version)
        attempts = (Attempt(at=at, status_code=code, latency_ms=8.0, error=None),)
    return Delivery(
        delivery_id=delivery_id_for(event.event_id, department),
        department=department,
        event_id=event.event_id,
        reference=event.reference,
        event_type=event.type,
        citizen_key=event.citizen_key,
        partition=0,
        offset=0,
        body=b"{}",
        created_at=event.received_at,
        state=state,
        attempts=attempts,
        version=version,
    )


async def _send_change(producer, event: ChangeEvent) -> None:
    record = event.to_kafka()
    await producer.send_and_wait(
        CHANGES, value=record.value, key=record.key, headers=record.headers
    )


async def _send_status(producer, event, department, state, version) -> None:
    delivery = _delivery(event, department, state, version)
    value = orjson.dumps(status_document(delivery))
    await producer.send_and_wait(DELIVERY_STATUS, value=value, key=delivery.delivery_id.encode())


async def _statuses(store, events) -> dict[tuple[str, str], tuple[str, int]] | None:
    """(reference, department) → (status, version), once every change is known."""
    found = {}
    for event in events:
        tracked = await store.change(event.reference)
        if tracked is None:
            return None
        for delivery in tracked[1]:
            found[event.reference, delivery.department] = (delivery.status, delivery.version)
    return found


async def _committed_everything(bootstrap: str, group: str) -> bool:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=group)
    await consumer.start()
    try:
        for topic in (CHANGES, DELIVERY_STATUS):
            partitions = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic)]
            ends = await consumer.end_offsets(partitions)
            for tp in partitions:
                if ends[tp] and (await consumer.committed(tp) or 0) < ends[tp]:
                    return False
        return True
    finally:
        await consumer.stop()


async def test_the_tracker_records_everything_once_and_resumes_where_it_stopped(
    own_broker, producer, reader, tmp_path
):
    settings = TrackerSettings(kafka_bootstrap=own_broker.bootstrap, data_dir=tmp_path)
    group = f"tuo.tracker.test-{uuid.uuid4().hex[:8]}"
    first = [_event(n) for n in range(4)]
    # Status before its change, an older version after a newer one, and unreadable records.
    await _send_status(producer, first[3], "hmrc", DeliveryState.DELIVERED, 2)
    for event in first:
        await _send_change(producer, event)
    await _send_status(producer, first[0], "hmrc", DeliveryState.RETRYING, 1)
    await _send_status(producer, first[1], "dvla", DeliveryState.FAILED, 4)
    await _send_status(producer, first[1], "dvla", DeliveryState.RETRYING, 3)
    await producer.send_and_wait(CHANGES, value=b"not a cloudevent", key=b"k")
    await producer.send_and_wait(DELIVERY_STATUS, value=b'{"status": "lost"}', key=b"k")

    expected = {(e.reference, d): ("pending", -1) for e in first for d in DEPARTMENTS}
    expected |= {
        (first[3].reference, "hmrc"): ("delivered", 2),
        (first[0].reference, "hmrc"): ("retrying", 1),
        (first[1].reference, "dvla"): ("failed", 4),
    }
    process = TrackerProcess(build_runtime(settings), group_id=group)
    await process.start()
    try:
        await apoll(lambda: _expect(reader, first, expected), timeout=60)
        await apoll(lambda: _committed_everything(own_broker.bootstrap, group), timeout=30)
    finally:
        await process.stop()

    # While the tracker is down: a new change and news of an earlier one.
    later = _event(9)
    await _send_change(producer, later)
    await _send_status(producer, first[0], "hmrc", DeliveryState.DELIVERED, 2)
    expected |= {(later.reference, d): ("pending", -1) for d in DEPARTMENTS}
    expected[first[0].reference, "hmrc"] = ("delivered", 2)

    process = TrackerProcess(build_runtime(settings), group_id=group)
    await process.start()
    try:
        await apoll(lambda: _expect(reader, [*first, later], expected), timeout=60)
    finally:
        await process.stop()
    references = {e.reference for e in [*first, later]}
    listed = [d for d in await _every_delivery(reader) if d.reference in references]
    assert len(listed) == len({d.delivery_id for d in listed}) == 2 * len(references)


async def _expect(store, events, expected):
    return await _statuses(store, events) == expected


async def _every_delivery(store):
    found, cursor = await store.deliveries(limit=100)
    while cursor is not None:
        page, cursor = await store.deliveries(limit=100, after=cursor)
        found += page
    return found


async def test_department_states_are_told_apart_by_type_and_the_latest_one_is_kept(
    own_broker, producer, reader, tmp_path
):
    settings = TrackerSettings(kafka_bootstrap=own_broker.bootstrap, data_dir=tmp_path)
    group = f"tuo.tracker.test-{uuid.uuid4().hex[:8]}"
    department = f"dept-{uuid.uuid4().hex[:8]}"
    publisher = KafkaStatusPublisher(producer)
    now = datetime.now(UTC)
    opened = DepartmentState(
        department=department, paused=True, circuit=CircuitState.OPEN, opened_at=now
    )
    # The newer state first, then an older one (a late heartbeat of another replica).
    await publisher.publish_department_state(opened, now + timedelta(seconds=2))
    await publisher.publish_department_state(DepartmentState(department=department), now)
    await producer.send_and_wait(
        DELIVERY_STATUS, value=b"{}", key=b"k", headers=[("ce_type", b"something_else.v1")]
    )
    event = _event(0)
    await publisher.publish([_delivery(event, "hmrc", DeliveryState.DELIVERED, 1)])
    await _send_change(producer, event)

    async def recorded():
        state = (await reader.department_states()).get(department)
        change = await reader.change(event.reference)
        return state is not None and change is not None and (state, change[1])

    process = TrackerProcess(build_runtime(settings), group_id=group)
    await process.start()
    try:
        state, deliveries = await apoll(recorded, timeout=60)
        await apoll(lambda: _committed_everything(own_broker.bootstrap, group), timeout=30)
    finally:
        await process.stop()
    assert (state.paused, state.circuit.value) == (True, "open")
    assert state.at == now + timedelta(seconds=2)
    assert {(d.department, d.status.value) for d in deliveries} == {
        ("hmrc", "delivered"),
        ("dvla", "pending"),
    }

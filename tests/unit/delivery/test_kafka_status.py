"""The status publisher's records, over a fake producer: topics, keys, CloudEvents headers."""

import asyncio
from datetime import UTC, datetime

import orjson

from services.core.topics import DELIVERY_STATUS
from services.delivery.adapters.kafka_status import KafkaStatusPublisher
from services.delivery.domain import Delivery
from services.delivery.ports import CircuitState, DepartmentState

AT = datetime(2026, 11, 1, 9, 30, tzinfo=UTC)


class FakeProducer:
    def __init__(self):
        self.sent: list[dict] = []

    async def send(self, topic, *, value, key, headers):
        self.sent.append({"topic": topic, "value": value, "key": key, "headers": dict(headers)})
        future = asyncio.get_running_loop().create_future()
        future.set_result(None)
        return future


async def test_a_department_state_is_a_cloudevent_keyed_by_department_on_the_status_topic():
    producer = FakeProducer()
    state = DepartmentState(
        department="dvla", paused=True, circuit=CircuitState.HALF_OPEN, opened_at=AT
    )

    await KafkaStatusPublisher(producer).publish_department_state(state, AT)

    [record] = producer.sent
    assert record["topic"] == DELIVERY_STATUS
    assert record["key"] == b"dvla"
    assert record["headers"]["ce_type"] == b"department_state.v1"
    assert record["headers"]["ce_source"] == b"/tellusonce/adapters/dvla"
    assert record["headers"]["ce_specversion"] == b"1.0"
    assert record["headers"]["ce_id"]
    assert orjson.loads(record["value"]) == {
        "department": "dvla",
        "paused": True,
        "circuit": "half_open",
        "opened_at": "2026-11-01T09:30:00Z",
        "at": "2026-11-01T09:30:00Z",
    }


async def test_delivery_statuses_keep_their_type_and_key():
    producer = FakeProducer()
    delivery = Delivery(
        delivery_id="d1",
        department="hmrc",
        event_id="e1",
        reference="AAAA-BBBB-CCCC",
        event_type="address_changed",
        citizen_key="k1",
        partition=0,
        offset=1,
        body=b'{"nino": "QQ123456C"}',
        created_at=AT,
    )

    await KafkaStatusPublisher(producer).publish([delivery])

    [record] = producer.sent
    assert record["key"] == b"d1"
    assert record["headers"]["ce_type"] == b"delivery_status.v1"
    assert record["headers"]["ce_subject"] == b"AAAA-BBBB-CCCC"
    assert record["headers"]["ce_id"] == b"d1/0"
    assert b"QQ123456C" not in record["value"]

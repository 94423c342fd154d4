"""The status publisher's batched mode, over a fake producer that builds aiokafka's own batches.

The fake hands out real ``BatchBuilder`` objects and decodes each submitted batch as the
broker would read it, so these tests see the records as they would go on the wire: which
partition, in which order, with which key, value and headers.
"""

import asyncio
from collections.abc import Iterable

import orjson
import pytest
from aiokafka.errors import KafkaTimeoutError
from aiokafka.partitioner import DefaultPartitioner
from aiokafka.producer.message_accumulator import BatchBuilder
from aiokafka.record.default_records import DefaultRecordBatch

from services.core.topics import DELIVERY_STATUS, dead_letter_topic
from services.delivery.adapters.kafka_status import KafkaStatusPublisher
from services.delivery.domain import Attempt, Delivery, DeliveryState
from tests.support.deliveries import AT, sample_delivery

_NO_COMPRESSION = 0
#: Key, value and headers of one record.
Record = tuple[bytes, bytes, list[tuple[str, bytes]]]


def _done(error: Exception | None = None) -> asyncio.Future[None]:
    future = asyncio.get_running_loop().create_future()
    if error is None:
        future.set_result(None)
    else:
        future.set_exception(error)
    return future


def _failures(futures: list[asyncio.Future[None]]) -> list[BaseException | None]:
    """Every acknowledgement's error (retrieved, so that none is reported as unhandled)."""
    return [future.exception() for future in futures]


class BatchingProducer:
    """Records what the publisher sends; ``fail_batches``/``fail_sends`` fail the acks."""

    def __init__(
        self,
        partitions: Iterable[int] = range(6),
        *,
        batch_size: int = 16384,
        fail_batches: Exception | None = None,
        fail_sends: Exception | None = None,
    ) -> None:
        self.partitions = set(partitions)
        self.batch_size = batch_size
        self.fail_batches = fail_batches
        self.fail_sends = fail_sends
        #: (topic, partition, [(key, value, headers)]) per submitted batch, in order.
        self.batches: list[tuple[str, int, list[Record]]] = []
        #: (topic, key, value, headers) per single record (``send``), in order.
        self.sent: list[tuple[str, bytes, bytes, list[tuple[str, bytes]]]] = []
        self.acks: list[asyncio.Future[None]] = []

    async def partitions_for(self, topic):
        assert topic == DELIVERY_STATUS
        return set(self.partitions)

    def create_batch(self):
        return BatchBuilder(self.batch_size, _NO_COMPRESSION)

    async def send_batch(self, batch, topic, *, partition):
        assert partition in self.partitions
        records = [
            (r.key, r.value, list(r.headers)) for r in DefaultRecordBatch(bytes(batch._build()))
        ]
        self.batches.append((topic, partition, records))
        self.acks.append(_done(self.fail_batches))
        return self.acks[-1]

    async def send(self, topic, *, value, key, headers):
        self.sent.append((topic, key, value, list(headers)))
        self.acks.append(_done(self.fail_sends))
        return self.acks[-1]

    def records_in(self, partition: int) -> list[Record]:
        return [r for _, p, records in self.batches if p == partition for r in records]


class SendingProducer:
    """The unbatched path's producer: one ``send`` per record."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, bytes, bytes, list[tuple[str, bytes]]]] = []

    async def send(self, topic, *, value, key, headers):
        self.sent.append((topic, key, value, list(headers)))
        return _done()


def _lives(count: int) -> list[Delivery]:
    """Each delivery's statuses, interleaved as a flush sees them: pending, then its outcome."""
    pending = [sample_delivery(n, department=("hmrc", "dvla")[n % 2]) for n in range(count)]
    attempted = [
        d.with_state(
            DeliveryState.RETRYING,
            attempts=(Attempt(at=AT, status_code=503, latency_ms=8.0, error=None),),
        )
        for d in pending
    ]
    delivered = [d.with_state(DeliveryState.DELIVERED) for d in attempted]
    return [*pending, *attempted, *delivered]


def _partition_of(key: bytes, partitions: Iterable[int]) -> int:
    ordered = sorted(partitions)
    partition: int = DefaultPartitioner()(key, ordered, ordered)
    return partition


async def test_every_status_goes_on_the_partition_the_default_partitioner_picks_for_its_key():
    producer = BatchingProducer(partitions=range(6))
    statuses = _lives(40)

    await KafkaStatusPublisher(producer, batches=True).publish(statuses)

    assert {topic for topic, _, _ in producer.batches} == {DELIVERY_STATUS}
    assert sum(len(records) for _, _, records in producer.batches) == len(statuses)
    for _, partition, records in producer.batches:
        for key, _, _ in records:
            assert partition == _partition_of(key, range(6)), key
    # 40 keys over 6 partitions: more than one in use, one batch each (all fit).
    used = [partition for _, partition, _ in producer.batches]
    assert len(used) == len(set(used)) > 1
    assert producer.sent == []  # nothing failed: no dead letters


async def test_batched_records_are_those_of_the_unbatched_path_in_the_same_order_per_key():
    statuses = _lives(25)
    batching, sending = BatchingProducer(partitions=range(4)), SendingProducer()

    await KafkaStatusPublisher(batching, batches=True).publish(statuses)
    await KafkaStatusPublisher(sending).publish(statuses)

    one_by_one = [(key, value, headers) for _, key, value, headers in sending.sent]
    for partition in range(4):
        expected = [r for r in one_by_one if _partition_of(r[0], range(4)) == partition]
        assert batching.records_in(partition) == expected
    partition = _partition_of(b"delivery-3", range(4))
    versions = [
        orjson.loads(value)["version"]
        for key, value, _ in batching.records_in(partition)
        if key == b"delivery-3"
    ]
    assert versions == [0, 1, 2]


async def test_a_full_batch_is_sent_and_the_next_one_started_keeping_the_order():
    # Room for one record per batch: every status after a partition's first starts a batch.
    producer = BatchingProducer(partitions=range(3), batch_size=1)
    statuses = _lives(6)

    await KafkaStatusPublisher(producer, batches=True).publish(statuses)

    assert len(producer.batches) == len(statuses)
    assert all(len(records) == 1 for _, _, records in producer.batches)
    for partition in range(3):
        keys = [key for key, _, _ in producer.records_in(partition)]
        expected = [
            s.delivery_id.encode()
            for s in statuses
            if _partition_of(s.delivery_id.encode(), range(3)) == partition
        ]
        assert keys == expected


async def test_a_failed_delivery_also_goes_to_its_departments_dead_letter_topic():
    producer = BatchingProducer()
    failed = sample_delivery(1, department="dvla").with_state(
        DeliveryState.FAILED, reason="gave up"
    )
    delivered = sample_delivery(2).with_state(DeliveryState.DELIVERED)

    await KafkaStatusPublisher(producer, batches=True).publish([failed, delivered])

    [(topic, key, value, _)] = producer.sent
    assert (topic, key) == (dead_letter_topic("dvla"), b"delivery-1")
    batched = {key: value for _, _, records in producer.batches for key, value, _ in records}
    assert set(batched) == {b"delivery-1", b"delivery-2"}
    assert batched[b"delivery-1"] == value  # the dead letter is the status record again
    assert orjson.loads(value)["status"] == "failed"
    assert b"QQ123456C" not in value


async def test_keys_move_with_the_producers_partitioner_when_the_topic_grows():
    producer = BatchingProducer(partitions=[0])
    publisher = KafkaStatusPublisher(producer, batches=True)
    status = next(  # a delivery whose partition changes once there are 8
        d
        for d in map(sample_delivery, range(100))
        if _partition_of(d.delivery_id.encode(), range(8))
    )
    key = status.delivery_id.encode()

    await publisher.publish([status])
    producer.partitions = set(range(8))
    await publisher.publish([status.with_state(DeliveryState.DELIVERED)])

    assert [partition for _, partition, _ in producer.batches] == [0, _partition_of(key, range(8))]


@pytest.mark.parametrize("failing", ["fail_batches", "fail_sends"])
async def test_an_unacknowledged_send_raises_so_the_dispatcher_keeps_the_statuses(failing):
    producer = BatchingProducer(**{failing: KafkaTimeoutError()})
    statuses = [sample_delivery(n).with_state(DeliveryState.FAILED) for n in range(3)]

    with pytest.raises(KafkaTimeoutError):
        await KafkaStatusPublisher(producer, batches=True).publish(statuses)

    # Everything was handed over before the acknowledgements were awaited.
    assert sum(len(records) for _, _, records in producer.batches) == 3
    assert len(producer.sent) == 3
    assert any(_failures(producer.acks))


async def test_a_send_refused_at_once_raises_too():
    class Refusing(BatchingProducer):
        async def send_batch(self, *_: object, **__: object) -> asyncio.Future[None]:
            raise KafkaTimeoutError

    with pytest.raises(KafkaTimeoutError):
        await KafkaStatusPublisher(Refusing(), batches=True).publish([sample_delivery(1)])

"""StatusPublisher over aiokafka: CloudEvents for delivery states and department states."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import orjson
from aiokafka import AIOKafkaProducer
from aiokafka.producer.message_accumulator import BatchBuilder

from services.broker.partitioner import default_partition
from services.core.timestamps import rfc3339_utc
from services.core.topics import (
    DELIVERY_STATUS,
    DELIVERY_STATUS_TYPE,
    DEPARTMENT_STATE_TYPE,
    dead_letter_topic,
)
from services.delivery.domain import Delivery, DeliveryState
from services.delivery.ports import DepartmentState

__all__ = [
    "KafkaStatusPublisher",
    "department_state_document",
    "status_document",
]


def status_document(delivery: Delivery) -> dict[str, Any]:
    """The status event's JSON: metadata and the attempt log, never the personal data."""
    return {
        "delivery_id": delivery.delivery_id,
        "event_id": delivery.event_id,
        "reference": delivery.reference,
        "department": delivery.department,
        "event_type": delivery.event_type,
        "status": delivery.state.value,
        "version": delivery.version,
        "reason": delivery.reason,
        "next_attempt_at": rfc3339_utc(delivery.next_attempt_at),
        "created_at": rfc3339_utc(delivery.created_at),
        "attempts": [
            {
                "at": rfc3339_utc(a.at),
                "status_code": a.status_code,
                "latency_ms": round(a.latency_ms, 2),
                "error": a.error,
            }
            for a in delivery.attempts
        ],
    }


def department_state_document(state: DepartmentState, at: datetime) -> dict[str, Any]:
    """The department state event's JSON: ids, flags and times only."""
    return {
        "department": state.department,
        "paused": state.paused,
        "circuit": state.circuit.value,
        "opened_at": rfc3339_utc(state.opened_at),
        "at": rfc3339_utc(at),
    }


#: Keys whose partition is remembered (then forgotten all at once): ~10 MB at most.
_PARTITION_CACHE = 100_000
_SPECVERSION = ("ce_specversion", b"1.0")
_CONTENT_TYPE = ("content-type", b"application/json")
_STATUS_TYPE = ("ce_type", DELIVERY_STATUS_TYPE.encode())


def _source(department: str) -> tuple[str, bytes]:
    return ("ce_source", f"/tellusonce/adapters/{department}".encode())


def _headers(ce_id: str, department: str, ce_type: str) -> list[tuple[str, bytes]]:
    return [
        _SPECVERSION,
        ("ce_id", ce_id.encode()),
        _source(department),
        ("ce_type", ce_type.encode()),
        _CONTENT_TYPE,
    ]


class KafkaStatusPublisher:
    """Publishes to ``tuo.delivery.status.v1``; failed deliveries also to the dead-letter topic.

    Delivery statuses are keyed by delivery id, department states by department id. The
    dead-letter record carries metadata only: the body stays in the store, where an
    operator's redelivery finds it.

    With ``batches``, each call's delivery statuses go as one record batch per partition
    (aiokafka's ``create_batch``/``send_batch``), on the partition the producer's default
    partitioner chooses for the key (remembered, as a delivery's statuses share its key):
    the same records, in the same order per key, for ~35% less CPU per status than one
    ``send`` each (measured: aiokafka's per-record futures and pure-Python murmur2 hash).
    """

    def __init__(self, producer: AIOKafkaProducer, *, batches: bool = False) -> None:
        self._producer = producer
        self._batches = batches
        self._sources: dict[str, tuple[str, bytes]] = {}
        self._partitions: dict[bytes, int] = {}  # by key, for ``batches``
        self._partition_count = 0

    async def publish(self, deliveries: Sequence[Delivery]) -> None:
        """Send every status, then wait for all acknowledgements (acks=all)."""
        if self._batches:
            await self._publish_batches(deliveries)
            return
        send = self._producer.send
        futures = []
        for delivery in deliveries:
            key, value, headers = self._record(delivery)
            futures.append(await send(DELIVERY_STATUS, value=value, key=key, headers=headers))
            if delivery.state is DeliveryState.FAILED:
                topic = dead_letter_topic(delivery.department)
                futures.append(await send(topic, value=value, key=key, headers=headers))
        # Awaited in order (most are done by the time the last one is): all or the first error.
        for future in futures:
            await future

    async def _publish_batches(self, deliveries: Sequence[Delivery]) -> None:
        producer = self._producer
        partitions = sorted(await producer.partitions_for(DELIVERY_STATUS))
        count = len(partitions)
        if count != self._partition_count:  # the topic grew: keys move, as with the producer's
            self._partition_count = count
            self._partitions.clear()
        elif len(self._partitions) > _PARTITION_CACHE:
            self._partitions.clear()
        batches: dict[int, BatchBuilder] = {}
        futures = []
        for delivery in deliveries:
            key, value, headers = self._record(delivery)
            # A delivery's statuses (pending, then its outcome) share a key: hashed once.
            partition = self._partitions.get(key)
            if partition is None:
                partition = self._partitions[key] = default_partition(key, partitions)
            batch = batches.get(partition)
            if batch is None or not batch.append(
                timestamp=None, key=key, value=value, headers=headers
            ):
                if batch is not None:  # full: send it, start the next one
                    futures.append(
                        await producer.send_batch(batch, DELIVERY_STATUS, partition=partition)
                    )
                batch = batches[partition] = producer.create_batch()
                batch.append(timestamp=None, key=key, value=value, headers=headers)  # fits
            if delivery.state is DeliveryState.FAILED:
                topic = dead_letter_topic(delivery.department)
                futures.append(await producer.send(topic, value=value, key=key, headers=headers))
        for partition, batch in batches.items():
            futures.append(await producer.send_batch(batch, DELIVERY_STATUS, partition=partition))
        for future in futures:
            await future

    def _record(self, delivery: Delivery) -> tuple[bytes, bytes, list[tuple[str, bytes]]]:
        """Key, value and headers of a delivery's status record."""
        department = delivery.department
        source = self._sources.get(department)
        if source is None:
            source = self._sources[department] = _source(department)
        headers = [
            _SPECVERSION,
            ("ce_id", f"{delivery.delivery_id}/{delivery.version}".encode()),
            source,
            _STATUS_TYPE,
            _CONTENT_TYPE,
            ("ce_subject", delivery.reference.encode()),
        ]
        return delivery.delivery_id.encode(), orjson.dumps(status_document(delivery)), headers

    async def publish_department_state(self, state: DepartmentState, at: datetime) -> None:
        """Send one ``department_state.v1`` event keyed by the department and wait for it."""
        headers = _headers(str(uuid.uuid4()), state.department, DEPARTMENT_STATE_TYPE)
        value = orjson.dumps(department_state_document(state, at))
        future = await self._producer.send(
            DELIVERY_STATUS, value=value, key=state.department.encode(), headers=headers
        )
        await future

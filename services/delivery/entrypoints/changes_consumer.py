"""Reads the changes topic for a process's departments: route, minimise, queue durably, commit."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, ConsumerRecord, TopicPartition

from services.broker.offsets import OffsetCommitter
from services.core.departments import DepartmentSpec
from services.core.envelope import ChangeEvent
from services.core.logging import get_logger
from services.core.ports import Clock
from services.core.topics import CHANGES
from services.delivery.dispatcher import Dispatcher
from services.delivery.domain import Delivery
from services.delivery.ports import DeliveryStore
from services.delivery.routing import Transform, build_delivery, is_routed_to

__all__ = ["ChangesConsumer", "Subscriber", "group_id"]

_log = get_logger(__name__)


def group_id(department_ids: Iterable[str]) -> str:
    """The consumer group of a process serving these departments.

    One department alone (the usual deployment: one adapter Deployment per department)
    keeps ``tuo.adapter.<id>``; a process serving several reads the topic once for all
    of them, as ``tuo.adapter.<id>+<id>…`` (sorted). Run each department in processes
    of one kind only: two groups both serving a department would both deliver to it.
    """
    return "tuo.adapter." + "+".join(sorted(department_ids))


@dataclass(frozen=True)
class Subscriber:
    """One department served by the consumer: who it is, its dispatcher, its transform."""

    department: DepartmentSpec
    dispatcher: Dispatcher
    transform: Transform | None


class _Rebalance(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, subscribers: Sequence[Subscriber], offsets: OffsetCommitter) -> None:
        self._dispatchers = [s.dispatcher for s in subscribers]
        self._offsets = offsets

    async def on_partitions_revoked(self, revoked: list[TopicPartition]) -> None:
        await self._offsets.flush()  # what is stored, before another consumer takes over
        for dispatcher in self._dispatchers:
            dispatcher.forget({tp.partition for tp in revoked})

    async def on_partitions_assigned(self, assigned: list[TopicPartition]) -> None:
        for dispatcher in self._dispatchers:
            loaded = await dispatcher.load({tp.partition for tp in assigned})
            if loaded:
                _log.info(
                    "resuming unfinished deliveries",
                    department=dispatcher.department.id,
                    count=loaded,
                )


class ChangesConsumer:
    """Reads the changes topic once for every department of the process.

    Each record is parsed once, routed and minimised for each department, and the batch's
    deliveries are stored in one transaction, then offered to the departments'
    dispatchers. Offsets are committed only after the batch's deliveries are durable in
    the store, in the background and at most every ``COMMIT_INTERVAL_S``
    (``OffsetCommitter``): a crash before the commit makes Kafka hand the records out
    again; the store ignores deliveries it already has, so nothing is queued twice and
    nothing is lost.

    A department whose backlog is full does not stop the reading: its dispatcher keeps
    its new deliveries in the store until it has room (``Dispatcher.offer``).
    """

    def __init__(
        self,
        *,
        subscribers: Sequence[Subscriber],
        consumer_options: dict[str, Any],
        store: DeliveryStore,
        clock: Clock,
    ) -> None:
        self._subscribers = list(subscribers)
        self._store = store
        self._clock = clock
        self._consumer = AIOKafkaConsumer(
            **consumer_options,
            group_id=group_id(s.department.id for s in subscribers),
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            max_poll_records=500,
        )
        self._offsets = OffsetCommitter(self._consumer)

    async def run(self) -> None:
        """Consume until cancelled."""
        listener = _Rebalance(self._subscribers, self._offsets)
        self._consumer.subscribe([CHANGES], listener=listener)
        await self._consumer.start()
        try:
            while True:
                await self._one_batch()
        finally:
            with contextlib.suppress(Exception):  # offsets of stored batches: worth keeping
                await asyncio.shield(self._offsets.flush())
            await asyncio.shield(self._consumer.stop())

    async def _one_batch(self) -> None:
        batch = await self._consumer.getmany(timeout_ms=500, max_records=500)
        offsets = await self._queue(batch)
        if offsets:
            self._offsets.stored(offsets)
        else:
            self._offsets.idle()

    async def _queue(
        self, batch: dict[TopicPartition, list[ConsumerRecord[bytes, bytes]]]
    ) -> dict[TopicPartition, int]:
        """Route, minimise and store a fetched batch; the offsets it is now safe to commit."""
        deliveries: list[Delivery] = []
        offsets: dict[TopicPartition, int] = {}
        now = self._clock.now()
        for tp, messages in batch.items():
            for message in messages:
                offsets[tp] = message.offset + 1
                try:
                    event = ChangeEvent.from_record(
                        message.key or b"", message.value or b"", message.headers
                    )
                except ValueError as exc:
                    _log.error(
                        "unreadable change record skipped",
                        partition=tp.partition,
                        offset=message.offset,
                        error=type(exc).__name__,
                    )
                    continue
                deliveries.extend(
                    build_delivery(
                        event,
                        subscriber.department,
                        partition=tp.partition,
                        offset=message.offset,
                        now=now,
                        transform=subscriber.transform,
                    )
                    for subscriber in self._subscribers
                    if is_routed_to(event, subscriber.department)
                )
        if deliveries:
            inserted = await self._store.add(deliveries)
            by_department: dict[str, list[Delivery]] = {}
            for delivery in inserted:
                by_department.setdefault(delivery.department, []).append(delivery)
            for subscriber in self._subscribers:
                subscriber.dispatcher.offer(by_department.get(subscriber.department.id, ()))
        return offsets

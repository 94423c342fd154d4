"""Reads the changes topic for one department: route, minimise, queue durably, commit."""

from __future__ import annotations

import asyncio
from typing import Any

from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, TopicPartition

from services.core.departments import DepartmentSpec
from services.core.envelope import ChangeEvent, KafkaRecord
from services.core.logging import get_logger
from services.core.ports import Clock
from services.core.topics import CHANGES
from services.delivery.dispatcher import Dispatcher
from services.delivery.ports import DeliveryStore
from services.delivery.routing import Transform, build_delivery, is_routed_to

__all__ = ["ChangesConsumer", "group_id"]

_log = get_logger(__name__)


def group_id(department_id: str) -> str:
    """Each department has its own consumer group: its own pace, its own offsets."""
    return f"tuo.adapter.{department_id}"


class _Rebalance(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, dispatcher: Dispatcher) -> None:
        self._dispatcher = dispatcher

    async def on_partitions_revoked(self, revoked: list[TopicPartition]) -> None:
        self._dispatcher.forget({tp.partition for tp in revoked})

    async def on_partitions_assigned(self, assigned: list[TopicPartition]) -> None:
        loaded = await self._dispatcher.load({tp.partition for tp in assigned})
        if loaded:
            _log.info(
                "resuming unfinished deliveries",
                department=self._dispatcher.department.id,
                count=loaded,
            )


class ChangesConsumer:
    """Offsets are committed only after the batch's deliveries are durable in the store.

    A crash before the commit makes Kafka hand the records out again; the store ignores
    deliveries it already has, so nothing is queued twice and nothing is lost.
    """

    def __init__(
        self,
        *,
        department: DepartmentSpec,
        consumer_options: dict[str, Any],
        store: DeliveryStore,
        dispatcher: Dispatcher,
        clock: Clock,
        transform: Transform | None,
        max_backlog: int,
    ) -> None:
        self._department = department
        self._store = store
        self._dispatcher = dispatcher
        self._clock = clock
        self._transform = transform
        self._max_backlog = max_backlog
        self._consumer = AIOKafkaConsumer(
            **consumer_options,
            group_id=group_id(department.id),
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            max_poll_records=500,
        )

    async def run(self) -> None:
        """Consume until cancelled."""
        self._consumer.subscribe([CHANGES], listener=_Rebalance(self._dispatcher))
        await self._consumer.start()
        try:
            while True:
                await self._one_batch()
        finally:
            await asyncio.shield(self._consumer.stop())

    async def _one_batch(self) -> None:
        assignment = self._consumer.assignment()
        if self._dispatcher.backlog() >= self._max_backlog:
            self._consumer.pause(*assignment)
        else:
            self._consumer.resume(*assignment)
        batch = await self._consumer.getmany(timeout_ms=500, max_records=500)
        deliveries = []
        offsets: dict[TopicPartition, int] = {}
        now = self._clock.now()
        for tp, messages in batch.items():
            for message in messages:
                offsets[tp] = message.offset + 1
                try:
                    event = ChangeEvent.from_kafka(
                        KafkaRecord(
                            key=message.key or b"",
                            value=message.value or b"",
                            headers=list(message.headers),
                        )
                    )
                except (ValueError, KeyError, TypeError) as exc:
                    _log.error(
                        "unreadable change record skipped",
                        partition=tp.partition,
                        offset=message.offset,
                        error=type(exc).__name__,
                    )
                    continue
                if is_routed_to(event, self._department):
                    deliveries.append(
                        build_delivery(
                            event,
                            self._department,
                            partition=tp.partition,
                            offset=message.offset,
                            now=now,
                            transform=self._transform,
                        )
                    )
        if deliveries:
            inserted = await self._store.add(deliveries)
            self._dispatcher.accept(inserted, announce=True)
        if offsets:
            await self._consumer.commit(offsets)

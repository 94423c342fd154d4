"""Reads changes, delivery statuses and department states from Kafka into the store."""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, ConsumerRecord, TopicPartition

from services.broker.offsets import OffsetCommitter
from services.core.envelope import ChangeEvent, KafkaRecord
from services.core.interpreter import tune_for_service
from services.core.logging import get_logger
from services.core.topics import (
    CHANGES,
    DELIVERY_STATUS,
    DELIVERY_STATUS_TYPE,
    DEPARTMENT_STATE_TYPE,
)
from services.tracker.bootstrap import TrackerRuntime
from services.tracker.domain import DepartmentState, TrackedChange, TrackedDelivery
from services.tracker.ports import TrackingStore

__all__ = ["GROUP_ID", "TrackerConsumer", "TrackerProcess"]

#: One group for every tracker replica: each record is tracked by one of them.
GROUP_ID = "tuo.tracker"

_log = get_logger(__name__)
_MAX_RECORDS = 500
_RETRY_MAX_S = 5.0
_STATUS_TYPE = DELIVERY_STATUS_TYPE.encode()
_STATE_TYPE = DEPARTMENT_STATE_TYPE.encode()


@dataclass
class _Batch:
    """What one poll read, sorted by kind."""

    changes: list[TrackedChange] = field(default_factory=list)
    statuses: list[TrackedDelivery] = field(default_factory=list)
    states: list[DepartmentState] = field(default_factory=list)

    def add(self, topic: str, message: ConsumerRecord[bytes, bytes]) -> None:
        """Parse one record into its list; raises on an unreadable one."""
        if topic == CHANGES:
            self.changes.append(TrackedChange.from_event(_change_event(message)))
            return
        # The status topic carries two kinds; records without a type predate the second.
        kind = _header(message, "ce_type")
        value = orjson.loads(message.value or b"")
        if kind == _STATE_TYPE:
            self.states.append(DepartmentState.from_document(value))
        elif kind in {None, _STATUS_TYPE}:
            self.statuses.append(TrackedDelivery.from_status_document(value))
        else:
            raise ValueError("unknown status record type")

    def __bool__(self) -> bool:
        return bool(self.changes or self.statuses or self.states)


class _Handover(ConsumerRebalanceListener):  # type: ignore[misc]
    """Commits what is recorded before partitions go to another replica."""

    def __init__(self, offsets: OffsetCommitter) -> None:
        self._offsets = offsets

    async def on_partitions_revoked(self, revoked: list[TopicPartition]) -> None:  # noqa: ARG002
        await self._offsets.flush()

    async def on_partitions_assigned(self, assigned: list[TopicPartition]) -> None:
        """Nothing to load: the store is the tracker's state."""


class TrackerConsumer:
    """One consumer of both topics; offsets are committed only once a batch is stored.

    Status-topic records are told apart by their ``ce_type`` header: delivery statuses
    (``delivery_status.v1``, or no type) and department states (``department_state.v1``).

    Offsets are committed in the background, at most every ``COMMIT_INTERVAL_S``
    (``OffsetCommitter``). A crash before the commit makes Kafka hand the records out again,
    and the store's writes are idempotent, so nothing is lost or doubled. An unreadable
    record is logged (topic, partition, offset and error type: never its content) and
    skipped. When the store fails, the same batch is retried with a capped backoff until it
    succeeds: a database outage pauses tracking, it never skips records.
    """

    def __init__(
        self,
        *,
        store: TrackingStore,
        consumer_options: dict[str, Any],
        group_id: str = GROUP_ID,
    ) -> None:
        self._store = store
        self._consumer = AIOKafkaConsumer(
            **consumer_options,
            group_id=group_id,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            max_poll_records=_MAX_RECORDS,
        )
        self._offsets = OffsetCommitter(self._consumer)

    async def run(self) -> None:
        """Consume until cancelled."""
        self._consumer.subscribe([CHANGES, DELIVERY_STATUS], listener=_Handover(self._offsets))
        try:
            # Inside the try: a stop during start-up still closes the connections.
            await self._consumer.start()
            while True:
                await self._one_batch()
        finally:
            with contextlib.suppress(Exception):  # offsets of recorded batches: worth keeping
                await asyncio.shield(self._offsets.flush())
            await asyncio.shield(self._consumer.stop())

    async def _one_batch(self) -> None:
        records = await self._consumer.getmany(timeout_ms=500, max_records=_MAX_RECORDS)
        batch = _Batch()
        offsets: dict[TopicPartition, int] = {}
        for tp, messages in records.items():
            for message in messages:
                offsets[tp] = message.offset + 1
                try:
                    batch.add(tp.topic, message)
                # The parsers include third-party code whose errors are not all documented;
                # any failure on one record means only that this record is unreadable.
                except Exception as exc:  # noqa: BLE001
                    _log.warning(
                        "unreadable record skipped",
                        topic=tp.topic,
                        partition=tp.partition,
                        offset=message.offset,
                        error=type(exc).__name__,
                    )
        if batch:
            await self._record(batch)
        if offsets:
            self._offsets.stored(offsets)
        else:
            self._offsets.idle()

    async def _record(self, batch: _Batch) -> None:
        delay = 0.1
        while True:
            try:
                # Queued together, so that a SQL store writes them in one transaction; the
                # order does not matter (a pending row never replaces a stored status).
                await asyncio.gather(
                    self._store.record_changes(batch.changes),
                    self._store.record_statuses(batch.statuses),
                    self._store.record_department_states(batch.states),
                )
            except Exception as exc:  # noqa: BLE001 - any store failure: retry the batch
                _log.error("tracking store write failed; retrying", error=type(exc).__name__)
                await asyncio.sleep(delay)
                delay = min(delay * 2, _RETRY_MAX_S)
            else:
                return


def _change_event(message: ConsumerRecord[bytes, bytes]) -> ChangeEvent:
    record = KafkaRecord(
        key=message.key or b"", value=message.value or b"", headers=list(message.headers)
    )
    return ChangeEvent.from_kafka(record)


def _header(message: ConsumerRecord[bytes, bytes], name: str) -> bytes | None:
    for key, value in message.headers:
        if key == name:
            return bytes(value)
    return None


class TrackerProcess:
    """A started runtime plus its consumer; stopping stops consuming first."""

    def __init__(self, runtime: TrackerRuntime, *, group_id: str = GROUP_ID) -> None:
        self.runtime = runtime
        self._group_id = group_id
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Start the runtime (migrating the store), then the consumer."""
        await self.runtime.start()
        consumer = TrackerConsumer(
            store=self.runtime.store,
            consumer_options=self.runtime.consumer_options,
            group_id=self._group_id,
        )
        self._task = asyncio.create_task(consumer.run(), name="tracker:consumer")
        tune_for_service()

    async def wait(self) -> None:
        """Run until the consumer fails (re-raised) or is stopped."""
        if self._task is not None:
            await self._task

    async def stop(self) -> None:
        """Stop consuming (uncommitted records are read again later), then the runtime."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
        await self.runtime.stop()

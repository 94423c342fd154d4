"""Reading what really reached the broker."""

from __future__ import annotations

import time

from aiokafka import AIOKafkaConsumer, TopicPartition

from services.core.envelope import KafkaRecord
from services.core.topics import CHANGES, DELIVERY_STATUS


async def read_all(
    bootstrap: str,
    *,
    topic: str = CHANGES,
    until: set[str] | None = None,
    timeout: float = 20.0,
) -> list[KafkaRecord]:
    """Every record of ``topic`` from the beginning of every partition.

    With ``until`` (CloudEvents ids), reads until all of them have been seen, then one more
    fetch round that returns nothing (so every partition is drained), or fails at the
    deadline. No consumer group: partitions are assigned directly.
    """
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, enable_auto_commit=False, fetch_max_wait_ms=10
    )
    await consumer.start()
    try:
        deadline = time.monotonic() + timeout
        await _read_from_the_beginning(consumer, topic, deadline)
        records: list[KafkaRecord] = []
        wanted = set(until or ())
        empty_rounds = 0
        while True:
            batch = await consumer.getmany(timeout_ms=200)
            fetched = [m for messages in batch.values() for m in messages]
            for message in fetched:
                records.append(
                    KafkaRecord(
                        key=message.key or b"",
                        value=message.value or b"",
                        headers=list(message.headers),
                    )
                )
                wanted.discard(_header(records[-1], "ce_id"))
            empty_rounds = 0 if fetched else empty_rounds + 1
            if not wanted and empty_rounds >= 2:
                return records
            if time.monotonic() > deadline:
                if wanted:
                    raise AssertionError(f"{len(wanted)} expected event(s) never arrived")
                return records
    finally:
        await consumer.stop()


def _header(record: KafkaRecord, name: str) -> str:
    for key, value in record.headers:
        if key == name:
            return value.decode()
    return ""


def header(record: KafkaRecord, name: str) -> str:
    """One header's value as text ('' if absent)."""
    return _header(record, name)


async def latest_statuses(bootstrap: str, *, until, timeout: float = 60.0) -> dict[str, dict]:
    """Latest delivery status per delivery id, read from ``tuo.delivery.status.v1``.

    Keeps reading (from the beginning, no consumer group) until ``until(statuses)`` is
    true, or fails at the deadline with what it saw.
    """
    return await _latest_on_status_topic(
        bootstrap, b"delivery_status.v1", "delivery_id", until=until, timeout=timeout
    )


async def latest_department_states(
    bootstrap: str, *, until, timeout: float = 60.0
) -> dict[str, dict]:
    """Latest ``department_state.v1`` per department (by its ``at``), as ``latest_statuses``."""
    return await _latest_on_status_topic(
        bootstrap, b"department_state.v1", "department", until=until, timeout=timeout
    )


async def _read_from_the_beginning(consumer, topic: str, deadline: float) -> None:
    partitions = None
    while not partitions:
        partitions = consumer.partitions_for_topic(topic)
        if not partitions:
            await consumer._client.force_metadata_update()
        if time.monotonic() > deadline:
            raise AssertionError(f"topic {topic} not found")
    assigned = [TopicPartition(topic, p) for p in sorted(partitions)]
    consumer.assign(assigned)
    await consumer.seek_to_beginning(*assigned)


async def _latest_on_status_topic(
    bootstrap: str, ce_type: bytes, key: str, *, until, timeout: float
) -> dict[str, dict]:
    import orjson  # noqa: PLC0415

    order = "version" if key == "delivery_id" else "at"
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, enable_auto_commit=False, fetch_max_wait_ms=10
    )
    await consumer.start()
    latest: dict[str, dict] = {}
    try:
        deadline = time.monotonic() + timeout
        await _read_from_the_beginning(consumer, DELIVERY_STATUS, deadline)
        while True:
            batch = await consumer.getmany(timeout_ms=100)
            for messages in batch.values():
                for message in messages:
                    if dict(message.headers).get("ce_type") != ce_type:
                        continue
                    document = orjson.loads(message.value)
                    known = latest.get(document[key])
                    if known is None or known[order] <= document[order]:
                        latest[document[key]] = document
            if until(latest):
                return latest
            if time.monotonic() > deadline:
                summary = sorted(
                    (d["department"], d.get("status", d.get("paused"))) for d in latest.values()
                )
                raise AssertionError(f"not reached in {timeout} s: {summary}")
    finally:
        await consumer.stop()

"""Where the end-to-end time goes: stages from the timestamps the bus itself publishes.

After the end-to-end leg (its adapters stopped, so every status is flushed; its broker
still up) the benchmark reads back, with a group-less consumer, both topics:

- each change record (``ce_id`` header = event id): ``received_at`` in its document (the
  intake's clock once the body was validated) and the record's ``CreateTime`` (set by the
  intake's producer when it sent the record; milliseconds);
- each ``delivered`` status event (the delivery id): ``created_at`` (when the adapter's
  consumer read the change, after its poll returned) and the delivering attempt's ``at``
  (answer received) and ``latency_ms`` (so the POST started at ``at - latency_ms``).

Those are wall-clock times (``CLOCK_REALTIME``); the load generator and the receiver use
``CLOCK_MONOTONIC``. The difference of the two clocks is read in this process at the start
and at the end of the window and its mean is used; their change (the drift, NTP's slewing)
is reported with the stages.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, TopicPartition

from services.bench.e2e_report import LatencySummary, Stage
from services.core.topics import CHANGES, DELIVERY_STATUS

__all__ = [
    "ChangeMarks",
    "DeliveryMarks",
    "Marks",
    "Timeline",
    "read_marks",
    "stages",
    "wall_minus_monotonic",
]

_IDLE_S = 2.0
_TIMEOUT_S = 120.0
_TAIL = 0.99


@dataclass(frozen=True, kw_only=True)
class ChangeMarks:
    """When the intake had validated a change and when its producer sent it (wall clock)."""

    received_at: float
    produced_at: float


@dataclass(frozen=True, kw_only=True)
class DeliveryMarks:
    """When the adapter read the change, started the POST and had the answer (wall clock)."""

    consumed_at: float
    post_started_at: float
    answered_at: float


@dataclass(kw_only=True)
class Marks:
    """What the topics said, by event id and by delivery id."""

    changes: dict[str, ChangeMarks] = field(default_factory=dict)
    deliveries: dict[str, DeliveryMarks] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True)
class Timeline:
    """One delivery as the load generator and the receiver saw it (monotonic clock)."""

    event_id: str
    delivery_id: str
    due: float
    accepted_at: float
    received_at: float


def _wall(text: str) -> float:
    return datetime.fromisoformat(text).timestamp()


def _header(headers: Sequence[tuple[str, bytes]], name: str) -> bytes | None:
    return next((bytes(value) for key, value in headers if key == name), None)


def _read_change(record: Any, wanted: Collection[str], marks: Marks) -> None:  # noqa: ANN401
    event_id = (_header(record.headers, "ce_id") or b"").decode()
    if event_id not in wanted:
        return
    document = orjson.loads(record.value)
    marks.changes[event_id] = ChangeMarks(
        received_at=_wall(document["received_at"]), produced_at=record.timestamp / 1000
    )


def _read_status(record: Any, wanted: Collection[str], marks: Marks) -> None:  # noqa: ANN401
    document = orjson.loads(record.value)
    delivery_id = document.get("delivery_id")
    if document.get("status") != "delivered" or delivery_id not in wanted:
        return
    last = document["attempts"][-1]
    answered_at = _wall(last["at"])
    marks.deliveries[delivery_id] = DeliveryMarks(
        consumed_at=_wall(document["created_at"]),
        post_started_at=answered_at - last["latency_ms"] / 1000,
        answered_at=answered_at,
    )


async def read_marks(
    bootstrap: str, *, event_ids: Collection[str], delivery_ids: Collection[str]
) -> Marks:
    """Read both topics from the start until every id is found (or they stay quiet for 2 s)."""
    wanted_events, wanted_deliveries = set(event_ids), set(delivery_ids)
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        fetch_max_wait_ms=10,
        max_poll_records=5000,
    )
    marks = Marks()
    await consumer.start()
    try:
        await consumer.topics()  # metadata for partitions_for_topic
        partitions = [
            TopicPartition(topic, partition)
            for topic in (CHANGES, DELIVERY_STATUS)
            for partition in sorted(consumer.partitions_for_topic(topic) or ())
        ]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        deadline = time.monotonic() + _TIMEOUT_S
        quiet_since = time.monotonic()
        while time.monotonic() < deadline:
            batch = await consumer.getmany(timeout_ms=200)
            if not batch:
                if time.monotonic() - quiet_since > _IDLE_S:
                    break
                continue
            quiet_since = time.monotonic()
            for tp, records in batch.items():
                for record in records:
                    if tp.topic == CHANGES:
                        _read_change(record, wanted_events, marks)
                    else:
                        _read_status(record, wanted_deliveries, marks)
            if len(marks.changes) >= len(wanted_events) and len(marks.deliveries) >= len(
                wanted_deliveries
            ):
                break
    finally:
        await asyncio.wait_for(consumer.stop(), timeout=10)
    return marks


#: Stage names, in the order a change goes through them.
SEND_TO_VALIDATED = "send → intake validated"
VALIDATED_TO_PRODUCED = "validated → produced"
PRODUCED_TO_202 = "produced → 202"
ACCEPTED_TO_CONSUMED = "202 → adapter consumed"
CONSUMED_TO_POST = "consumed → POST started"
POST_TO_RECEIPT = "POST started → received"


def stages(
    timelines: Sequence[Timeline], marks: Marks, *, wall_minus_monotonic: float
) -> list[Stage]:
    """Every stage's latency over the deliveries found in ``marks``, and its tail share.

    The three intake stages are per change; the three after the 202 add up to the
    end-to-end latency of each delivery, and their ``tail_mean_ms`` is their mean over the
    slowest 1% of those deliveries (202 to receipt at or above its 99th percentile).
    """
    offset = wall_minus_monotonic
    intake: dict[str, list[float]] = {
        SEND_TO_VALIDATED: [],
        VALIDATED_TO_PRODUCED: [],
        PRODUCED_TO_202: [],
    }
    seen_events: set[str] = set()
    rows: list[tuple[float, float, float, float]] = []  # total, then the three stages
    for line in timelines:
        change = marks.changes.get(line.event_id)
        if change is not None and line.event_id not in seen_events:
            seen_events.add(line.event_id)
            intake[SEND_TO_VALIDATED].append(change.received_at - offset - line.due)
            intake[VALIDATED_TO_PRODUCED].append(change.produced_at - change.received_at)
            intake[PRODUCED_TO_202].append(line.accepted_at - (change.produced_at - offset))
        delivery = marks.deliveries.get(line.delivery_id)
        if delivery is None:
            continue
        consumed = delivery.consumed_at - offset
        posted = delivery.post_started_at - offset
        rows.append(
            (
                line.received_at - line.accepted_at,
                consumed - line.accepted_at,
                posted - consumed,
                line.received_at - posted,
            )
        )
    result = [
        Stage(name=name, latency=LatencySummary.of(values), tail_mean_ms=None)
        for name, values in intake.items()
    ]
    tail = _tail(rows)
    for index, name in enumerate((ACCEPTED_TO_CONSUMED, CONSUMED_TO_POST, POST_TO_RECEIPT), 1):
        values = [row[index] for row in rows]
        tail_mean = sum(row[index] for row in tail) / len(tail) * 1000 if tail else None
        result.append(Stage(name=name, latency=LatencySummary.of(values), tail_mean_ms=tail_mean))
    return result


def _tail(rows: Sequence[tuple[float, float, float, float]]) -> list[tuple[float, ...]]:
    if not rows:
        return []
    ordered = sorted(rows)
    first = min(len(ordered) - 1, int(len(ordered) * _TAIL))
    return list(ordered[first:])


def wall_minus_monotonic() -> float:
    """``time.time() - time.monotonic()`` now (read back to back)."""
    return time.time() - time.monotonic()

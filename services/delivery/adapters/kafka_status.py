"""StatusPublisher over aiokafka: CloudEvents for delivery states and department states."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import orjson
from aiokafka import AIOKafkaProducer

from services.core.topics import (
    DELIVERY_STATUS,
    DELIVERY_STATUS_TYPE,
    DEPARTMENT_STATE_TYPE,
    dead_letter_topic,
)
from services.delivery.domain import Delivery, DeliveryState
from services.delivery.ports import DepartmentState

__all__ = ["KafkaStatusPublisher", "department_state_document", "status_document"]


def _iso(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


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
        "next_attempt_at": _iso(delivery.next_attempt_at),
        "created_at": _iso(delivery.created_at),
        "attempts": [
            {
                "at": _iso(a.at),
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
        "opened_at": _iso(state.opened_at),
        "at": _iso(at),
    }


def _headers(ce_id: str, department: str, ce_type: str) -> list[tuple[str, bytes]]:
    return [
        ("ce_specversion", b"1.0"),
        ("ce_id", ce_id.encode()),
        ("ce_source", f"/tellusonce/adapters/{department}".encode()),
        ("ce_type", ce_type.encode()),
        ("content-type", b"application/json"),
    ]


class KafkaStatusPublisher:
    """Publishes to ``tuo.delivery.status.v1``; failed deliveries also to the dead-letter topic.

    Delivery statuses are keyed by delivery id, department states by department id. The
    dead-letter record carries metadata only: the body stays in the store, where an
    operator's redelivery finds it.
    """

    def __init__(self, producer: AIOKafkaProducer) -> None:
        self._producer = producer

    async def publish(self, deliveries: Sequence[Delivery]) -> None:
        """Send every status, then wait for all acknowledgements (acks=all)."""
        futures = []
        for delivery in deliveries:
            value = orjson.dumps(status_document(delivery))
            ce_id = f"{delivery.delivery_id}/{delivery.version}"
            headers = _headers(ce_id, delivery.department, DELIVERY_STATUS_TYPE)
            headers.append(("ce_subject", delivery.reference.encode()))
            key = delivery.delivery_id.encode()
            futures.append(
                await self._producer.send(DELIVERY_STATUS, value=value, key=key, headers=headers)
            )
            if delivery.state is DeliveryState.FAILED:
                topic = dead_letter_topic(delivery.department)
                futures.append(
                    await self._producer.send(topic, value=value, key=key, headers=headers)
                )
        await asyncio.gather(*futures)

    async def publish_department_state(self, state: DepartmentState, at: datetime) -> None:
        """Send one ``department_state.v1`` event keyed by the department and wait for it."""
        headers = _headers(str(uuid.uuid4()), state.department, DEPARTMENT_STATE_TYPE)
        value = orjson.dumps(department_state_document(state, at))
        future = await self._producer.send(
            DELIVERY_STATUS, value=value, key=state.department.encode(), headers=headers
        )
        await future

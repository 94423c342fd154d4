"""StatusPublisher over aiokafka: one CloudEvent per delivery state, keyed by delivery id."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import orjson
from aiokafka import AIOKafkaProducer

from services.core.topics import DELIVERY_STATUS, dead_letter_topic
from services.delivery.domain import Delivery, DeliveryState

__all__ = ["KafkaStatusPublisher", "status_document"]


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


class KafkaStatusPublisher:
    """Publishes to ``tuo.delivery.status.v1``; failures also to the dead-letter topic.

    The dead-letter record carries metadata only: the body stays in the store, where an
    operator's redelivery finds it.
    """

    def __init__(self, producer: AIOKafkaProducer) -> None:
        self._producer = producer

    async def publish(self, deliveries: Sequence[Delivery]) -> None:
        """Send every status, then wait for all acknowledgements (acks=all)."""
        futures = []
        for delivery in deliveries:
            value = orjson.dumps(status_document(delivery))
            headers = [
                ("ce_specversion", b"1.0"),
                ("ce_id", f"{delivery.delivery_id}/{delivery.version}".encode()),
                ("ce_source", f"/tellusonce/adapters/{delivery.department}".encode()),
                ("ce_type", b"delivery_status.v1"),
                ("ce_subject", delivery.reference.encode()),
                ("content-type", b"application/json"),
            ]
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

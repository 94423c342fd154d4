"""Every Kafka topic name, defined once."""

from __future__ import annotations

__all__ = [
    "CHANGES",
    "DELIVERY_CONTROL",
    "DELIVERY_STATUS",
    "DELIVERY_STATUS_TYPE",
    "DEPARTMENT_STATE_TYPE",
    "dead_letter_topic",
    "topics_for",
]

#: Every accepted change, CloudEvents binary mode, keyed by the pseudonymous citizen key.
CHANGES = "tuo.changes.v1"
#: Every delivery state change and every department's pause and circuit state (changes and
#: heartbeats), published by the adapters and read by the tracker; told apart by ``ce_type``.
DELIVERY_STATUS = "tuo.delivery.status.v1"
#: ``ce_type`` of a delivery's state on ``DELIVERY_STATUS`` (also assumed when it is absent).
DELIVERY_STATUS_TYPE = "delivery_status.v1"
#: ``ce_type`` of a department's pause and circuit state on ``DELIVERY_STATUS`` (keyed by id).
DEPARTMENT_STATE_TYPE = "department_state.v1"
#: Operator commands to the adapters: pause, resume, redeliver (one partition: in order).
DELIVERY_CONTROL = "tuo.delivery.control.v1"


def dead_letter_topic(department_id: str) -> str:
    """Per-department topic of deliveries that failed for good (kept for redelivery)."""
    return f"tuo.delivery.{department_id}.dlq.v1"


def topics_for(department_ids: list[str]) -> list[str]:
    """All topics the bus needs for the given departments, in a stable order."""
    names = [CHANGES, DELIVERY_STATUS, DELIVERY_CONTROL]
    names += [dead_letter_topic(department_id) for department_id in sorted(department_ids)]
    return names

"""Which departments get a change, and exactly what each one receives."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

import orjson

from services.core.departments import DepartmentSpec
from services.core.envelope import ChangeEvent
from services.core.follow_ups import CORRECTION, minimise_corrections
from services.core.minimise import minimise
from services.core.timestamps import rfc3339_utc
from services.delivery.domain import Delivery, delivery_id_for

__all__ = ["Transform", "build_delivery", "is_routed_to", "payload_for"]

#: Reshapes a minimised body into a department's own format; it sees nothing else.
Transform = Callable[[dict[str, Any]], dict[str, Any]]


def is_routed_to(event: ChangeEvent, department: DepartmentSpec) -> bool:
    """The citizen consented, the department takes this type, and (councils) covers an address."""
    if department.id not in event.notify:
        return False
    return department.is_entitled(event.type, {"subject": event.subject, "data": event.data})


def payload_for(
    event: ChangeEvent, department: DepartmentSpec, transform: Transform | None = None
) -> dict[str, Any]:
    """The JSON a department receives: identifiers plus only its allowed fields.

    Minimisation happens first, on the change alone; a transform only reshapes what is left.
    A correction's new values are minimised as the corrected change was.
    """
    allowed = department.fields.get(event.type, ())
    minimised = minimise({"subject": event.subject, "data": event.data}, allowed)
    corrections = minimised.get("data", {}).get("corrections")
    if event.type == CORRECTION and isinstance(corrections, list):
        # Each corrected path is cut down to what the department saw of the original
        # (of any change it takes, when the original is not known to intake).
        original = (
            department.fields.get(event.original_type, ())
            if event.original_type
            else [path for paths in department.fields.values() for path in paths]
        )
        minimised["data"]["corrections"] = minimise_corrections(corrections, original)
    body: dict[str, Any] = {
        "event_id": event.event_id,
        "reference": event.reference,
        "type": event.type,
        "schema_version": event.schema_version,
        "occurred_at": rfc3339_utc(event.received_at),
        **minimised,
    }
    return transform(body) if transform else body


def build_delivery(
    event: ChangeEvent,
    department: DepartmentSpec,
    *,
    partition: int,
    offset: int,
    now: datetime,
    transform: Transform | None = None,
) -> Delivery:
    """A new pending delivery of ``event`` to ``department``."""
    return Delivery(
        delivery_id=delivery_id_for(event.event_id, department.id),
        department=department.id,
        event_id=event.event_id,
        reference=event.reference,
        event_type=event.type,
        citizen_key=event.citizen_key,
        partition=partition,
        offset=offset,
        body=orjson.dumps(payload_for(event, department, transform)),
        created_at=now,
    )

"""What the tracker knows about a change and about each of its deliveries."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

from services.core.envelope import ChangeEvent
from services.core.ids import delivery_id_for

__all__ = [
    "FINISHED",
    "UNHEARD_VERSION",
    "Attempt",
    "CircuitStatus",
    "DeliveryFigures",
    "DeliveryStatus",
    "DepartmentState",
    "LatencyHistogram",
    "TrackedChange",
    "TrackedDelivery",
]

_T = TypeVar("_T")

#: The version of a delivery known only from its change: any status event (version 0 and
#: up, from the adapter) supersedes it.
UNHEARD_VERSION = -1
#: Versions and schema versions fit a 32-bit SQL integer; anything larger is not ours.
_MAX_INT = 2**31 - 1


class DeliveryStatus(enum.StrEnum):
    """Where a delivery stands (the contract's status values)."""

    #: Not attempted yet (or waiting for the same citizen's earlier change).
    PENDING = "pending"
    #: An attempt failed in a way worth retrying; the next one is scheduled.
    RETRYING = "retrying"
    #: The department's circuit is open or it is paused: held, not discarded.
    HELD = "held"
    #: The department answered 2xx.
    DELIVERED = "delivered"
    #: The department refused it for a business reason; waits for a person.
    REJECTED = "rejected"
    #: The retry schedule is exhausted (a dead letter, kept for redelivery).
    FAILED = "failed"


#: Statuses that nothing changes any more, short of an operator's redelivery.
FINISHED = frozenset({DeliveryStatus.DELIVERED, DeliveryStatus.REJECTED, DeliveryStatus.FAILED})


@dataclass(frozen=True, kw_only=True)
class Attempt:
    """One push to a department: when, what came back, how long it took (no personal data)."""

    at: datetime
    status_code: int | None
    latency_ms: float
    error: str | None


@dataclass(frozen=True, kw_only=True)
class TrackedChange:
    """A change as intake accepted it.

    ``document`` is the change's ``subject`` and ``data``: personal data, set to None by
    the retention purge while everything else is kept.
    """

    reference: str
    event_id: str
    type: str
    schema_version: int
    received_at: datetime
    channel: str
    notified: tuple[str, ...]
    document: dict[str, Any] | None

    @classmethod
    def from_event(cls, event: ChangeEvent) -> TrackedChange:
        """The tracked form of a change read from ``tuo.changes.v1``.

        Raises:
            ValueError: the schema version is out of range.
        """
        if not 0 < event.schema_version <= _MAX_INT:
            raise ValueError("schema version out of range")
        return cls(
            reference=event.reference,
            event_id=event.event_id,
            type=event.type,
            schema_version=event.schema_version,
            received_at=event.received_at.astimezone(UTC),
            channel=event.channel,
            notified=tuple(event.notify),
            document={"subject": event.subject, "data": event.data},
        )

    def initial_deliveries(self) -> list[TrackedDelivery]:
        """One pending delivery per notified organisation, superseded by any status event."""
        return [
            TrackedDelivery(
                delivery_id=delivery_id_for(self.event_id, department),
                reference=self.reference,
                event_id=self.event_id,
                department=department,
                status=DeliveryStatus.PENDING,
                version=UNHEARD_VERSION,
                created_at=self.received_at,
            )
            for department in dict.fromkeys(self.notified)
        ]


@dataclass(frozen=True, kw_only=True)
class TrackedDelivery:
    """The latest known state of one change's delivery to one department.

    ``version`` orders the adapter's status events: a higher one replaces a lower one,
    never the other way round. ``last_attempt_at`` and ``delivered_at`` follow from the
    attempt log.
    """

    delivery_id: str
    reference: str
    event_id: str
    department: str
    status: DeliveryStatus
    version: int
    created_at: datetime
    attempts: tuple[Attempt, ...] = ()
    reason: str | None = None
    last_attempt_at: datetime | None = None
    delivered_at: datetime | None = None
    next_attempt_at: datetime | None = None

    @property
    def finished(self) -> bool:
        """Delivered, rejected or failed."""
        return self.status in FINISHED

    @property
    def finished_at(self) -> datetime | None:
        """When it finished: its last attempt (or its creation if it had none); None if not."""
        if not self.finished:
            return None
        return self.last_attempt_at or self.created_at

    @classmethod
    def from_status_document(cls, document: Mapping[str, Any]) -> TrackedDelivery:
        """Parse a ``tuo.delivery.status.v1`` value (already decoded from JSON).

        Raises:
            ValueError: a field is missing, of the wrong type, or not a known status.
        """
        if not isinstance(document, Mapping):
            raise ValueError("a status document is a JSON object")  # noqa: TRY004 - one error type
        attempts = tuple(_attempt(a) for a in _field(document, "attempts", list))
        status = DeliveryStatus(_field(document, "status", str))
        last_attempt_at = attempts[-1].at if attempts else None
        version = _field(document, "version", int)
        if not 0 <= version <= _MAX_INT:
            raise ValueError("status version out of range")
        return cls(
            delivery_id=_field(document, "delivery_id", str),
            reference=_field(document, "reference", str),
            event_id=_field(document, "event_id", str),
            department=_field(document, "department", str),
            status=status,
            version=version,
            created_at=_moment(_field(document, "created_at", str)),
            attempts=attempts,
            reason=_optional(document, "reason", str),
            last_attempt_at=last_attempt_at,
            delivered_at=last_attempt_at if status is DeliveryStatus.DELIVERED else None,
            next_attempt_at=_optional_moment(_optional(document, "next_attempt_at", str)),
        )


class CircuitStatus(enum.StrEnum):
    """A department's circuit as its adapters report it."""

    #: Sending normally.
    CLOSED = "closed"
    #: Holding every delivery after a 410 or repeated failures.
    OPEN = "open"
    #: One probe delivery is out; its answer closes or reopens the circuit.
    HALF_OPEN = "half_open"


@dataclass(frozen=True, kw_only=True)
class DepartmentState:
    """A department's pause and circuit state as its adapters reported it at ``at``.

    The adapters publish it when it changes and as a periodic heartbeat; the newest
    ``at`` wins.
    """

    department: str
    paused: bool
    circuit: CircuitStatus
    at: datetime
    opened_at: datetime | None = None

    @classmethod
    def from_document(cls, document: Mapping[str, Any]) -> DepartmentState:
        """Parse a ``department_state.v1`` value (already decoded from JSON).

        Raises:
            ValueError: a field is missing, of the wrong type, or not a known circuit state.
        """
        if not isinstance(document, Mapping):
            raise ValueError("a department state is a JSON object")  # noqa: TRY004 - one error type
        paused = document.get("paused")
        if not isinstance(paused, bool):
            raise ValueError("department state field 'paused' is not a boolean")  # noqa: TRY004
        return cls(
            department=_field(document, "department", str),
            paused=paused,
            circuit=CircuitStatus(_field(document, "circuit", str)),
            at=_moment(_field(document, "at", str)),
            opened_at=_optional_moment(_optional(document, "opened_at", str)),
        )


@dataclass(frozen=True, kw_only=True)
class LatencyHistogram:
    """Attempt latencies of one department, as a cumulative histogram.

    ``cumulative[i]`` attempts took at most ``bounds_ms[i]`` milliseconds; ``count`` and
    ``sum_ms`` cover every attempt, including those above the last bound.
    """

    bounds_ms: tuple[float, ...]
    cumulative: tuple[int, ...]
    count: int
    sum_ms: float


@dataclass(frozen=True, kw_only=True)
class DeliveryFigures:
    """Whole-store figures for the metrics endpoint (no personal data).

    ``deliveries``: how many deliveries each department has in each status now (pairs
    with none are absent). ``latency``: every attempt's latency, per department
    (departments without attempts are absent).
    """

    deliveries: dict[tuple[str, DeliveryStatus], int]
    latency: dict[str, LatencyHistogram]


def _attempt(raw: object) -> Attempt:
    if not isinstance(raw, Mapping):
        raise ValueError("an attempt is a JSON object")  # noqa: TRY004 - one error type
    return Attempt(
        at=_moment(_field(raw, "at", str)),
        status_code=_optional(raw, "status_code", int),
        latency_ms=_number(raw, "latency_ms"),
        error=_optional(raw, "error", str),
    )


def _field(document: Mapping[str, Any], key: str, kind: type[_T]) -> _T:
    value = document.get(key)
    # bool is an int in Python but never a valid count, code or version here.
    if value is None or isinstance(value, bool) or not isinstance(value, kind):
        raise ValueError(f"status field {key!r} is missing or of the wrong type")
    return value


def _number(document: Mapping[str, Any], key: str) -> float:
    value = document.get(key)
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    raise ValueError(f"status field {key!r} is missing or not a number")


def _optional(document: Mapping[str, Any], key: str, kind: type[_T]) -> _T | None:
    return None if document.get(key) is None else _field(document, key, kind)


def _moment(text: str) -> datetime:
    moment = datetime.fromisoformat(text)
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _optional_moment(text: str | None) -> datetime | None:
    return None if text is None else _moment(text)

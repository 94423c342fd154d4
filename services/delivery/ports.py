"""What the delivery engine needs from the outside world, as Protocols."""

from __future__ import annotations

import enum
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from services.delivery.domain import Delivery, DeliveryState, Outcome

__all__ = [
    "CircuitState",
    "DeliveryStore",
    "DepartmentGateway",
    "DepartmentState",
    "StatusPublisher",
]


class CircuitState(enum.StrEnum):
    """A department's circuit: closed (sending), open (holding), half-open (probing)."""

    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


@dataclass(frozen=True, kw_only=True)
class DepartmentState:
    """What an operator or the circuit decided for a department; shared by its replicas."""

    department: str
    paused: bool = False
    circuit: CircuitState = CircuitState.CLOSED
    opened_at: datetime | None = None
    consecutive_failures: int = 0


class DeliveryStore(Protocol):
    """Durable queue of deliveries, shared by every replica of a department's adapter.

    Deliveries are written here before their Kafka offset is committed, so a crash loses
    nothing; every state change bumps ``version``, and the status relay publishes the
    latest version of each delivery at least once (``unpublished``/``mark_published``).
    """

    async def add(self, deliveries: Sequence[Delivery]) -> list[Delivery]:
        """Insert deliveries whose id is new; return those, with ``seq``, in input order.

        Deliveries whose id exists are ignored, so reading a Kafka record twice is harmless.
        """
        ...

    async def unfinished(
        self,
        department: str,
        partitions: Collection[int] | None = None,
        *,
        after_seq: int | None = None,
        limit: int | None = None,
    ) -> list[Delivery]:
        """Pending, retrying and held deliveries of a department, ordered by ``seq``.

        With ``partitions``, only those read from these Kafka partitions; with
        ``after_seq``, only those with a higher ``seq``; with ``limit``, the first so many.
        """
        ...

    async def get(self, delivery_id: str) -> Delivery | None:
        """One delivery, or None."""
        ...

    async def in_state(self, department: str, state: DeliveryState) -> list[Delivery]:
        """Every delivery of a department in one state, ordered by ``seq``."""
        ...

    async def save(
        self, deliveries: Sequence[Delivery], *, published: Sequence[tuple[str, int]] = ()
    ) -> None:
        """Persist state, attempts, next attempt time, reason and version (one transaction).

        ``published`` (delivery_id, version) pairs are recorded in the same transaction, as
        ``mark_published`` would record them; a saved delivery's newer version stays
        unpublished. Unknown ids are ignored.
        """
        ...

    async def unpublished(self, limit: int) -> list[Delivery]:
        """Deliveries whose latest version has not been published as a status event."""
        ...

    async def mark_published(self, versions: Sequence[tuple[str, int]]) -> None:
        """Record (delivery_id, version) pairs as published.

        An older version never overwrites a newer mark.
        """
        ...

    async def department_state(self, department: str) -> DepartmentState:
        """The department's pause and circuit state (closed and running if never saved)."""
        ...

    async def save_department_state(self, state: DepartmentState) -> None:
        """Persist a department's pause and circuit state."""
        ...

    async def purge_bodies(self, finished_before: datetime) -> int:
        """Drop the personal data (``body``) of deliveries finished before the cutoff.

        Metadata and attempts stay. Returns how many were purged.
        """
        ...


class DepartmentGateway(Protocol):
    """Pushes one delivery to its department: signed, with the stable webhook-id.

    Never raises for the department's answer or a network failure: every result is an
    ``Outcome`` (timeouts and connection errors are ``RETRYABLE``).
    """

    async def push(self, delivery: Delivery) -> Outcome:
        """One attempt."""
        ...


class StatusPublisher(Protocol):
    """Publishes to ``tuo.delivery.status.v1`` for the tracker: deliveries and departments.

    Neither kind carries personal data. Both wait for the broker's acknowledgement and
    raise the broker client's exception when it does not come; the caller keeps what it
    could not publish and tries again (consumers keep the newest, so repeats are harmless).
    """

    async def publish(self, deliveries: Sequence[Delivery]) -> None:
        """Publish the current state of each delivery (``delivery_status.v1``)."""
        ...

    async def publish_department_state(self, state: DepartmentState, at: datetime) -> None:
        """Publish a department's pause and circuit state as it stood at ``at``.

        A ``department_state.v1`` event keyed by the department id; the tracker keeps the
        one with the latest ``at``.
        """
        ...

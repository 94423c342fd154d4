"""The tracking store port: what the tracker records and what citizens and operators read."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

from services.tracker.domain import (
    DeliveryFigures,
    DepartmentState,
    TrackedChange,
    TrackedDelivery,
)

__all__ = ["TrackingStore"]


class TrackingStore(Protocol):
    """Changes and the latest known state of their deliveries.

    Every ``record_*`` method is idempotent and takes a whole batch, so a consumer can
    replay records after a crash without creating duplicates; each call is one
    transaction. A delivery row is created by whichever arrives first, its change's record
    (``pending``, version ``UNHEARD_VERSION``) or a status event, and only ever replaced by
    a status event with a higher ``version``. Times are timezone-aware UTC, in and out.
    Storage failures propagate as the technology's own exceptions; nothing is retried here.
    """

    async def record_changes(self, changes: Sequence[TrackedChange]) -> None:
        """Store new changes and create a pending delivery for each notified organisation.

        A change already known (by reference or event id) is left as it is; so is a
        delivery that already exists, whatever its status.
        """
        ...

    async def record_statuses(self, statuses: Sequence[TrackedDelivery]) -> None:
        """Store each delivery's status unless a version at least as new is already stored.

        Works before the delivery's change is known (the change then finds it in place).
        """
        ...

    async def change(self, reference: str) -> tuple[TrackedChange, list[TrackedDelivery]] | None:
        """A change and its deliveries ordered by department; None if the change is unknown.

        Deliveries recorded from status events alone are not returned until their change
        record has arrived (usually milliseconds later).
        """
        ...

    async def deliveries(
        self,
        *,
        department: str | None = None,
        status: str | None = None,
        reference: str | None = None,
        delivery_id: str | None = None,
        limit: int = 100,
        after: str | None = None,
    ) -> tuple[list[TrackedDelivery], str | None]:
        """One page of deliveries matching every given filter, oldest recorded first.

        Pages are keyset-paginated in the order deliveries were first recorded (by delivery
        id within one batch), which never changes afterwards; pass the returned cursor as
        ``after`` for the next page (None: no more).

        Raises:
            ValueError: ``limit`` is below 1 or ``after`` is not a cursor from this store.
        """
        ...

    async def department_health(self, department: str, now: datetime) -> dict[str, float]:
        """A department's figures at ``now``.

        Keys: ``delivered_per_min`` (deliveries that succeeded in the last 5 minutes,
        per minute), ``failure_rate`` (failed and rejected over all deliveries finished in
        the last hour, 0 to 1; 0 when none finished), ``backlog`` (pending, retrying and
        held), ``oldest_pending_s`` (age of the oldest unfinished delivery; 0 if none),
        ``failed`` (dead letters now) and ``rejected`` (business refusals now).
        """
        ...

    async def record_department_states(self, states: Sequence[DepartmentState]) -> None:
        """Keep each department's state with the latest ``at``.

        A state no newer than the one stored (older, or as old) changes nothing, whatever
        order they arrive in.
        """
        ...

    async def department_states(self) -> dict[str, DepartmentState]:
        """The latest state of every department heard of, by department id."""
        ...

    async def delivery_figures(self, latency_bounds_ms: Sequence[float]) -> DeliveryFigures:
        """Deliveries per department and status now, and attempt latencies per department.

        Latencies are counted once per attempt (however often a status repeats it) into a
        cumulative histogram over ``latency_bounds_ms`` (ascending).
        """
        ...

    async def purge_personal_data(self, received_before: datetime) -> int:
        """Drop the ``document`` of changes received before the cutoff; return how many.

        References, types, times and every delivery's metadata and attempts are kept.
        """
        ...

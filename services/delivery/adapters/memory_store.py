"""DeliveryStore in memory: for unit tests of the engine and single-process demos."""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from dataclasses import replace
from datetime import UTC, datetime

from services.delivery.domain import UNFINISHED, Delivery, DeliveryState
from services.delivery.ports import DepartmentState

__all__ = ["InMemoryDeliveryStore"]


class InMemoryDeliveryStore:
    """Deliveries in dicts, with the same semantics as the SQL store (nothing is durable).

    ``add`` is idempotent by ``delivery_id``; ``save`` of an unknown id is ignored (as the
    SQL ``UPDATE`` would be); ``mark_published`` never lowers a mark. Nothing raises.
    A new delivery counts as unpublished until its first version is marked published.
    """

    def __init__(self) -> None:
        self._deliveries: dict[str, Delivery] = {}
        self._published: dict[str, int] = {}
        self._finished: dict[str, datetime] = {}
        self._departments: dict[str, DepartmentState] = {}
        self._next_seq = 1

    async def add(self, deliveries: Sequence[Delivery]) -> list[Delivery]:
        """Insert deliveries whose id is new; return those, with ``seq``, in input order."""
        added = []
        for delivery in deliveries:
            if delivery.delivery_id in self._deliveries:
                continue
            stored = replace(delivery, seq=self._next_seq, extra=dict(delivery.extra))
            self._next_seq += 1
            self._deliveries[stored.delivery_id] = stored
            self._published[stored.delivery_id] = -1
            self._note_finished(stored)
            added.append(_copy(stored))
        return added

    async def unfinished(
        self,
        department: str,
        partitions: Collection[int] | None = None,
        *,
        after_seq: int | None = None,
        limit: int | None = None,
    ) -> list[Delivery]:
        """Pending, retrying and held deliveries of a department, ordered by ``seq``."""
        wanted = None if partitions is None else set(partitions)
        after = -1 if after_seq is None else after_seq
        found = self._select(
            lambda d: (
                d.department == department
                and d.state in UNFINISHED
                and d.seq > after
                and (wanted is None or d.partition in wanted)
            )
        )
        return found if limit is None else found[:limit]

    async def get(self, delivery_id: str) -> Delivery | None:
        """One delivery, or None."""
        delivery = self._deliveries.get(delivery_id)
        return None if delivery is None else _copy(delivery)

    async def in_state(self, department: str, state: DeliveryState) -> list[Delivery]:
        """Every delivery of a department in one state, ordered by ``seq``."""
        return self._select(lambda d: d.department == department and d.state is state)

    async def save(
        self, deliveries: Sequence[Delivery], *, published: Sequence[tuple[str, int]] = ()
    ) -> None:
        """Persist state, attempts, next attempt time, reason, version and ``extra``.

        ``published`` pairs are recorded as by ``mark_published``.
        """
        for delivery in deliveries:
            stored = self._deliveries.get(delivery.delivery_id)
            if stored is None:
                continue
            updated = replace(
                stored,
                state=delivery.state,
                attempts=delivery.attempts,
                next_attempt_at=delivery.next_attempt_at,
                reason=delivery.reason,
                version=delivery.version,
                extra=dict(delivery.extra),
            )
            self._deliveries[updated.delivery_id] = updated
            self._note_finished(updated)
        await self.mark_published(published)

    async def unpublished(self, limit: int) -> list[Delivery]:
        """Deliveries whose latest version has not been published, ordered by ``seq``."""
        pending = self._select(lambda d: d.version > self._published[d.delivery_id])
        return pending[:limit]

    async def mark_published(self, versions: Sequence[tuple[str, int]]) -> None:
        """Record (delivery_id, version) pairs as published; never lowers a mark."""
        for delivery_id, version in versions:
            if delivery_id in self._published:
                self._published[delivery_id] = max(self._published[delivery_id], version)

    async def department_state(self, department: str) -> DepartmentState:
        """The department's pause and circuit state (closed and running if never saved)."""
        return self._departments.get(department) or DepartmentState(department=department)

    async def save_department_state(self, state: DepartmentState) -> None:
        """Persist a department's pause and circuit state."""
        self._departments[state.department] = state

    async def purge_bodies(self, finished_before: datetime) -> int:
        """Empty the body of deliveries finished before the cutoff; return how many."""
        purged = 0
        for delivery_id, finished_at in self._finished.items():
            delivery = self._deliveries[delivery_id]
            if finished_at < finished_before and delivery.body:
                self._deliveries[delivery_id] = replace(delivery, body=b"")
                purged += 1
        return purged

    def _note_finished(self, delivery: Delivery) -> None:
        if delivery.finished:
            self._finished[delivery.delivery_id] = _finished_at(delivery)
        else:
            self._finished.pop(delivery.delivery_id, None)

    def _select(self, keep: Callable[[Delivery], bool]) -> list[Delivery]:
        chosen = [d for d in self._deliveries.values() if keep(d)]
        return [_copy(d) for d in sorted(chosen, key=lambda d: d.seq)]


def _finished_at(delivery: Delivery) -> datetime:
    """When a finished delivery finished: its last attempt, or now if it has none."""
    return delivery.attempts[-1].at if delivery.attempts else datetime.now(UTC)


def _copy(delivery: Delivery) -> Delivery:
    # ``extra`` is the one mutable field: callers must not change what is stored.
    return replace(delivery, extra=dict(delivery.extra))

"""TrackingStore in memory: for unit tests and single-process demos (nothing is durable)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime, timedelta

from services.tracker.domain import (
    DeliveryFigures,
    DeliveryStatus,
    DepartmentState,
    LatencyHistogram,
    TrackedChange,
    TrackedDelivery,
)

__all__ = ["InMemoryTrackingStore"]


class InMemoryTrackingStore:
    """Dicts with the same semantics as the SQL store (see ``TrackingStore``); never raises.

    Rows keep the sequence number of their first recording (by delivery id within one
    batch), which orders pagination.
    """

    def __init__(self) -> None:
        self._changes: dict[str, TrackedChange] = {}
        self._event_ids: set[str] = set()
        self._deliveries: dict[str, tuple[int, TrackedDelivery]] = {}
        self._states: dict[str, DepartmentState] = {}
        self._next_seq = 1

    async def record_changes(self, changes: Sequence[TrackedChange]) -> None:
        """Store new changes and create a pending delivery for each notified organisation."""
        initial: dict[str, TrackedDelivery] = {}
        for change in changes:
            if change.reference in self._changes or change.event_id in self._event_ids:
                continue
            document = None if change.document is None else dict(change.document)
            self._changes[change.reference] = replace(change, document=document)
            self._event_ids.add(change.event_id)
            initial |= {d.delivery_id: d for d in change.initial_deliveries()}
        for delivery_id in sorted(initial):  # as the SQL store does: by id within a batch
            if delivery_id not in self._deliveries:
                self._insert(initial[delivery_id])

    async def record_statuses(self, statuses: Sequence[TrackedDelivery]) -> None:
        """Store each delivery's status unless a version at least as new is stored."""
        for status in sorted(statuses, key=lambda s: s.delivery_id):
            known = self._deliveries.get(status.delivery_id)
            if known is None:
                self._insert(status)
            elif known[1].version < status.version:
                self._deliveries[status.delivery_id] = (known[0], status)

    async def change(self, reference: str) -> tuple[TrackedChange, list[TrackedDelivery]] | None:
        """A change and its deliveries ordered by department; None if the change is unknown."""
        change = self._changes.get(reference)
        if change is None:
            return None
        mine = [d for _, d in self._deliveries.values() if d.event_id == change.event_id]
        return change, sorted(mine, key=lambda d: (d.department, d.delivery_id))

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
        """One page of matching deliveries, oldest recorded first, and the next cursor."""
        if limit < 1:
            raise ValueError("limit must be at least 1")
        start = _cursor(after)
        rows = sorted(
            (seq, d)
            for seq, d in self._deliveries.values()
            if seq > start
            and (department is None or d.department == department)
            and (status is None or d.status == status)
            and (reference is None or d.reference == reference)
            and (delivery_id is None or d.delivery_id == delivery_id)
        )
        page = rows[:limit]
        more = len(rows) > limit
        return [d for _, d in page], str(page[-1][0]) if more else None

    async def department_health(self, department: str, now: datetime) -> dict[str, float]:
        """Delivered per minute, failure rate, backlog, oldest pending age and dead letters."""
        mine = [d for _, d in self._deliveries.values() if d.department == department]
        recent = now - timedelta(minutes=5)
        delivered = sum(1 for d in mine if d.delivered_at and recent < d.delivered_at <= now)
        hour_ago = now - timedelta(hours=1)
        finished = [d for d in mine if d.finished_at and hour_ago < d.finished_at <= now]
        bad = sum(1 for d in finished if d.status != DeliveryStatus.DELIVERED)
        unfinished = [d for d in mine if not d.finished]
        oldest = min((d.created_at for d in unfinished), default=None)
        return {
            "delivered_per_min": delivered / 5,
            "failure_rate": bad / len(finished) if finished else 0.0,
            "backlog": len(unfinished),
            "oldest_pending_s": max(0.0, (now - oldest).total_seconds()) if oldest else 0.0,
            "failed": sum(1 for d in mine if d.status == DeliveryStatus.FAILED),
            "rejected": sum(1 for d in mine if d.status == DeliveryStatus.REJECTED),
        }

    async def record_department_states(self, states: Sequence[DepartmentState]) -> None:
        """Keep each department's state with the latest ``at``."""
        for state in states:
            known = self._states.get(state.department)
            if known is None or known.at < state.at:
                self._states[state.department] = state

    async def department_states(self) -> dict[str, DepartmentState]:
        """The latest state of every department heard of, by department id."""
        return dict(self._states)

    async def delivery_figures(self, latency_bounds_ms: Sequence[float]) -> DeliveryFigures:
        """Deliveries per department and status now, and attempt latencies per department."""
        bounds = tuple(float(bound) for bound in latency_bounds_ms)
        counts: Counter[tuple[str, DeliveryStatus]] = Counter()
        latencies: dict[str, list[float]] = {}
        for _, delivery in self._deliveries.values():
            counts[delivery.department, delivery.status] += 1
            if delivery.attempts:  # the latest status holds the whole (append-only) log
                mine = latencies.setdefault(delivery.department, [])
                mine.extend(a.latency_ms for a in delivery.attempts)
        histograms = {
            department: LatencyHistogram(
                bounds_ms=bounds,
                cumulative=tuple(sum(1 for v in values if v <= bound) for bound in bounds),
                count=len(values),
                sum_ms=sum(values),
            )
            for department, values in latencies.items()
        }
        return DeliveryFigures(deliveries=dict(counts), latency=histograms)

    async def purge_personal_data(self, received_before: datetime) -> int:
        """Drop the ``document`` of changes received before the cutoff; return how many."""
        purged = 0
        for reference, change in self._changes.items():
            if change.received_at < received_before and change.document is not None:
                self._changes[reference] = replace(change, document=None)
                purged += 1
        return purged

    def _insert(self, delivery: TrackedDelivery) -> None:
        self._deliveries[delivery.delivery_id] = (self._next_seq, delivery)
        self._next_seq += 1


def _cursor(after: str | None) -> int:
    if after is None:
        return 0
    # Digits only, and few enough for a 64-bit key.
    if not (after.isascii() and after.isdigit() and len(after) <= 18):
        raise ValueError("not a cursor from this store")
    return int(after)

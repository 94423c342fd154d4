"""Which delivery goes next: strict order per citizen, concurrency across citizens."""

from __future__ import annotations

import heapq
from collections import deque
from collections.abc import Iterable
from datetime import datetime

from services.delivery.domain import Delivery

__all__ = ["CitizenScheduler"]


class CitizenScheduler:
    """In-memory queues, one per citizen key, rebuilt from the store after a restart.

    Only the head of a citizen's queue is ever handed out, and only when it is due and
    not already in flight, so one citizen's changes reach the department in order while
    other citizens' changes proceed (a retrying head blocks only its own citizen).
    """

    def __init__(self) -> None:
        self._queues: dict[str, deque[Delivery]] = {}
        self._heap: list[tuple[datetime, int, str]] = []
        self._in_flight: set[str] = set()
        self._known: set[str] = set()

    def __len__(self) -> int:
        return len(self._known)

    def knows(self, delivery_id: str) -> bool:
        """Whether this delivery is queued or in flight here."""
        return delivery_id in self._known

    def add(self, deliveries: Iterable[Delivery], now: datetime) -> int:
        """Queue deliveries (in ``seq`` order); ones already known are ignored."""
        added = 0
        for delivery in deliveries:
            if delivery.delivery_id in self._known:
                continue
            self._known.add(delivery.delivery_id)
            queue = self._queues.setdefault(delivery.citizen_key, deque())
            queue.append(delivery)
            added += 1
            if len(queue) == 1 and delivery.citizen_key not in self._in_flight:
                self._push(delivery, now)
        return added

    def _push(self, delivery: Delivery, now: datetime) -> None:
        due = delivery.next_attempt_at or now
        heapq.heappush(self._heap, (due, delivery.seq, delivery.citizen_key))

    def take(self, now: datetime) -> Delivery | None:
        """The next due head of a citizen queue, now marked in flight; None if none is due."""
        while self._heap and self._heap[0][0] <= now:
            _, seq, key = heapq.heappop(self._heap)
            queue = self._queues.get(key)
            if not queue or queue[0].seq != seq or key in self._in_flight:
                continue  # a stale entry: the head changed since it was pushed
            self._in_flight.add(key)
            return queue[0]
        return None

    def next_due(self) -> datetime | None:
        """When the earliest queued head becomes due (None when nothing is waiting)."""
        return self._heap[0][0] if self._heap else None

    def finish(self, delivery: Delivery, now: datetime) -> None:
        """The head is done for good: the citizen's next delivery may go."""
        key = delivery.citizen_key
        self._in_flight.discard(key)
        self._known.discard(delivery.delivery_id)
        queue = self._queues.get(key)
        if queue and queue[0].delivery_id == delivery.delivery_id:
            queue.popleft()
        if queue:
            self._push(queue[0], now)
        else:
            self._queues.pop(key, None)

    def requeue(self, delivery: Delivery, due: datetime) -> None:
        """The head stays at the front with a new state, due again at ``due``."""
        key = delivery.citizen_key
        self._in_flight.discard(key)
        queue = self._queues.get(key)
        if queue and queue[0].delivery_id == delivery.delivery_id:
            queue[0] = delivery
            heapq.heappush(self._heap, (due, delivery.seq, key))

    def update(self, delivery: Delivery) -> None:
        """Replace a queued (not in-flight) head's state without changing when it is due."""
        queue = self._queues.get(delivery.citizen_key)
        if queue and queue[0].delivery_id == delivery.delivery_id:
            queue[0] = delivery

    def heads(self) -> list[Delivery]:
        """The head of every citizen queue that is not in flight."""
        return [q[0] for key, q in self._queues.items() if q and key not in self._in_flight]

    def drop_partitions(self, partitions: set[int]) -> None:
        """Forget queued deliveries read from partitions this replica no longer owns."""
        for key in list(self._queues):
            if key in self._in_flight:
                continue
            queue = self._queues[key]
            kept = deque(d for d in queue if d.partition not in partitions)
            for delivery in queue:
                if delivery.partition in partitions:
                    self._known.discard(delivery.delivery_id)
            if kept:
                self._queues[key] = kept
                self._push(kept[0], kept[0].created_at)
            else:
                del self._queues[key]

"""Saves the delivery state changes of a process's departments, then publishes them."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from datetime import datetime

from services.core.logging import get_logger
from services.delivery.domain import Delivery
from services.delivery.ports import DeliveryStore, DepartmentState, StatusPublisher

__all__ = ["StatusRelay"]

_log = get_logger(__name__)
#: Every so many flushes, also publish saved versions that a crash kept from being published.
_RELAY_EVERY = 250


class StatusRelay:
    """What changed since the last flush, saved and then published in small batches.

    New deliveries are announced (``pending``), state changes noted, and departments' pause
    and circuit states announced; ``run`` flushes them every interval, ``flush`` once. A
    failed flush keeps everything for the next one. One relay serves every dispatcher of an
    adapters process: one save and one round of status records per interval for all its
    departments, not one each.
    """

    def __init__(self, *, store: DeliveryStore, status: StatusPublisher) -> None:
        self._store = store
        self._status = status
        self._dirty: dict[str, Delivery] = {}
        self._fresh: list[Delivery] = []
        # Versions published as status events, to record in the store with the next save.
        self._published: dict[str, int] = {}
        # Each department's state still to publish, with the moment it stood so.
        self._state_news: dict[str, tuple[DepartmentState, datetime]] = {}

    def announce_new(self, deliveries: Iterable[Delivery]) -> None:
        """Publish these new deliveries (already in the store) with the next flush."""
        self._fresh.extend(deliveries)

    def note(self, delivery: Delivery) -> Delivery:
        """Save and publish this state of a delivery with the next flush; return it."""
        self._dirty[delivery.delivery_id] = delivery
        return delivery

    def announce_state(self, state: DepartmentState, at: datetime) -> None:
        """Publish this department state with the next flush (replacing one still queued)."""
        self._state_news[state.department] = (state, at)

    def heartbeat(self, state: DepartmentState, at: datetime) -> None:
        """Publish the stored state, unless a newer change is still waiting to be published."""
        queued = self._state_news.get(state.department)
        if queued is None or queued[1] < at:
            self._state_news[state.department] = (state, at)

    async def run(self, interval_s: float) -> None:
        """Flush every ``interval_s`` until cancelled; failures are retried after a second."""
        ticks = 0
        while True:
            await asyncio.sleep(interval_s)
            ticks += 1
            try:
                await self.flush(relay=ticks % _RELAY_EVERY == 0)
            except Exception:  # noqa: BLE001 - the store or broker is away: keep and retry
                _log.exception("saving delivery states failed; will retry")
                await asyncio.sleep(1.0)

    async def flush(self, *, relay: bool = False, final: bool = False) -> None:
        """Save and publish what changed; ``final`` also records the last published marks."""
        await self._flush_deliveries(relay=relay, final=final)
        await self._flush_state()

    async def _flush_deliveries(self, *, relay: bool, final: bool = False) -> None:
        """Save state changes, then publish them; one store transaction per flush.

        Saving comes first, so a status event never tells of a version the store could
        lose in a crash (versions must not be reused: consumers keep the highest). What was
        published is recorded in the store with the next flush's save (one write per row
        when a delivery is both saved and recorded); a crash before that only makes the
        relay publish those versions again, which consumers ignore.
        """
        dirty, self._dirty = self._dirty, {}
        fresh, self._fresh = self._fresh, []
        marks, self._published = self._published, {}
        try:
            if dirty or marks:
                await self._store.save(list(dirty.values()), published=list(marks.items()))
            # A new delivery that already moved on in this window needs only its latest state.
            published = [*(d for d in fresh if d.delivery_id not in dirty), *dirty.values()]
            if relay:  # saved versions a crash kept from being published (any replica's)
                queued = {d.delivery_id for d in published}
                published += [
                    d for d in await self._store.unpublished(500) if d.delivery_id not in queued
                ]
            if published:
                await self._status.publish(published)
        except BaseException:  # cancelled too (stopping): the final flush takes them
            for delivery_id, delivery in dirty.items():
                self._dirty.setdefault(delivery_id, delivery)
            self._fresh[:0] = fresh
            for delivery_id, version in marks.items():
                self._note_published(delivery_id, version)
            raise
        for delivery in published:
            self._note_published(delivery.delivery_id, delivery.version)
        if final and self._published:
            marks, self._published = self._published, {}
            await self._store.mark_published(list(marks.items()))

    def _note_published(self, delivery_id: str, version: int) -> None:
        if self._published.get(delivery_id, -1) < version:
            self._published[delivery_id] = version

    async def _flush_state(self) -> None:
        news, self._state_news = list(self._state_news.items()), {}
        for sent, (_, (state, at)) in enumerate(news):
            try:
                await self._status.publish_department_state(state, at)
            except BaseException:  # cancelled too (stopping): the final flush takes it
                for department, queued in news[sent:]:  # unless a newer one came meanwhile
                    self._state_news.setdefault(department, queued)
                raise

"""The only place the tracker's concrete parts are built from settings."""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from services.broker.clients import client_options
from services.core.logging import get_logger
from services.core.ports import Clock, SystemClock
from services.tracker.adapters.sql_store import SqlTrackingStore, create_engine
from services.tracker.config import TrackerSettings

__all__ = ["PURGE_INTERVAL_S", "TrackerRuntime", "build_runtime"]

#: How often personal data past its retention period is purged.
PURGE_INTERVAL_S = 3600.0

_log = get_logger(__name__)


@dataclass(kw_only=True)
class TrackerRuntime:
    """The tracking store, the Kafka options its consumer needs, and the hourly purge.

    ``start`` migrates the store and starts purging; the consumer (an entrypoint) runs on
    top of a started runtime; ``stop`` stops purging and closes the store.
    """

    settings: TrackerSettings
    store: SqlTrackingStore
    clock: Clock
    _purger: asyncio.Task[None] | None = None

    @property
    def consumer_options(self) -> dict[str, Any]:
        """Connection, security and fetch options for the tracker's Kafka consumer."""
        return {
            **client_options(self.settings),
            "fetch_max_wait_ms": self.settings.tracker_fetch_max_wait_ms,
        }

    async def start(self, *, purge: bool = True) -> None:
        """Bring the store's schema up to date, then (``purge``) purge hourly in the background.

        A process that only reads the store (the public API) passes ``purge=False``: the
        tracker consumer's runtime does the purging.
        """
        await self.store.migrate()
        if purge:
            self._purger = asyncio.create_task(self._purge_forever(), name="tracker:purge")

    async def purge_once(self) -> int:
        """Drop the personal data of changes older than the retention period; return how many."""
        cutoff = self.clock.now() - timedelta(days=self.settings.tracker_retention_days)
        return await self.store.purge_personal_data(cutoff)

    async def stop(self) -> None:
        """Stop purging and close the store's connections."""
        if self._purger is not None:
            self._purger.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._purger
        await self.store.dispose()

    async def _purge_forever(self) -> None:
        while True:
            try:
                purged = await self.purge_once()
                if purged:
                    _log.info("personal data purged from tracked changes", count=purged)
            except Exception:  # noqa: BLE001 - try again at the next interval
                _log.exception("purging tracked changes failed")
            await asyncio.sleep(PURGE_INTERVAL_S)


def build_runtime(settings: TrackerSettings, clock: Clock | None = None) -> TrackerRuntime:
    """Build (not start) the tracker's store from settings (SQLite ``tracker.db`` by default)."""
    url = settings.resolved_database_url("tracker.db")
    if url.startswith("sqlite"):
        settings.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)  # personal data inside
    return TrackerRuntime(
        settings=settings, store=SqlTrackingStore(create_engine(url)), clock=clock or SystemClock()
    )

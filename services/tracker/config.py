"""Tracker settings (``TUO_`` shared names, ``TUO_TRACKER_`` tuning)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from services.core.config import CoreSettings

__all__ = ["TrackerSettings"]


class TrackerSettings(CoreSettings):
    """Everything the tracker needs; built in bootstrap, never at import time.

    Without ``database_url`` the store is ``tracker.db`` in the data directory.
    """

    model_config = SettingsConfigDict(env_prefix="TUO_", extra="ignore")

    #: Days a change keeps its personal data in the tracking store; metadata is kept.
    tracker_retention_days: float = Field(default=30.0, gt=0)
    #: Kafka fetch wait (Tansu does not end a fetch early when data arrives). A status a
    #: tenth of a second later is still prompt for a citizen; longer fetches carry more
    #: records each, so the tracker and the broker spend less per record (at 10 ms the
    #: tracker's fetches alone kept ~5% of a core busy in each of them while idle).
    tracker_fetch_max_wait_ms: int = Field(default=100, ge=1)
    #: How much lower the tracker's CPU priority is than the other services' (a Unix nice
    #: increment). It is off the delivery path: on a machine it shares with the broker, the
    #: intake and the adapters (``tellusonce up``) it waits for a core rather than they; in
    #: a container of its own it changes nothing. ``tellusonce bench e2e``, alternated: see
    #: docs/performance-log.md (End to end, item 9).
    tracker_nice: int = Field(default=10, ge=0, le=19)

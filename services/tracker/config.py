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
    #: Kafka fetch wait: ~10 ms on Tansu, whose fetches are not ended early by new data.
    tracker_fetch_max_wait_ms: int = Field(default=10, ge=1)

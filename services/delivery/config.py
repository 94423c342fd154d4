"""Adapter settings (``TUO_`` shared names, ``TUO_DELIVERY_`` tuning)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from services.core.config import CoreSettings

__all__ = ["DeliverySettings"]


class DeliverySettings(CoreSettings):
    """Everything an adapter process needs; built in bootstrap, never at import time."""

    model_config = SettingsConfigDict(env_prefix="TUO_", extra="ignore")

    #: Departments this process serves (empty: every department in the registry).
    delivery_departments: tuple[str, ...] = ()
    #: Deliveries per department held in memory; beyond it new ones wait in the store.
    delivery_max_backlog: int = Field(default=20_000, ge=100)
    #: Kafka fetch wait: ~10 ms on Tansu, whose fetches are not ended early by new data.
    delivery_fetch_max_wait_ms: int = Field(default=10, ge=1)
    delivery_flush_interval_s: float = Field(default=0.02, gt=0)
    delivery_state_refresh_s: float = Field(default=1.0, gt=0)
    #: How often each department's pause and circuit state is republished for the tracker.
    delivery_state_heartbeat_s: float = Field(default=10.0, gt=0)
    #: Retryable failures in a row that open a department's circuit.
    delivery_failure_threshold: int = Field(default=5, ge=1)
    #: Seconds an open circuit waits before it lets one probe through (doubling).
    delivery_probe_after_s: float = Field(default=30.0, gt=0)
    #: Days a finished delivery keeps its body (personal data); metadata is kept.
    delivery_retention_days: float = Field(default=30.0, gt=0)
    #: Replaces every department's schedule (tests and demos); empty keeps the registry's.
    delivery_retry_schedule_override: tuple[float, ...] = ()

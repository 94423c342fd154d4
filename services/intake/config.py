"""Intake settings (``TUO_`` for shared names, ``TUO_INTAKE_`` for intake tuning)."""

from __future__ import annotations

from pydantic import Field, SecretStr
from pydantic_settings import SettingsConfigDict

from services.core.config import CoreSettings

__all__ = ["IntakeSettings"]


class IntakeSettings(CoreSettings):
    """Everything the intake process needs; built in bootstrap, never at import time."""

    model_config = SettingsConfigDict(env_prefix="TUO_", extra="ignore")

    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=0, le=65535)
    #: ``name:token,…``; intake refuses to start without at least one channel.
    channel_tokens: SecretStr = SecretStr("")
    #: Keys the pseudonymous citizen key; if unset it is kept in ``<data_dir>``.
    citizen_key_secret: SecretStr | None = None
    intake_max_body_bytes: int = Field(default=64 * 1024, ge=1024)
    #: How long a request may wait for the broker's acknowledgement before answering 503.
    intake_publish_timeout_s: float = Field(default=3.0, gt=0)
    intake_retry_after_s: int = Field(default=5, ge=1)
    #: Idempotency keys are remembered this long.
    intake_idempotency_ttl_s: int = Field(default=24 * 3600, ge=60)

"""Settings shared by every service (environment variables prefixed ``TUO_``)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from services.core.resources import default_departments_file

__all__ = ["CoreSettings", "KafkaSettings", "async_database_url"]


def async_database_url(url: str) -> str:
    """Map a plain ``postgresql://`` or ``sqlite://`` URL to its asyncio driver."""
    for plain, driver in (
        ("postgresql://", "postgresql+asyncpg://"),
        ("postgres://", "postgresql+asyncpg://"),
        ("sqlite://", "sqlite+aiosqlite://"),
    ):
        if url.startswith(plain):
            return driver + url.removeprefix(plain)
    return url


class KafkaSettings(BaseSettings):
    """How to reach Kafka: the embedded broker by default, Apache Kafka by configuration."""

    model_config = SettingsConfigDict(env_prefix="TUO_", extra="ignore")

    kafka_bootstrap: str = "127.0.0.1:9092"
    #: Apache Kafka supports the idempotent producer; the embedded broker (Tansu) does not.
    #: None (the default) tries it and falls back, with a warning, if the broker refuses.
    kafka_idempotent_producer: bool | None = None
    kafka_security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    kafka_sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] | None = None
    kafka_sasl_username: str | None = None
    kafka_sasl_password: SecretStr | None = None
    kafka_ssl_cafile: Path | None = None
    #: Partitions of the changes topic when we create it (scaling out = more partitions).
    changes_partitions: int = Field(default=8, ge=1)
    #: Replicas of each topic we create: 1 on the embedded broker, 3 on a real cluster.
    kafka_replication_factor: int = Field(default=1, ge=1)


class CoreSettings(KafkaSettings):
    """Settings every service reads; each service extends this with its own."""

    data_dir: Path = Path(".tellusonce")
    database_url: str | None = None
    departments: Path = Field(default_factory=default_departments_file)
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    log_json: bool = True

    @field_validator("database_url")
    @classmethod
    def _driver_url(cls, value: str | None) -> str | None:
        return async_database_url(value) if value else None

    def resolved_database_url(self, sqlite_file: str = "tellusonce.db") -> str:
        """The store URL: the configured one, or a SQLite file in the data directory.

        Each service keeps its own SQLite file by default, so their writers never wait
        for one another; on PostgreSQL they share one database with separate tables.
        """
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{(self.data_dir / sqlite_file).resolve()}"

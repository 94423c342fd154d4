"""The only place intake's concrete adapters are built from settings."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncEngine

from services.core.departments import DepartmentRegistry, load_registry
from services.core.errors import ConfigurationError
from services.core.local_secrets import load_or_create_secret
from services.core.ports import SystemClock
from services.core.resources import schemas_dir
from services.core.schema_registry import FileSchemaRegistry
from services.intake.adapters.kafka_publisher import KafkaEventPublisher
from services.intake.adapters.sql_change_ledger import SqlChangeLedger
from services.intake.adapters.sql_idempotency_store import SqlIdempotencyStore
from services.intake.config import IntakeSettings
from services.intake.handlers import IntakeDeps
from services.storage.engine import create_engine
from services.storage.group_commit import GroupCommit
from services.web.auth import TokenTable, parse_channel_tokens

__all__ = ["IntakeRuntime", "build_runtime", "load_catalogue"]


@dataclass(kw_only=True)
class IntakeRuntime:
    """Everything a running intake holds; ``start``/``stop`` own the connections."""

    settings: IntakeSettings
    deps: IntakeDeps
    tokens: TokenTable
    publisher: KafkaEventPublisher
    idempotency: SqlIdempotencyStore
    ledger: SqlChangeLedger
    engine: AsyncEngine
    #: The engine's one writer, shared by the idempotency store and the ledger.
    writes: GroupCommit | None = None

    async def start(self) -> None:
        """Create tables and start connecting to the broker."""
        await self.idempotency.create_schema()
        await self.ledger.create_schema()
        await self.publisher.start()

    async def stop(self) -> None:
        """Flush the producer (bounded), finish queued writes, close the database pool."""
        await self.publisher.stop()
        await self.ledger.aclose()
        if self.writes is not None:
            await self.writes.aclose()
        await self.engine.dispose()


def load_catalogue(settings: IntakeSettings) -> tuple[FileSchemaRegistry, DepartmentRegistry]:
    """Schemas and departments, validated against each other."""
    schemas = FileSchemaRegistry(schemas_dir())
    departments = load_registry(settings.departments, known_event_types=set(schemas.event_types()))
    return schemas, departments


def build_runtime(settings: IntakeSettings) -> IntakeRuntime:
    """Build (but do not start) intake from its settings; raises ConfigurationError."""
    tokens = parse_channel_tokens(settings.channel_tokens.get_secret_value())
    if not tokens:
        raise ConfigurationError("set TUO_CHANNEL_TOKENS (name:token,…): no channel can submit")
    schemas, departments = load_catalogue(settings)
    if settings.citizen_key_secret is not None:
        key_secret = settings.citizen_key_secret.get_secret_value()
    else:
        key_secret = load_or_create_secret(settings.data_dir / "citizen-key.secret")
    engine = create_engine(settings.resolved_database_url("intake.db"))
    if engine.dialect.name == "sqlite":
        settings.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)  # personal data inside
    writes = GroupCommit(engine)
    idempotency = SqlIdempotencyStore(
        engine, ttl=timedelta(seconds=settings.intake_idempotency_ttl_s), writes=writes
    )
    ledger = SqlChangeLedger(engine, writes=writes)
    publisher = KafkaEventPublisher(settings, publish_timeout_s=settings.intake_publish_timeout_s)
    deps = IntakeDeps(
        schemas=schemas,
        departments=departments,
        publisher=publisher,
        idempotency=idempotency,
        ledger=ledger,
        clock=SystemClock(),
        citizen_key_secret=key_secret.encode(),
    )
    return IntakeRuntime(
        settings=settings,
        deps=deps,
        tokens=tokens,
        publisher=publisher,
        idempotency=idempotency,
        ledger=ledger,
        engine=engine,
        writes=writes,
    )

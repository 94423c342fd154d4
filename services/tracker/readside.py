"""The tracker's read side: the store, the department registry, tokens and operator commands.

The HTTP API (``services.tracker.entrypoints.api``) reads changes and deliveries from the
tracking store and publishes operator commands to ``tuo.delivery.control.v1``, where each
department's adapter applies them. Nothing here writes to the store.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import orjson
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError
from prometheus_client.registry import REGISTRY, Collector
from pydantic import SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from services.broker.clients import client_options
from services.core.departments import DepartmentRegistry, load_registry
from services.core.logging import get_logger
from services.core.ports import Clock, SystemClock
from services.core.resources import schemas_dir
from services.core.schema_registry import FileSchemaRegistry
from services.core.topics import DELIVERY_CONTROL
from services.tracker.config import TrackerSettings
from services.tracker.domain import TrackedDelivery
from services.tracker.ports import TrackingStore
from services.web.auth import TokenTable, parse_channel_tokens, parse_operator_tokens

__all__ = [
    "ControlPublisher",
    "ControlUnavailableError",
    "KafkaControlPublisher",
    "TrackerReadSide",
    "build_readside",
]

_log = get_logger(__name__)

#: How long publishing one command may wait for the broker's acknowledgement.
_PUBLISH_TIMEOUT_S = 5.0


class ControlUnavailableError(Exception):
    """The broker did not take an operator command (the caller may try again later)."""


class ControlPublisher(Protocol):
    """Sends operator commands to the department adapters."""

    async def start(self) -> None:
        """Prepare to publish (may be a no-op)."""
        ...

    async def stop(self) -> None:
        """Flush and release resources."""
        ...

    async def publish(self, command: Mapping[str, str]) -> None:
        """Publish one command; raises ``ControlUnavailableError`` if the broker refuses."""
        ...


class KafkaControlPublisher:
    """Publishes commands as JSON on the control topic, keyed by department, ``acks=all``.

    The producer is started on the first command, so the read API works while the broker
    is down; a command that cannot be published raises ``ControlUnavailableError``.
    """

    def __init__(self, producer_options: dict[str, Any]) -> None:
        self._options = producer_options
        self._producer: AIOKafkaProducer | None = None
        self._lock = asyncio.Lock()

    async def start(self) -> None:
        """Nothing to do until the first command."""

    async def stop(self) -> None:
        """Stop the producer if it was started."""
        if self._producer is not None:
            producer, self._producer = self._producer, None
            await producer.stop()

    async def publish(self, command: Mapping[str, str]) -> None:
        """Publish and wait for the broker's acknowledgement."""
        try:
            producer = await self._started()
            await asyncio.wait_for(
                producer.send_and_wait(
                    DELIVERY_CONTROL,
                    key=command["department"].encode(),
                    value=orjson.dumps(dict(command)),
                ),
                timeout=_PUBLISH_TIMEOUT_S,
            )
        except (KafkaError, OSError, TimeoutError) as exc:
            _log.warning("operator command not published", action=command.get("action"))
            raise ControlUnavailableError(str(exc) or type(exc).__name__) from exc

    async def _started(self) -> AIOKafkaProducer:
        async with self._lock:
            if self._producer is None:
                producer = AIOKafkaProducer(**self._options, acks="all")
                try:
                    await producer.start()
                except BaseException:
                    await producer.stop()
                    raise
                self._producer = producer
            return self._producer


@dataclass(kw_only=True)
class TrackerReadSide:
    """Everything the tracker's HTTP API needs, started and stopped by its lifespan.

    ``metrics`` is the process's Prometheus registry (intake's counters live there when
    both serve one app); ``/metrics`` adds the store's figures to it at every scrape.
    """

    store: TrackingStore
    control: ControlPublisher
    registry: DepartmentRegistry
    channel_tokens: TokenTable
    operator_tokens: TokenTable
    clock: Clock = field(default_factory=SystemClock)
    metrics: Collector = REGISTRY

    async def start(self) -> None:
        """Start the command publisher."""
        await self.control.start()

    async def stop(self) -> None:
        """Stop the command publisher."""
        await self.control.stop()

    async def command(self, action: str, department: str, delivery_id: str | None = None) -> None:
        """Publish one operator command (``ControlUnavailableError`` if it was not taken)."""
        command = {"action": action, "department": department}
        if delivery_id is not None:
            command["delivery_id"] = delivery_id
        await self.control.publish(command)
        _log.info("operator command published", action=action, department=department)

    async def find_delivery(self, delivery_id: str) -> TrackedDelivery | None:
        """A delivery by id, or None."""
        found, _ = await self.store.deliveries(delivery_id=delivery_id, limit=1)
        return found[0] if found else None


class _TokenSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="TUO_", extra="ignore")

    channel_tokens: SecretStr = SecretStr("")
    operator_tokens: SecretStr = SecretStr("")


def build_readside(
    settings: TrackerSettings, store: TrackingStore, *, clock: Clock | None = None
) -> TrackerReadSide:
    """A read side over ``store``; tokens from ``TUO_CHANNEL_TOKENS``/``TUO_OPERATOR_TOKENS``.

    Raises:
        ConfigurationError: the registry or a token list is invalid.
    """
    schemas = FileSchemaRegistry(schemas_dir())
    registry = load_registry(settings.departments, known_event_types=set(schemas.event_types()))
    tokens = _TokenSettings()
    channel = parse_channel_tokens(tokens.channel_tokens.get_secret_value())
    operator = parse_operator_tokens(tokens.operator_tokens.get_secret_value())
    if not channel:
        _log.warning("TUO_CHANNEL_TOKENS is unset: no channel can read a change's status")
    if not operator:
        _log.warning("TUO_OPERATOR_TOKENS is unset: the /ops API refuses every request")
    return TrackerReadSide(
        store=store,
        control=KafkaControlPublisher(client_options(settings)),
        registry=registry,
        channel_tokens=channel,
        operator_tokens=operator,
        clock=clock or SystemClock(),
    )

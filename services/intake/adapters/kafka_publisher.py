"""EventPublisher over aiokafka: acks=all, bounded waits, reconnects in the background."""

from __future__ import annotations

import asyncio
import contextlib

from aiokafka import AIOKafkaProducer
from aiokafka.errors import BrokerResponseError, KafkaError

from services.broker.clients import client_options
from services.broker.partitioner import KafkaPartitioner
from services.core.config import KafkaSettings
from services.core.envelope import ChangeEvent
from services.core.logging import get_logger
from services.core.topics import CHANGES
from services.intake.domain import BrokerUnavailableError

__all__ = ["KafkaEventPublisher"]

_log = get_logger(__name__)


class KafkaEventPublisher:
    """Publishes change events to ``tuo.changes.v1``.

    The producer's own request timeout is a little shorter than ``publish_timeout_s``, so
    in the common case aiokafka itself fails the record (and drops it from its buffer)
    before we answer 503; an event we refused is then not written later behind our back.
    The one window left — the broker stored the record but its acknowledgement was lost —
    is closed by the Idempotency-Key: a retry publishes the same event id again, and
    every consumer dedupes on it.
    """

    def __init__(self, settings: KafkaSettings, *, publish_timeout_s: float) -> None:
        self._settings = settings
        self._timeout = publish_timeout_s
        self._producer: AIOKafkaProducer | None = None
        self._ready = asyncio.Event()
        self._connector: asyncio.Task[None] | None = None

    def is_ready(self) -> bool:
        """Whether the producer is connected (readiness)."""
        return self._ready.is_set()

    async def start(self) -> None:
        """Connect in the background; requests answer 503 until connected."""
        self._connector = asyncio.create_task(self._connect_forever())

    async def wait_ready(self, timeout: float) -> bool:  # noqa: ASYNC109 - a readiness probe
        """Wait up to ``timeout`` seconds for the connection."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._ready.wait(), timeout)
        return self.is_ready()

    async def _connect_forever(self) -> None:
        delay = 0.2
        idempotent = self._settings.kafka_idempotent_producer is not False
        while True:
            producer = AIOKafkaProducer(
                **client_options(self._settings),
                acks="all",
                enable_idempotence=idempotent,
                linger_ms=0,
                max_batch_size=256 * 1024,
                request_timeout_ms=max(500, int(self._timeout * 1000 * 0.8)),
                retry_backoff_ms=100,
                metadata_max_age_ms=30_000,
                partitioner=KafkaPartitioner(),  # aiokafka's choice, hashed in ~3 µs, not ~7
            )
            try:
                await asyncio.wait_for(producer.start(), timeout=max(self._timeout, 5.0))
            except BrokerResponseError as exc:
                await _stop_quietly(producer)
                if not idempotent or self._settings.kafka_idempotent_producer:
                    raise
                # InitProducerId refused (Tansu): ordering still holds, because aiokafka
                # keeps one request in flight per broker; duplicates are deduped downstream.
                _log.warning("broker refuses the idempotent producer", error=type(exc).__name__)
                idempotent = False
                continue
            except (KafkaError, OSError, TimeoutError) as exc:
                _log.warning("kafka producer cannot connect yet", error=type(exc).__name__)
                await _stop_quietly(producer)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)
                continue
            self._producer = producer
            self._ready.set()
            _log.info("kafka producer connected")
            return

    async def publish(self, event: ChangeEvent) -> None:
        """Send and wait for acks=all; BrokerUnavailableError if that takes too long."""
        producer = self._producer
        if producer is None:
            raise BrokerUnavailableError("not connected to the broker yet")
        record = event.to_kafka()
        try:
            async with asyncio.timeout(self._timeout):
                future = await producer.send(
                    CHANGES, value=record.value, key=record.key, headers=record.headers
                )
                await future
        except (KafkaError, TimeoutError) as exc:
            _log.warning("broker did not acknowledge a change", error=type(exc).__name__)
            raise BrokerUnavailableError("the broker did not acknowledge in time") from None

    async def stop(self) -> None:
        """Flush what is in flight (bounded) and disconnect."""
        if self._connector is not None:
            self._connector.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._connector
        if self._producer is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._producer.stop(), timeout=self._timeout + 2)
            self._producer = None
        self._ready.clear()


async def _stop_quietly(producer: AIOKafkaProducer) -> None:
    with contextlib.suppress(Exception):
        await asyncio.wait_for(producer.stop(), timeout=1.0)

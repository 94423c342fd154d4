"""The only place the adapters' concrete parts are built from settings."""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import aiohttp
from aiokafka import AIOKafkaProducer

from services.broker.clients import client_options
from services.broker.partitioner import KafkaPartitioner
from services.core.departments import DepartmentSpec, load_registry
from services.core.errors import ConfigurationError
from services.core.logging import get_logger
from services.core.ports import Clock, SystemClock
from services.core.resources import schemas_dir
from services.core.schema_registry import FileSchemaRegistry
from services.delivery.adapters.http_gateway import AiohttpDepartmentGateway
from services.delivery.adapters.kafka_status import KafkaStatusPublisher
from services.delivery.adapters.signing import WebhookSigner
from services.delivery.adapters.sql_store import SqlDeliveryStore
from services.delivery.config import DeliverySettings
from services.delivery.departments import load_transform
from services.delivery.dispatcher import Dispatcher, DispatcherTuning
from services.delivery.relay import StatusRelay
from services.delivery.retry import RetryPolicy
from services.storage.engine import create_engine

__all__ = ["AdapterRuntime", "build_runtime", "selected_departments"]

_log = get_logger(__name__)


def selected_departments(settings: DeliverySettings) -> list[DepartmentSpec]:
    """The departments this process serves, with their signing secrets resolved."""
    schemas = FileSchemaRegistry(schemas_dir())
    registry = load_registry(
        settings.departments, known_event_types=set(schemas.event_types()), require_secrets=True
    )
    wanted = settings.delivery_departments or tuple(registry.ids())
    unknown = [d for d in wanted if registry.get(d) is None]
    if unknown:
        raise ConfigurationError(f"unknown departments {unknown}; known: {registry.ids()}")
    return [d for d in registry if d.id in wanted]


@dataclass(kw_only=True)
class AdapterRuntime:
    """Every department's dispatcher and consumers in one process, and what they share."""

    settings: DeliverySettings
    departments: list[DepartmentSpec]
    store: SqlDeliveryStore
    clock: Clock
    dispatchers: dict[str, Dispatcher] = field(default_factory=dict)
    consumer_options: dict[str, Any] = field(default_factory=dict)
    _session: aiohttp.ClientSession | None = None
    _producer: AIOKafkaProducer | None = None
    _purger: asyncio.Task[None] | None = None
    _relay: StatusRelay | None = None
    _relaying: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Connect, open the store and start every department's dispatcher."""
        await self.store.create_schema()
        options = client_options(self.settings)
        self._producer = AIOKafkaProducer(
            **options,
            acks="all",
            linger_ms=5,
            max_batch_size=256 * 1024,
            partitioner=KafkaPartitioner(),  # aiokafka's choice, hashed in ~3 µs, not ~7
        )
        await self._producer.start()
        status = KafkaStatusPublisher(self._producer, batches=True)
        self._relay = StatusRelay(store=self.store, status=status)
        limit = sum(d.max_concurrency for d in self.departments)
        self._session = aiohttp.ClientSession(
            # An idle connection is dropped after 4 s, before the shortest keep-alive a
            # department's server is likely to have (uvicorn's 5 s): one the server closed
            # as it was taken from the pool fails its push (ServerDisconnectedError), which
            # costs the delivery an attempt (seen once in CI: a "timeout" fault test got 3).
            connector=aiohttp.TCPConnector(
                limit=limit, limit_per_host=0, ttl_dns_cache=300, keepalive_timeout=4.0
            ),
            # Pushes carry no state from one to the next: a department's cookies are neither
            # kept nor sent back (and no cookie jar is searched on every push).
            cookie_jar=aiohttp.DummyCookieJar(),
        )
        tuning = DispatcherTuning(
            flush_interval_s=self.settings.delivery_flush_interval_s,
            state_refresh_s=self.settings.delivery_state_refresh_s,
            state_heartbeat_s=self.settings.delivery_state_heartbeat_s,
            failure_threshold=self.settings.delivery_failure_threshold,
            probe_after_s=self.settings.delivery_probe_after_s,
            max_backlog=self.settings.delivery_max_backlog,
        )
        self.consumer_options = {
            **options,
            "fetch_max_wait_ms": self.settings.delivery_fetch_max_wait_ms,
        }
        for department in self.departments:
            schedule = self.settings.delivery_retry_schedule_override or department.retry_schedule_s
            gateway = AiohttpDepartmentGateway(
                self._session, department, WebhookSigner(department.secrets()), self.clock
            )
            dispatcher = Dispatcher(
                department=department,
                store=self.store,
                gateway=gateway,
                status=status,
                clock=self.clock,
                policy=RetryPolicy(schedule_s=tuple(schedule)),
                tuning=tuning,
                relay=self._relay,
            )
            await dispatcher.start()
            self.dispatchers[department.id] = dispatcher
        self._relaying = asyncio.create_task(self._relay.run(tuning.flush_interval_s))
        self._purger = asyncio.create_task(self._purge_forever())
        _log.info("adapters started", departments=[d.id for d in self.departments])

    async def purge_once(self) -> int:
        """Drop the bodies of deliveries finished longer ago than the retention period."""
        cutoff = self.clock.now() - timedelta(days=self.settings.delivery_retention_days)
        return await self.store.purge_bodies(cutoff)

    async def _purge_forever(self) -> None:
        while True:
            try:
                purged = await self.purge_once()
                if purged:
                    _log.info("personal data purged from finished deliveries", count=purged)
            except Exception:  # noqa: BLE001 - try again next hour
                _log.exception("purging finished deliveries failed")
            await asyncio.sleep(3600)

    async def stop(self) -> None:
        """Finish attempts in flight, save and publish, disconnect."""
        if self._purger is not None:
            self._purger.cancel()
        for dispatcher in self.dispatchers.values():
            await dispatcher.stop()
        if self._relaying is not None:
            self._relaying.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._relaying
        if self._relay is not None:  # what the stopped dispatchers left, then the marks
            with contextlib.suppress(Exception):
                await self._relay.flush(final=True)
        if self._session is not None:
            await self._session.close()
        if self._producer is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._producer.stop(), timeout=10)
        await self.store.dispose()


def build_runtime(settings: DeliverySettings, clock: Clock | None = None) -> AdapterRuntime:
    """Build (not start) the adapters for the configured departments."""
    departments = selected_departments(settings)
    for department in departments:
        load_transform(department.transform)  # fail at start-up, not mid-delivery
    url = settings.resolved_database_url("delivery.db")
    if url.startswith("sqlite"):
        settings.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)  # personal data inside
    return AdapterRuntime(
        settings=settings,
        departments=departments,
        store=SqlDeliveryStore(create_engine(url)),
        clock=clock or SystemClock(),
    )

"""Operator commands on a real broker: none lost before the first start, none from long ago."""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from types import SimpleNamespace

import orjson
import pytest
from aiokafka import AIOKafkaProducer

from services.broker.admin import ensure_topics
from services.core.config import CoreSettings
from services.core.topics import DELIVERY_CONTROL
from services.delivery.entrypoints.control_consumer import FIRST_READ_HORIZON_S, ControlConsumer
from tests.support.net import apoll

pytestmark = pytest.mark.integration


class _Dispatcher:
    """Stands in for a department's dispatcher: records the commands applied to it."""

    def __init__(self, department: str) -> None:
        self.department = SimpleNamespace(id=department)
        self.paused: list[bool] = []

    async def set_paused(self, paused: bool) -> None:
        self.paused.append(paused)


@pytest.fixture
async def department(broker) -> str:
    """A department no adapter has served: its control group has never read the topic."""
    name = f"dept-{uuid.uuid4().hex[:8]}"
    await ensure_topics(CoreSettings(kafka_bootstrap=broker.bootstrap), [name])
    return name


@pytest.fixture
async def send(broker):
    producer = AIOKafkaProducer(bootstrap_servers=broker.bootstrap, acks="all")
    await producer.start()

    async def command(department: str, action: str, *, age_s: float = 0.0) -> None:
        payload = orjson.dumps({"action": action, "department": department})
        created_ms = int((time.time() - age_s) * 1000)
        await producer.send_and_wait(DELIVERY_CONTROL, payload, timestamp_ms=created_ms)

    yield command
    await producer.stop()


@contextlib.asynccontextmanager
async def _consuming(broker, dispatcher: _Dispatcher):
    consumer = ControlConsumer(dispatcher, {"bootstrap_servers": broker.bootstrap})  # type: ignore[arg-type]
    task = asyncio.create_task(consumer.run())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def _applied(dispatcher: _Dispatcher) -> list[bool]:
    async def seen() -> list[bool]:
        return list(dispatcher.paused)

    return await apoll(seen, timeout=30)


async def test_a_command_sent_before_the_departments_adapters_ever_started_is_applied(
    broker, department, send
):
    await send(department, "pause")
    dispatcher = _Dispatcher(department)
    async with _consuming(broker, dispatcher):
        assert await _applied(dispatcher) == [True]


async def test_the_first_read_skips_commands_older_than_the_horizon(broker, department, send):
    await send(department, "pause", age_s=FIRST_READ_HORIZON_S + 600)
    await send(department, "resume")
    dispatcher = _Dispatcher(department)
    async with _consuming(broker, dispatcher):
        # In order: had the old pause been applied, it would come first.
        assert await _applied(dispatcher) == [False]


async def test_a_group_that_has_read_before_applies_every_command_sent_while_it_was_down(
    broker, department, send
):
    first = _Dispatcher(department)
    async with _consuming(broker, first):
        await send(department, "pause")
        assert await _applied(first) == [True]
    # Every replica down; a command as old as the horizon is still one this group missed.
    await send(department, "resume", age_s=FIRST_READ_HORIZON_S + 600)
    again = _Dispatcher(department)
    async with _consuming(broker, again):
        assert await _applied(again) == [False]

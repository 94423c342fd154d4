"""Operator commands for one department, from ``tuo.delivery.control.v1``."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer

from services.core.logging import get_logger
from services.core.topics import DELIVERY_CONTROL
from services.delivery.dispatcher import Dispatcher

__all__ = ["ControlConsumer"]

_log = get_logger(__name__)
#: How long the broker may hold an empty fetch. Commands are rare and half a second is soon
#: enough for an operator; at the changes consumers' 10 ms, each idle control consumer cost
#: ~5% of a core in the broker and ~2% in the adapters (measured on an idle ``up``).
_FETCH_MAX_WAIT_MS = 500


class ControlConsumer:
    """Applies pause, resume, redeliver and redeliver-failed to the department's store.

    Commands are idempotent (pausing twice is one pause; a redelivery applies only to a
    finished delivery), so a command read twice after a crash does no harm.
    """

    def __init__(self, dispatcher: Dispatcher, consumer_options: dict[str, Any]) -> None:
        self._dispatcher = dispatcher
        department = dispatcher.department.id
        self._consumer = AIOKafkaConsumer(
            **{**consumer_options, "fetch_max_wait_ms": _FETCH_MAX_WAIT_MS},
            group_id=f"tuo.adapter.{department}.control",
            enable_auto_commit=False,
            auto_offset_reset="latest",
        )

    async def run(self) -> None:
        """Consume until cancelled."""
        self._consumer.subscribe([DELIVERY_CONTROL])
        await self._consumer.start()
        try:
            while True:
                batch = await self._consumer.getmany(timeout_ms=500)
                for messages in batch.values():
                    for message in messages:
                        await self._apply(message.value or b"")
                if batch:
                    await self._consumer.commit()
        finally:
            await asyncio.shield(self._consumer.stop())

    async def _apply(self, raw: bytes) -> None:
        try:
            command = orjson.loads(raw)
            action = command["action"]
        except (orjson.JSONDecodeError, KeyError, TypeError):
            _log.error("unreadable control command skipped")
            return
        if command.get("department") != self._dispatcher.department.id:
            return
        if action == "pause":
            await self._dispatcher.set_paused(True)
        elif action == "resume":
            await self._dispatcher.set_paused(False)
        elif action == "redeliver":
            count = await self._dispatcher.redeliver([str(command.get("delivery_id"))])
            _log.info("redelivery requested", delivery_id=command.get("delivery_id"), count=count)
        elif action == "redeliver_failed":
            count = await self._dispatcher.redeliver_failed()
            _log.info("dead letters redelivered", department=command["department"], count=count)
        else:
            _log.error("unknown control action skipped", action=str(action)[:40])

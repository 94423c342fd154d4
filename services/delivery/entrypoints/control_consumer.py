"""Operator commands for one department, from ``tuo.delivery.control.v1``."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, TopicPartition

from services.core.logging import get_logger
from services.core.topics import DELIVERY_CONTROL
from services.delivery.dispatcher import Dispatcher

__all__ = ["ControlConsumer"]

_log = get_logger(__name__)
#: How long the broker may hold an empty fetch. Commands are rare and half a second is soon
#: enough for an operator; at the changes consumers' 10 ms, each idle control consumer cost
#: ~5% of a core in the broker and ~2% in the adapters (measured on an idle ``up``).
_FETCH_MAX_WAIT_MS = 500
#: On a control group's first read (no offset committed: the department's adapters never ran,
#: or the broker forgot the group's offsets after a long stop) the topic is read from its
#: beginning, so that a command sent before the adapters started is applied; commands older
#: than this are skipped on that read (a redelivery asked for days ago is not asked now).
FIRST_READ_HORIZON_S = 3600.0


class ControlConsumer:
    """Applies pause, resume, redeliver and redeliver-failed to the department's store.

    Commands are idempotent (pausing twice is one pause; a redelivery applies only to a
    finished delivery), so a command read twice after a crash does no harm.

    The group (one per department, shared by its replicas: each command is applied once,
    to the shared store) resumes from its committed offset, so commands sent while every
    replica was down are applied when one starts. A group with no committed offset reads
    from the beginning of the topic and skips what is older than ``first_read_horizon_s``.
    """

    def __init__(
        self,
        dispatcher: Dispatcher,
        consumer_options: dict[str, Any],
        *,
        first_read_horizon_s: float = FIRST_READ_HORIZON_S,
    ) -> None:
        self._dispatcher = dispatcher
        department = dispatcher.department.id
        self._consumer = AIOKafkaConsumer(
            **{**consumer_options, "fetch_max_wait_ms": _FETCH_MAX_WAIT_MS},
            group_id=f"tuo.adapter.{department}.control",
            enable_auto_commit=False,
            auto_offset_reset="earliest",
        )
        self._horizon_ms = int(first_read_horizon_s * 1000)
        # Per partition read here: whether the group had no committed offset when this
        # process first read it (then old commands are skipped).
        self._first_read: dict[TopicPartition, bool] = {}

    async def run(self) -> None:
        """Consume until cancelled."""
        self._consumer.subscribe([DELIVERY_CONTROL])
        await self._consumer.start()
        try:
            while True:
                batch = await self._consumer.getmany(timeout_ms=500)
                for tp, messages in batch.items():
                    oldest_ms = await self._oldest_applied_ms(tp)
                    current = [m for m in messages if m.timestamp >= oldest_ms]
                    if len(current) < len(messages):
                        _log.info(
                            "control records from before the group's first read skipped",
                            count=len(messages) - len(current),
                        )
                    for message in current:
                        await self._apply(message.value or b"")
                if batch:
                    await self._consumer.commit()
        finally:
            await asyncio.shield(self._consumer.stop())

    async def _oldest_applied_ms(self, tp: TopicPartition) -> int:
        """Records of ``tp`` created before this (epoch ms) are skipped; 0 if none is."""
        first_read = self._first_read.get(tp)
        if first_read is None:
            first_read = self._first_read[tp] = await self._consumer.committed(tp) is None
        if not first_read:
            return 0
        return int(time.time() * 1000) - self._horizon_ms

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

"""An adapter process: the runtime, one changes consumer and a control consumer per department.

All consumers start together, so their consumer groups join concurrently.
"""

from __future__ import annotations

import asyncio
import contextlib

from services.core.interpreter import tune_for_service
from services.delivery.bootstrap import AdapterRuntime
from services.delivery.departments import load_transform
from services.delivery.entrypoints.changes_consumer import ChangesConsumer, Subscriber
from services.delivery.entrypoints.control_consumer import ControlConsumer

__all__ = ["AdapterProcess"]


class AdapterProcess:
    """Starts consumers over a started runtime; stopping stops consuming first."""

    def __init__(self, runtime: AdapterRuntime) -> None:
        self.runtime = runtime
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        """Start the runtime, then every consumer."""
        await self.runtime.start()
        subscribers = [
            Subscriber(
                department=department,
                dispatcher=self.runtime.dispatchers[department.id],
                transform=load_transform(department.transform),
            )
            for department in self.runtime.departments
        ]
        changes = ChangesConsumer(
            subscribers=subscribers,
            consumer_options=self.runtime.consumer_options,
            store=self.runtime.store,
            clock=self.runtime.clock,
        )
        self._tasks.append(asyncio.create_task(changes.run(), name="changes"))
        for subscriber in subscribers:
            control = ControlConsumer(subscriber.dispatcher, self.runtime.consumer_options)
            name = f"control:{subscriber.department.id}"
            self._tasks.append(asyncio.create_task(control.run(), name=name))
        tune_for_service()

    async def wait(self) -> None:
        """Run until a consumer fails (re-raised)."""
        done, _ = await asyncio.wait(self._tasks, return_when=asyncio.FIRST_EXCEPTION)
        for task in done:
            error = None if task.cancelled() else task.exception()
            if error is not None:
                raise error

    async def stop(self) -> None:
        """Stop consuming, then let the runtime finish and save what is in flight."""
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        await self.runtime.stop()

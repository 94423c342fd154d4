"""A batcher: the calls of concurrent requests served by one round trip per batch.

Callers ``submit`` an item and wait; one task takes every item queued so far (up to
``max_batch``), hands them to ``flush`` together and gives each caller its own result.
While a flush is running the next batch gathers, so the batch size follows the load: one
item when idle, about the number of concurrent requests when busy. No timer, no linger.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Generic, TypeVar

__all__ = ["Batcher", "BatcherClosedError"]

ItemT = TypeVar("ItemT")
ResultT = TypeVar("ResultT")


class BatcherClosedError(RuntimeError):
    """The batcher was closed (or its task cancelled) before the item was flushed."""


class Batcher(Generic[ItemT, ResultT]):
    """Serves concurrent ``submit`` calls with one ``flush`` per batch.

    ``flush(items)`` returns one result per item, in order. If it raises, every caller of
    that batch gets the exception (the batch is one unit: one transaction, one query). A
    caller that is cancelled while waiting does not take its item out of a batch.
    """

    def __init__(
        self,
        flush: Callable[[list[ItemT]], Awaitable[Sequence[ResultT]]],
        *,
        max_batch: int = 256,
        name: str = "batcher",
    ) -> None:
        if max_batch < 1:
            raise ValueError("max_batch must be positive")
        self._flush = flush
        self._max_batch = max_batch
        self._name = name
        self._queue: list[tuple[ItemT, asyncio.Future[ResultT]]] = []
        self._task: asyncio.Task[None] | None = None
        self._closed = False
        #: Flushes so far, successful or not, and the items they carried (diagnostics).
        self.flushes = 0
        self.items = 0

    async def submit(self, item: ItemT) -> ResultT:
        """Add ``item`` to the next batch; its result once that batch is flushed."""
        if self._closed:
            raise BatcherClosedError(f"{self._name} is closed")
        loop = asyncio.get_running_loop()
        future: asyncio.Future[ResultT] = loop.create_future()
        task = self._task
        if task is not None and task.get_loop() is not loop:
            # Used from a new event loop (tests): what was queued on the old one is stranded.
            self._queue.clear()
            task = None
        self._queue.append((item, future))
        if task is None or task.done():
            self._task = asyncio.create_task(self._run(), name=self._name)
        return await future

    async def aclose(self) -> None:
        """Refuse new items and wait until those already queued are flushed."""
        self._closed = True
        if self._task is not None:
            with contextlib.suppress(Exception, asyncio.CancelledError):
                await asyncio.shield(self._task)

    async def _run(self) -> None:
        while self._queue:
            batch = self._queue[: self._max_batch]
            del self._queue[: self._max_batch]
            self.items += len(batch)
            try:
                results = await self._flush([item for item, _ in batch])
            except asyncio.CancelledError:
                self.flushes += 1
                stopped = BatcherClosedError(f"{self._name} stopped before the flush ended")
                _fail([*batch, *self._queue], stopped)
                self._queue.clear()
                raise
            except Exception as exc:  # noqa: BLE001 - handed to every caller of the batch
                self.flushes += 1
                _fail(batch, exc)
                continue
            self.flushes += 1
            if len(results) != len(batch):
                mismatch = f"{self._name}: {len(results)} results for {len(batch)} items"
                _fail(batch, RuntimeError(mismatch))
                continue
            for (_, future), result in zip(batch, results, strict=True):
                if not future.done():
                    future.set_result(result)


def _fail(batch: Sequence[tuple[object, asyncio.Future[Any]]], exc: BaseException) -> None:
    for _, future in batch:
        if not future.done():
            future.set_exception(exc)

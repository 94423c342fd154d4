"""The batcher behind group commit and ledger lookups: one flush per batch, a result each."""

from __future__ import annotations

import asyncio

import pytest

from services.storage.batching import Batcher, BatcherClosedError


class _Recorder:
    """A flush that records its batches and may be told to fail or to wait."""

    def __init__(self) -> None:
        self.batches: list[list[int]] = []
        self.fail_next: Exception | None = None
        self.gate: asyncio.Event | None = None

    async def flush(self, items: list[int]) -> list[int]:
        self.batches.append(list(items))
        if self.gate is not None:
            await self.gate.wait()
        if self.fail_next is not None:
            failure, self.fail_next = self.fail_next, None
            raise failure
        return [item * 10 for item in items]


async def test_concurrent_callers_share_one_flush_and_each_gets_its_own_result():
    recorder = _Recorder()
    batcher = Batcher(recorder.flush)

    results = await asyncio.gather(*(batcher.submit(i) for i in range(20)))

    assert results == [i * 10 for i in range(20)]
    assert recorder.batches == [list(range(20))]
    assert (batcher.flushes, batcher.items) == (1, 20)


async def test_items_arriving_during_a_flush_form_the_next_batch():
    recorder = _Recorder()
    recorder.gate = asyncio.Event()
    batcher = Batcher(recorder.flush)
    first = asyncio.gather(*(batcher.submit(i) for i in range(3)))
    await asyncio.sleep(0)  # the first flush has started and waits at the gate
    later = asyncio.gather(*(batcher.submit(i) for i in range(3, 8)))
    await asyncio.sleep(0)
    recorder.gate.set()

    assert await first == [0, 10, 20]
    assert await later == [30, 40, 50, 60, 70]
    assert recorder.batches == [[0, 1, 2], [3, 4, 5, 6, 7]]


async def test_a_batch_never_exceeds_max_batch():
    recorder = _Recorder()
    batcher = Batcher(recorder.flush, max_batch=4)

    results = await asyncio.gather(*(batcher.submit(i) for i in range(10)))

    assert results == [i * 10 for i in range(10)]
    assert [len(b) for b in recorder.batches] == [4, 4, 2]


async def test_a_failing_flush_fails_every_caller_of_that_batch_and_only_those():
    recorder = _Recorder()
    recorder.gate = asyncio.Event()
    batcher = Batcher(recorder.flush)
    recorder.fail_next = OSError("disk full")
    doomed = [asyncio.ensure_future(batcher.submit(i)) for i in range(5)]
    await asyncio.sleep(0)
    survivors = [asyncio.ensure_future(batcher.submit(i)) for i in range(5, 8)]
    recorder.gate.set()

    outcomes = await asyncio.gather(*doomed, return_exceptions=True)
    assert all(isinstance(o, OSError) for o in outcomes)
    assert await asyncio.gather(*survivors) == [50, 60, 70]


async def test_a_flush_returning_the_wrong_number_of_results_fails_its_callers():
    async def short(items: list[int]) -> list[int]:
        return items[:-1]

    batcher = Batcher(short)
    outcomes = await asyncio.gather(*(batcher.submit(i) for i in range(3)), return_exceptions=True)
    assert all(isinstance(o, RuntimeError) for o in outcomes)


async def test_a_cancelled_caller_leaves_the_others_unharmed():
    recorder = _Recorder()
    recorder.gate = asyncio.Event()
    batcher = Batcher(recorder.flush)
    callers = [asyncio.ensure_future(batcher.submit(i)) for i in range(4)]
    await asyncio.sleep(0)
    callers[1].cancel()
    recorder.gate.set()

    outcomes = await asyncio.gather(*callers, return_exceptions=True)
    assert isinstance(outcomes[1], asyncio.CancelledError)
    assert [outcomes[0], outcomes[2], outcomes[3]] == [0, 20, 30]
    assert recorder.batches == [[0, 1, 2, 3]]  # its item was flushed all the same


async def test_close_waits_for_queued_items_then_refuses_new_ones():
    recorder = _Recorder()
    recorder.gate = asyncio.Event()
    batcher = Batcher(recorder.flush)
    pending = asyncio.gather(*(batcher.submit(i) for i in range(3)))
    await asyncio.sleep(0)
    closing = asyncio.ensure_future(batcher.aclose())
    await asyncio.sleep(0)
    assert not closing.done()
    recorder.gate.set()
    await closing

    assert await pending == [0, 10, 20]
    with pytest.raises(BatcherClosedError):
        await batcher.submit(9)


async def test_cancelling_the_flush_task_fails_every_waiter_instead_of_stranding_it():
    recorder = _Recorder()
    recorder.gate = asyncio.Event()
    batcher = Batcher(recorder.flush)
    first = [asyncio.ensure_future(batcher.submit(i)) for i in range(2)]
    await asyncio.sleep(0)
    queued = asyncio.ensure_future(batcher.submit(2))
    await asyncio.sleep(0)
    assert batcher._task is not None
    batcher._task.cancel()

    outcomes = await asyncio.gather(*first, queued, return_exceptions=True)
    assert all(isinstance(o, BatcherClosedError) for o in outcomes)


def test_a_batcher_can_be_used_from_one_event_loop_after_another():
    recorder = _Recorder()
    batcher = Batcher(recorder.flush)

    async def use(item: int) -> int:
        return await batcher.submit(item)

    assert asyncio.run(use(1)) == 10
    assert asyncio.run(use(2)) == 20


def test_max_batch_must_be_positive():
    with pytest.raises(ValueError, match="positive"):
        Batcher(_Recorder().flush, max_batch=0)

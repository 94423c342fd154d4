"""``run_until_signal``: the bare loops' mains stop quietly on SIGTERM/SIGINT, and only then."""

import asyncio
import os
import signal

import pytest

from services.bench.bare_drain import run_until_signal


def _run(work) -> None:
    # A loop of its own: the signal handlers go with it when it closes.
    loop = asyncio.new_event_loop()
    try:
        loop.run_until_complete(run_until_signal(work))
    finally:
        loop.close()


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_cancels_the_work_and_returns_quietly(signum):
    cancelled = []

    async def work():
        os.kill(os.getpid(), signum)
        try:
            await asyncio.Event().wait()  # only the signal ends this
        except asyncio.CancelledError:
            cancelled.append(signum)
            raise

    _run(work())

    assert cancelled == [signum]


def test_work_that_ends_on_its_own_just_ends():
    finished = []

    async def work():
        finished.append(True)

    _run(work())

    assert finished == [True]


def test_a_failure_of_the_work_is_not_swallowed():
    async def work():
        raise ConnectionError("broker gone")

    with pytest.raises(ConnectionError, match="broker gone"):
        _run(work())

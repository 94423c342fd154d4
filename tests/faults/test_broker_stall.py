"""Freeze the broker (SIGSTOP) for 30 s in the middle of a stream: intake answers 503 with
Retry-After in bounded time, the channel retries with the same keys, and once the broker
resumes (SIGCONT) every change is delivered exactly as promised, nothing lost."""

from __future__ import annotations

import asyncio

import pytest

from tests.faults._accounting import account, check, report, settle, warm_up
from tests.faults._channel import Channel, moves

pytestmark = [pytest.mark.slow, pytest.mark.integration]

CHANGES = 1000
STALL_AT = 300
STALL_S = 30
#: intake's TUO_INTAKE_PUBLISH_TIMEOUT_S (3 s) plus slack for a loaded 2-core machine.
UNAVAILABLE_WITHIN_S = 3 + 5


async def test_a_broker_stalled_for_30_s_mid_stream_costs_503s_and_loses_nothing(bus, fault_broker):
    channel = Channel(bus.intake.url, concurrency=24)
    async with bus.sandbox as sandbox:
        warm = await warm_up(channel, sandbox)
        stream = asyncio.create_task(channel.submit_all(moves(CHANGES)))
        await asyncio.wait_for(channel.accepted_at_least(len(warm) + STALL_AT), timeout=120)
        fault_broker.pause()
        try:
            # The fault itself lasts 30 s; nothing waits on it for synchronisation.
            await asyncio.sleep(STALL_S)
            refused_during_stall = len(channel.unavailable)
            accepted_during_stall = channel.accepted
        finally:
            fault_broker.resume()
        submissions = [*warm, *await stream]
        _, records, statuses = await settle(channel, sandbox, bus.intake.url, submissions)
    accounting = account("broker stalled 30 s mid-stream", submissions, records, statuses)
    retry_afters = sorted({u.retry_after for u in channel.unavailable}, key=str)
    slowest = max((u.elapsed_s for u in channel.unavailable), default=0.0)
    accounting.notes = [
        (
            f"SIGSTOP after {STALL_AT} accepted for {STALL_S} s: {refused_during_stall} "
            f"answered 503 (Retry-After {retry_afters}, slowest in {slowest:.1f} s), "
            f"{accepted_during_stall} accepted by SIGCONT"
        )
    ]
    accounting.notes.append(f"connection errors by kind: {dict(channel.errors)}")
    report(accounting.table())
    table = accounting.table()
    assert refused_during_stall > 0, f"no 503 while the broker was stalled\n{table}"
    assert all(u.retry_after and int(u.retry_after) >= 1 for u in channel.unavailable), table
    assert slowest < UNAVAILABLE_WITHIN_S, f"a 503 took {slowest:.1f} s\n{table}"
    check(accounting)

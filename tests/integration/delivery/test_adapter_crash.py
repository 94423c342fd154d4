"""SIGKILL the adapters mid-stream, start them again: every delivery arrives; duplicates
only ever carry the same webhook-id."""

from __future__ import annotations

import asyncio
import signal
from collections import defaultdict

import httpx
import pytest

from tests.fixtures.invalid_bodies import example
from tests.support.bus import delivery_id, unique_nino
from tests.support.net import apoll
from tests.support.processes import CHANNEL_TOKEN

pytestmark = [pytest.mark.integration, pytest.mark.slow]
CHANGES = 120


async def _submit_all(bus) -> list[dict]:
    bodies = []
    for _ in range(CHANGES):
        body = example("death_notified/v1-death-in-bristol")
        body["subject"]["nino"] = unique_nino()
        bodies.append(body)
    async with httpx.AsyncClient(
        base_url=bus.intake.url, headers={"Authorization": f"Bearer {CHANNEL_TOKEN}"}, timeout=30
    ) as client:
        responses = await asyncio.gather(*(client.post("/v1/changes", json=b) for b in bodies))
    assert {r.status_code for r in responses} == {202}
    return [r.json() for r in responses]


async def test_a_killed_adapter_loses_nothing_and_duplicates_keep_their_webhook_id(bus):
    async with bus.sandbox as sandbox:
        departments = ("hmrc", "dvla", "hmpo", "dwp", "council-bristol")
        for department in departments:
            await sandbox.add_fault(department, kind="slow", seconds=0.2)
        answers = await _submit_all(bus)
        expected = {
            (a["reference"], dept): delivery_id(a, dept) for a in answers for dept in a["notified"]
        }

        async def some_arrived():
            records = await sandbox.received_anywhere()
            return len(records) >= len(expected) // 5

        await apoll(some_arrived, timeout=60)
        bus.adapters.stop(signal.SIGKILL)
        arrived_before = len(await sandbox.received_anywhere())
        assert arrived_before < len(expected), "the crash came too late to test anything"
        bus.adapters = bus.new_adapters()
        bus.adapters.start()

        async def all_arrived():
            records = await sandbox.received_anywhere()
            seen = {(r.body["reference"], r.department) for r in records if r.delivered}
            return seen >= set(expected) and records

        records = await apoll(all_arrived, timeout=120, interval=0.5)
        for department in departments:
            await sandbox.clear_faults(department)

    webhook_ids = defaultdict(set)
    for record in records:
        if record.delivered:
            webhook_ids[(record.body["reference"], record.department)].add(record.webhook_id)
    assert set(webhook_ids) == set(expected)
    for key, ids in webhook_ids.items():
        assert ids == {expected[key]}, key
    assert all(r.signature_valid for r in records)

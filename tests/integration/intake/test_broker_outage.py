"""Broker down or stalled: 503 with Retry-After in bounded time, nothing half-sent."""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest

from services.broker.admin import ensure_topics
from services.core.config import CoreSettings
from tests.conftest import start_broker
from tests.fixtures.invalid_bodies import example
from tests.support.kafka import header, read_all
from tests.support.net import poll
from tests.support.processes import CHANNEL_TOKEN, IntakeProcess

pytestmark = pytest.mark.integration
AUTH = {"Authorization": f"Bearer {CHANNEL_TOKEN}"}
BODY = example("name_changed/v1-deed-poll-in-bristol")
PUBLISH_TIMEOUT_S = 1.5


@pytest.fixture
def intake_on(own_broker, tmp_path):
    process = IntakeProcess(
        own_broker.bootstrap,
        tmp_path,
        extra_env={"TUO_INTAKE_PUBLISH_TIMEOUT_S": str(PUBLISH_TIMEOUT_S)},
    )
    process.start()
    process.wait_ready()
    yield process
    process.stop()


def _submit(url: str, key: str | None = None) -> tuple[httpx.Response, float]:
    headers = dict(AUTH)
    if key:
        headers["Idempotency-Key"] = key
    started = time.monotonic()
    response = httpx.post(f"{url}/v1/changes", json=BODY, headers=headers, timeout=30)
    return response, time.monotonic() - started


def _assert_unavailable(response: httpx.Response, elapsed: float) -> None:
    assert response.status_code == 503, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert int(response.headers["retry-after"]) >= 1
    # Bounded: the configured publish timeout plus slack for a loaded 2-core machine.
    assert elapsed < PUBLISH_TIMEOUT_S + 5


async def test_a_stalled_broker_gets_503_then_the_same_key_is_accepted_once(intake_on, own_broker):
    own_broker.pause()
    try:
        response, elapsed = _submit(intake_on.url, key="stall-1")
        _assert_unavailable(response, elapsed)
    finally:
        own_broker.resume()
    accepted = poll(
        lambda: (r := _submit(intake_on.url, key="stall-1")[0]).status_code == 202 and r,
        timeout=30,
        interval=0.5,
    )
    event_id = accepted.json()["event_id"]
    records = await read_all(own_broker.bootstrap, until={event_id})
    # The record sent into the stalled broker may have landed after all; it carries the
    # same event id, so departments see one change. Nothing else was written.
    assert {
        header(r, "ce_id")
        for r in records
        if header(r, "ce_subject") == accepted.json()["reference"]
    } == {event_id}


def test_a_stopped_broker_gets_503_and_nothing_is_sent_when_it_returns(tmp_path_factory, tmp_path):
    broker = start_broker(tmp_path_factory.mktemp("stopping-broker"))
    process = IntakeProcess(
        broker.bootstrap,
        tmp_path,
        extra_env={"TUO_INTAKE_PUBLISH_TIMEOUT_S": str(PUBLISH_TIMEOUT_S)},
    )
    process.start()
    try:
        process.wait_ready()
        broker.stop()
        response, elapsed = _submit(process.url)
        _assert_unavailable(response, elapsed)
        assert "reference" not in response.json()  # a 503 gives the citizen no reference
        # The broker comes back on the same port (empty: memory storage).
        broker.start()
        asyncio.run(ensure_topics(CoreSettings(kafka_bootstrap=broker.bootstrap), ["hmrc"]))
        accepted = poll(
            lambda: (r := _submit(process.url)[0]).status_code == 202 and r,
            timeout=30,
            interval=0.5,
        )
        event_id = accepted.json()["event_id"]
        records = asyncio.run(read_all(broker.bootstrap, until={event_id}))
        # Only the accepted change is there: the refused one was not sent late behind our back.
        assert [header(r, "ce_id") for r in records] == [event_id]
    finally:
        process.stop()
        broker.stop()


def test_readiness_reports_a_missing_broker(tmp_path):
    process = IntakeProcess("127.0.0.1:1", tmp_path)
    process.start()
    try:
        process.wait_listening()
        assert httpx.get(f"{process.url}/readyz").status_code == 503
        assert httpx.get(f"{process.url}/healthz").status_code == 200
        response, _ = _submit(process.url)
        assert response.status_code == 503
    finally:
        process.stop()

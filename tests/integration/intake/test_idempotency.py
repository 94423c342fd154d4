"""Idempotency-Key across two intake processes sharing one store (SQLite, then PostgreSQL)."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from tests.fixtures.invalid_bodies import example
from tests.support.kafka import header, read_all
from tests.support.processes import CHANNEL_TOKEN, IntakeProcess

pytestmark = pytest.mark.integration
AUTH = {"Authorization": f"Bearer {CHANNEL_TOKEN}"}
BODY = example("death_notified/v1-death-in-bristol")


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def two_intakes(request, own_broker, tmp_path_factory):
    data_dir = tmp_path_factory.mktemp(f"shared-{request.param}")
    env = {}
    if request.param == "postgresql":
        env["TUO_DATABASE_URL"] = request.getfixturevalue("postgres_url")
    pair = [IntakeProcess(own_broker.bootstrap, data_dir, extra_env=env) for _ in range(2)]
    for process in pair:
        process.start()
    for process in pair:
        process.wait_ready()
    yield pair
    for process in pair:
        process.stop()


def _post(url: str, key: str, body=BODY) -> httpx.Response:
    return httpx.post(
        f"{url}/v1/changes", json=body, headers={**AUTH, "Idempotency-Key": key}, timeout=10
    )


async def test_a_retry_on_the_other_replica_gets_the_same_reference(two_intakes, own_broker):
    a, b = two_intakes
    first = _post(a.url, "retry-1")
    second = _post(b.url, "retry-1")
    assert first.status_code == second.status_code == 202
    assert first.json() == second.json()
    records = await read_all(own_broker.bootstrap, until={first.json()["event_id"]})
    assert [header(r, "ce_id") for r in records].count(first.json()["event_id"]) == 1


async def test_concurrent_requests_with_one_key_get_one_reference(two_intakes):
    a, b = two_intakes
    async with httpx.AsyncClient(timeout=10) as client:
        responses = await asyncio.gather(
            *(
                client.post(
                    f"{url}/v1/changes", json=BODY, headers={**AUTH, "Idempotency-Key": "race-1"}
                )
                for url in (a.url, b.url) * 4
            )
        )
    assert {r.status_code for r in responses} == {202}
    assert len({r.json()["reference"] for r in responses}) == 1
    assert len({r.json()["event_id"] for r in responses}) == 1


def test_the_same_key_with_a_different_body_is_409_on_either_replica(two_intakes):
    a, b = two_intakes
    assert _post(a.url, "conflict-1").status_code == 202
    changed = example("death_notified/v1-death-in-bristol")
    changed["data"]["place_of_death"] = "Southmead Hospital, Bristol"
    for url in (a.url, b.url):
        response = _post(url, "conflict-1", changed)
        assert response.status_code == 409
        assert response.headers["content-type"] == "application/problem+json"


def test_keys_belong_to_a_channel(two_intakes):
    a, _ = two_intakes
    mine = _post(a.url, "shared-key")
    other_channel = httpx.post(
        f"{a.url}/v1/changes",
        json=BODY,
        headers={
            "Authorization": "Bearer test-channel-token-0002",
            "Idempotency-Key": "shared-key",
        },
    )
    assert other_channel.status_code == 202
    assert other_channel.json()["reference"] != mine.json()["reference"]

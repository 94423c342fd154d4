"""Intake's counters: every outcome of POST /v1/changes, labelled by known event types only."""

import copy
import json

import httpx
import pytest
from prometheus_client import REGISTRY

from services.core.resources import schemas_dir
from services.core.schema_registry import FileSchemaRegistry
from services.intake.metrics import count_change, outcome_for_status
from tests.support.intake_app import CHANNEL_HEADERS, intake_app, served

MOVE = json.loads(
    (schemas_dir() / "address_changed/examples/v1-bristol-to-cardiff.json").read_text()
)


def _count(outcome: str, event_type: str) -> float:
    labels = {"outcome": outcome, "type": event_type}
    return REGISTRY.get_sample_value("tuo_intake_changes_total", labels) or 0.0


@pytest.fixture
async def client():
    transport = httpx.ASGITransport(served(intake_app()))
    async with httpx.AsyncClient(transport=transport, base_url="http://intake") as http:
        yield http


async def _submit(client, body, headers=CHANNEL_HEADERS, **kwargs):
    return await client.post("/v1/changes", json=body, headers=headers, **kwargs)


async def test_each_outcome_of_a_submission_is_counted_once_under_its_type(client):
    before = {
        key: _count(*key)
        for key in (
            ("accepted", "address_changed"),
            ("replayed", "address_changed"),
            ("conflict", "address_changed"),
            ("invalid", "address_changed"),
            ("unauthorised", "unknown"),
            ("malformed", "unknown"),
            ("unsupported_media_type", "unknown"),
        )
    }
    keyed = {**CHANNEL_HEADERS, "Idempotency-Key": "metrics-1"}
    invalid = copy.deepcopy(MOVE)
    invalid["subject"]["nino"] = "not a nino"
    other = copy.deepcopy(MOVE)
    other["data"]["moved_on"] = "2024-03-02"

    answers = [
        await _submit(client, MOVE, keyed),
        await _submit(client, MOVE, keyed),
        await _submit(client, other, keyed),
        await _submit(client, invalid),
        await _submit(client, MOVE, {}),
        await client.post(
            "/v1/changes",
            content=b"{",
            headers={**CHANNEL_HEADERS, "Content-Type": "application/json"},
        ),
        await client.post("/v1/changes", content=b"x", headers=CHANNEL_HEADERS),
    ]

    assert [a.status_code for a in answers] == [202, 202, 409, 422, 401, 400, 415]
    assert {key: _count(*key) - n for key, n in before.items()} == dict.fromkeys(before, 1.0)


async def test_a_type_that_is_not_a_known_event_type_is_counted_as_unknown(client):
    bogus = {**MOVE, "type": "JT483920B Rhiannon Hughes"}
    before = _count("invalid", "unknown")

    answer = await _submit(client, bogus)

    assert answer.status_code == 422
    assert _count("invalid", "unknown") == before + 1
    assert _count("invalid", bogus["type"]) == 0


def test_only_registered_event_types_become_label_values():
    schemas = FileSchemaRegistry(schemas_dir())
    before = _count("accepted", "unknown")

    for body in (None, [], {"type": 7}, {"type": "address_changed.v1"}, {"nope": 1}):
        count_change("accepted", body, schemas)

    assert _count("accepted", "unknown") == before + 5


def test_refusals_are_named_by_status():
    assert outcome_for_status(422) == "invalid"
    assert outcome_for_status(503) == "unavailable"
    assert outcome_for_status(418) == "error"

"""Accepted changes appear on the real broker as CloudEvents, keyed by citizen."""

from __future__ import annotations

import httpx
import orjson
import pytest

from services.core.citizen_key import citizen_key
from tests.conftest import all_examples
from tests.support.kafka import header, read_all
from tests.support.processes import CHANNEL_TOKEN, CITIZEN_KEY_SECRET

pytestmark = pytest.mark.integration
AUTH = {"Authorization": f"Bearer {CHANNEL_TOKEN}"}


async def test_every_example_is_accepted_and_lands_on_kafka_as_a_cloudevent(intake, own_broker):
    accepted = {}
    async with httpx.AsyncClient(base_url=intake.url, headers=AUTH, timeout=10) as client:
        for name, body in all_examples():
            response = await client.post("/v1/changes", json=body)
            assert response.status_code == 202, (name, response.text)
            answer = response.json()
            assert answer["notified"] == body["consent"]["notify"]
            assert answer["status_url"] == f"/v1/changes/{answer['reference']}"
            accepted[answer["event_id"]] = (name, body, answer)

    records = await read_all(own_broker.bootstrap, until=set(accepted))
    by_id = {header(r, "ce_id"): r for r in records}
    assert set(accepted) <= set(by_id)
    for event_id, (name, body, answer) in accepted.items():
        record = by_id[event_id]
        value = orjson.loads(record.value)
        assert record.key == citizen_key(body["subject"], CITIZEN_KEY_SECRET.encode()).encode()
        assert header(record, "ce_specversion") == "1.0"
        assert header(record, "ce_type") == f"{body['type']}.v{body['schema_version']}"
        assert header(record, "ce_source") == "/tellusonce/intake/channels/web"
        assert header(record, "ce_subject") == answer["reference"]
        assert header(record, "content-type") == "application/json"
        assert header(record, "ce_time").endswith("Z")
        assert value["reference"] == answer["reference"], name
        assert value["subject"] == body["subject"]
        assert value["data"] == body["data"]
        assert value["notify"] == body["consent"]["notify"]


async def test_one_citizens_changes_share_a_key_and_so_a_partition(intake, own_broker):
    _, body = all_examples()[0]
    async with httpx.AsyncClient(base_url=intake.url, headers=AUTH, timeout=10) as client:
        ids = [(await client.post("/v1/changes", json=body)).json()["event_id"] for _ in range(3)]
    records = await read_all(own_broker.bootstrap, until=set(ids))
    keys = {r.key for r in records if header(r, "ce_id") in ids}
    assert len(keys) == 1


async def test_preview_shows_each_organisation_only_its_allowed_fields(intake):
    name, body = next((n, b) for n, b in all_examples() if "bristol-to-cardiff" in n)
    async with httpx.AsyncClient(base_url=intake.url, headers=AUTH, timeout=10) as client:
        response = await client.post("/v1/changes/preview", json=body)
    assert response.status_code == 200
    organisations = {o["id"]: o for o in response.json()["organisations"]}
    assert set(organisations) == set(body["consent"]["notify"])
    assert organisations["hmrc"]["receives"]["subject"]["nino"] == body["subject"]["nino"]
    assert "nino" not in organisations["council-cardiff"]["receives"].get("subject", {})


async def test_catalogue_and_schemas_are_served(intake):
    async with httpx.AsyncClient(base_url=intake.url, timeout=10) as client:
        organisations = (await client.get("/v1/organisations")).json()
        schemas = (await client.get("/v1/schemas")).json()
        one = await client.get("/v1/schemas/address_changed/1")
        missing = await client.get("/v1/schemas/address_changed/99")
        openapi = (await client.get("/openapi.json")).json()
    assert {"hmrc", "dvla", "hmpo", "dwp", "council-bristol"} <= {o["id"] for o in organisations}
    assert {s["type"] for s in schemas} >= {"address_changed", "death_notified"}
    assert one.status_code == 200
    assert one.json()["$schema"].endswith("2020-12/schema")
    assert len(one.json()["examples"]) >= 2
    assert missing.status_code == 404
    assert missing.headers["content-type"] == "application/problem+json"
    assert "/v1/changes" in openapi["paths"]

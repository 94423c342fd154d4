"""The generated API references are up to date and cover the whole public contract."""

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from services.cli import docs
from services.core.departments import load_registry
from services.core.envelope import ChangeEvent
from services.core.resources import default_departments_file, schemas_dir
from services.core.schema_registry import FileSchemaRegistry
from services.core.topics import topics_for
from services.delivery.adapters.kafka_status import department_state_document, status_document
from services.delivery.domain import Attempt, Delivery, DeliveryState
from services.delivery.ports import DepartmentState

DOCS_DIR = Path(__file__).resolve().parents[3] / "docs"
AT = datetime(2026, 11, 1, 9, 30, tzinfo=UTC)

CONTRACT_PATHS = [
    "/v1/changes",
    "/v1/changes/preview",
    "/v1/changes/{reference}",
    "/v1/organisations",
    "/v1/schemas",
    "/v1/schemas/{event_type}/{version}",
    "/ops/deliveries",
    "/ops/deliveries/{delivery_id}/redeliver",
    "/ops/departments",
    "/ops/departments/{department}/redeliver-failed",
    "/ops/departments/{department}/pause",
    "/ops/departments/{department}/resume",
    "/healthz",
    "/readyz",
]


@pytest.fixture(scope="module")
def generated() -> dict[str, str]:
    return docs.generate_documents()


@pytest.fixture(scope="module")
def asyncapi(generated: dict[str, str]) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(generated["api/asyncapi.json"])
    return document


def _shipped_department_ids() -> list[str]:
    schemas = FileSchemaRegistry(schemas_dir())
    path = default_departments_file()
    return load_registry(path, known_event_types=set(schemas.event_types())).ids()


def _follow(document: dict[str, Any], ref: str) -> Any:
    node: Any = document
    for part in ref.removeprefix("#/").split("/"):
        node = node[part]
    return node


def _local_refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        own = [node["$ref"]] if str(node.get("$ref", "")).startswith("#/") else []
        return own + [ref for value in node.values() for ref in _local_refs(value)]
    if isinstance(node, list):
        return [ref for value in node for ref in _local_refs(value)]
    return []


def test_the_committed_references_equal_a_fresh_generation(generated):
    stale = docs.stale_documents(DOCS_DIR, generated)

    assert not stale, f"stale generated docs {stale}: run `{docs.REGENERATE}` and commit them"


def test_generation_is_deterministic(generated):
    assert docs.generate_documents() == generated


def test_the_asyncapi_document_names_every_topic_of_the_shipped_departments(asyncapi):
    addresses = {channel["address"] for channel in asyncapi["channels"].values()}

    assert addresses == set(topics_for(_shipped_department_ids()))
    assert asyncapi["asyncapi"].startswith("3.")


def test_every_asyncapi_reference_inside_the_document_resolves(asyncapi):
    refs = _local_refs(asyncapi)

    assert refs
    for ref in refs:
        assert _follow(asyncapi, ref) is not None, ref
    for operation in asyncapi["operations"].values():
        channel = operation["channel"]["$ref"]
        for message in operation["messages"]:
            assert message["$ref"].startswith(channel + "/messages/")


def test_every_topic_has_a_sender_and_the_shared_topics_have_readers(asyncapi):
    actions: dict[str, set[str]] = {}
    for operation in asyncapi["operations"].values():
        address = _follow(asyncapi, operation["channel"]["$ref"])["address"]
        actions.setdefault(address, set()).add(operation["action"])

    assert all("send" in found for found in actions.values())
    assert set(actions) == set(topics_for(_shipped_department_ids()))
    for topic in topics_for([]):
        assert actions[topic] == {"send", "receive"}


def test_the_change_message_matches_what_intake_writes(asyncapi):
    event = ChangeEvent(
        event_id="e1",
        reference="AAAA-BBBB-CCCC",
        type="address_changed",
        schema_version=1,
        received_at=AT,
        channel="web",
        citizen_key="k1",
        subject={},
        data={},
    )
    record = event.to_kafka()
    schemas = asyncapi["components"]["schemas"]

    assert set(schemas["ChangeDocument"]["properties"]) == set(event.document())
    assert set(schemas["ChangeHeaders"]["properties"]) == {name for name, _ in record.headers}


def test_the_status_messages_match_what_the_adapters_write(asyncapi):
    delivery = Delivery(
        delivery_id="d1",
        department="hmrc",
        event_id="e1",
        reference="AAAA-BBBB-CCCC",
        event_type="address_changed",
        citizen_key="k1",
        partition=0,
        offset=0,
        body=b"{}",
        created_at=AT,
        state=DeliveryState.RETRYING,
        attempts=(Attempt(at=AT, status_code=503, latency_ms=1.0, error=None),),
    )
    schemas = asyncapi["components"]["schemas"]
    status = status_document(delivery)

    assert set(schemas["DeliveryStatus"]["properties"]) == set(status)
    attempt = schemas["DeliveryStatus"]["properties"]["attempts"]["items"]
    assert set(attempt["properties"]) == set(status["attempts"][0])
    state = department_state_document(DepartmentState(department="hmrc"), AT)
    assert set(schemas["DepartmentState"]["properties"]) == set(state)


def test_the_openapi_document_has_every_path_of_the_public_contract(generated):
    paths = json.loads(generated["api/openapi.json"])["paths"]

    missing = [path for path in CONTRACT_PATHS if path not in paths]
    assert not missing


def test_the_event_catalogue_describes_every_event_type_and_version(generated):
    catalogue = generated["events.md"]
    schemas = FileSchemaRegistry(schemas_dir())

    for event_type in schemas.event_types():
        assert f"## {event_type}\n" in catalogue
        for version in schemas.versions(event_type):
            assert f"### {event_type} version {version}:" in catalogue
        for name, _ in schemas.examples(event_type):
            assert f"../schemas/{event_type}/examples/{name}" in catalogue


def test_the_check_option_fails_on_stale_files_and_passes_once_generated(
    generated, tmp_path, monkeypatch
):
    monkeypatch.setattr(docs, "generate_documents", lambda: generated)
    runner = CliRunner()
    arguments = ["generate", "--docs-dir", str(tmp_path)]

    stale = runner.invoke(docs.docs_group, [*arguments, "--check"])
    written = runner.invoke(docs.docs_group, arguments)
    fresh = runner.invoke(docs.docs_group, [*arguments, "--check"])

    assert stale.exit_code != 0
    assert docs.REGENERATE in stale.output
    assert "api/openapi.json" in stale.output
    assert written.exit_code == 0, written.output
    assert fresh.exit_code == 0, fresh.output
    assert (tmp_path / "events.md").read_text(encoding="utf-8") == generated["events.md"]

"""Signatures the official verifier accepts; payloads holding only allowed fields."""

import base64
import os
from datetime import UTC, datetime

import orjson
import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from services.core.departments import load_registry
from services.core.envelope import ChangeEvent
from services.core.resources import default_departments_file, schemas_dir
from services.core.schema_registry import FileSchemaRegistry
from services.delivery.adapters.http_gateway import parse_retry_after
from services.delivery.adapters.signing import WebhookSigner
from services.delivery.departments import load_transform
from services.delivery.routing import build_delivery, is_routed_to, payload_for
from tests.fixtures.invalid_bodies import example

NOW = datetime(2026, 11, 1, 9, 30, tzinfo=UTC)


def _secret() -> str:
    return "whsec_" + base64.b64encode(os.urandom(24)).decode()


def _event(name: str) -> ChangeEvent:
    body = example(name)
    return ChangeEvent(
        event_id="e-1",
        reference="AAAA-BBBB-CCCC",
        type=body["type"],
        schema_version=body["schema_version"],
        received_at=NOW,
        channel="web",
        citizen_key="k" * 32,
        subject=body["subject"],
        data=body["data"],
        notify=tuple(body["consent"]["notify"]),
    )


@pytest.fixture(scope="module")
def registry():
    schemas = FileSchemaRegistry(schemas_dir())
    return load_registry(default_departments_file(), known_event_types=set(schemas.event_types()))


def test_a_push_signed_during_rotation_verifies_with_either_secret():
    old, new = _secret(), _secret()
    body = b'{"event_id": "e-1"}'
    now = datetime.now(UTC)
    headers = {
        "webhook-id": "d-1",
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": WebhookSigner([old, new]).sign("d-1", now, body),
    }
    for secret in (old, new):
        assert Webhook(secret).verify(body, headers) == {"event_id": "e-1"}
    with pytest.raises(WebhookVerificationError):
        Webhook(_secret()).verify(body, headers)


def test_retry_after_is_read_as_seconds_or_as_a_date():
    assert parse_retry_after("7", NOW) == 7
    assert parse_retry_after("Sun, 01 Nov 2026 09:30:30 GMT", NOW) == 30
    assert parse_retry_after("soon", NOW) is None
    assert parse_retry_after(None, NOW) is None


def test_a_move_between_councils_is_routed_to_both(registry):
    event = _event("address_changed/v1-bristol-to-cardiff")
    routed = {d.id for d in registry if is_routed_to(event, d)}
    assert routed == set(event.notify)
    assert {"council-bristol", "council-cardiff"} <= routed


def test_a_department_without_consent_is_not_routed(registry):
    event = _event("address_changed/v1-within-denbighshire")
    dvla = registry.get("dvla")
    assert dvla is not None
    assert "dvla" not in event.notify
    assert not is_routed_to(event, dvla)


def test_the_payload_carries_identifiers_and_only_allowed_fields(registry):
    event = _event("death_notified/v1-death-in-bristol")
    council = registry.get("council-bristol")
    assert council is not None
    payload = payload_for(event, council)
    assert payload["event_id"] == "e-1"
    assert payload["reference"] == "AAAA-BBBB-CCCC"
    assert payload["occurred_at"] == "2026-11-01T09:30:00Z"
    assert "nino" not in payload["subject"]
    assert "passport_number" not in payload["data"]


def test_the_delivery_id_is_stable_for_an_event_and_department(registry):
    event = _event("death_notified/v1-death-in-bristol")
    hmrc = registry.get("hmrc")
    assert hmrc is not None
    one = build_delivery(event, hmrc, partition=0, offset=1, now=NOW)
    two = build_delivery(event, hmrc, partition=3, offset=9, now=NOW)
    assert one.delivery_id == two.delivery_id
    assert orjson.loads(one.body)["subject"]["nino"] == event.subject["nino"]


def test_the_dvla_transform_reshapes_without_adding_data(registry):
    event = _event("address_changed/v1-bristol-to-cardiff")
    dvla = registry.get("dvla")
    assert dvla is not None
    transform = load_transform("dvla")
    plain = payload_for(event, dvla)
    shaped = payload_for(event, dvla, transform)
    assert shaped["driver_number"] == plain["data"]["driving_licence_number"]
    assert shaped["change"]["new_address"]["postcode"] == plain["data"]["new_address"]["postcode"]
    plain_values = {str(v) for v in _values(plain)}
    assert {str(v) for v in _values(shaped)} <= plain_values | {"Cardiff"}


def _values(value):
    if isinstance(value, dict):
        for child in value.values():
            yield from _values(child)
    elif isinstance(value, list):
        for child in value:
            yield from _values(child)
    else:
        yield value


def test_a_correction_tells_each_department_only_what_it_saw_of_the_original(registry):
    event = _event("notification_corrected/v1-correct-death-registration").model_copy(
        update={"original_type": "death_notified"}
    )
    # HMRC saw the death's registration but never the place of death.
    hmrc = payload_for(event, registry.get("hmrc"))
    assert [c["path"] for c in hmrc["data"]["corrections"]] == ["/data/registration"]
    # DVLA saw neither: it learns that the notification was corrected, not the new values.
    dvla = payload_for(event, registry.get("dvla"))
    assert dvla["data"]["corrections"] == []
    assert dvla["data"]["original_reference"] == event.data["original_reference"]


def test_a_correction_of_an_unknown_original_keeps_only_fields_the_department_takes(registry):
    event = _event("notification_corrected/v1-correct-death-registration")
    paths = [c["path"] for c in payload_for(event, registry.get("dvla"))["data"]["corrections"]]
    assert paths == []
    hmrc = payload_for(event, registry.get("hmrc"))["data"]["corrections"]
    assert [c["path"] for c in hmrc] == ["/data/registration"]

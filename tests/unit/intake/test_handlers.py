"""Intake use cases with fakes: no sockets."""

import copy
import json

import pytest

from services.core.resources import schemas_dir
from services.intake.domain import (
    BrokerUnavailableError,
    ChangeRejectedError,
    IdempotencyConflictError,
)
from services.intake.handlers import SubmitChange, preview_change, submit_change

MOVE = json.loads(
    (schemas_dir() / "address_changed/examples/v1-bristol-to-cardiff.json").read_text()
)


async def test_a_valid_change_is_published_once_with_its_consent(deps):
    accepted = await submit_change(SubmitChange(body=MOVE, channel="web"), deps)
    [event] = deps.publisher.published
    assert event.reference == accepted.reference
    assert event.event_id == accepted.event_id
    assert event.notify == tuple(MOVE["consent"]["notify"])
    assert accepted.notified == tuple(MOVE["consent"]["notify"])


async def test_the_same_key_and_body_replays_without_publishing_again(deps):
    first = await submit_change(SubmitChange(body=MOVE, channel="web", idempotency_key="k1"), deps)
    again = await submit_change(SubmitChange(body=MOVE, channel="web", idempotency_key="k1"), deps)
    assert (again.reference, again.event_id) == (first.reference, first.event_id)
    assert again.replayed
    assert len(deps.publisher.published) == 1


async def test_keys_are_scoped_to_the_channel(deps):
    a = await submit_change(SubmitChange(body=MOVE, channel="web", idempotency_key="k"), deps)
    b = await submit_change(SubmitChange(body=MOVE, channel="phone", idempotency_key="k"), deps)
    assert a.reference != b.reference


async def test_the_same_key_with_another_body_is_a_conflict(deps):
    await submit_change(SubmitChange(body=MOVE, channel="web", idempotency_key="k2"), deps)
    other = copy.deepcopy(MOVE)
    other["data"]["moved_on"] = "2024-03-02"
    with pytest.raises(IdempotencyConflictError):
        await submit_change(SubmitChange(body=other, channel="web", idempotency_key="k2"), deps)
    assert len(deps.publisher.published) == 1


async def test_after_a_broker_failure_a_retry_publishes_the_same_event_id(deps):
    deps.publisher.fail_with = BrokerUnavailableError("down")
    command = SubmitChange(body=MOVE, channel="web", idempotency_key="k3")
    with pytest.raises(BrokerUnavailableError):
        await submit_change(command, deps)
    [record] = deps.idempotency.records.values()
    assert record.state == "pending"
    deps.publisher.fail_with = None
    accepted = await submit_change(command, deps)
    assert accepted.event_id == record.event_id
    assert [e.event_id for e in deps.publisher.published] == [record.event_id]


async def test_an_unknown_organisation_is_refused_with_its_path(deps):
    body = copy.deepcopy(MOVE)
    body["consent"]["notify"] = ["hmrc", "ministry-of-magic"]
    with pytest.raises(ChangeRejectedError) as caught:
        await submit_change(SubmitChange(body=body, channel="web"), deps)
    assert [(v.path, "known organisation" in v.message) for v in caught.value.violations] == [
        ("/consent/notify/1", True)
    ]
    assert deps.publisher.published == []


async def test_an_organisation_not_entitled_to_the_event_type_is_refused(deps):
    body = copy.deepcopy(MOVE)
    body["consent"]["notify"] = ["hmpo"]  # the Passport Office does not take moves
    with pytest.raises(ChangeRejectedError) as caught:
        await submit_change(SubmitChange(body=body, channel="web"), deps)
    assert caught.value.violations[0].path == "/consent/notify/0"


async def test_a_council_that_covers_neither_address_is_refused(deps):
    body = copy.deepcopy(MOVE)
    body["consent"]["notify"] = ["council-denbighshire"]
    with pytest.raises(ChangeRejectedError) as caught:
        await submit_change(SubmitChange(body=body, channel="web"), deps)
    assert "covers none" in caught.value.violations[0].message


async def test_a_birth_date_in_the_future_is_refused(deps):
    body = copy.deepcopy(MOVE)
    body["subject"]["date_of_birth"] = "2030-01-01"
    with pytest.raises(ChangeRejectedError) as caught:
        await submit_change(SubmitChange(body=body, channel="web"), deps)
    assert caught.value.violations[0].path == "/subject/date_of_birth"


def test_preview_shows_each_organisation_only_its_fields(deps):
    previews = {p.id: p for p in preview_change(MOVE, deps)}
    assert set(previews) == set(MOVE["consent"]["notify"])
    assert "nino" in previews["hmrc"].receives["subject"]
    assert "nino" not in previews["council-bristol"].receives.get("subject", {})
    assert "driving_licence_number" in previews["dvla"].receives["data"]
    assert "driving_licence_number" not in previews["hmrc"].receives.get("data", {})

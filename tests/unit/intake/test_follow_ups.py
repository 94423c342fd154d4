"""Corrections and withdrawals go to exactly who was told about the original, behind it."""

import copy
import json

from services.core.resources import schemas_dir
from services.intake.handlers import SubmitChange, submit_change


def _example(name: str) -> dict:
    return json.loads((schemas_dir() / name).read_text())


MOVE = _example("address_changed/examples/v1-bristol-to-cardiff.json")
CORRECTION = _example("notification_corrected/examples/v1-correct-moving-date.json")
WITHDRAWAL = _example("notification_withdrawn/examples/v1-withdraw-duplicate-move.json")


def _following(body: dict, reference: str, *, notify: list[str], nino: str | None) -> dict:
    follow_up = copy.deepcopy(body)
    follow_up["data"]["original_reference"] = reference
    follow_up["consent"]["notify"] = notify
    if nino is None:
        follow_up["subject"].pop("nino", None)
    else:
        follow_up["subject"]["nino"] = nino
    return follow_up


async def test_a_correction_goes_to_exactly_the_originals_recipients_under_its_key(deps):
    move = copy.deepcopy(MOVE)
    move["consent"]["notify"] = ["hmrc", "council-cardiff"]
    original = await submit_change(SubmitChange(body=move, channel="web"), deps)
    # The citizen ticks different organisations and leaves out the NINO: neither matters.
    correction = _following(CORRECTION, original.reference, notify=["dvla", "dwp"], nino=None)
    accepted = await submit_change(SubmitChange(body=correction, channel="phone"), deps)
    first, second = deps.publisher.published
    assert accepted.notified == ("hmrc", "council-cardiff")
    assert second.notify == ("hmrc", "council-cardiff")
    assert second.citizen_key == first.citizen_key  # same partition: delivered after it
    assert second.original_type == "address_changed"


async def test_a_withdrawal_follows_a_correction_to_the_same_recipients(deps):
    original = await submit_change(SubmitChange(body=MOVE, channel="web"), deps)
    correction = _following(CORRECTION, original.reference, notify=["hmrc"], nino=None)
    corrected = await submit_change(SubmitChange(body=correction, channel="web"), deps)
    withdrawal = _following(WITHDRAWAL, corrected.reference, notify=["hmrc"], nino=None)
    withdrawn = await submit_change(SubmitChange(body=withdrawal, channel="web"), deps)
    assert withdrawn.notified == tuple(MOVE["consent"]["notify"])
    keys = {event.citizen_key for event in deps.publisher.published}
    assert len(keys) == 1


async def test_a_follow_up_of_an_unknown_reference_goes_where_the_citizen_consented(deps):
    accepted = await submit_change(SubmitChange(body=CORRECTION, channel="web"), deps)
    [event] = deps.publisher.published
    assert accepted.notified == tuple(CORRECTION["consent"]["notify"])
    assert event.original_type is None


async def test_an_idempotent_replay_of_a_correction_reports_the_same_recipients(deps):
    move = copy.deepcopy(MOVE)
    move["consent"]["notify"] = ["dvla"]
    original = await submit_change(SubmitChange(body=move, channel="web"), deps)
    correction = _following(CORRECTION, original.reference, notify=["hmrc"], nino=None)
    command = SubmitChange(body=correction, channel="web", idempotency_key="fix-1")
    first = await submit_change(command, deps)
    again = await submit_change(command, deps)
    assert first.notified == again.notified == ("dvla",)
    assert again.replayed
    assert len(deps.publisher.published) == 2

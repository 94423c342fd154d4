"""The sandbox's fault rules: what they match, how they expire, which rules make no sense."""

from __future__ import annotations

import pytest

from services.sandbox.faults import FaultBook, FaultRule, FaultRuleError, FaultTarget

HMRC = FaultTarget(department="hmrc", event_id="e-1", reference="TUO-1", event_type="x")


def body(reference="TUO-1", nino="QQ123456C"):
    return {
        "event_id": "e-1",
        "reference": reference,
        "type": "address_changed",
        "subject": {"nino": nino},
    }


def test_a_target_is_read_from_the_top_level_fields_and_the_subjects_nino():
    target = FaultTarget.from_body("dwp", body())
    assert target == FaultTarget(
        department="dwp",
        event_id="e-1",
        reference="TUO-1",
        event_type="address_changed",
        citizen="QQ123456C",
    )


def test_a_target_ignores_fields_that_are_missing_or_not_text():
    target = FaultTarget.from_body("dwp", {"reference": 7, "subject": "nobody"})
    assert target == FaultTarget(department="dwp")


def test_a_rule_without_criteria_matches_every_request_to_its_department_only():
    rule = FaultRule(kind="drop", department="hmrc")
    assert rule.matches(HMRC)
    assert not rule.matches(FaultTarget(department="dvla", reference="TUO-1"))


@pytest.mark.parametrize(
    ("criteria", "expected"),
    [
        ({"reference": "TUO-1"}, True),
        ({"reference": "TUO-2"}, False),
        ({"event_id": "e-1", "reference": "TUO-1"}, True),
        ({"event_id": "e-1", "reference": "TUO-2"}, False),
        ({"event_type": "x"}, True),
        ({"citizen": "QQ123456C"}, False),
    ],
)
def test_a_rule_matches_only_when_every_criterion_given_is_equal(criteria, expected):
    assert FaultRule(kind="drop", department="hmrc", **criteria).matches(HMRC) is expected


def test_a_rule_matches_a_citizen_by_the_nino_in_the_subject():
    rule = FaultRule(kind="drop", department="dwp", citizen="QQ123456C")
    assert rule.matches(FaultTarget.from_body("dwp", body()))
    assert not rule.matches(FaultTarget.from_body("dwp", body(nino="QQ654321C")))


def test_a_rule_for_n_times_applies_to_the_next_n_matching_requests_then_expires():
    book = FaultBook()
    book.add(FaultRule(kind="status", status=503, department="hmrc", times=2))
    taken = [book.take(HMRC) for _ in range(3)]
    assert [rule.status if rule else None for rule in taken] == [503, 503, None]
    assert book.rules() == {}


def test_requests_that_do_not_match_do_not_use_up_a_rule():
    book = FaultBook()
    book.add(FaultRule(kind="drop", department="hmrc", reference="TUO-9", times=1))
    assert book.take(HMRC) is None
    assert book.take(FaultTarget(department="hmrc", reference="TUO-9")) is not None
    assert book.take(FaultTarget(department="hmrc", reference="TUO-9")) is None


def test_a_rule_without_times_applies_until_it_is_cleared():
    book = FaultBook()
    book.add(FaultRule(kind="drop", department="hmrc"))
    assert all(book.take(HMRC) for _ in range(50))
    assert book.clear("hmrc") == 1
    assert book.take(HMRC) is None


def test_the_oldest_matching_rule_wins_and_the_next_takes_over_when_it_expires():
    book = FaultBook()
    book.add(FaultRule(kind="status", status=500, department="hmrc", times=1))
    book.add(FaultRule(kind="rate_limited", department="hmrc", times=1))
    taken = [book.take(HMRC) for _ in range(3)]
    assert [(rule.kind, rule.status) if rule else None for rule in taken] == [
        ("status", 500),
        ("rate_limited", None),
        None,
    ]


def test_the_rules_listed_show_how_many_times_are_left():
    book = FaultBook()
    rule_id = book.add(FaultRule(kind="drop", department="hmrc", times=3))
    book.take(HMRC)
    assert book.rules("hmrc")[rule_id].times == 2
    assert book.rules("dvla") == {}


def test_clearing_one_department_leaves_the_others_rules_in_force():
    book = FaultBook()
    book.add(FaultRule(kind="drop", department="hmrc"))
    book.add(FaultRule(kind="drop", department="dvla"))
    assert book.clear("hmrc") == 1
    assert [rule.department for rule in book.rules().values()] == ["dvla"]
    assert book.clear() == 1


def test_timeout_and_slow_have_default_durations_and_429_a_default_retry_after():
    assert FaultRule(kind="timeout", department="hmrc").seconds == 60
    assert FaultRule(kind="slow", department="hmrc").seconds == 1
    assert FaultRule(kind="rate_limited", department="hmrc").retry_after_s == 1


def test_a_rule_shows_only_the_fields_that_are_set():
    rule = FaultRule(kind="status", status=422, reason="unknown NINO", department="hmrc")
    assert rule.to_json() == {
        "kind": "status",
        "status": 422,
        "reason": "unknown NINO",
        "department": "hmrc",
    }


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"kind": "explode"}, "kind"),
        ({"kind": "status"}, "status"),
        ({"kind": "drop", "status": 500}, "status"),
        ({"kind": "status", "status": 700}, "status"),
        ({"kind": "drop", "reason": "no"}, "reason"),
        ({"kind": "slow", "retry_after_s": 3}, "retry_after_s"),
        ({"kind": "rate_limited", "retry_after_s": -1}, "retry_after_s"),
        ({"kind": "drop", "seconds": 3}, "seconds"),
        ({"kind": "slow", "seconds": -1}, "seconds"),
        ({"kind": "timeout", "seconds": 100_000}, "seconds"),
        ({"kind": "drop", "times": 0}, "times"),
    ],
)
def test_a_rule_that_makes_no_sense_is_refused_naming_the_field(fields, field):
    with pytest.raises(FaultRuleError) as caught:
        FaultRule(department="hmrc", **fields)
    assert caught.value.field == field

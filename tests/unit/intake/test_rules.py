"""The date and consent rules, rewritten for speed, answer exactly as the first version did."""

from __future__ import annotations

import copy
from datetime import date
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.core.departments import DepartmentRegistry
from services.core.minimise import collect_local_authorities
from services.core.schema_registry import Violation
from services.intake.domain import check_consent, check_dates
from tests.conftest import all_examples
from tests.fixtures.invalid_bodies import INVALID_CASES

TODAY = date(2026, 11, 1)
_PAST_DATES = frozenset({"date_of_birth", "date_of_death", "registered_on"})


def _first_check_dates(body: dict[str, Any], today: date) -> list[Violation]:
    """check_dates as first written (a path string for every node)."""
    violations: list[Violation] = []
    found: dict[str, tuple[str, str]] = {}

    def walk(node: object, path: str) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                here = f"{path}/{key}"
                if key in _PAST_DATES and isinstance(value, str):
                    found.setdefault(key, (here, value))
                    if value > today.isoformat():
                        violations.append(Violation(path=here, message="must not be in the future"))
                walk(value, here)
        elif isinstance(node, list):
            for index, value in enumerate(node):
                walk(value, f"{path}/{index}")

    walk(body, "")
    born, died = found.get("date_of_birth"), found.get("date_of_death")
    if born and died and died[1] < born[1][: len(died[1])]:
        violations.append(Violation(path=died[0], message="must not be before the date of birth"))
    return violations


def _first_check_consent(body: dict[str, Any], registry: DepartmentRegistry) -> list[Violation]:
    """check_consent as first written (authorities collected up front)."""
    violations = []
    event_type = body["type"]
    authorities = collect_local_authorities(body)
    for index, organisation_id in enumerate(body["consent"]["notify"]):
        path = f"/consent/notify/{index}"
        department = registry.get(organisation_id)
        if department is None:
            message = "is not a known organisation (GET /v1/organisations)"
            violations.append(Violation(path=path, message=message))
        elif event_type not in department.event_types:
            message = f"is not entitled to receive {event_type}"
            violations.append(Violation(path=path, message=message))
        elif not department.covers(authorities):
            message = "is a council that covers none of the addresses in this change"
            violations.append(Violation(path=path, message=message))
    return violations


def _bodies() -> list[dict[str, Any]]:
    bodies = [body for _, body in all_examples()]
    bodies += [case.body for case in INVALID_CASES if isinstance(case.body, dict)]
    nested = {
        "type": "birth_registered",
        "subject": {"date_of_birth": "2099-01-01", "names": [{"date_of_birth": "1990"}]},
        "data": {
            "parents": [
                {"date_of_death": "1980-05", "x": [[{"registered_on": "2100-12-31"}]]},
                "a string",
                {"date_of_birth": {"not": "a string"}, "date_of_death": 7},
            ],
            "registered_on": "2026-11-01",
            "date_of_death": "1989",
        },
        "consent": {"notify": []},
    }
    bodies.append(nested)
    for died in ("1949", "1950-03", "1950-04-01", "1951", "2099"):
        death = copy.deepcopy(dict(all_examples())["death_notified/v1-death-in-bristol.json"])
        death["subject"]["date_of_birth"] = "1950-04"
        death["data"]["date_of_death"] = died
        bodies.append(death)
    return bodies


@pytest.mark.parametrize("body", _bodies())
def test_check_dates_answers_as_its_first_version(body):
    assert check_dates(body, TODAY) == _first_check_dates(body, TODAY)


_KEYS = st.sampled_from(["date_of_birth", "date_of_death", "registered_on", "names", "x", "a/b"])
_DATES = st.sampled_from(["1950", "1950-04", "1950-04-01", "2026-11-01", "2099-01-01", ""])
_JSON = st.recursive(
    st.one_of(_DATES, st.integers(), st.none(), st.booleans()),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(_KEYS, children, max_size=4),
    max_leaves=30,
)


@given(st.dictionaries(_KEYS, _JSON, max_size=5))
def test_check_dates_answers_as_its_first_version_on_any_document(body):
    assert check_dates(body, TODAY) == _first_check_dates(body, TODAY)


def test_the_comparison_covers_violations_of_every_kind():
    messages = {v.message for body in _bodies() for v in check_dates(body, TODAY)}
    assert messages == {"must not be in the future", "must not be before the date of birth"}


@pytest.mark.parametrize(
    "notify",
    [
        ["hmrc", "dvla"],
        ["mi5"],
        ["hmpo"],
        ["council-cardiff", "council-bristol", "council-denbighshire"],
        ["council-denbighshire", "mi5", "hmrc", "council-denbighshire"],
        [],
    ],
)
@pytest.mark.parametrize("name", [name for name, _ in all_examples()])
def test_check_consent_answers_as_its_first_version(deps, name, notify):
    body = copy.deepcopy(dict(all_examples())[name])
    body["consent"]["notify"] = notify
    registry = deps.departments
    assert check_consent(body, registry) == _first_check_consent(body, registry)

"""Intake's rules beyond the schema: consent against the catalogue, plausible dates."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import date
from typing import Any

import orjson

from services.core.departments import DepartmentRegistry
from services.core.errors import PermanentError, RetryableError
from services.core.minimise import collect_local_authorities, minimise
from services.core.schema_registry import Violation

__all__ = [
    "BrokerUnavailableError",
    "ChangeRejectedError",
    "IdempotencyConflictError",
    "OrganisationPreview",
    "check_consent",
    "check_dates",
    "fingerprint",
    "preview",
]

# Dates that cannot lie in the future, wherever they appear in a change.
_PAST_DATES = frozenset({"date_of_birth", "date_of_death", "registered_on"})


class ChangeRejectedError(PermanentError):
    """The change breaks its schema, the consent rules or a date rule (HTTP 422)."""

    def __init__(self, violations: list[Violation]) -> None:
        super().__init__(f"{len(violations)} violation(s)")
        self.violations = violations


class IdempotencyConflictError(PermanentError):
    """The Idempotency-Key was already used with a different body (HTTP 409)."""


class BrokerUnavailableError(RetryableError):
    """The broker did not acknowledge the event in time; nothing was accepted (HTTP 503)."""


@dataclass(frozen=True, kw_only=True)
class OrganisationPreview:
    """What one organisation would receive: its allowed fields of this change."""

    id: str
    name: str
    fields: tuple[str, ...]
    receives: dict[str, Any]


def fingerprint(body: dict[str, Any]) -> str:
    """A digest of the body's meaning (key order and whitespace do not matter)."""
    return hashlib.sha256(orjson.dumps(body, option=orjson.OPT_SORT_KEYS)).hexdigest()


def check_consent(body: dict[str, Any], registry: DepartmentRegistry) -> list[Violation]:
    """Every consented organisation must exist and be entitled to this change."""
    violations = []
    event_type = body["type"]
    authorities: set[str] | None = None  # collected once, and only if a council is named
    for index, organisation_id in enumerate(body["consent"]["notify"]):
        department = registry.get(organisation_id)
        if department is None:
            message = "is not a known organisation (GET /v1/organisations)"
        elif event_type not in department.event_types:
            message = f"is not entitled to receive {event_type}"
        elif department.local_authority is None:  # not routed by area: covers any change
            continue
        else:
            if authorities is None:
                authorities = collect_local_authorities(body)
            if department.covers(authorities):
                continue
            message = "is a council that covers none of the addresses in this change"
        violations.append(Violation(path=f"/consent/notify/{index}", message=message))
    return violations


def check_dates(body: dict[str, Any], today: date) -> list[Violation]:
    """Birth, death and registration dates must not lie in the future; death after birth."""
    violations: list[Violation] = []
    found: dict[str, tuple[str, str]] = {}
    latest = today.isoformat()
    for key, here, value in _past_dates(body):
        found.setdefault(key, (here, value))
        if value > latest:
            violations.append(Violation(path=here, message="must not be in the future"))
    born, died = found.get("date_of_birth"), found.get("date_of_death")
    # ISO dates (and partial ones such as "1950" or "1950-04") compare correctly as text.
    if born and died and died[1] < born[1][: len(died[1])]:
        violations.append(Violation(path=died[0], message="must not be before the date of birth"))
    return violations


def _past_dates(body: dict[str, Any]) -> list[tuple[str, str, str]]:
    """Every (key, JSON Pointer, value) of a birth, death or registration date, in order.

    ``body`` is parsed JSON: its containers are exactly ``dict`` and ``list`` (compared by
    type, not ``isinstance``; with a pointer built per container, not per key, half the
    time of the first version, whose answers a test compares).
    """
    found: list[tuple[str, str, str]] = []
    _walk_object(body, "", found)
    return found


def _walk_object(node: dict[str, Any], at: str, found: list[tuple[str, str, str]]) -> None:
    for key, value in node.items():
        kind = type(value)
        if kind is str:
            if key in _PAST_DATES:
                found.append((key, f"{at}/{key}", value))
        elif kind is dict:
            _walk_object(value, f"{at}/{key}", found)
        elif kind is list:
            _walk_array(value, f"{at}/{key}", found)


def _walk_array(node: list[Any], at: str, found: list[tuple[str, str, str]]) -> None:
    for index, value in enumerate(node):
        kind = type(value)
        if kind is dict:
            _walk_object(value, f"{at}/{index}", found)
        elif kind is list:
            _walk_array(value, f"{at}/{index}", found)


def preview(body: dict[str, Any], registry: DepartmentRegistry) -> list[OrganisationPreview]:
    """What each consented organisation would receive (call after validation)."""
    result = []
    for organisation_id in body["consent"]["notify"]:
        department = registry.get(organisation_id)
        if department is None:
            continue
        fields = department.fields.get(body["type"], ())
        result.append(
            OrganisationPreview(
                id=department.id,
                name=department.name,
                fields=fields,
                receives=minimise(body, fields),
            )
        )
    return result

"""Intake use cases: submit a change once, preview what each organisation would get."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from services.core.citizen_key import citizen_key
from services.core.departments import DepartmentRegistry
from services.core.envelope import ChangeEvent
from services.core.follow_ups import FOLLOW_UP_TYPES
from services.core.ports import Clock
from services.core.references import new_reference, normalise_reference
from services.core.schema_registry import SchemaRegistry
from services.intake.domain import (
    ChangeRejectedError,
    IdempotencyConflictError,
    OrganisationPreview,
    check_consent,
    check_dates,
    fingerprint,
    preview,
)
from services.intake.ports import (
    ChangeLedger,
    EventPublisher,
    IdempotencyRecord,
    IdempotencyStore,
    LedgerEntry,
)

__all__ = ["Accepted", "IntakeDeps", "SubmitChange", "preview_change", "submit_change"]


@dataclass(frozen=True, kw_only=True)
class SubmitChange:
    """Command: a channel submits a change body, optionally with an Idempotency-Key."""

    body: object
    channel: str
    idempotency_key: str | None = None


@dataclass(frozen=True, kw_only=True)
class Accepted:
    """The change is durably on Kafka; ``replayed`` if an earlier request already did it."""

    reference: str
    event_id: str
    notified: tuple[str, ...]
    replayed: bool = False


@dataclass(frozen=True, kw_only=True)
class IntakeDeps:
    """The ports and reference data the handlers use."""

    schemas: SchemaRegistry
    departments: DepartmentRegistry
    publisher: EventPublisher
    idempotency: IdempotencyStore
    ledger: ChangeLedger
    clock: Clock
    citizen_key_secret: bytes


def _validated(body: object, deps: IntakeDeps) -> dict[str, Any]:
    violations = deps.schemas.validate(body)
    if not violations:
        assert isinstance(body, dict)  # noqa: S101 - the schema requires an object
        violations = check_consent(body, deps.departments)
        violations += check_dates(body, deps.clock.now().date())
    if violations:
        raise ChangeRejectedError(violations)
    return body  # type: ignore[return-value]  # validated as an object above


@dataclass(frozen=True, kw_only=True)
class _Routing:
    """Who is told, under which citizen key, and (follow-ups) the original's type."""

    citizen_key: str
    notify: tuple[str, ...]
    original_type: str | None = None


async def _routing(body: dict[str, Any], deps: IntakeDeps) -> _Routing:
    """Who is told: the consented organisations, except for follow-ups of our changes.

    A correction or withdrawal of a change we accepted goes to exactly the organisations
    told about it (that take this type), under its citizen key so that the follow-up
    stays behind it in order. A follow-up of a reference we never issued (a change made
    before this service, or elsewhere) goes where the citizen consented.
    """
    consented = _Routing(
        citizen_key=citizen_key(body["subject"], deps.citizen_key_secret),
        notify=tuple(body["consent"]["notify"]),
    )
    if body["type"] not in FOLLOW_UP_TYPES:
        return consented
    reference = normalise_reference(str(body["data"].get("original_reference", "")))
    original = await deps.ledger.find(reference) if reference else None
    if original is None:
        return consented
    entitled = []
    for organisation in original.notified:
        department = deps.departments.get(organisation)
        if department is not None and body["type"] in department.event_types:
            entitled.append(organisation)
    return _Routing(
        citizen_key=original.citizen_key, notify=tuple(entitled), original_type=original.type
    )


async def submit_change(command: SubmitChange, deps: IntakeDeps) -> Accepted:
    """Validate, then publish once; the same Idempotency-Key never publishes a new event.

    Raises:
        ChangeRejectedError: schema, consent or date violations (nothing published).
        IdempotencyConflictError: the key was used before with a different body.
        BrokerUnavailableError: the broker did not acknowledge in time (not accepted).
    """
    body = _validated(command.body, deps)
    routing = await _routing(body, deps)
    now = deps.clock.now()
    candidate = IdempotencyRecord(
        channel=command.channel,
        key=command.idempotency_key or "",
        # Compared only between the retries of one Idempotency-Key; kept with the key.
        fingerprint=fingerprint(body) if command.idempotency_key else "",
        reference=new_reference(),
        event_id=str(uuid.uuid4()),
        received_at=now,
        state="pending",
    )
    record, replayed = candidate, False
    if command.idempotency_key:
        record, created = await deps.idempotency.claim(candidate)
        if record.fingerprint != candidate.fingerprint:
            raise IdempotencyConflictError("Idempotency-Key was used with a different body")
        replayed = not created
        if record.state == "published":
            return _accepted(record, routing, replayed=True)
    # A pending record found here belongs to a request that crashed or is still waiting
    # for the broker: publishing again with the *same* event id is safe, because every
    # consumer dedupes on it; refusing would strand the citizen's change.
    event = ChangeEvent(
        event_id=record.event_id,
        reference=record.reference,
        type=body["type"],
        schema_version=body["schema_version"],
        received_at=record.received_at,
        channel=command.channel,
        citizen_key=routing.citizen_key,
        subject=body["subject"],
        data=body["data"],
        notify=routing.notify,
        original_type=routing.original_type,
    )
    # Recorded before publishing: a follow-up can only name a reference the citizen was
    # given, so an entry whose publish then fails is never looked up.
    await deps.ledger.record(
        LedgerEntry(
            reference=event.reference,
            event_id=event.event_id,
            type=event.type,
            citizen_key=event.citizen_key,
            notified=event.notify,
            received_at=event.received_at,
        )
    )
    await deps.publisher.publish(event)
    if command.idempotency_key:
        await deps.idempotency.mark_published(command.channel, command.idempotency_key)
    return _accepted(record, routing, replayed=replayed)


def _accepted(record: IdempotencyRecord, routing: _Routing, *, replayed: bool) -> Accepted:
    return Accepted(
        reference=record.reference,
        event_id=record.event_id,
        notified=routing.notify,
        replayed=replayed,
    )


def preview_change(body: object, deps: IntakeDeps) -> list[OrganisationPreview]:
    """What each consented organisation would receive; raises ChangeRejectedError."""
    return preview(_validated(body, deps), deps.departments)

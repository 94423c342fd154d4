"""Intake's Prometheus counters, in the process's default registry.

Label values come from fixed sets: an outcome name, and an event type only when it is one
of the schema registry's types ("unknown" otherwise), never text a channel sent.
"""

from __future__ import annotations

from prometheus_client import Counter

from services.core.schema_registry import SchemaRegistry

__all__ = ["CHANGES", "UNKNOWN_TYPE", "count_change", "outcome_for_status"]

#: Submissions to ``POST /v1/changes`` by outcome and event type (registered at import, once
#: per process, as Prometheus registries require).
CHANGES = Counter(
    "tuo_intake_changes",
    "Changes submitted to POST /v1/changes, by outcome and event type.",
    ["outcome", "type"],
)
#: The ``type`` label of a submission whose type is missing or not a known event type.
UNKNOWN_TYPE = "unknown"

_OUTCOMES = {
    400: "malformed",
    401: "unauthorised",
    409: "conflict",
    413: "too_large",
    415: "unsupported_media_type",
    422: "invalid",
    503: "unavailable",
}
# Bound children by (outcome, type): a dict lookup instead of ``labels()`` (and its lock) on
# the hot path. Bounded: outcomes times known types.
_children: dict[tuple[str, str], Counter] = {}


def outcome_for_status(status: int) -> str:
    """The ``outcome`` label of a refusal with this HTTP status ("error" if unexpected)."""
    return _OUTCOMES.get(status, "error")


def count_change(outcome: str, body: object, schemas: SchemaRegistry) -> None:
    """Count one submission; ``body`` is the parsed request (None if it never parsed)."""
    event_type = body.get("type") if isinstance(body, dict) else None
    if not isinstance(event_type, str) or not schemas.versions(event_type):
        event_type = UNKNOWN_TYPE
    key = (outcome, event_type)
    child = _children.get(key)
    if child is None:
        child = _children[key] = CHANGES.labels(outcome=outcome, type=event_type)
    child.inc()

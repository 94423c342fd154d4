"""The AsyncAPI messages: what each Kafka record carries, header by header and field by field.

The payload fields mirror the code that writes them (``ChangeEvent.document``,
``services.delivery.adapters.kafka_status``, the tracker's operator commands); the tests
compare both, so a field added there and not here fails them.
"""

from __future__ import annotations

from typing import Any

from services.core.topics import DELIVERY_STATUS_TYPE, DEPARTMENT_STATE_TYPE
from services.delivery.domain import DeliveryState
from services.delivery.ports import CircuitState

__all__ = ["CONTROL_ACTIONS", "KAFKA_BINDING_VERSION", "messages", "schemas"]

KAFKA_BINDING_VERSION = "0.5.0"
#: The commands ``tuo.delivery.control.v1`` carries (tracker ops API → adapters).
CONTROL_ACTIONS = ("pause", "resume", "redeliver", "redeliver_failed")

_STRING = {"type": "string"}
_TIME = {"type": "string", "format": "date-time", "description": "UTC, ISO 8601, ending Z."}
_NULLABLE_TIME = {"type": ["string", "null"], "format": "date-time"}


def _header(description: str, **extra: object) -> dict[str, Any]:
    return {"type": "string", "description": description, **extra}


def _change_payload(versions: dict[str, list[int]]) -> dict[str, Any]:
    """The change document, with ``subject`` and ``data`` as each schema version defines them."""
    variants = [
        {
            "title": f"{event_type} version {version}",
            "properties": {
                "type": {"const": event_type},
                "schema_version": {"const": version},
                "subject": {"$ref": f"{_schema_file(event_type, version)}#/properties/subject"},
                "data": {"$ref": f"{_schema_file(event_type, version)}#/properties/data"},
            },
        }
        for event_type, numbers in sorted(versions.items())
        for version in numbers
    ]
    return {
        "type": "object",
        "required": [
            "reference",
            "type",
            "schema_version",
            "received_at",
            "subject",
            "data",
            "notify",
            "original_type",
        ],
        "properties": {
            "reference": {**_STRING, "description": "The citizen's reference (XXXX-XXXX-XXXX)."},
            "type": {"type": "string", "enum": sorted(versions)},
            "schema_version": {"type": "integer", "minimum": 1},
            "received_at": _TIME,
            "subject": {"type": "object", "description": "The person the change is about."},
            "data": {"type": "object", "description": "The facts of the change."},
            "notify": {
                "type": "array",
                "items": _STRING,
                "description": "Consenting organisations entitled to this type (department ids).",
            },
            "original_type": {
                "type": ["string", "null"],
                "description": "For a correction or withdrawal: the original's event type.",
            },
        },
        "oneOf": variants,
    }


def _schema_file(event_type: str, version: int) -> str:
    # Relative to docs/api/: the JSON Schemas in schemas/ are the source of truth.
    return f"../../schemas/{event_type}/v{version}.json"


def _status_payload() -> dict[str, Any]:
    attempt = {
        "type": "object",
        "required": ["at", "status_code", "latency_ms", "error"],
        "properties": {
            "at": _TIME,
            "status_code": {"type": ["integer", "null"], "description": "Null: no answer."},
            "latency_ms": {"type": "number"},
            "error": {"type": ["string", "null"], "description": "Kind of error, no data."},
        },
    }
    fields: dict[str, Any] = {
        "delivery_id": {**_STRING, "description": "The webhook-id: the same on every attempt."},
        "event_id": {**_STRING, "description": "The change's CloudEvents id."},
        "reference": {**_STRING, "description": "The citizen's reference."},
        "department": {**_STRING, "description": "Department id."},
        "event_type": _STRING,
        "status": {"type": "string", "enum": [state.value for state in DeliveryState]},
        "version": {
            "type": "integer",
            "description": "Bumped on every state change; readers keep the highest.",
        },
        "reason": {"type": ["string", "null"], "description": "Why it was rejected or failed."},
        "next_attempt_at": _NULLABLE_TIME,
        "created_at": _TIME,
        "attempts": {"type": "array", "items": attempt},
    }
    return {"type": "object", "required": list(fields), "properties": fields}


def _department_state_payload() -> dict[str, Any]:
    fields: dict[str, Any] = {
        "department": {**_STRING, "description": "Department id."},
        "paused": {"type": "boolean"},
        "circuit": {"type": "string", "enum": [state.value for state in CircuitState]},
        "opened_at": _NULLABLE_TIME,
        "at": {**_TIME, "description": "When the adapter reported (changes and heartbeats)."},
    }
    return {"type": "object", "required": list(fields), "properties": fields}


def _control_payload() -> dict[str, Any]:
    return {
        "type": "object",
        "required": ["action", "department"],
        "properties": {
            "action": {"type": "string", "enum": list(CONTROL_ACTIONS)},
            "department": {**_STRING, "description": "The department the command is for."},
            "delivery_id": {**_STRING, "description": "Only with action redeliver."},
        },
    }


def _adapter_headers(ce_type: str, *, with_subject: bool) -> dict[str, Any]:
    properties = {
        "ce_specversion": _header("CloudEvents version.", const="1.0"),
        "ce_id": _header("Unique per record."),
        "ce_source": _header("/tellusonce/adapters/<department id>"),
        "ce_type": _header("What the value is.", const=ce_type),
        "content-type": _header("Media type of the value.", const="application/json"),
    }
    if with_subject:
        properties["ce_subject"] = _header("The citizen's reference.")
    return {"type": "object", "required": sorted(properties), "properties": properties}


def schemas(versions: dict[str, list[int]]) -> dict[str, Any]:
    """``components.schemas``: every payload and header schema, by name."""
    change_headers = {
        "ce_specversion": _header("CloudEvents version.", const="1.0"),
        "ce_id": _header("The event id: unique per accepted change; consumers dedupe on it."),
        "ce_source": _header("/tellusonce/intake/channels/<channel name>"),
        "ce_type": _header("<event type>.v<schema version>, e.g. address_changed.v1"),
        "ce_time": _header("When intake accepted the change.", format="date-time"),
        "ce_subject": _header("The citizen's reference."),
        "ce_dataschema": _header("/v1/schemas/<event type>/<schema version>"),
        "ce_partitionkey": _header("The pseudonymous citizen key (also the record key)."),
        "content-type": _header("CloudEvents datacontenttype.", const="application/json"),
    }
    return {
        "ChangeHeaders": {
            "type": "object",
            "required": sorted(change_headers),
            "properties": change_headers,
        },
        "ChangeDocument": _change_payload(versions),
        "DeliveryStatusHeaders": _adapter_headers(DELIVERY_STATUS_TYPE, with_subject=True),
        "DeliveryStatus": _status_payload(),
        "DepartmentStateHeaders": _adapter_headers(DEPARTMENT_STATE_TYPE, with_subject=False),
        "DepartmentState": _department_state_payload(),
        "ControlCommand": _control_payload(),
    }


def _message(name: str, title: str, summary: str, key: str, **parts: object) -> dict[str, Any]:
    return {
        "name": name,
        "title": title,
        "summary": summary,
        "contentType": "application/json",
        **parts,
        "bindings": {
            "kafka": {
                "key": {"type": "string", "description": key},
                "bindingVersion": KAFKA_BINDING_VERSION,
            }
        },
    }


def messages() -> dict[str, Any]:
    """``components.messages``: one per kind of record."""

    def ref(name: str) -> dict[str, str]:
        return {"$ref": f"#/components/schemas/{name}"}

    return {
        "change": _message(
            "change",
            "Change of circumstance",
            "An accepted change as a CloudEvents 1.0 event in binary content mode: "
            "attributes in ce_ headers, the change document as the value.",
            "The pseudonymous citizen key: one citizen's changes stay in one partition.",
            headers=ref("ChangeHeaders"),
            payload=ref("ChangeDocument"),
        ),
        "deliveryStatus": _message(
            "deliveryStatus",
            "Delivery status",
            f"A delivery's state and attempt log (ce_type {DELIVERY_STATUS_TYPE}, assumed "
            "when absent); metadata only, never the personal data.",
            "The delivery id.",
            headers=ref("DeliveryStatusHeaders"),
            payload=ref("DeliveryStatus"),
        ),
        "departmentState": _message(
            "departmentState",
            "Department state",
            f"A department's pause and circuit state (ce_type {DEPARTMENT_STATE_TYPE}), on "
            "every change and as a heartbeat.",
            "The department id.",
            headers=ref("DepartmentStateHeaders"),
            payload=ref("DepartmentState"),
        ),
        "deadLetter": _message(
            "deadLetter",
            "Dead letter",
            "A delivery that failed for good: the same record as its failed status; the "
            "body stays in the adapter's store, where a redelivery finds it.",
            "The delivery id.",
            headers=ref("DeliveryStatusHeaders"),
            payload=ref("DeliveryStatus"),
        ),
        "controlCommand": _message(
            "controlCommand",
            "Operator command",
            "Pause, resume, redeliver one delivery or redeliver a department's dead letters. "
            "Applying a command twice does no harm.",
            "The department id.",
            payload=ref("ControlCommand"),
        ),
    }

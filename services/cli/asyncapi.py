"""The AsyncAPI 3.0 document of the Kafka side: topics, records, and who sends and reads them.

Built by hand from the code (topic names from ``services.core.topics``, consumer groups from
the consumers): the producers and consumers use aiokafka directly, so there are no FastStream
subscribers for a generator to describe.
"""

from __future__ import annotations

from typing import Any

from services.cli.asyncapi_messages import KAFKA_BINDING_VERSION, messages, schemas
from services.core.topics import CHANGES, DELIVERY_CONTROL, DELIVERY_STATUS, dead_letter_topic
from services.delivery.entrypoints.changes_consumer import group_id as adapter_group
from services.tracker.entrypoints.consumer import GROUP_ID as TRACKER_GROUP

__all__ = ["build_asyncapi"]

_SEND = "send"
_RECEIVE = "receive"


def _channel(address: str, description: str, names: list[str], **binding: object) -> dict[str, Any]:
    return {
        "address": address,
        "description": description,
        "messages": {name: {"$ref": f"#/components/messages/{name}"} for name in names},
        "bindings": {
            "kafka": {"topic": address, **binding, "bindingVersion": KAFKA_BINDING_VERSION}
        },
    }


def _operation(
    action: str, channel: str, summary: str, names: list[str], groups: list[str] | None = None
) -> dict[str, Any]:
    operation: dict[str, Any] = {
        "action": action,
        "channel": {"$ref": f"#/channels/{channel}"},
        "summary": summary,
        "messages": [{"$ref": f"#/channels/{channel}/messages/{name}"} for name in names],
    }
    if groups:
        operation["bindings"] = {
            "kafka": {
                "groupId": {"type": "string", "enum": groups},
                "bindingVersion": KAFKA_BINDING_VERSION,
            }
        }
    return operation


def _channels(department_ids: list[str]) -> dict[str, Any]:
    channels = {
        "changes": _channel(
            CHANGES,
            "Every accepted change, in CloudEvents binary content mode, keyed by the "
            "pseudonymous citizen key so that one citizen's changes stay in order.",
            ["change"],
        ),
        "deliveryStatus": _channel(
            DELIVERY_STATUS,
            "Every delivery state change and every department's pause and circuit state, "
            "told apart by the ce_type header.",
            ["deliveryStatus", "departmentState"],
        ),
        "deliveryControl": _channel(
            DELIVERY_CONTROL,
            "Operator commands to the department adapters, in order (one partition).",
            ["controlCommand"],
            partitions=1,
        ),
    }
    for department in sorted(department_ids):
        channels[f"deadLetters-{department}"] = _channel(
            dead_letter_topic(department),
            f"Deliveries to {department} that failed for good (kept for redelivery).",
            ["deadLetter"],
        )
    return channels


def _operations(department_ids: list[str]) -> dict[str, Any]:
    departments = sorted(department_ids)
    # A process serving one department, or (the default) all of them, reads the topic once.
    adapters = [adapter_group([department]) for department in departments]
    adapters.append(adapter_group(departments))
    operations = {
        "intakePublishesChange": _operation(
            _SEND,
            "changes",
            "Intake publishes each accepted change (acks=all) before answering 202.",
            ["change"],
        ),
        "adaptersReceiveChange": _operation(
            _RECEIVE,
            "changes",
            "Each adapters process reads every change once, in the consumer group of the "
            "departments it serves (one, or all of them), and keeps for each department "
            "what it subscribed to and may see.",
            ["change"],
            adapters,
        ),
        "trackerReceivesChange": _operation(
            _RECEIVE, "changes", "The tracker records every change.", ["change"], [TRACKER_GROUP]
        ),
        "adaptersPublishStatus": _operation(
            _SEND,
            "deliveryStatus",
            "The adapters publish every delivery state change and their department's state.",
            ["deliveryStatus", "departmentState"],
        ),
        "trackerReceivesStatus": _operation(
            _RECEIVE,
            "deliveryStatus",
            "The tracker keeps the latest version of each delivery and department state.",
            ["deliveryStatus", "departmentState"],
            [TRACKER_GROUP],
        ),
        "operatorApiPublishesCommand": _operation(
            _SEND,
            "deliveryControl",
            "The operator API (/ops/…) publishes pause, resume and redelivery commands.",
            ["controlCommand"],
        ),
        "adaptersReceiveCommand": _operation(
            _RECEIVE,
            "deliveryControl",
            "Each department's adapter applies the commands for its department.",
            ["controlCommand"],
            [f"{group}.control" for group in adapters[:-1]],
        ),
    }
    for department in sorted(department_ids):
        operations[f"adapterPublishesDeadLetter-{department}"] = _operation(
            _SEND,
            f"deadLetters-{department}",
            f"The {department} adapter publishes each delivery whose retries ran out.",
            ["deadLetter"],
        )
    return operations


def build_asyncapi(department_ids: list[str], versions: dict[str, list[int]]) -> dict[str, Any]:
    """The AsyncAPI 3.0 document for these departments and schema versions (by event type)."""
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "Tell Us Once — Kafka",
            "version": "1.0.0",
            "description": (
                "The change-of-circumstance event bus on Kafka: accepted changes, delivery "
                "status, operator commands and per-department dead letters. Generated by "
                "`tellusonce docs generate`."
            ),
        },
        "defaultContentType": "application/json",
        "servers": {
            "embedded": {
                "host": "127.0.0.1:9092",
                "protocol": "kafka",
                "description": "The embedded broker of `tellusonce up` (--broker-port).",
            }
        },
        "channels": _channels(department_ids),
        "operations": _operations(department_ids),
        "components": {"messages": messages(), "schemas": schemas(versions)},
    }

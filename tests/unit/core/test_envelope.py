from datetime import UTC, datetime

import orjson

from services.core.envelope import ChangeEvent
from tests.support.changes import sample_change as _event


def test_a_change_becomes_a_binary_mode_cloudevent_keyed_by_citizen():
    record = _event().to_kafka()
    headers = {k: v.decode() for k, v in record.headers}
    assert record.key == b"ab" * 16
    assert headers["ce_specversion"] == "1.0"
    assert headers["ce_id"] == "3f1c8a9e-0000-4000-8000-000000000001"
    assert headers["ce_type"] == "address_changed.v1"
    assert headers["ce_source"] == "/tellusonce/intake/channels/web"
    assert headers["ce_subject"] == "C6F5-EB23-25D4"
    assert headers["ce_time"] == "2026-11-01T09:30:00Z"
    assert headers["content-type"] == "application/json"
    assert orjson.loads(record.value)["subject"] == {"nino": "JT483920B"}


def test_a_record_reads_back_as_the_same_change():
    event = _event()
    assert ChangeEvent.from_kafka(event.to_kafka()) == event


def test_a_record_without_cloudevents_headers_is_refused_with_a_value_error():
    import pytest  # noqa: PLC0415

    from services.core.envelope import KafkaRecord  # noqa: PLC0415

    with pytest.raises(ValueError, match=r"not a CloudEvent|not a change event"):
        ChangeEvent.from_kafka(KafkaRecord(key=b"k", value=b"{}", headers=[]))


def _with_the_library(event: ChangeEvent) -> tuple[bytes, bytes, list[tuple[str, bytes]]]:
    """The record as the ``cloudevents`` library writes it (to_kafka's former code)."""
    from cloudevents.core.bindings import kafka as ce_kafka  # noqa: PLC0415
    from cloudevents.core.v1.event import CloudEvent  # noqa: PLC0415

    attributes = {
        "id": event.event_id,
        "source": "/tellusonce/intake/channels/" + event.channel,
        "type": f"{event.type}.v{event.schema_version}",
        "time": event.received_at,
        "subject": event.reference,
        "datacontenttype": "application/json",
        "dataschema": f"/v1/schemas/{event.type}/{event.schema_version}",
        "partitionkey": event.citizen_key,
    }
    message = ce_kafka.to_binary_event(CloudEvent(attributes, orjson.dumps(event.document())))
    key = message.key.encode() if isinstance(message.key, str) else message.key
    return key, message.value, list(message.headers.items())


def test_the_headers_are_byte_for_byte_those_of_the_cloudevents_library():
    from datetime import timedelta, timezone  # noqa: PLC0415

    import pytest  # noqa: PLC0415

    base = _event()
    variants = [
        base,
        base.model_copy(update={"received_at": datetime(2026, 11, 1, 9, 30, 1, 123456, UTC)}),
        base.model_copy(
            update={"received_at": datetime(2026, 6, 1, 9, 30, tzinfo=timezone(timedelta(hours=1)))}
        ),
        base.model_copy(
            update={
                "type": "notification_corrected",
                "schema_version": 2,
                "original_type": "death_notified",
                "notify": ("hmrc", "dvla"),
                "channel": "phone-line",
                "citizen_key": "0" * 32,
                "data": {"original_reference": "C6F5-EB23-25D4", "note": "Zoë ✓"},
            }
        ),
    ]
    for event in variants:
        record = event.to_kafka()
        assert (record.key, record.value, record.headers) == _with_the_library(event)
        assert ChangeEvent.from_kafka(record) == event
    naive = base.model_copy(update={"received_at": datetime(2026, 11, 1, 9, 30)})  # noqa: DTZ001
    with pytest.raises(ValueError, match="aware time"):
        naive.to_kafka()

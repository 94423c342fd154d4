from datetime import UTC, datetime

import orjson

from services.core.envelope import ChangeEvent


def _event() -> ChangeEvent:
    return ChangeEvent(
        event_id="3f1c8a9e-0000-4000-8000-000000000001",
        reference="C6F5-EB23-25D4",
        type="address_changed",
        schema_version=1,
        received_at=datetime(2026, 11, 1, 9, 30, tzinfo=UTC),
        channel="web",
        citizen_key="ab" * 16,
        subject={"nino": "JT483920B"},
        data={"moved_on": "2024-03-01"},
        notify=("hmrc",),
    )


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

"""``ChangeEvent.from_kafka`` reads exactly what ``to_kafka`` writes and refuses the rest."""

from datetime import datetime, timedelta, timezone

import pytest

from services.core.envelope import ChangeEvent, KafkaRecord
from tests.support.changes import sample_change

_BASE = sample_change(
    data={"moved_on": "2024-03-01", "new_address": {"line1": "1 Rd", "postcode": "BS1 1AA"}},
    notify=("hmrc", "dvla"),
)

_EXAMPLES = {
    "with notify": _BASE,
    "nobody to notify": _BASE.model_copy(update={"notify": ()}),
    "a correction with its original type": _BASE.model_copy(
        update={
            "event_id": "3f1c8a9e-0000-4000-8000-000000000002",
            "type": "notification_corrected",
            "schema_version": 2,
            "original_type": "death_notified",
            "notify": ("hmrc", "dwp", "council-bristol"),
            "data": {"original_reference": "C6F5-EB23-25D4", "note": "Zoë ✓"},
        }
    ),
    "another channel, microseconds, another offset": _BASE.model_copy(
        update={
            "channel": "phone-line",
            "citizen_key": "0" * 32,
            "received_at": datetime(2026, 6, 1, 9, 30, 1, 123456, timezone(timedelta(hours=1))),
        }
    ),
    "a third channel": _BASE.model_copy(update={"channel": "post", "subject": {}}),
}


@pytest.mark.parametrize("event", _EXAMPLES.values(), ids=_EXAMPLES.keys())
def test_a_record_written_by_to_kafka_reads_back_as_the_same_event(event):
    from cloudevents.core.bindings import kafka as ce_kafka  # noqa: PLC0415

    record = event.to_kafka()

    read = ChangeEvent.from_kafka(record)

    assert read == ChangeEvent.from_record(record.key, record.value, record.headers)
    assert read.model_dump() == event.model_dump()  # the same instant, all fields kept
    assert read.channel == event.channel
    assert read.notify == event.notify
    assert read.original_type == event.original_type
    # The attributes the ``cloudevents`` library reads from the same record agree.
    message = ce_kafka.KafkaMessage(
        headers=dict(record.headers), key=record.key, value=record.value
    )
    attributes = ce_kafka.from_binary_event(message).get_attributes()
    assert attributes["id"] == read.event_id
    assert attributes["source"] == f"/tellusonce/intake/channels/{read.channel}"


def _without(record: KafkaRecord, name: str) -> KafkaRecord:
    headers = [(k, v) for k, v in record.headers if k != name]
    assert len(headers) == len(record.headers) - 1
    return KafkaRecord(key=record.key, value=record.value, headers=headers)


def _replacing(record: KafkaRecord, name: str, value: bytes) -> KafkaRecord:
    headers = [(k, value if k == name else v) for k, v in record.headers]
    return KafkaRecord(key=record.key, value=record.value, headers=headers)


_RECORD = _BASE.to_kafka()
_NOT_A_CLOUDEVENT = {
    "no specversion": _without(_RECORD, "ce_specversion"),
    "specversion 0.3": _replacing(_RECORD, "ce_specversion", b"0.3"),
    "no id": _without(_RECORD, "ce_id"),
    "an empty id": _replacing(_RECORD, "ce_id", b""),
    "no source": _without(_RECORD, "ce_source"),
    "no type": _without(_RECORD, "ce_type"),
    "no headers at all": KafkaRecord(key=_RECORD.key, value=_RECORD.value, headers=[]),
}
_FOREIGN_SOURCES = {
    "another producer": _replacing(_RECORD, "ce_source", b"/tellusonce/adapters/hmrc"),
    "a look-alike prefix": _replacing(_RECORD, "ce_source", b"/tellusonce/intake/channel/web"),
    "the channel without the prefix": _replacing(_RECORD, "ce_source", b"web"),
}
_MALFORMED = {
    "not JSON": KafkaRecord(key=_RECORD.key, value=b'{"reference": ', headers=_RECORD.headers),
    "empty": KafkaRecord(key=_RECORD.key, value=b"", headers=_RECORD.headers),
    "a JSON list": KafkaRecord(key=_RECORD.key, value=b"[]", headers=_RECORD.headers),
    "an empty document": KafkaRecord(key=_RECORD.key, value=b"{}", headers=_RECORD.headers),
    "a bad time": KafkaRecord(
        key=_RECORD.key,
        value=_RECORD.value.replace(b"2026-11-01T09:30:00Z", b"yesterday"),
        headers=_RECORD.headers,
    ),
}


@pytest.mark.parametrize("record", _NOT_A_CLOUDEVENT.values(), ids=_NOT_A_CLOUDEVENT.keys())
def test_a_record_without_the_required_cloudevents_attributes_is_refused(record):
    # Stricter than the ``cloudevents`` library, which reads a missing specversion as 1.0,
    # accepts 0.3, and makes up a random id when there is none.
    with pytest.raises(ValueError, match="not a CloudEvent"):
        ChangeEvent.from_kafka(record)


@pytest.mark.parametrize("record", _FOREIGN_SOURCES.values(), ids=_FOREIGN_SOURCES.keys())
def test_a_record_from_another_source_is_refused(record):
    with pytest.raises(ValueError, match="unexpected CloudEvents source"):
        ChangeEvent.from_kafka(record)


@pytest.mark.parametrize("record", _MALFORMED.values(), ids=_MALFORMED.keys())
def test_a_malformed_document_is_refused_with_a_value_error(record):
    with pytest.raises(ValueError):
        ChangeEvent.from_kafka(record)

import textwrap
from pathlib import Path

import pytest

from services.core.departments import load_registry
from services.core.errors import ConfigurationError
from services.core.resources import default_departments_file

TYPES = {"address_changed", "death_notified"}
SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


def _write(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "departments.yaml"
    path.write_text(textwrap.dedent(body), encoding="utf-8")
    return path


def _entry(**overrides: str) -> str:
    fields = {
        "id": "hmrc",
        "name": "HMRC",
        "endpoint": "http://127.0.0.1:9/events",
        "signing_secret": SECRET,
        "event_types": "[address_changed]",
        "fields": "{address_changed: [subject.nino]}",
        "max_concurrency": "4",
        "rate_limit_per_s": "10",
        "timeout_s": "5",
        "retry_schedule_s": "[0, 1]",
    } | overrides
    lines = [f"    {k}: {v}" for k, v in fields.items()]
    lines[0] = "  - " + lines[0].strip()
    return "departments:\n" + "\n".join(lines) + "\n"


def test_the_shipped_registry_has_the_required_departments():
    registry = load_registry(
        default_departments_file(),
        known_event_types={
            "address_changed",
            "death_notified",
            "birth_registered",
            "name_changed",
            "partnership_registered",
            "notification_corrected",
            "notification_withdrawn",
        },
    )
    assert {"hmrc", "dvla", "hmpo", "dwp"} <= set(registry.ids())
    councils = [d for d in registry if d.is_council]
    assert len(councils) >= 3
    for council in councils:
        for paths in council.fields.values():
            assert not any("nino" in p for p in paths), council.id
    dvla = registry.get("dvla")
    assert dvla is not None
    assert "data.driving_licence_number" in dvla.fields["address_changed"]


def test_a_valid_entry_loads(tmp_path):
    registry = load_registry(_write(tmp_path, _entry()), known_event_types=TYPES)
    assert registry.ids() == ["hmrc"]


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"event_types": "[tax_changed]", "fields": "{tax_changed: [x]}"}, "unknown event types"),
        ({"endpoint": "not a url"}, "endpoint"),
        ({"fields": "{}"}, "no allowed fields"),
        ({"max_concurrency": "0"}, "max_concurrency"),
        ({"retry_schedule_s": "[-1]"}, "retry_schedule_s"),
        ({"id": "HMRC!"}, "id"),
    ],
)
def test_a_bad_entry_is_refused_with_a_clear_reason(tmp_path, overrides, expected):
    with pytest.raises(ConfigurationError, match=expected):
        load_registry(_write(tmp_path, _entry(**overrides)), known_event_types=TYPES)


def test_a_secret_from_a_missing_environment_variable_is_refused(tmp_path, monkeypatch):
    monkeypatch.delenv("TUO_TEST_SECRET", raising=False)
    path = _write(tmp_path, _entry(signing_secret="env:TUO_TEST_SECRET"))
    assert load_registry(path, known_event_types=TYPES).ids() == ["hmrc"]
    with pytest.raises(ConfigurationError, match="TUO_TEST_SECRET is not set"):
        load_registry(path, known_event_types=TYPES, require_secrets=True)
    monkeypatch.setenv("TUO_TEST_SECRET", f"{SECRET} {SECRET}x")
    registry = load_registry(path, known_event_types=TYPES, require_secrets=True)
    department = registry.get("hmrc")
    assert department is not None
    assert department.secrets() == [SECRET, SECRET + "x"]


def test_a_duplicate_id_is_refused(tmp_path):
    body = _entry() + _entry().removeprefix("departments:\n")
    with pytest.raises(ConfigurationError, match="appears twice"):
        load_registry(_write(tmp_path, body), known_event_types=TYPES)


def test_councils_are_entitled_only_to_changes_naming_their_area(tmp_path):
    path = _write(tmp_path, _entry(local_authority="E06000023"))
    council = load_registry(path, known_event_types=TYPES).get("hmrc")
    assert council is not None
    here = {"data": {"new_address": {"local_authority": "E06000023"}}}
    elsewhere = {"data": {"new_address": {"local_authority": "W06000015"}}}
    assert council.is_entitled("address_changed", here)
    assert not council.is_entitled("address_changed", elsewhere)
    assert not council.is_entitled("death_notified", here)

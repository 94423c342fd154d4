"""No personal data reaches a log line, tracebacks included."""

import json
import logging

import pytest

from services.core.logging import configure_logging, get_logger

NINO = "JT483920B"
NAME = "Rhiannon Hughes"
ADDRESS = "11 Mount Stuart Square"
POSTCODE = "CF10 5EE"
EMAIL = "rhiannon.hughes@example.org"
PERSONAL = [NINO, "Rhiannon", "Hughes", ADDRESS, POSTCODE, EMAIL]


@pytest.fixture
def log_lines(capsys):
    configure_logging("DEBUG")

    def read():
        err = capsys.readouterr().err
        if "Logging error" in err:
            raise AssertionError(err)
        return [json.loads(line) for line in err.splitlines() if line]

    yield read
    logging.getLogger().handlers.clear()


def _assert_clean(lines):
    text = json.dumps(lines)
    for value in PERSONAL:
        assert value not in text, value


def test_personal_fields_bound_to_a_log_event_are_redacted(log_lines):
    get_logger("t").info(
        "change received",
        nino=NINO,
        subject={"given_names": "Rhiannon", "family_name": "Hughes"},
        new_address={"lines": [ADDRESS], "postcode": POSTCODE},
        email=EMAIL,
        reference="C6F5-EB23-25D4",
    )
    lines = log_lines()
    _assert_clean(lines)
    assert lines[0]["reference"] == "C6F5-EB23-25D4"
    assert lines[0]["nino"] == "[redacted]"


def test_identifiers_inside_free_text_are_scrubbed(log_lines):
    get_logger("t").warning(f"lookup failed for {NINO} at {POSTCODE}, mail {EMAIL}")
    _assert_clean(log_lines())


def test_a_foreign_exception_is_logged_without_its_message(log_lines):
    def handler(person):
        raise KeyError(f"{person} lives at {ADDRESS}")

    try:
        handler(NAME)
    except KeyError:
        get_logger("t").exception("handler failed")
    lines = log_lines()
    _assert_clean(lines)
    assert "KeyError" in json.dumps(lines)
    assert "handler" in json.dumps(lines)  # frames are kept, messages and locals are not


def test_stdlib_library_logs_are_redacted_too(log_lines):
    logging.getLogger("somelib").error("bad row %s %s", NAME, EMAIL, exc_info=ValueError(NINO))
    lines = log_lines()
    assert EMAIL not in json.dumps(lines)
    assert NINO not in json.dumps(lines)

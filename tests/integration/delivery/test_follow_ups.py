"""A correction reaches exactly the departments told about the original, after it, and
tells each only what it could see of the original (real broker, processes and HTTP)."""

from __future__ import annotations

import pytest

from tests.fixtures.invalid_bodies import example
from tests.support.bus import delivery_id, unique_nino
from tests.support.kafka import latest_statuses

pytestmark = pytest.mark.integration


async def test_a_correction_follows_the_original_to_exactly_its_departments(bus):
    original = example("death_notified/v1-death-in-bristol")
    original["subject"]["nino"] = unique_nino()
    original["consent"]["notify"] = ["hmrc", "dvla"]
    correction = example("notification_corrected/v1-correct-death-registration")
    # No NINO this time, and other organisations ticked: neither may change who is told.
    correction["subject"].pop("nino")
    correction["consent"]["notify"] = ["dwp", "hmpo"]
    correction["data"]["corrections"] = [
        {"path": "/data/date_of_death", "value": "2026-10-02"},
        {"path": "/data/place_of_death", "value": "Southmead Hospital, Bristol"},
    ]
    async with bus.sandbox as sandbox:
        # DVLA fails the original twice: the correction must wait behind its retries.
        await sandbox.add_fault(
            "dvla", event_type="death_notified", kind="status", status=503, times=2
        )
        first = bus.submit(original)
        correction["data"]["original_reference"] = first["reference"]
        second = bus.submit(correction)
        assert second["notified"] == ["hmrc", "dvla"]
        wanted = {
            delivery_id(answer, department): "delivered"
            for answer in (first, second)
            for department in ("hmrc", "dvla")
        }
        await latest_statuses(
            bus.bootstrap,
            until=lambda s: all(s.get(d, {}).get("status") == v for d, v in wanted.items()),
            timeout=60,
        )
        told = await sandbox.received_anywhere(reference=second["reference"])
        for department in ("hmrc", "dvla"):
            records = [
                r.body["reference"]
                for r in await sandbox.received(department, unique=True)
                if r.body["reference"] in {first["reference"], second["reference"]}
            ]
            assert records == [first["reference"], second["reference"]], department
    assert sorted(r.department for r in told if r.delivered) == ["dvla", "hmrc"]
    for record in told:
        # Both saw the original's date of death; neither saw where the person died.
        corrections = record.body["data"]["corrections"]
        assert corrections == [{"path": "/data/date_of_death", "value": "2026-10-02"}]

"""A sample change event, as intake would accept it, for tests of what reads and writes one."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from services.core.envelope import ChangeEvent


def sample_change(**changes: Any) -> ChangeEvent:
    """An ``address_changed.v1`` from the web channel for HMRC, with ``changes`` applied."""
    event = ChangeEvent(
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
    return event.model_copy(update=changes)

"""A delivery id is the UUIDv5 of its event and department, as ``uuid.uuid5`` makes it."""

from __future__ import annotations

import uuid

from hypothesis import given
from hypothesis import strategies as st

from services.core.ids import delivery_id_for

_NAMESPACE = uuid.UUID("6f1b2d0e-7c1a-4c55-9a51-8b5f0e1d2c3a")  # the ids in stores today


@given(st.text(), st.text())
def test_the_same_as_uuid5_of_event_and_department(event_id: str, department: str) -> None:
    expected = str(uuid.uuid5(_NAMESPACE, f"{event_id}/{department}"))
    assert delivery_id_for(event_id, department) == expected


def test_a_version_5_uuid_of_the_rfc_variant() -> None:
    made = uuid.UUID(delivery_id_for("0b0c1d2e-3f40-4152-9364-758697a8b9ca", "hmrc"))
    assert (made.version, made.variant) == (5, uuid.RFC_4122)
    assert delivery_id_for("e", "hmrc") != delivery_id_for("e", "dvla")

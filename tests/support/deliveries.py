"""A sample delivery for unit tests of the delivery service."""

from datetime import UTC, datetime

from services.delivery.domain import Delivery

AT = datetime(2026, 11, 1, 9, 30, tzinfo=UTC)


def sample_delivery(n: int, *, department: str = "hmrc") -> Delivery:
    """Delivery number ``n`` of its own citizen, pending, with a body holding a NINO."""
    return Delivery(
        delivery_id=f"delivery-{n}",
        department=department,
        event_id=f"event-{n}",
        reference=f"REF-{n:04d}",
        event_type="address_changed",
        citizen_key=f"citizen-{n}",
        partition=0,
        offset=n,
        body=b'{"nino": "QQ123456C"}',
        created_at=AT,
    )

"""Instants as text: UTC, RFC 3339, with ``Z`` for the offset."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import overload

__all__ = ["rfc3339_utc"]


@overload
def rfc3339_utc(moment: datetime) -> str: ...
@overload
def rfc3339_utc(moment: None) -> None: ...
@overload
def rfc3339_utc(moment: datetime | None) -> str | None: ...
def rfc3339_utc(moment: datetime | None) -> str | None:
    """``moment`` in UTC as ``2026-11-01T09:30:00Z``; ``None`` stays ``None``.

    Microseconds (``.ffffff``) appear only when non-zero, as ``isoformat`` writes them.
    Any offset is converted to UTC; a naive datetime is taken as local time, as
    ``datetime.astimezone`` takes it. On a hot path (status events, several per
    delivery): no conversion when the time is already in ``UTC``, and the fields written
    with ``%`` (~1.2 µs; ``isoformat`` of an aware time takes ~1.8 µs, and the offset it
    writes would be cut off again).
    """
    if moment is None:
        return None
    if moment.tzinfo is not UTC:
        moment = moment.astimezone(UTC)
    m = moment
    if m.microsecond:
        return _WITH_MICROSECONDS % (
            m.year,
            m.month,
            m.day,
            m.hour,
            m.minute,
            m.second,
            m.microsecond,
        )
    return _WHOLE_SECONDS % (m.year, m.month, m.day, m.hour, m.minute, m.second)


_WHOLE_SECONDS = "%04d-%02d-%02dT%02d:%02d:%02dZ"
_WITH_MICROSECONDS = "%04d-%02d-%02dT%02d:%02d:%02d.%06dZ"

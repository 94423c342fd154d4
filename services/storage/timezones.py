"""Datetimes in and out of SQL: always timezone-aware UTC."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import overload

__all__ = ["as_utc"]


@overload
def as_utc(moment: datetime) -> datetime: ...
@overload
def as_utc(moment: None) -> None: ...
def as_utc(moment: datetime | None) -> datetime | None:
    """``moment`` in UTC; a naive value (SQLite keeps no zone) is taken to be UTC already."""
    if moment is None:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)

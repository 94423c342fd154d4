"""rfc3339_utc gives byte for byte what the three formulas it replaced gave."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.core.timestamps import rfc3339_utc


def _envelope_and_routing(moment: datetime) -> str:
    """envelope's ``_iso`` and routing's inline ``occurred_at``, as they were."""
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _kafka_status(moment: datetime | None) -> str | None:
    """kafka_status's ``_iso``, as it was."""
    if moment is None:
        return None
    if moment.tzinfo is not UTC:
        moment = moment.astimezone(UTC)
    return moment.isoformat()[:-6] + "Z"


def _outcome(formula: Callable[[datetime], str | None], moment: datetime) -> object:
    try:
        return formula(moment)
    except (OverflowError, OSError, ValueError) as exc:  # out of range once converted
        return type(exc)


_DAY = timedelta(hours=23, minutes=59)
_OFFSETS = st.builds(timezone, st.timedeltas(min_value=-_DAY, max_value=_DAY))
_ZONES = st.one_of(st.just(UTC), _OFFSETS, st.timezones(), st.just(timezone(timedelta(0), "UTC")))
_MOMENTS = st.one_of(st.datetimes(timezones=_ZONES), st.datetimes())  # aware, and naive


@given(_MOMENTS)
def test_the_same_as_each_old_formula(moment: datetime) -> None:
    new = _outcome(rfc3339_utc, moment)
    assert new == _outcome(_envelope_and_routing, moment)
    assert new == _outcome(_kafka_status, moment)


@pytest.mark.parametrize(
    ("moment", "text"),
    [
        (datetime(2026, 11, 1, 9, 30, tzinfo=UTC), "2026-11-01T09:30:00Z"),
        (datetime(2026, 11, 1, 9, 30, 0, 120, tzinfo=UTC), "2026-11-01T09:30:00.000120Z"),
        (
            datetime(2026, 11, 1, 10, 30, 5, 500000, tzinfo=timezone(timedelta(hours=1))),
            "2026-11-01T09:30:05.500000Z",
        ),
        (datetime(2026, 7, 1, 10, 30, tzinfo=ZoneInfo("Europe/London")), "2026-07-01T09:30:00Z"),
        (datetime(2026, 11, 1, 9, 30, tzinfo=ZoneInfo("UTC")), "2026-11-01T09:30:00Z"),
    ],
)
def test_utc_with_z_and_microseconds_only_when_there_are_some(moment: datetime, text: str) -> None:
    assert rfc3339_utc(moment) == text


def test_a_naive_time_is_taken_as_local_time() -> None:
    naive = datetime(2026, 11, 1, 9, 30)  # noqa: DTZ001 - the point of the test
    assert rfc3339_utc(naive) == _envelope_and_routing(naive) == _kafka_status(naive)


def test_none_stays_none() -> None:
    assert rfc3339_utc(None) is None

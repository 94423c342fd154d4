"""Fakes shipped for tests (like ``structlog.testing``): a clock and a publisher."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from services.core.envelope import ChangeEvent
from services.core.errors import RetryableError

__all__ = ["FakeClock", "FakeEventPublisher"]


class FakeClock:
    """A clock that moves only when told to."""

    def __init__(self, start: datetime | None = None) -> None:
        self.current = start or datetime(2026, 11, 1, 9, 30, tzinfo=UTC)

    def now(self) -> datetime:
        """The fake current time."""
        return self.current

    def advance(self, seconds: float) -> None:
        """Move time forward."""
        self.current += timedelta(seconds=seconds)


class FakeEventPublisher:
    """Records published events; ``fail_with`` makes the next publishes raise."""

    def __init__(self) -> None:
        self.published: list[ChangeEvent] = []
        self.fail_with: RetryableError | None = None

    async def publish(self, event: ChangeEvent) -> None:
        """Record the event, or raise ``fail_with`` if set."""
        if self.fail_with is not None:
            raise self.fail_with
        self.published.append(event)

    def is_ready(self) -> bool:
        """Always ready unless failing."""
        return self.fail_with is None

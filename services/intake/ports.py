"""What intake needs from the outside world, as Protocols."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal, Protocol

from services.core.envelope import ChangeEvent

__all__ = ["EventPublisher", "IdempotencyRecord", "IdempotencyStore"]


class EventPublisher(Protocol):
    """Puts a change event on the changes topic.

    ``publish`` returns only once the broker has acknowledged the record to every in-sync
    replica (acks=all). It raises ``BrokerUnavailableError`` if that does not happen in
    time; the caller must then treat the event as not accepted. Publishing the same
    ``event_id`` twice is allowed: consumers dedupe on it.
    """

    async def publish(self, event: ChangeEvent) -> None:
        """Publish and wait for the acknowledgement."""
        ...

    def is_ready(self) -> bool:
        """Whether the publisher is connected to the broker."""
        ...


@dataclass(frozen=True, kw_only=True)
class IdempotencyRecord:
    """What one (channel, Idempotency-Key) pair was first used for."""

    channel: str
    key: str
    fingerprint: str
    reference: str
    event_id: str
    received_at: datetime
    state: Literal["pending", "published"]


class IdempotencyStore(Protocol):
    """Remembers Idempotency-Keys, shared by every intake replica.

    ``claim`` is atomic across processes: of two concurrent claims of the same key exactly
    one creates the record; both get the same record back.
    """

    async def claim(self, candidate: IdempotencyRecord) -> tuple[IdempotencyRecord, bool]:
        """Store ``candidate`` unless the key is taken; return (record, created)."""
        ...

    async def mark_published(self, channel: str, key: str) -> None:
        """Record that the event of this key is durably on Kafka."""
        ...

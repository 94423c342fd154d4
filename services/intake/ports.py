"""What intake needs from the outside world, as Protocols."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal, Protocol

from services.core.envelope import ChangeEvent

__all__ = ["ChangeLedger", "EventPublisher", "IdempotencyRecord", "IdempotencyStore", "LedgerEntry"]


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


@dataclass(frozen=True, kw_only=True)
class LedgerEntry:
    """Who was told about one accepted change (no personal data: the key is pseudonymous)."""

    reference: str
    event_id: str
    type: str
    citizen_key: str
    notified: tuple[str, ...]
    received_at: datetime


class ChangeLedger(Protocol):
    """Every accepted change's recipients, shared by every intake replica.

    A correction or withdrawal is sent to exactly the organisations told about the change
    it names, under the same citizen key (so it follows that change in order).
    ``record`` is idempotent: a reference already recorded keeps its first entry.
    """

    async def record(self, entry: LedgerEntry) -> None:
        """Remember ``entry`` unless its reference is already known."""
        ...

    async def find(self, reference: str) -> LedgerEntry | None:
        """The entry of a canonical reference, or None if no change has it."""
        ...

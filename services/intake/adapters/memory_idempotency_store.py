"""IdempotencyStore in memory: for unit tests and a single process."""

from __future__ import annotations

import dataclasses

from services.intake.ports import IdempotencyRecord

__all__ = ["InMemoryIdempotencyStore"]


class InMemoryIdempotencyStore:
    """Keeps records in a dict; claims are atomic because asyncio runs one task at a time."""

    def __init__(self) -> None:
        self.records: dict[tuple[str, str], IdempotencyRecord] = {}

    async def claim(self, candidate: IdempotencyRecord) -> tuple[IdempotencyRecord, bool]:
        """Store ``candidate`` unless the key is taken; return (record, created)."""
        key = (candidate.channel, candidate.key)
        if key in self.records:
            return self.records[key], False
        self.records[key] = candidate
        return candidate, True

    async def mark_published(self, channel: str, key: str) -> None:
        """Record that the event of this key is durably on Kafka."""
        record = self.records[(channel, key)]
        self.records[(channel, key)] = dataclasses.replace(record, state="published")

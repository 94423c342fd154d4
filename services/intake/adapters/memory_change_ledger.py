"""ChangeLedger in memory: for unit tests and a single process."""

from __future__ import annotations

from services.intake.ports import LedgerEntry

__all__ = ["InMemoryChangeLedger"]


class InMemoryChangeLedger:
    """Entries in a dict by reference; the first entry of a reference is kept."""

    def __init__(self) -> None:
        self.entries: dict[str, LedgerEntry] = {}

    async def record(self, entry: LedgerEntry) -> None:
        """Remember ``entry`` unless its reference is already known."""
        self.entries.setdefault(entry.reference, entry)

    async def find(self, reference: str) -> LedgerEntry | None:
        """The entry of a canonical reference, or None if no change has it."""
        return self.entries.get(reference)

    async def aclose(self) -> None:
        """Nothing to finish (as SqlChangeLedger.aclose, for a runtime's stop)."""

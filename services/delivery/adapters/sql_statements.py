"""The delivery store's per-delivery statements as driver SQL, and their batching."""

from __future__ import annotations

import bisect
from collections.abc import Iterator, Sequence
from typing import Any, TypeVar

__all__ = ["CHUNK", "INSERT_COLUMNS", "SIZES", "Row", "Statements", "chunks", "flat", "padded"]

#: The columns ``SqlDeliveryStore.add`` writes, in the order of its ``_insert_values``.
INSERT_COLUMNS = (
    "delivery_id",
    "department",
    "event_id",
    "reference",
    "event_type",
    "citizen_key",
    "partition",
    "kafka_offset",
    "body",
    "created_at",
    "state",
    "attempts",
    "next_attempt_at",
    "reason",
    "version",
    "finished_at",
    "extra",
    "published_version",
)
#: Rows per multi-row statement: 1,024 x 18 parameters stay under SQLite's (32,766) and
#: PostgreSQL's (32,767) limit of parameters per statement.
CHUNK = 1024
#: A multi-row statement is padded to one of these row counts, so that there are a few
#: dozen distinct statements to prepare and cache, not one per batch size: with one per
#: size the driver's statement caches grew by ~130 MB over varied batches (measured).
SIZES = (1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64, 96, 128, 192, 256, 384, 512, 768, 1024)
Row = tuple[Any, ...]
_T = TypeVar("_T")


class Statements:
    """The per-delivery statements as driver SQL for one dialect.

    Placeholders are the driver's own: ``?`` for SQLite (aiosqlite), ``$n`` for asyncpg.
    On SQLite a batch of updates is one multi-row ``UPDATE … FROM (VALUES …)`` statement,
    not an ``executemany``: aiosqlite runs SQLite in a thread, and every row of an
    ``executemany`` hands the GIL back and forth with the event loop's thread (measured:
    the adapter's rate rose ~15% with one statement per batch). asyncpg pipelines an
    ``executemany`` on the event loop itself, so PostgreSQL keeps it.
    """

    def __init__(self, *, postgres: bool) -> None:
        self.postgres = postgres
        columns = ", ".join(f'"{name}"' for name in INSERT_COLUMNS)
        # Only our own column names and placeholders are put into these statements.
        self._insert_head = f"INSERT INTO delivery_queue ({columns}) VALUES "  # noqa: S608
        self._insert_tail = " ON CONFLICT (delivery_id) DO NOTHING RETURNING delivery_id, seq"
        self._cache: dict[tuple[str, int], str] = {}
        # Save rows: id, state, attempts, next attempt, reason, version, finished at, extra,
        # and a version published meanwhile (-1: none; never lowers the mark).
        # Mark rows: id, version published.
        if postgres:
            self.save = (
                "UPDATE delivery_queue SET state = $2, attempts = $3, next_attempt_at = $4, "
                "reason = $5, version = $6, finished_at = $7, extra = $8, "
                "published_version = GREATEST(published_version, $9) WHERE delivery_id = $1"
            )
            self.mark = (
                "UPDATE delivery_queue SET published_version = $2 "
                "WHERE delivery_id = $1 AND published_version < $2"
            )

    def _rows(self, rows: int, width: int) -> str:
        if self.postgres:
            return ", ".join(
                "(" + ", ".join(f"${1 + row * width + n}" for n in range(width)) + ")"
                for row in range(rows)
            )
        return ", ".join(["(" + ", ".join(["?"] * width) + ")"] * rows)

    def insert(self, rows: int) -> str:
        """``INSERT … ON CONFLICT DO NOTHING RETURNING delivery_id, seq`` for ``rows`` rows."""
        statement = self._cache.get(("insert", rows))
        if statement is None:
            values = self._rows(rows, len(INSERT_COLUMNS))
            statement = self._insert_head + values + self._insert_tail
            self._cache["insert", rows] = statement
        return statement

    def save_rows(self, rows: int) -> str:
        """SQLite: one ``UPDATE … FROM (VALUES …)`` saving ``rows`` rows (distinct ids)."""
        statement = self._cache.get(("save", rows))
        if statement is None:
            statement = self._cache["save", rows] = (
                "UPDATE delivery_queue SET state = v.column2, attempts = v.column3, "  # noqa: S608
                "next_attempt_at = v.column4, reason = v.column5, version = v.column6, "
                "finished_at = v.column7, extra = v.column8, "
                "published_version = MAX(published_version, v.column9) "
                f"FROM (VALUES {self._rows(rows, 9)}) AS v "
                "WHERE delivery_queue.delivery_id = v.column1"
            )
        return statement

    def mark_rows(self, rows: int) -> str:
        """SQLite: one ``UPDATE … FROM (VALUES …)`` recording ``rows`` published versions."""
        statement = self._cache.get(("mark", rows))
        if statement is None:
            statement = self._cache["mark", rows] = (
                "UPDATE delivery_queue SET published_version = v.column2 "  # noqa: S608
                f"FROM (VALUES {self._rows(rows, 2)}) AS v "
                "WHERE delivery_queue.delivery_id = v.column1 "
                "AND delivery_queue.published_version < v.column2"
            )
        return statement


def chunks(rows: list[_T]) -> Iterator[list[_T]]:
    """``rows`` in slices of at most ``CHUNK``."""
    for start in range(0, len(rows), CHUNK):
        yield rows[start : start + CHUNK]


def padded(rows: int) -> int:
    """The statement size a batch of ``rows`` rows is padded to."""
    return SIZES[bisect.bisect_left(SIZES, rows)]


def flat(rows: Sequence[Row]) -> tuple[Any, ...]:
    """The rows' values as one parameter tuple."""
    return tuple(value for row in rows for value in row)

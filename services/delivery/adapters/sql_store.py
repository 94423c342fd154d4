"""DeliveryStore in SQL (SQLite by default, PostgreSQL in production).

Every replica of a department's adapter pointed at the same database shares the queue:
the unique ``delivery_id`` makes ``add`` idempotent across processes (INSERT … ON CONFLICT
DO NOTHING … RETURNING), and ``published_version`` drives the status relay.

The per-delivery writes (``add``, ``save``, ``mark_published``) are plain driver SQL with
positional parameters, bypassing SQLAlchemy's per-row statement compilation and type
processing (measured: most of the store's CPU per delivery); they write exactly what the
SQLAlchemy types would (SQLite's ``DATETIME`` text format), so reads, which stay on
SQLAlchemy Core, see no difference.

Every write goes through one ``GroupCommit`` per engine: the writes of every department's
consumer and flush loop in this process queue in the process and share transactions,
instead of meeting on SQLite's file lock, whose busy handler sleeps 1, 2, 5 … 100 ms
between tries however soon the lock is free (measured: the main source of the adapters'
end-to-end latency tail).
"""

from __future__ import annotations

import functools
from collections.abc import Collection, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncEngine

from services.delivery.adapters.sql_statements import (
    Row,
    Statements,
    chunks,
    flat,
    padded,
)
from services.delivery.domain import UNFINISHED, Attempt, Delivery, DeliveryState
from services.delivery.ports import CircuitState, DepartmentState
from services.storage.group_commit import MANY_ROWS, GroupCommit
from services.storage.tables import create_tables
from services.storage.timezones import as_utc

__all__ = ["SqlDeliveryStore"]

_metadata = sa.MetaData()
_queue = sa.Table(
    "delivery_queue",
    _metadata,
    sa.Column(
        "seq",
        sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
        primary_key=True,
        autoincrement=True,
    ),
    sa.Column("delivery_id", sa.String(64), nullable=False, unique=True),
    sa.Column("department", sa.String(64), nullable=False),
    sa.Column("event_id", sa.Text(), nullable=False),
    sa.Column("reference", sa.Text(), nullable=False),
    sa.Column("event_type", sa.Text(), nullable=False),
    sa.Column("citizen_key", sa.Text(), nullable=False),
    sa.Column("partition", sa.Integer(), nullable=False),
    sa.Column("kafka_offset", sa.BigInteger(), nullable=False),
    sa.Column("body", sa.LargeBinary(), nullable=True),  # NULL once purged
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("attempts", sa.Text(), nullable=False),  # JSON list
    sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("reason", sa.Text(), nullable=True),
    sa.Column("version", sa.Integer(), nullable=False),
    # -1: not even the first version (pending) has been published yet.
    sa.Column("published_version", sa.Integer(), nullable=False),
    sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("extra", sa.Text(), nullable=False),  # JSON object
    sa.Index("ix_delivery_queue_department_state_seq", "department", "state", "seq"),
    sa.Index(
        "ix_delivery_queue_unpublished",
        "seq",
        sqlite_where=sa.text("version > published_version"),
        postgresql_where=sa.text("version > published_version"),
    ),
    sa.Index("ix_delivery_queue_finished_at", "finished_at"),
    sqlite_autoincrement=True,  # never reuse a seq
)
_departments = sa.Table(
    "delivery_departments",
    _metadata,
    sa.Column("department", sa.String(64), primary_key=True),
    sa.Column("paused", sa.Boolean(), nullable=False),
    sa.Column("circuit", sa.String(16), nullable=False),
    sa.Column("opened_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("consecutive_failures", sa.Integer(), nullable=False),
)

_c = _queue.c

_NO_ATTEMPTS = "[]"
_NO_EXTRA = "{}"


class SqlDeliveryStore:
    """The delivery queue and department states in SQL tables, shared by every replica.

    ``add`` is idempotent by ``delivery_id``; ``save`` of an unknown id changes nothing;
    ``mark_published`` never lowers a mark. Database errors propagate as SQLAlchemy
    exceptions (``sqlalchemy.exc.DBAPIError`` and subclasses). A write returns once it is
    committed; concurrent writes share a transaction (``GroupCommit``), and if one of them
    fails, each of that transaction's writers gets the error and nothing of it is kept.
    """

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._writes = GroupCommit(engine)
        postgres = engine.dialect.name == "postgresql"
        self._insert = (postgresql if postgres else sqlite).insert
        self._sql = Statements(postgres=postgres)
        # What a timestamp column is given: asyncpg takes aware datetimes; SQLite gets the
        # text SQLAlchemy's DATETIME would have written, so that its reads parse it back.
        self._time = as_utc if postgres else _sqlite_time

    async def create_schema(self) -> None:
        """Create the tables and indexes if they do not exist (idempotent)."""
        await create_tables(self._engine, _metadata)

    async def dispose(self) -> None:
        """Wait for queued writes, then close the engine's connections."""
        await self._writes.aclose()
        await self._engine.dispose()

    async def add(self, deliveries: Sequence[Delivery]) -> list[Delivery]:
        """Insert deliveries whose id is new; return those, with ``seq``, in input order."""
        first: dict[str, Delivery] = {}
        for delivery in deliveries:  # a repeated id in one batch: the first one counts
            first.setdefault(delivery.delivery_id, delivery)
        unique = list(first.values())
        if not unique:
            return []
        now = datetime.now(UTC)
        rows = [self._insert_values(delivery, now) for delivery in unique]
        seqs = await self._writes.run(functools.partial(self._insert_rows, rows), rows=len(rows))
        return [d.copy_with(seq=seqs[d.delivery_id]) for d in unique if d.delivery_id in seqs]

    def _insert_rows(self, rows: list[Row], connection: sa.Connection) -> dict[str, int]:
        seqs: dict[str, int] = {}
        for chunk in chunks(rows):
            # Padding repeats the last row: a conflict, ignored (and not returned).
            size = padded(len(chunk))
            values = flat(chunk) + chunk[-1] * (size - len(chunk))
            result = connection.exec_driver_sql(self._sql.insert(size), values)
            returned: Sequence[Any] = result.all()
            seqs.update((delivery_id, seq) for delivery_id, seq in returned)
        return seqs

    async def unfinished(
        self,
        department: str,
        partitions: Collection[int] | None = None,
        *,
        after_seq: int | None = None,
        limit: int | None = None,
    ) -> list[Delivery]:
        """Pending, retrying and held deliveries of a department, ordered by ``seq``."""
        query = sa.select(_queue).where(
            _c.department == department, _c.state.in_([s.value for s in UNFINISHED])
        )
        if partitions is not None:
            query = query.where(_c.partition.in_(list(partitions)))
        if after_seq is not None:
            query = query.where(_c.seq > after_seq)
        return await self._select(query.order_by(_c.seq).limit(limit))

    async def get(self, delivery_id: str) -> Delivery | None:
        """One delivery, or None."""
        found = await self._select(sa.select(_queue).where(_c.delivery_id == delivery_id))
        return found[0] if found else None

    async def in_state(self, department: str, state: DeliveryState) -> list[Delivery]:
        """Every delivery of a department in one state, ordered by ``seq``."""
        query = sa.select(_queue).where(_c.department == department, _c.state == state.value)
        return await self._select(query.order_by(_c.seq))

    async def save(
        self, deliveries: Sequence[Delivery], *, published: Sequence[tuple[str, int]] = ()
    ) -> None:
        """Persist state, attempts, next attempt time, reason, version and ``extra``.

        ``published`` (delivery id, version) pairs are recorded as by ``mark_published``, in
        the same transaction: one write per row for a delivery both saved and marked.
        """
        if not deliveries and not published:
            return
        marks = dict(published)
        if len(marks) < len(published):  # the same id twice: its highest version counts
            marks = {}
            for delivery_id, version in published:
                marks[delivery_id] = max(version, marks.get(delivery_id, version))
        saves = self._save_rows(deliveries, marks)  # takes the marks of saved deliveries
        update = functools.partial(self._update, saves, list(marks.items()))
        await self._writes.run(update, rows=len(saves) + len(marks))

    def _update(
        self, saves: list[Row], marks: list[tuple[str, int]], connection: sa.Connection
    ) -> None:
        sql = self._sql
        if sql.postgres:
            if saves:
                connection.exec_driver_sql(sql.save, saves)
            if marks:
                connection.exec_driver_sql(sql.mark, marks)
            return
        # Padding rows have no id: they match no row.
        for chunk in chunks(saves):
            size = padded(len(chunk))
            values = flat(chunk) + (None,) * (9 * (size - len(chunk)))
            connection.exec_driver_sql(sql.save_rows(size), values)
        for mark_chunk in chunks(marks):
            size = padded(len(mark_chunk))
            values = flat(mark_chunk) + (None,) * (2 * (size - len(mark_chunk)))
            connection.exec_driver_sql(sql.mark_rows(size), values)

    async def unpublished(self, limit: int) -> list[Delivery]:
        """Deliveries whose latest version has not been published, ordered by ``seq``."""
        query = (
            sa.select(_queue).where(_c.version > _c.published_version).order_by(_c.seq).limit(limit)
        )
        return await self._select(query)

    async def mark_published(self, versions: Sequence[tuple[str, int]]) -> None:
        """Record (delivery_id, version) pairs as published; never lowers a mark."""
        if versions:
            await self.save((), published=versions)

    async def department_state(self, department: str) -> DepartmentState:
        """The department's pause and circuit state (closed and running if never saved)."""
        query = sa.select(_departments).where(_departments.c.department == department)
        async with self._engine.connect() as connection:
            row = (await connection.execute(query)).one_or_none()
        if row is None:
            return DepartmentState(department=department)
        values = row._mapping  # noqa: SLF001 - public SQLAlchemy API
        return DepartmentState(
            department=values["department"],
            paused=bool(values["paused"]),
            circuit=CircuitState(values["circuit"]),
            opened_at=as_utc(values["opened_at"]),
            consecutive_failures=values["consecutive_failures"],
        )

    async def save_department_state(self, state: DepartmentState) -> None:
        """Persist a department's pause and circuit state (insert or replace)."""
        values = {
            "paused": state.paused,
            "circuit": state.circuit.value,
            "opened_at": as_utc(state.opened_at),
            "consecutive_failures": state.consecutive_failures,
        }
        upsert = (
            self._insert(_departments)
            .values(department=state.department, **values)
            .on_conflict_do_update(index_elements=[_departments.c.department], set_=values)
        )
        await self._writes.run(functools.partial(_execute, upsert))

    async def purge_bodies(self, finished_before: datetime) -> int:
        """Drop the body of deliveries finished before the cutoff; return how many."""
        purge = (
            sa.update(_queue)
            .where(_c.finished_at < as_utc(finished_before), _c.body.is_not(None))
            .values(body=None)
        )
        purged: int = await self._writes.run(functools.partial(_rowcount, purge), rows=MANY_ROWS)
        return purged

    def _save_rows(self, deliveries: Sequence[Delivery], marks: dict[str, int]) -> list[Row]:
        # One row per delivery id (the last one given counts), with its published mark.
        now = datetime.now(UTC)
        return [
            (d.delivery_id, *self._state_values(d, now), marks.pop(d.delivery_id, -1))
            for d in {d.delivery_id: d for d in deliveries}.values()
        ]

    def _insert_values(self, d: Delivery, now: datetime) -> tuple[Any, ...]:
        # In the order of ``INSERT_COLUMNS``; a new delivery is not published yet (-1).
        time = self._time
        return (
            d.delivery_id,
            d.department,
            d.event_id,
            d.reference,
            d.event_type,
            d.citizen_key,
            d.partition,
            d.offset,
            d.body,
            time(d.created_at),
            *self._state_values(d, now),
            -1,
        )

    def _state_values(self, d: Delivery, now: datetime) -> tuple[Any, ...]:
        # What a save writes, in the order of both statements: state, attempts, next
        # attempt, reason, version, finished at, extra.
        time = self._time
        return (
            d.state.value,
            _attempts_json(d.attempts),
            time(d.next_attempt_at),
            d.reason,
            d.version,
            time(_finished_at(d, now)),
            _extra_json(d.extra),
        )

    async def _select(self, query: sa.Select[Any]) -> list[Delivery]:
        async with self._engine.connect() as connection:
            rows = (await connection.execute(query)).all()
        return [_delivery(row._mapping) for row in rows]  # noqa: SLF001 - public API


def _execute(statement: sa.Executable, connection: sa.Connection) -> None:
    connection.execute(statement)


def _rowcount(statement: sa.Executable, connection: sa.Connection) -> int:
    return connection.execute(statement).rowcount


def _finished_at(d: Delivery, now: datetime) -> datetime | None:
    # A finished delivery's last attempt time, or now without one; None while unfinished.
    if not d.finished:
        return None
    return d.attempts[-1].at if d.attempts else now


def _sqlite_time(moment: datetime | None) -> str | None:
    # SQLAlchemy's SQLite DATETIME storage format, of the moment in UTC.
    return None if moment is None else _sqlite_text(moment)


@functools.lru_cache(maxsize=8)  # a consumer batch's deliveries share one ``created_at``
def _sqlite_text(moment: datetime) -> str:
    utc = moment if moment.tzinfo is UTC else as_utc(moment)
    return utc.replace(tzinfo=None).isoformat(" ", "microseconds")


def _attempts_json(attempts: Sequence[Attempt]) -> str:
    # A list of {"at", "status_code", "latency_ms", "error"}; orjson writes the dataclasses
    # and their times (RFC 3339) directly.
    return orjson.dumps(attempts).decode() if attempts else _NO_ATTEMPTS


def _extra_json(extra: Mapping[str, str]) -> str:
    return orjson.dumps(extra).decode() if extra else _NO_EXTRA


def _delivery(row: Mapping[str, Any]) -> Delivery:
    return Delivery(
        delivery_id=row["delivery_id"],
        department=row["department"],
        event_id=row["event_id"],
        reference=row["reference"],
        event_type=row["event_type"],
        citizen_key=row["citizen_key"],
        partition=row["partition"],
        offset=row["kafka_offset"],
        body=row["body"] or b"",
        created_at=as_utc(row["created_at"]),
        state=DeliveryState(row["state"]),
        attempts=tuple(
            Attempt(
                at=as_utc(datetime.fromisoformat(a["at"])),
                status_code=a["status_code"],
                latency_ms=a["latency_ms"],
                error=a["error"],
            )
            for a in orjson.loads(row["attempts"])
        ),
        next_attempt_at=as_utc(row["next_attempt_at"]),
        reason=row["reason"],
        seq=row["seq"],
        version=row["version"],
        extra=orjson.loads(row["extra"]),
    )

"""DeliveryStore in SQL (SQLite by default, PostgreSQL in production).

Every replica of a department's adapter pointed at the same database shares the queue:
the unique ``delivery_id`` makes ``add`` idempotent across processes (INSERT … ON CONFLICT
DO NOTHING … RETURNING), and ``published_version`` drives the status relay.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncEngine

from services.delivery.domain import UNFINISHED, Attempt, Delivery, DeliveryState
from services.delivery.ports import CircuitState, DepartmentState
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
# SET is every column named in the parameters (``_changes``); WHERE is the id.
_SAVE = sa.update(_queue).where(_c.delivery_id == sa.bindparam("b_id"))
_MARK = (
    sa.update(_queue)
    .where(_c.delivery_id == sa.bindparam("b_id"), _c.published_version < sa.bindparam("b_v"))
    .values(published_version=sa.bindparam("b_v"))
)


class SqlDeliveryStore:
    """The delivery queue and department states in SQL tables, shared by every replica.

    ``add`` is idempotent by ``delivery_id``; ``save`` of an unknown id changes nothing;
    ``mark_published`` never lowers a mark. Database errors propagate as SQLAlchemy
    exceptions (``sqlalchemy.exc.DBAPIError`` and subclasses); each call is one transaction.
    """

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        dialect = postgresql if engine.dialect.name == "postgresql" else sqlite
        self._insert = dialect.insert

    async def create_schema(self) -> None:
        """Create the tables and indexes if they do not exist (idempotent)."""
        await create_tables(self._engine, _metadata)

    async def dispose(self) -> None:
        """Close the engine's connections."""
        await self._engine.dispose()

    async def add(self, deliveries: Sequence[Delivery]) -> list[Delivery]:
        """Insert deliveries whose id is new; return those, with ``seq``, in input order."""
        first: dict[str, Delivery] = {}
        for delivery in deliveries:  # a repeated id in one batch: the first one counts
            first.setdefault(delivery.delivery_id, delivery)
        unique = list(first.values())
        if not unique:
            return []
        insert = (
            self._insert(_queue)
            .on_conflict_do_nothing(index_elements=[_c.delivery_id])
            .returning(_c.seq, _c.delivery_id)
        )
        async with self._engine.begin() as connection:
            result = await connection.execute(insert, [_insert_row(d) for d in unique])
            seqs = {delivery_id: seq for seq, delivery_id in result.all()}
        return [replace(d, seq=seqs[d.delivery_id]) for d in unique if d.delivery_id in seqs]

    async def unfinished(
        self, department: str, partitions: Collection[int] | None = None
    ) -> list[Delivery]:
        """Pending, retrying and held deliveries of a department, ordered by ``seq``."""
        query = sa.select(_queue).where(
            _c.department == department, _c.state.in_([s.value for s in UNFINISHED])
        )
        if partitions is not None:
            query = query.where(_c.partition.in_(list(partitions)))
        return await self._select(query.order_by(_c.seq))

    async def get(self, delivery_id: str) -> Delivery | None:
        """One delivery, or None."""
        found = await self._select(sa.select(_queue).where(_c.delivery_id == delivery_id))
        return found[0] if found else None

    async def in_state(self, department: str, state: DeliveryState) -> list[Delivery]:
        """Every delivery of a department in one state, ordered by ``seq``."""
        query = sa.select(_queue).where(_c.department == department, _c.state == state.value)
        return await self._select(query.order_by(_c.seq))

    async def save(self, deliveries: Sequence[Delivery]) -> None:
        """Persist state, attempts, next attempt time, reason, version and ``extra``."""
        if not deliveries:
            return
        now = datetime.now(UTC)
        rows = [{"b_id": d.delivery_id, **_changes(d, now)} for d in deliveries]
        async with self._engine.begin() as connection:
            await connection.execute(_SAVE, rows)

    async def unpublished(self, limit: int) -> list[Delivery]:
        """Deliveries whose latest version has not been published, ordered by ``seq``."""
        query = (
            sa.select(_queue).where(_c.version > _c.published_version).order_by(_c.seq).limit(limit)
        )
        return await self._select(query)

    async def mark_published(self, versions: Sequence[tuple[str, int]]) -> None:
        """Record (delivery_id, version) pairs as published; never lowers a mark."""
        if not versions:
            return
        async with self._engine.begin() as connection:
            await connection.execute(_MARK, [{"b_id": i, "b_v": v} for i, v in versions])

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
        async with self._engine.begin() as connection:
            await connection.execute(upsert)

    async def purge_bodies(self, finished_before: datetime) -> int:
        """Drop the body of deliveries finished before the cutoff; return how many."""
        purge = (
            sa.update(_queue)
            .where(_c.finished_at < as_utc(finished_before), _c.body.is_not(None))
            .values(body=None)
        )
        async with self._engine.begin() as connection:
            return (await connection.execute(purge)).rowcount

    async def _select(self, query: sa.Select[Any]) -> list[Delivery]:
        async with self._engine.connect() as connection:
            rows = (await connection.execute(query)).all()
        return [_delivery(row._mapping) for row in rows]  # noqa: SLF001 - public API


def _insert_row(delivery: Delivery) -> dict[str, Any]:
    return {
        "delivery_id": delivery.delivery_id,
        "department": delivery.department,
        "event_id": delivery.event_id,
        "reference": delivery.reference,
        "event_type": delivery.event_type,
        "citizen_key": delivery.citizen_key,
        "partition": delivery.partition,
        "kafka_offset": delivery.offset,
        "body": delivery.body,
        "created_at": as_utc(delivery.created_at),
        "published_version": -1,
        **_changes(delivery, datetime.now(UTC)),
    }


def _changes(delivery: Delivery, now: datetime) -> dict[str, Any]:
    # What ``save`` may change; ``finished_at`` is the last attempt's time (the one that
    # finished it) or the wall clock, and None while unfinished.
    finished_at = None
    if delivery.finished:
        finished_at = delivery.attempts[-1].at if delivery.attempts else now
    return {
        "state": delivery.state.value,
        "attempts": _attempts_json(delivery.attempts),
        "next_attempt_at": as_utc(delivery.next_attempt_at),
        "reason": delivery.reason,
        "version": delivery.version,
        "finished_at": as_utc(finished_at),
        "extra": orjson.dumps(delivery.extra).decode(),
    }


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


def _attempts_json(attempts: Sequence[Attempt]) -> str:
    return orjson.dumps(
        [
            {
                "at": a.at.astimezone(UTC).isoformat(),
                "status_code": a.status_code,
                "latency_ms": a.latency_ms,
                "error": a.error,
            }
            for a in attempts
        ]
    ).decode()

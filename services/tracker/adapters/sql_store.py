"""TrackingStore in SQL (SQLite by default, PostgreSQL in production), with its own migrations.

Every tracker replica pointed at the same database shares the tables. The unique
``delivery_id`` makes recording idempotent (INSERT … ON CONFLICT), and a status replaces a
row only when its ``version`` is higher, whatever order the records arrive in.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import AsyncIterator, Sequence
from datetime import datetime, timedelta
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from services.storage.group_commit import GroupCommit
from services.storage.timezones import as_utc
from services.tracker.adapters import sql_figures, sql_schema
from services.tracker.domain import (
    FINISHED,
    Attempt,
    DeliveryFigures,
    DeliveryStatus,
    DepartmentState,
    TrackedChange,
    TrackedDelivery,
)

__all__ = ["SqlTrackingStore", "create_engine"]

_UNFINISHED = sorted(s.value for s in set(DeliveryStatus) - FINISHED)
_NOT_DELIVERED = sorted(s.value for s in DeliveryStatus if s is not DeliveryStatus.DELIVERED)
_changes, _deliveries = sql_schema.changes, sql_schema.deliveries
_c, _d = _changes.c, _deliveries.c


def create_engine(url: str) -> AsyncEngine:
    """An async engine; SQLite gets WAL, a busy timeout and real transactions.

    pysqlite's own transaction handling is switched off so that ``BEGIN`` is ours: DDL
    stays inside the migration's transaction, and writes start with ``BEGIN IMMEDIATE`` so
    that concurrent writers queue on the busy timeout instead of failing.
    """
    if url.startswith("sqlite"):
        engine = create_async_engine(url, connect_args={"timeout": 30})

        @sa.event.listens_for(engine.sync_engine, "connect")
        def _pragmas(dbapi_connection: Any, _: Any) -> None:  # noqa: ANN401 - DBAPI object
            dbapi_connection.isolation_level = None
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.close()

        @sa.event.listens_for(engine.sync_engine, "begin")
        def _begin(connection: sa.Connection) -> None:
            immediate = connection.get_execution_options().get("tracker_write", False)
            connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

        return engine
    return create_async_engine(url, pool_size=10, max_overflow=10, pool_pre_ping=True)


class SqlTrackingStore:
    """The ``TrackingStore`` in ``tracker_*`` tables; call :meth:`migrate` before use.

    A write returns once committed; the writes of concurrent calls (the three kinds of a
    consumer batch) share one transaction (``GroupCommit``), and if one fails, each of
    them gets the error and nothing of it is kept. Database errors propagate as SQLAlchemy
    exceptions (``sqlalchemy.exc.DBAPIError`` and subclasses).
    """

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        # Writes of concurrent calls share transactions; on a SQLite file they run on the
        # event loop's thread (``GroupCommit``).
        self._writes = GroupCommit(engine)
        self._postgres = engine.dialect.name == "postgresql"
        self._insert = (postgresql if self._postgres else sqlite).insert

    async def migrate(self) -> int:
        """Bring the schema up to ``sql_schema.SCHEMA_VERSION``; return the version.

        Idempotent, and safe when several processes start at once: they queue on a
        transaction-level advisory lock (PostgreSQL) or the write lock of ``BEGIN
        IMMEDIATE`` (SQLite), and each migration commits with its version row.

        Raises:
            ConfigurationError: the database was migrated by newer code.
        """
        async with self._writing() as connection:
            if self._postgres:
                await connection.execute(
                    sa.select(sa.func.pg_advisory_xact_lock(sql_schema.MIGRATION_LOCK))
                )
            return await connection.run_sync(sql_schema.apply_migrations)

    async def dispose(self) -> None:
        """Wait for queued writes, then close the engine's connections."""
        await self._writes.aclose()
        await self._engine.dispose()

    async def record_changes(self, changes: Sequence[TrackedChange]) -> None:
        """Store new changes and create a pending delivery for each notified organisation."""
        unique = {c.reference: c for c in reversed(changes)}  # the first of a reference wins
        if not unique:
            return
        initial = {d.delivery_id: d for c in unique.values() for d in c.initial_deliveries()}
        changes_rows = [_change_row(unique[r]) for r in sorted(unique)]
        delivery_rows = [_delivery_row(initial[i]) for i in sorted(initial)]

        def write(connection: sa.Connection) -> None:
            connection.execute(self._insert(_changes).on_conflict_do_nothing(), changes_rows)
            if delivery_rows:  # an empty parameter list would insert one row of defaults
                connection.execute(
                    self._insert(_deliveries).on_conflict_do_nothing(
                        index_elements=[_d.delivery_id]
                    ),
                    delivery_rows,
                )

        await self._writes.run(write, rows=len(changes_rows) + len(delivery_rows))

    async def record_statuses(self, statuses: Sequence[TrackedDelivery]) -> None:
        """Store each delivery's status unless a version at least as new is stored."""
        latest: dict[str, TrackedDelivery] = {}
        for status in statuses:  # one row per id: PostgreSQL updates a row once per statement
            known = latest.get(status.delivery_id)
            if known is None or known.version < status.version:
                latest[status.delivery_id] = status
        if not latest:
            return
        insert = self._insert(_deliveries)
        upsert = insert.on_conflict_do_update(
            index_elements=[_d.delivery_id],
            set_={name: insert.excluded[name] for name in _STATUS_COLUMNS},
            where=_d.version < insert.excluded.version,
        )
        # Sorted ids: concurrent writers lock rows in the same order, so never deadlock.
        rows = [_delivery_row(latest[i]) for i in sorted(latest)]

        def write(connection: sa.Connection) -> None:
            connection.execute(upsert, rows)
            sql_figures.record_attempts(connection, latest.values(), postgres=self._postgres)

        await self._writes.run(write, rows=2 * len(rows))

    async def change(self, reference: str) -> tuple[TrackedChange, list[TrackedDelivery]] | None:
        """A change and its deliveries ordered by department; None if the change is unknown."""
        async with self._engine.connect() as connection:
            row = (
                await connection.execute(sa.select(_changes).where(_c.reference == reference))
            ).one_or_none()
            if row is None:
                return None
            change = _change(row._mapping)  # noqa: SLF001 - public SQLAlchemy API
            query = (
                sa.select(_deliveries)
                .where(_d.event_id == change.event_id)
                .order_by(_d.department, _d.delivery_id)
            )
            rows = (await connection.execute(query)).all()
        return change, [_delivery(r._mapping) for r in rows]  # noqa: SLF001 - public API

    async def deliveries(
        self,
        *,
        department: str | None = None,
        status: str | None = None,
        reference: str | None = None,
        delivery_id: str | None = None,
        limit: int = 100,
        after: str | None = None,
    ) -> tuple[list[TrackedDelivery], str | None]:
        """One page of matching deliveries, oldest recorded first, and the next cursor."""
        if limit < 1:
            raise ValueError("limit must be at least 1")
        query = sa.select(_deliveries).where(_d.seq > _cursor(after))
        for column, wanted in (
            (_d.department, department),
            (_d.status, status),
            (_d.reference, reference),
            (_d.delivery_id, delivery_id),
        ):
            if wanted is not None:
                query = query.where(column == wanted)
        async with self._engine.connect() as connection:
            rows = (await connection.execute(query.order_by(_d.seq).limit(limit + 1))).all()
        page = [r._mapping for r in rows[:limit]]  # noqa: SLF001 - public SQLAlchemy API
        cursor = str(page[-1]["seq"]) if len(rows) > limit else None
        return [_delivery(r) for r in page], cursor

    async def department_health(self, department: str, now: datetime) -> dict[str, float]:
        """Delivered per minute, failure rate, backlog, oldest pending age and dead letters."""
        now = as_utc(now)
        mine = _d.department == department
        by_status = (
            sa.select(_d.status, sa.func.count(), sa.func.min(_d.created_at))
            .where(mine, _d.status.in_(_NOT_DELIVERED))
            .group_by(_d.status)
        )
        recent = _d.delivered_at > now - timedelta(minutes=5), _d.delivered_at <= now
        delivered = sa.select(sa.func.count()).where(mine, *recent)
        bad = sa.case((_d.status == DeliveryStatus.DELIVERED.value, 0), else_=1)
        in_hour = _d.finished_at > now - timedelta(hours=1), _d.finished_at <= now
        finished = sa.select(sa.func.count(), sa.func.sum(bad)).where(mine, *in_hour)
        async with self._engine.connect() as connection:
            counts = {
                s: (n, as_utc(oldest)) for s, n, oldest in await connection.execute(by_status)
            }
            delivered_count = (await connection.execute(delivered)).scalar_one()
            finished_count, bad_count = (await connection.execute(finished)).one()
        unfinished = [counts[s] for s in _UNFINISHED if s in counts]
        oldest = min((o for _, o in unfinished if o is not None), default=now)
        return {
            "delivered_per_min": delivered_count / 5,
            "failure_rate": (bad_count or 0) / finished_count if finished_count else 0.0,
            "backlog": sum(n for n, _ in unfinished),
            "oldest_pending_s": max(0.0, (now - oldest).total_seconds()),
            "failed": counts.get(DeliveryStatus.FAILED.value, (0, None))[0],
            "rejected": counts.get(DeliveryStatus.REJECTED.value, (0, None))[0],
        }

    async def record_department_states(self, states: Sequence[DepartmentState]) -> None:
        """Keep each department's state with the latest ``at``."""
        if not states:
            return
        await self._writes.run(
            functools.partial(
                sql_figures.record_department_states, states=states, postgres=self._postgres
            )
        )

    async def department_states(self) -> dict[str, DepartmentState]:
        """The latest state of every department heard of, by department id."""
        async with self._engine.connect() as connection:
            return await sql_figures.department_states(connection)

    async def delivery_figures(self, latency_bounds_ms: Sequence[float]) -> DeliveryFigures:
        """Deliveries per department and status now, and attempt latencies per department."""
        async with self._engine.connect() as connection:
            return await sql_figures.delivery_figures(connection, latency_bounds_ms)

    async def purge_personal_data(self, received_before: datetime) -> int:
        """Drop the ``document`` of changes received before the cutoff; return how many."""
        purge = (
            sa.update(_changes)
            .where(_c.received_at < as_utc(received_before), _c.document.is_not(None))
            .values(document=None)
        )
        async with self._writing() as connection:
            return (await connection.execute(purge)).rowcount

    @contextlib.asynccontextmanager
    async def _writing(self) -> AsyncIterator[AsyncConnection]:
        async with self._engine.connect() as connection:
            await connection.execution_options(tracker_write=True)
            async with connection.begin():
                yield connection


# Every column but the keys: what a newer status replaces.
_STATUS_COLUMNS = [c.name for c in _deliveries.columns if c.name not in {"seq", "delivery_id"}]


def _change_row(change: TrackedChange) -> dict[str, Any]:
    document = None if change.document is None else orjson.dumps(change.document).decode()
    return {
        "reference": change.reference,
        "event_id": change.event_id,
        "type": change.type,
        "schema_version": change.schema_version,
        "received_at": as_utc(change.received_at),
        "channel": change.channel,
        "notified": orjson.dumps(list(change.notified)).decode(),
        "document": document,
    }


def _change(row: sa.RowMapping) -> TrackedChange:
    document = row["document"]
    return TrackedChange(
        reference=row["reference"],
        event_id=row["event_id"],
        type=row["type"],
        schema_version=row["schema_version"],
        received_at=as_utc(row["received_at"]),
        channel=row["channel"],
        notified=tuple(orjson.loads(row["notified"])),
        document=None if document is None else orjson.loads(document),
    )


def _delivery_row(delivery: TrackedDelivery) -> dict[str, Any]:
    attempts = [
        {"at": as_utc(a.at).isoformat(), **{k: getattr(a, k) for k in _ATTEMPT_FIELDS}}
        for a in delivery.attempts
    ]
    return {
        "delivery_id": delivery.delivery_id,
        "reference": delivery.reference,
        "event_id": delivery.event_id,
        "department": delivery.department,
        "status": delivery.status.value,
        "version": delivery.version,
        "created_at": as_utc(delivery.created_at),
        "attempts": orjson.dumps(attempts).decode(),
        "reason": delivery.reason,
        "last_attempt_at": as_utc(delivery.last_attempt_at),
        "delivered_at": as_utc(delivery.delivered_at),
        "next_attempt_at": as_utc(delivery.next_attempt_at),
        "finished_at": as_utc(delivery.finished_at),
    }


_ATTEMPT_FIELDS = ("status_code", "latency_ms", "error")


def _delivery(row: sa.RowMapping) -> TrackedDelivery:
    return TrackedDelivery(
        delivery_id=row["delivery_id"],
        reference=row["reference"],
        event_id=row["event_id"],
        department=row["department"],
        status=DeliveryStatus(row["status"]),
        version=row["version"],
        created_at=as_utc(row["created_at"]),
        attempts=tuple(
            Attempt(at=as_utc(datetime.fromisoformat(a.pop("at"))), **a)
            for a in orjson.loads(row["attempts"])
        ),
        reason=row["reason"],
        last_attempt_at=as_utc(row["last_attempt_at"]),
        delivered_at=as_utc(row["delivered_at"]),
        next_attempt_at=as_utc(row["next_attempt_at"]),
    )


def _cursor(after: str | None) -> int:
    if after is None:
        return 0
    # Digits only, and few enough for a 64-bit key.
    if not (after.isascii() and after.isdigit() and len(after) <= 18):
        raise ValueError("not a cursor from this store")
    return int(after)

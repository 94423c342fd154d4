"""The SQL tracking store's department states, attempt rows and whole-store figures.

Helpers of ``SqlTrackingStore`` that run inside its connections and transactions.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from services.storage.timezones import as_utc
from services.tracker.adapters import sql_schema
from services.tracker.domain import (
    CircuitStatus,
    DeliveryFigures,
    DeliveryStatus,
    DepartmentState,
    LatencyHistogram,
    TrackedDelivery,
)

__all__ = [
    "delivery_figures",
    "department_states",
    "record_attempts",
    "record_department_states",
]

_attempts, _states = sql_schema.attempts, sql_schema.department_states
_a, _s, _d = _attempts.c, _states.c, sql_schema.deliveries.c


def _insert(table: sa.Table, *, postgres: bool) -> postgresql.Insert | sqlite.Insert:
    return postgresql.insert(table) if postgres else sqlite.insert(table)


def record_attempts(
    connection: sa.Connection, deliveries: Iterable[TrackedDelivery], *, postgres: bool
) -> None:
    """Insert every attempt not stored yet, keyed by its delivery and place in the log.

    Attempt logs only grow, so an attempt repeated by a later status (or a replay) is the
    same row and is ignored.
    """
    rows = sorted(
        (
            {
                "delivery_id": delivery.delivery_id,
                "position": position,
                "department": delivery.department,
                "attempted_at": as_utc(attempt.at),
                "status_code": attempt.status_code,
                "latency_ms": attempt.latency_ms,
            }
            for delivery in deliveries
            for position, attempt in enumerate(delivery.attempts)
        ),
        # The same order in every writer: concurrent transactions never deadlock.
        key=lambda row: (row["delivery_id"], row["position"]),
    )
    if rows:  # an empty parameter list would insert one row of defaults
        insert = _insert(_attempts, postgres=postgres)
        connection.execute(
            insert.on_conflict_do_nothing(index_elements=[_a.delivery_id, _a.position]), rows
        )


def record_department_states(
    connection: sa.Connection, *, states: Sequence[DepartmentState], postgres: bool
) -> None:
    """Upsert each department's latest state; a stored one as new or newer stays."""
    latest: dict[str, DepartmentState] = {}
    for state in states:  # one row per department: PostgreSQL updates a row once per statement
        known = latest.get(state.department)
        if known is None or known.at < state.at:
            latest[state.department] = state
    if not latest:
        return
    insert = _insert(_states, postgres=postgres)
    changed = ("paused", "circuit", "opened_at", "reported_at")
    upsert = insert.on_conflict_do_update(
        index_elements=[_s.department],
        set_={name: insert.excluded[name] for name in changed},
        where=_s.reported_at < insert.excluded.reported_at,
    )
    rows = [_state_row(latest[department]) for department in sorted(latest)]
    connection.execute(upsert, rows)


async def department_states(connection: AsyncConnection) -> dict[str, DepartmentState]:
    """Every stored department state, by department id."""
    rows = await connection.execute(sa.select(_states))
    return {
        row.department: DepartmentState(
            department=row.department,
            paused=bool(row.paused),
            circuit=CircuitStatus(row.circuit),
            at=as_utc(row.reported_at),
            opened_at=as_utc(row.opened_at),
        )
        for row in rows
    }


async def delivery_figures(
    connection: AsyncConnection, latency_bounds_ms: Sequence[float]
) -> DeliveryFigures:
    """Deliveries per (department, status) and attempt latencies per department.

    Two grouped scans: one of the deliveries' (department, status) index, one of the
    attempts' (department, latency) index.
    """
    bounds = tuple(float(bound) for bound in latency_bounds_ms)
    by_status = sa.select(_d.department, _d.status, sa.func.count()).group_by(
        _d.department, _d.status
    )
    buckets = [sa.func.sum(sa.case((_a.latency_ms <= bound, 1), else_=0)) for bound in bounds]
    latency = sa.select(
        _a.department, sa.func.count(), sa.func.sum(_a.latency_ms), *buckets
    ).group_by(_a.department)
    counts = {
        (department, DeliveryStatus(status)): count
        for department, status, count in await connection.execute(by_status)
    }
    histograms = {}
    for department, count, total, *cumulative in await connection.execute(latency):
        histograms[department] = LatencyHistogram(
            bounds_ms=bounds,
            cumulative=tuple(int(n) for n in cumulative),
            count=int(count),
            sum_ms=float(total),
        )
    return DeliveryFigures(deliveries=counts, latency=histograms)


def _state_row(state: DepartmentState) -> dict[str, Any]:
    return {
        "department": state.department,
        "paused": state.paused,
        "circuit": state.circuit.value,
        "opened_at": as_utc(state.opened_at),
        "reported_at": as_utc(state.at),
    }

"""The ledger's driver-SQL insert on SQLite stores exactly what SQLAlchemy's insert stores."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta, timezone

import sqlalchemy as sa
from sqlalchemy.dialects import sqlite

from services.intake.adapters.sql_change_ledger import SqlChangeLedger, _changes
from services.intake.ports import LedgerEntry
from services.storage.engine import create_engine
from services.storage.group_commit import GroupCommit

_MOMENTS = [
    datetime(2026, 11, 1, 9, 30, tzinfo=UTC),  # no microseconds
    datetime(2026, 11, 1, 9, 30, 5, 120, tzinfo=UTC),
    datetime(1999, 12, 31, 23, 59, 59, 999999, tzinfo=timezone(timedelta(hours=-5))),
]


def _entries() -> list[LedgerEntry]:
    return [
        LedgerEntry(
            reference=f"REF0-0000-000{n}",
            event_id=f"event-{n}",
            type="address_changed",
            citizen_key=f"{n:032d}",
            notified=("hmrc", "council-cardiff") if n else (),
            received_at=moment,
        )
        for n, moment in enumerate(_MOMENTS)
    ]


def _rows(path) -> list[tuple[object, ...]]:
    with sqlite3.connect(path) as connection:
        return connection.execute("SELECT * FROM intake_changes ORDER BY reference").fetchall()


async def test_the_same_rows_as_sqlalchemys_insert(tmp_path):
    ours, theirs = tmp_path / "ours.db", tmp_path / "theirs.db"
    engine = create_engine(f"sqlite+aiosqlite:///{ours}")
    writes = GroupCommit(engine)  # a SQLite file: its writer's connection, the driver SQL
    ledger = SqlChangeLedger(engine, writes=writes)
    await ledger.create_schema()
    for entry in _entries():
        await ledger.record(entry)
    await writes.aclose()
    await engine.dispose()

    reference = sa.create_engine(f"sqlite:///{theirs}")
    _changes.metadata.create_all(reference)
    with reference.begin() as connection:
        for entry in _entries():
            connection.execute(
                sqlite.insert(_changes).on_conflict_do_nothing(),
                {
                    "reference": entry.reference,
                    "event_id": entry.event_id,
                    "type": entry.type,
                    "citizen_key": entry.citizen_key,
                    "notified": '["hmrc","council-cardiff"]' if entry.notified else "[]",
                    "received_at": entry.received_at,
                },
            )
    reference.dispose()

    assert _rows(ours) == _rows(theirs)
    assert len(_rows(ours)) == len(_MOMENTS)

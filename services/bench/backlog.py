"""The delivery benchmark's backlog: a one-department registry and distinct changes for it.

Every change is the shipped Bristol-to-Cardiff address change with its own event id and
reference, for one of ``citizens`` citizen keys (so per-citizen ordering applies without
serialising everything), routed to :data:`DEPARTMENT` only. They are produced to the
changes topic before any target starts, so each target drains the same backlog.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import uuid
from datetime import UTC, datetime
from pathlib import Path

import yaml
from aiokafka import AIOKafkaProducer

from services.core.envelope import ChangeEvent, KafkaRecord
from services.core.references import new_reference
from services.core.resources import default_departments_file, schemas_dir
from services.core.topics import CHANGES

__all__ = ["CONCURRENCY", "DEPARTMENT", "backlog_records", "produce", "write_registry"]

#: The one department the backlog is for.
DEPARTMENT = "hmrc"
#: Concurrent POSTs, for the adapters (``max_concurrency``) and the bare loop alike.
CONCURRENCY = 64
_EXAMPLE = ("address_changed", "v1-bristol-to-cardiff.json")


def write_registry(path: Path, endpoint: str) -> None:
    """A one-department registry: the shipped hmrc entry, fast and pointed at ``endpoint``."""
    shipped = yaml.safe_load(default_departments_file().read_text(encoding="utf-8"))
    entry = next(e for e in shipped["departments"] if e["id"] == DEPARTMENT)
    entry |= {
        "endpoint": endpoint,
        "signing_secret": "whsec_" + base64.b64encode(os.urandom(24)).decode(),
        "max_concurrency": CONCURRENCY,
        "rate_limit_per_s": 100_000,
        "timeout_s": 10,
        "retry_schedule_s": [1],
    }
    path.write_text(yaml.safe_dump({"departments": [entry]}), encoding="utf-8")


def backlog_records(count: int, *, citizens: int) -> list[KafkaRecord]:
    """``count`` distinct address changes for the department, spread over ``citizens`` keys."""
    kind, name = _EXAMPLE
    example = json.loads((schemas_dir() / kind / "examples" / name).read_text(encoding="utf-8"))
    received_at = datetime.now(UTC)
    records = []
    for number in range(count):
        citizen = number % citizens
        subject = {**example["subject"], "nino": f"JT{citizen:06d}B"}
        event = ChangeEvent(
            event_id=str(uuid.uuid4()),
            reference=new_reference(),
            type=kind,
            schema_version=1,
            received_at=received_at,
            channel="bench",
            citizen_key=f"{citizen:032x}",
            subject=subject,
            data=example["data"],
            notify=(DEPARTMENT,),
        )
        records.append(event.to_kafka())
    return records


async def produce(bootstrap: str, records: list[KafkaRecord]) -> None:
    """Send every record to the changes topic, many in flight at once, and wait for acks."""
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap,
        acks="all",
        linger_ms=5,
        max_batch_size=256 * 1024,
        enable_idempotence=False,
    )
    await producer.start()
    try:
        sent = [
            await producer.send(CHANGES, key=r.key, value=r.value, headers=r.headers)
            for r in records
        ]
        await asyncio.gather(*sent)
    finally:
        await producer.stop()

"""Diagnose the adapters' SQLite store under the write pattern of `tellusonce bench e2e`.

``python benchmarks/store_writers.py [store] [one-writer] [--seconds S] [--flush S]``

Five departments, as in the end-to-end benchmark at 200 changes/s: each department's
consumer adds 2 new deliveries every 10 ms (timed — this sits between "adapter consumed" and
"POST started"), and its flush loop saves them delivered and marks them published every
``--flush`` seconds, all on one engine and one SQLite file, as ``tellusonce adapters``
does. ``store`` is the store as built today (its writes queue for one group-commit writer;
until 30 November 2026 each call had its own transaction on a pool of connections, and a
writer that found the file locked slept in SQLite's busy handler, 1, 2, 5, 10, 15, 20, 25,
25, 25, 50, 50, then 100 ms at a time: p99 55 to 105 ms, max up to 733 ms); ``one-writer`` puts
every store call behind one more ``asyncio.Lock``, the fix first tried (p99 17 to 30 ms then).
Prints the ``add`` latency percentiles of each. See docs/performance-log.md, "End to end".
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import uvloop

from services.bench.backlog import backlog_records
from services.bench.e2e import write_registry
from services.bench.load import percentile
from services.core.departments import DepartmentSpec, load_registry
from services.core.envelope import ChangeEvent
from services.core.resources import schemas_dir
from services.core.schema_registry import FileSchemaRegistry
from services.delivery.adapters.sql_store import SqlDeliveryStore
from services.delivery.domain import Delivery, Outcome, OutcomeKind
from services.delivery.handlers import after_attempt
from services.delivery.retry import RetryPolicy
from services.delivery.routing import build_delivery
from services.storage.engine import create_engine

__all__: list[str] = []

_RATE = 200  # changes per second, each to every department
_PER_ADD = 2  # one poll every 10 ms at 200/s


class _OneWriter:
    """The store with every call behind one asyncio.Lock."""

    def __init__(self, store: SqlDeliveryStore) -> None:
        self._store, self._lock = store, asyncio.Lock()

    def __getattr__(self, name: str) -> Callable[..., Awaitable[Any]]:
        method = getattr(self._store, name)

        async def call(*args: object, **kwargs: object) -> object:
            async with self._lock:
                return await method(*args, **kwargs)

        return call


async def _department(
    store: Any,  # noqa: ANN401 - the store or its locked wrapper
    spec: DepartmentSpec,
    events: Sequence[ChangeEvent],
    *,
    until: float,
    flush_s: float,
    adds: list[float],
) -> None:
    dirty: list[Delivery] = []
    policy = RetryPolicy(schedule_s=(1.0,))
    delivered = Outcome(kind=OutcomeKind.DELIVERED, status_code=200, latency_ms=1.0)

    async def flush() -> None:
        while time.monotonic() < until:
            await asyncio.sleep(flush_s)
            batch, dirty[:] = list(dirty), []
            if batch:
                now = datetime.now(UTC)
                done = [after_attempt(d, delivered, policy, now) for d in batch]
                await store.save(done)
                await store.mark_published([(d.delivery_id, d.version) for d in done])

    flusher = asyncio.create_task(flush())
    start, index = time.monotonic(), 0
    while time.monotonic() < until and index + _PER_ADD <= len(events):
        await asyncio.sleep(max(0.0, start + index / _RATE - time.monotonic()))
        now = datetime.now(UTC)
        batch = [
            build_delivery(event, spec, partition=0, offset=index + n, now=now)
            for n, event in enumerate(events[index : index + _PER_ADD])
        ]
        began = time.perf_counter()
        dirty.extend(await store.add(batch))
        adds.append(time.perf_counter() - began)
        index += _PER_ADD
    await flusher


async def _run(variant: str, *, seconds: float, flush_s: float) -> None:
    with tempfile.TemporaryDirectory(prefix="tuo-store-writers-") as tmp:
        registry_file = Path(tmp) / "departments.yaml"
        write_registry(registry_file, "http://127.0.0.1:9/departments")
        schemas = FileSchemaRegistry(schemas_dir())
        registry = load_registry(
            registry_file, known_event_types=set(schemas.event_types()), require_secrets=True
        )
        raw = SqlDeliveryStore(create_engine(f"sqlite+aiosqlite:///{tmp}/delivery.db"))
        await raw.create_schema()
        store = _OneWriter(raw) if variant == "one-writer" else raw
        count = int(_RATE * seconds) + _PER_ADD
        events = [ChangeEvent.from_kafka(r) for r in backlog_records(count, citizens=count)]
        adds: list[float] = []
        until = time.monotonic() + seconds
        await asyncio.gather(
            *(
                _department(store, spec, events, until=until, flush_s=flush_s, adds=adds)
                for spec in registry
            )
        )
        await raw.dispose()
    adds.sort()
    figures = ", ".join(
        f"{name} {percentile(adds, fraction) * 1000:.1f}"
        for name, fraction in (("p50", 0.5), ("p95", 0.95), ("p99", 0.99), ("max", 1.0))
    )
    print(f"{variant:10s} {len(adds)} adds; add latency ms: {figures}")


def main() -> None:
    """Run each variant named on the command line (default: both), one after another."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else "")
    parser.add_argument("variants", nargs="*", default=[], metavar="{store,one-writer}")
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--flush", type=float, default=0.02, help="flush interval (s)")
    arguments = parser.parse_args()
    unknown = set(arguments.variants) - {"store", "one-writer"}
    if unknown:
        parser.error(f"unknown variants {sorted(unknown)}: choose store or one-writer")
    for variant in arguments.variants or ["store", "one-writer"]:
        uvloop.run(_run(variant, seconds=arguments.seconds, flush_s=arguments.flush))


if __name__ == "__main__":
    main()

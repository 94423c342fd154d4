"""CPU per change of the intake's own Python work, without I/O.

``python benchmarks/intake_path.py [--changes N] [--repeats R]``

For each body of the intake benchmark's load (``services/bench/load.py``): parse it, run
the real handler (``submit_change``: schema, consent and date rules, routing and the
citizen key, reference and event id, the event) with ports that do only the Python the
real adapters do before their I/O (the Kafka record with its headers and its partition;
the ledger entry), and serialise the 202's body. It leaves out the HTTP server, the Kafka
client, SQLite and the event loop's I/O, which the intake pays per change on top (the
bare endpoint of ``tellusonce bench intake`` pays the HTTP server too). Prints the fastest
of ``--repeats`` passes in µs of process CPU per change.

Set beside ``tellusonce bench intake``'s *CPU µs/req*, it splits the intake's cost in
two: this figure is ours to cut, the rest is the frameworks' and the kernel's. For a
count that does not move with the machine, run it under callgrind with ``--repeats 0``
and ``--repeats 1`` and divide the difference by ``--changes``, as
benchmarks/delivery_path.py says.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections.abc import Sequence

import orjson

from services.bench.load import distinct_bodies
from services.broker.partitioner import default_partition
from services.core.envelope import ChangeEvent
from services.core.interpreter import tune_for_service
from services.core.ports import SystemClock
from services.intake.bootstrap import load_catalogue
from services.intake.config import IntakeSettings
from services.intake.handlers import IntakeDeps, SubmitChange, submit_change
from services.intake.ports import IdempotencyRecord, LedgerEntry

_PARTITIONS = list(range(8))


class _Publisher:
    """The Kafka record and its partition, as the producer gets them; nothing sent."""

    async def publish(self, event: ChangeEvent) -> None:
        record = event.to_kafka()
        default_partition(record.key, _PARTITIONS)

    def is_ready(self) -> bool:
        return True


class _Ledger:
    """Entries kept in memory, by reference (the load's follow-ups name unknown ones)."""

    def __init__(self) -> None:
        self.entries: dict[str, LedgerEntry] = {}

    async def record(self, entry: LedgerEntry) -> None:
        self.entries[entry.reference] = entry

    async def find(self, reference: str) -> LedgerEntry | None:
        return self.entries.get(reference)


class _NoKeys:
    """The load sends no Idempotency-Key, so the handler never claims one."""

    async def claim(self, record: IdempotencyRecord) -> tuple[IdempotencyRecord, bool]:
        raise AssertionError(record.key)

    async def mark_published(self, channel: str, key: str) -> None:
        raise AssertionError((channel, key))


async def _pass(bodies: Sequence[bytes], deps: IntakeDeps) -> float:
    started = time.process_time()
    for raw in bodies:
        command = SubmitChange(body=orjson.loads(raw), channel="bench")
        accepted = await submit_change(command, deps)
        answer = {
            "reference": accepted.reference,
            "event_id": accepted.event_id,
            "notified": list(accepted.notified),
            "status_url": f"/v1/changes/{accepted.reference}",
        }
        orjson.dumps(answer)
    return (time.process_time() - started) / len(bodies)


def main(argv: Sequence[str] | None = None) -> None:
    """Parse the options, run the passes, print the fastest."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--changes", type=int, default=5000)
    parser.add_argument("--repeats", type=int, default=7)
    options = parser.parse_args(argv)

    schemas, departments = load_catalogue(IntakeSettings())
    ledger = _Ledger()
    deps = IntakeDeps(
        schemas=schemas,
        departments=departments,
        publisher=_Publisher(),
        idempotency=_NoKeys(),
        ledger=ledger,
        clock=SystemClock(),
        citizen_key_secret=b"intake-path-benchmark-secret-32b",
    )
    bodies = distinct_bodies(options.changes)
    tune_for_service()  # as the intake does once started (gc.freeze, young threshold)

    fastest = float("inf")
    for _ in range(options.repeats):
        fastest = min(fastest, asyncio.run(_pass(bodies, deps)))
        if len(ledger.entries) != len(bodies):
            raise SystemExit("a change of the load was not accepted")
        ledger.entries.clear()
    if options.repeats:
        print(f"{fastest * 1e6:.1f} µs of CPU per change (fastest of {options.repeats} passes)")


if __name__ == "__main__":
    main()

"""CPU per delivery of the adapters' own Python work, without I/O.

``python benchmarks/delivery_path.py [--deliveries N] [--repeats R]``

For each change of the delivery benchmark's backlog (``services/bench/backlog.py``): read
the Kafka record (``ChangeEvent.from_record``), route it, minimise and build the delivery
(its id, its body), sign it, record a 200 answer (``after_attempt``), and write the two
status records a delivery has in a deep backlog (pending, then delivered: document, JSON,
partition). It leaves out the HTTP client, the Kafka client, the store and the event
loop (the bare loop of ``tellusonce bench delivery`` pays the first two as well). Prints
the fastest of ``--repeats`` passes in µs of process CPU per delivery.

On a shared machine even the fastest pass moves by ±20%. For a figure that does not,
count instructions (``valgrind`` is on every machine here; about a minute each), once with
``--repeats 0`` and once with ``--repeats 1``::

    valgrind --tool=callgrind --callgrind-out-file=/dev/null python
        benchmarks/delivery_path.py --deliveries 2000 --repeats 1   # then --repeats 0

and divide the difference by 2,000. To measure an older commit, run this file from a
copy of it (``git archive <commit> | tar -x -C /tmp/old``, then ``cd /tmp/old`` and
``PYTHONPATH=. python /path/to/benchmarks/delivery_path.py``). See docs/performance.md.
"""

from __future__ import annotations

import argparse
import gc
import tempfile
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path

import orjson

from services.bench.backlog import DEPARTMENT, backlog_records, write_registry
from services.core.departments import load_registry
from services.core.envelope import ChangeEvent
from services.core.resources import schemas_dir
from services.core.schema_registry import FileSchemaRegistry
from services.delivery.adapters.kafka_status import status_document
from services.delivery.adapters.signing import WebhookSigner
from services.delivery.domain import Outcome, OutcomeKind
from services.delivery.handlers import after_attempt
from services.delivery.retry import RetryPolicy
from services.delivery.routing import build_delivery, is_routed_to

_PARTITIONS = list(range(8))


def _partitioner() -> Callable[[bytes], int]:
    try:
        from services.broker.partitioner import default_partition  # noqa: PLC0415
    except ImportError:  # a commit before 30 November 2026: aiokafka's, as the producer's
        from aiokafka.partitioner import DefaultPartitioner  # noqa: PLC0415

        default = DefaultPartitioner()
        return lambda key: default(key, _PARTITIONS, _PARTITIONS)
    return lambda key: default_partition(key, _PARTITIONS)


def main(argv: Sequence[str] | None = None) -> None:
    """Parse the options, run the passes, print the fastest."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--deliveries", type=int, default=5000)
    parser.add_argument("--repeats", type=int, default=7)
    options = parser.parse_args(argv)

    registry_file = Path(tempfile.mkdtemp()) / "departments.yaml"
    write_registry(registry_file, "http://127.0.0.1:9/unused")
    types = set(FileSchemaRegistry(schemas_dir()).event_types())
    department = load_registry(registry_file, known_event_types=types, require_secrets=True).get(
        DEPARTMENT
    )
    if department is None:
        raise SystemExit(f"the registry has no {DEPARTMENT}")
    records = backlog_records(options.deliveries, citizens=2000)
    signer = WebhookSigner(department.secrets())
    policy = RetryPolicy(schedule_s=department.retry_schedule_s)
    partition = _partitioner()
    delivered = Outcome(kind=OutcomeKind.DELIVERED, status_code=200, latency_ms=1.5)
    gc.freeze()  # as the adapters do once started

    fastest = float("inf")
    for _ in range(options.repeats):
        started = time.process_time()
        now = datetime.now(UTC)
        for number, record in enumerate(records):
            event = ChangeEvent.from_record(record.key, record.value, record.headers)
            if not is_routed_to(event, department):
                raise SystemExit("a backlog change is not routed to its department")
            delivery = build_delivery(
                event, department, partition=number % 8, offset=number, now=now
            )
            orjson.dumps(status_document(delivery))
            partition(delivery.delivery_id.encode())
            signer.sign(delivery.delivery_id, now, delivery.body)
            orjson.dumps(status_document(after_attempt(delivery, delivered, policy, now)))
        fastest = min(fastest, (time.process_time() - started) / len(records))
    if options.repeats:
        print(f"{fastest * 1e6:.1f} µs of CPU per delivery (fastest of {options.repeats} passes)")


if __name__ == "__main__":
    main()

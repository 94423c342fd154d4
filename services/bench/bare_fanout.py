"""The bare fan-out: one bare delivery loop per department, in one process, nothing else.

Run as ``python -m services.bench.bare_fanout --bootstrap H:P --group-prefix G --url-base U
--department hmrc --department dvla …``. Each department gets its own loop of
:func:`services.bench.bare_drain.drain` (an aiokafka consumer in consumer group
``G.<department>``, ``fetch_max_wait_ms=10``, POSTing every record to
``U/<department>/events`` with ``x-bench-record: partition:offset``, committing after each
batch), all on one uvloop event loop, as ``tellusonce adapters`` serves every department
from one process. No routing, minimising, signing, store, retries or status events: it is
the ceiling of this stack for fanning changes out to departments on this machine.
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Sequence

import uvloop

from services.bench.bare_drain import drain, run_until_signal

__all__ = ["fan_out", "main"]


async def fan_out(
    *,
    bootstrap: str,
    group_prefix: str,
    url_base: str,
    departments: Sequence[str],
    concurrency: int,
) -> None:
    """One drain loop per department until cancelled (or one of them fails)."""
    loops = [
        drain(
            bootstrap=bootstrap,
            group=f"{group_prefix}.{department}",
            url=f"{url_base}/{department}/events",
            concurrency=concurrency,
        )
        for department in departments
    ]
    await asyncio.gather(*loops)


def main(argv: Sequence[str] | None = None) -> None:
    """Command line: ``python -m services.bench.bare_fanout --bootstrap … --department …``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else "")
    parser.add_argument("--bootstrap", required=True, help="HOST:PORT of the Kafka broker")
    parser.add_argument("--group-prefix", required=True, help="consumer groups: PREFIX.<id>")
    parser.add_argument("--url-base", required=True, help="POST to URL_BASE/<id>/events")
    parser.add_argument("--department", action="append", required=True, help="repeatable")
    parser.add_argument("--concurrency", type=int, default=64, help="POSTs at once, per loop")
    arguments = parser.parse_args(argv)
    # uvloop, as the adapters use: the comparison is of the work, not of the event loop.
    uvloop.run(
        run_until_signal(
            fan_out(
                bootstrap=arguments.bootstrap,
                group_prefix=arguments.group_prefix,
                url_base=arguments.url_base.rstrip("/"),
                departments=arguments.department,
                concurrency=arguments.concurrency,
            )
        )
    )


if __name__ == "__main__":
    main()

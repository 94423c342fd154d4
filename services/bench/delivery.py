"""Runs the delivery benchmark: one backlog, drained by a bare loop and by the adapters.

A fresh broker gets ``N`` changes for one department first; then the bare loop
(:mod:`services.bench.bare_drain`) and the real adapters (``tellusonce adapters``) each drain
that backlog, in their own consumer group, into the same fast local receiver
(:mod:`services.bench.receiver`), one after another. Each is timed by the receiver from the
first request it received to the ``N``-th distinct delivery (so the ~5 s consumer-group join
is excluded), and also from the process's start; its peak RSS and CPU time come from ``/proc``
just before it is stopped.
"""

from __future__ import annotations

import asyncio
import secrets
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from services.bench.backlog import (
    CONCURRENCY,
    DEPARTMENT,
    backlog_records,
    produce,
    write_registry,
)
from services.bench.delivery_report import ADAPTER, BARE_LOOP, DeliveryBenchResult, DrainResult
from services.bench.intake import BenchError, Progress
from services.bench.process import ChildProcess, free_port
from services.broker.admin import ensure_topics
from services.broker.embedded import EmbeddedBroker
from services.core.config import CoreSettings

__all__ = ["DrainTarget", "drain_targets", "run_delivery_bench"]

_HOST = "127.0.0.1"
_POLL_S = 0.1


class _Silent:
    def stage(self, text: str) -> None:
        pass

    def requests(self, label: str, done: int, total: int) -> None:
        pass


async def _stats(session: aiohttp.ClientSession, url: str) -> dict[str, Any]:
    async with session.get(url + "/stats") as response:
        response.raise_for_status()
        stats: dict[str, Any] = await response.json()
        return stats


async def _drain(
    child: ChildProcess,
    session: aiohttp.ClientSession,
    receiver: str,
    *,
    deliveries: int,
    progress: Progress,
) -> DrainResult:
    """Start ``child``, wait until the receiver counted every delivery (or the deadline)."""
    name = child.name
    async with session.post(f"{receiver}/reset", params={"expect": str(deliveries)}) as answer:
        answer.raise_for_status()
    progress.stage(f"{name}: starting (its consumer group takes ~5 s to join)")
    started = time.monotonic()
    child.start()
    deadline = started + 60 + deliveries / 100
    try:
        while True:
            stats = await _stats(session, receiver)
            progress.requests(name, stats["unique"], deliveries)
            if stats["done_at"] is not None or time.monotonic() > deadline:
                break
            if child.exited():
                raise BenchError(f"{name} exited:\n{child.log_tail()}")
            await asyncio.sleep(_POLL_S)
        usage = child.usage()
    finally:
        progress.stage(f"{name}: stopping")
        await asyncio.to_thread(child.stop)
    final = await _stats(session, receiver)  # late repeats count as duplicates
    first = stats["first_at"]
    end = stats["done_at"] or stats["last_at"]
    return DrainResult(
        name=name,
        deliveries=deliveries,
        received=final["unique"],
        requests=final["requests"],
        duplicates=final["duplicates"],
        startup_s=(first or time.monotonic()) - started,
        drain_s=(end - first) if first is not None and end is not None else 0.0,
        peak_rss_mb=usage.peak_rss_mb if usage else 0.0,
        cpu_s=usage.cpu_s if usage else 0.0,
    )


async def _wait_ready(receiver: ChildProcess, url: str, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=1.0)) as session:
        while True:
            if receiver.exited():
                raise BenchError(f"the receiver exited:\n{receiver.log_tail()}")
            try:
                await _stats(session, url)
            except (aiohttp.ClientError, TimeoutError):
                if time.monotonic() > deadline:
                    raise BenchError(
                        f"the receiver was not ready within {timeout_s:.0f} s"
                    ) from None
                await asyncio.sleep(0.05)
            else:
                return


@dataclass(frozen=True, kw_only=True)
class DrainTarget:
    """``python -m <module> <args>`` with ``env``: one way of draining the backlog."""

    name: str
    module: str
    args: list[str]
    env: dict[str, str] = field(default_factory=dict)
    log_name: str


def drain_targets(bootstrap: str, receiver: str, workdir: Path) -> list[DrainTarget]:
    """The bare loop and the adapters, as this benchmark runs them, pushing to ``receiver``.

    Writes the adapters' one-department registry into ``workdir``.
    """
    registry = workdir / "departments.yaml"
    endpoint = f"{receiver}/departments/{DEPARTMENT}/events"
    write_registry(registry, endpoint)
    env = {
        "TUO_KAFKA_BOOTSTRAP": bootstrap,
        "TUO_KAFKA_IDEMPOTENT_PRODUCER": "false",
        "TUO_DATA_DIR": str(workdir / "adapter-data"),
        "TUO_DEPARTMENTS": str(registry),
        "TUO_LOG_LEVEL": "WARNING",
    }
    bare_args = ["--bootstrap", bootstrap, "--group", f"tuo.bench.bare.{secrets.token_hex(4)}"]
    bare_args += ["--url", endpoint, "--concurrency", str(CONCURRENCY)]
    adapter_args = ["adapters", "--department", DEPARTMENT, "--departments", str(registry)]
    return [
        DrainTarget(
            name=BARE_LOOP, module="services.bench.bare_drain", args=bare_args, log_name="bare"
        ),
        DrainTarget(
            name=ADAPTER, module="services.cli", args=adapter_args, env=env, log_name="adapter"
        ),
    ]


def _targets(bootstrap: str, receiver: str, workdir: Path) -> list[ChildProcess]:
    return [
        ChildProcess(
            target.name,
            target.module,
            target.args,
            log=workdir / f"{target.log_name}.log",
            env=target.env,
        )
        for target in drain_targets(bootstrap, receiver, workdir)
    ]


async def _run(*, deliveries: int, citizens: int, progress: Progress) -> DeliveryBenchResult:
    with tempfile.TemporaryDirectory(prefix="tuo-bench-delivery-") as tmp:
        workdir = Path(tmp)
        progress.stage("starting the embedded broker and the receiver")
        broker = EmbeddedBroker(_HOST, free_port(), log_file=workdir / "broker.log")
        port = free_port()
        url = f"http://{_HOST}:{port}"
        receiver_log = workdir / "receiver.log"
        receiver = ChildProcess(
            "receiver", "services.bench.receiver", ["--port", str(port)], log=receiver_log
        )
        results = []
        settings = CoreSettings(kafka_bootstrap=broker.bootstrap)
        try:
            broker.start()
            receiver.start()
            await ensure_topics(settings, [DEPARTMENT])
            await _wait_ready(receiver, url)
            progress.stage(f"producing a backlog of {deliveries} changes for {DEPARTMENT}")
            records = await asyncio.to_thread(backlog_records, deliveries, citizens=citizens)
            await produce(broker.bootstrap, records)
            del records
            async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session:
                for child in _targets(broker.bootstrap, url, workdir):
                    drained = await _drain(
                        child, session, url, deliveries=deliveries, progress=progress
                    )
                    results.append(drained)
        finally:
            progress.stage("stopping the receiver and the broker")
            await asyncio.to_thread(receiver.stop)
            broker.stop()
    return DeliveryBenchResult(
        deliveries=deliveries,
        department=DEPARTMENT,
        citizens=citizens,
        partitions=settings.changes_partitions,
        concurrency=CONCURRENCY,
        targets=results,
    )


def run_delivery_bench(
    *, deliveries: int = 20_000, citizens: int = 2_000, progress: Progress | None = None
) -> DeliveryBenchResult:
    """Drain the same backlog with the bare loop, then the adapters; figures for both.

    Starts a fresh embedded broker and receiver on free ports and stops everything it
    started before returning, also on an error or Ctrl-C. Raises BenchError if a process
    cannot start or exits early. A target that misses deliveries by its deadline is
    reported with what arrived (see ``DrainResult.complete``).
    """
    if deliveries < 1 or citizens < 1:
        raise ValueError("deliveries and citizens must be positive")
    report = progress or _Silent()
    return asyncio.run(_run(deliveries=deliveries, citizens=citizens, progress=report))

"""Runs the end-to-end benchmark: a steady rate of changes, each fanned out to 5 departments.

Two legs run one after another with the same open-loop load, each on a fresh embedded
broker, both pushing to the same fast receiver (:mod:`services.bench.receiver`) standing in
for the departments:

- **bare**: this process produces each change body with aiokafka (``acks="all"``) to the
  changes topic; one process (:mod:`services.bench.bare_fanout`) runs a bare consumer loop
  per department, each in its own consumer group, POSTing every record to the receiver.
  Latency runs from the broker's acknowledgement to the receipt.
- **end to end**: the real ``tellusonce intake``, ``tellusonce adapters`` (a registry of the
  5 departments pointed at the receiver, with generated ``whsec_`` secrets) and
  ``tellusonce tracker``; this process POSTs each change to ``/v1/changes``. Latency runs
  from the 202 to the receipt of the push, matched by its ``webhook-id`` (the delivery id,
  derived from the 202's ``event_id`` and the department).

Sends are scheduled by the clock (open loop: the ``n``-th at ``start + n / rate``), never
by answers, so a slow answer cannot hide the latency of the sends behind it (coordinated
omission). Both sides read the same clock: ``time.monotonic()`` is ``CLOCK_MONOTONIC``,
one system-wide clock on Linux for every process, which NTP may slew but never steps; the
receiver runs in its own process so that its work and the load generator's never delay
each other's timestamps. CPU seconds and peak RSS of every process come from ``/proc``
at the start and end of each leg's measured window.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import re
import secrets
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import aiohttp
import orjson
import uvloop
import yaml
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError

from services.bench.e2e_report import (
    BARE,
    E2E,
    E2EBenchResult,
    LatencySummary,
    LegResult,
    ProcessCost,
    Stage,
)
from services.bench.e2e_stages import Timeline, read_marks, stages, wall_minus_monotonic
from services.bench.intake import BenchError
from services.bench.load import distinct_bodies
from services.bench.process import (
    ChildProcess,
    ProcessUsage,
    free_port,
    machine_cpu_s,
    read_usage,
    reset_peak_rss,
)
from services.broker.admin import ensure_topics
from services.broker.embedded import EmbeddedBroker
from services.core.config import CoreSettings
from services.core.ids import delivery_id_for
from services.core.resources import default_departments_file, schemas_dir
from services.core.topics import CHANGES

__all__ = [
    "DEPARTMENTS",
    "E2EProgress",
    "bus_settings",
    "change_bodies",
    "run_e2e_bench",
    "write_registry",
]

#: The departments every change is told to (the example's consent, in its order).
DEPARTMENTS = ("hmrc", "dvla", "dwp", "council-bristol", "council-cardiff")
_EXAMPLE = ("address_changed", "v1-bristol-to-cardiff.json")
_HOST = "127.0.0.1"
_CHANNEL = "bench"
#: Concurrent POSTs per department, for the adapters and the bare loops alike.
_CONCURRENCY = 64
#: Warm-up changes count from here, so they never share a citizen with a measured one.
_WARMUP_FROM = 900_000
_READY_TIMEOUT_S = 120.0
#: A warm-up delivered to every department within this long means the pipeline is live.
_LIVE_WITHIN_S = 1.0
_POLL_S = 0.25
_TICK_S = 0.5
_MAX_CONNECTIONS = 1000
_SETTING_NAME = re.compile(r"[a-z][a-z0-9_]*")


class E2EProgress(Protocol):
    """Where the benchmark reports what it is doing."""

    def stage(self, text: str) -> None:
        """A new step has started."""
        ...

    def running(
        self,
        leg: str,
        *,
        elapsed_s: float,
        total_s: float,
        sent: int,
        delivered: int,
        expected: int,
    ) -> None:
        """A leg's load is running (or draining): seconds, changes sent, deliveries received."""
        ...


class _Silent:
    def stage(self, text: str) -> None:
        pass

    def running(
        self,
        leg: str,
        *,
        elapsed_s: float,
        total_s: float,
        sent: int,
        delivered: int,
        expected: int,
    ) -> None:
        pass


def write_registry(path: Path, url_base: str, departments: Sequence[str] = DEPARTMENTS) -> None:
    """The shipped entries of ``departments``, each pointed at ``url_base/<id>/events``.

    Each gets a fresh ``whsec_`` secret and room for the load: 64 concurrent POSTs, no
    effective rate limit (the shipped limits, e.g. 20/s for a council, are below 200/s), a
    10 s timeout and a 1 s retry.
    """
    shipped = yaml.safe_load(default_departments_file().read_text(encoding="utf-8"))
    entries = {entry["id"]: entry for entry in shipped["departments"]}
    chosen = []
    for department in departments:
        entry = dict(entries[department])
        entry |= {
            "endpoint": f"{url_base}/{department}/events",
            "signing_secret": "whsec_" + base64.b64encode(os.urandom(24)).decode(),
            "max_concurrency": _CONCURRENCY,
            "rate_limit_per_s": 100_000,
            "timeout_s": 10,
            "retry_schedule_s": [1],
        }
        chosen.append(entry)
    path.write_text(yaml.safe_dump({"departments": chosen}), encoding="utf-8")


def change_bodies(count: int, *, start: int = 0) -> list[bytes]:
    """Distinct valid address changes (distinct citizens), each consenting to DEPARTMENTS."""
    kind, name = _EXAMPLE
    example = json.loads((schemas_dir() / kind / "examples" / name).read_text(encoding="utf-8"))
    example["consent"] = {"notify": list(DEPARTMENTS)}
    return distinct_bodies(count, start=start, examples=[example])


# -- what was sent, and who sends it ---------------------------------------------------------


@dataclass(kw_only=True)
class _Sent:
    """One change: when it was due, sent and accepted, and its name at each department."""

    due: float
    sent_at: float
    accepted_at: float | None = None
    status: str = "no answer"
    reference: str | None = None
    event_id: str | None = None
    #: Department id -> the name the receiver will know its delivery by.
    names: dict[str, str] = field(default_factory=dict)


class _Sender(Protocol):
    async def send(self, body: bytes, number: int, record: _Sent) -> None:
        """Send one change; fill in ``record`` (accepted_at, status, names)."""
        ...


class _IntakeSender:
    """POST /v1/changes; a 202 names the event, hence each department's webhook-id."""

    def __init__(self, session: aiohttp.ClientSession, url: str, token: str) -> None:
        self._session = session
        self._url = url
        self._headers = {"Content-Type": "application/json", "Authorization": f"Bearer {token}"}

    async def send(self, body: bytes, number: int, record: _Sent) -> None:  # noqa: ARG002
        try:
            async with self._session.post(self._url, data=body, headers=self._headers) as answer:
                answered_at = time.monotonic()  # the 202's head is in: it is accepted
                payload = await answer.read()
                status = answer.status
        except (aiohttp.ClientError, TimeoutError):
            record.status = "no answer"
            return
        record.status = str(status)
        if status != 202:
            return
        accepted = orjson.loads(payload)
        record.accepted_at = answered_at
        record.reference = accepted["reference"]
        record.event_id = event_id = accepted["event_id"]
        record.names = {d: delivery_id_for(event_id, d) for d in accepted["notified"]}


class _ProduceSender:
    """aiokafka send with acks=all; the ack names the record (``partition:offset``)."""

    def __init__(self, producer: AIOKafkaProducer, departments: Sequence[str]) -> None:
        self._producer = producer
        self._departments = departments

    async def send(self, body: bytes, number: int, record: _Sent) -> None:
        try:
            future = await self._producer.send(CHANGES, value=body, key=f"{number:032x}".encode())
            metadata = await future
        except KafkaError as exc:
            record.status = f"produce failed: {type(exc).__name__}"
            return
        record.accepted_at = time.monotonic()
        record.status = "ack"
        name = f"{metadata.partition}:{metadata.offset}"
        record.names = dict.fromkeys(self._departments, name)


# -- the receiver ------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Arrival:
    first_at: float
    times: int


class _Receiver:
    """The receiver process and its HTTP API (stats, arrivals, reset)."""

    def __init__(self, workdir: Path) -> None:
        port = free_port()
        self.url = f"http://{_HOST}:{port}"
        self.child = ChildProcess(
            "receiver",
            "services.bench.receiver",
            ["--host", _HOST, "--port", str(port)],
            log=workdir / "receiver.log",
        )
        self._session: aiohttp.ClientSession | None = None

    async def start(self, session: aiohttp.ClientSession) -> None:
        self._session = session
        self.child.start()
        deadline = time.monotonic() + 30.0
        while True:
            if self.child.exited():
                raise BenchError(f"the receiver exited:\n{self.child.log_tail()}")
            try:
                await self.stats()
            except (aiohttp.ClientError, TimeoutError):
                if time.monotonic() > deadline:
                    raise BenchError("the receiver was not ready within 30 s") from None
                await asyncio.sleep(0.05)
            else:
                return

    def _client(self) -> aiohttp.ClientSession:
        assert self._session is not None  # noqa: S101 - started first
        return self._session

    async def stats(self) -> dict[str, Any]:
        async with self._client().get(f"{self.url}/stats") as answer:
            answer.raise_for_status()
            stats: dict[str, Any] = orjson.loads(await answer.read())
            return stats

    async def arrivals(self) -> dict[tuple[str, str], _Arrival]:
        async with self._client().get(f"{self.url}/arrivals") as answer:
            answer.raise_for_status()
            rows = orjson.loads(await answer.read())["arrivals"]
        return {(row[0], row[1]): _Arrival(first_at=row[2], times=row[3]) for row in rows}

    async def reset(self, expect: int) -> None:
        async with self._client().post(f"{self.url}/reset", params={"expect": str(expect)}) as a:
            a.raise_for_status()


# -- one leg -------------------------------------------------------------------------------------


@dataclass(kw_only=True)
class _Process:
    """A process whose cost is measured."""

    name: str
    pid: int
    #: Part of the pipeline measured (False: a stand-in for citizens or departments).
    system: bool = True
    #: Lives across legs: its peak RSS is started afresh at each leg.
    shared: bool = False


@dataclass(kw_only=True)
class _Leg:
    """One leg's moving parts."""

    name: str
    sender: _Sender
    #: The leg's own processes, stopped in this order when it ends.
    children: list[ChildProcess]
    processes: list[_Process]
    warmups: Iterator[bytes]
    #: Called with the last warm-up once the pipeline is live (e.g. wait for the tracker).
    after_warmup: Callable[[_Sent], Awaitable[None]] | None = None


@dataclass(kw_only=True)
class _Window:
    """What one leg's measured run saw before its pipeline was stopped."""

    records: list[_Sent]
    started_at: float
    ended_at: float
    costs: list[ProcessCost]
    machine_cpu_s: float | None
    load_average: float
    #: ``time.time() - time.monotonic()`` at the start and at the end of the window.
    wall_offsets: tuple[float, float]


def _check_children(children: Sequence[ChildProcess]) -> None:
    for child in children:
        if child.exited():
            raise BenchError(f"{child.name} exited:\n{child.log_tail()}")


async def _wait_ready(session: aiohttp.ClientSession, url: str, child: ChildProcess) -> None:
    """Poll ``url`` until it answers 200; BenchError if ``child`` exits or at the deadline."""
    deadline = time.monotonic() + _READY_TIMEOUT_S
    while True:
        _check_children([child])
        with contextlib.suppress(aiohttp.ClientError, TimeoutError):
            async with session.get(url, timeout=aiohttp.ClientTimeout(total=1.0)) as answer:
                if answer.status == 200:
                    return
        if time.monotonic() > deadline:
            raise BenchError(f"{child.name} not ready within {_READY_TIMEOUT_S:.0f} s")
        await asyncio.sleep(0.05)


async def _until_live(leg: _Leg, receiver: _Receiver, progress: E2EProgress) -> _Sent:
    """Send warm-up changes until one is delivered everywhere within a second; the last one.

    New consumer groups take ~5 s to join on Tansu; warm-ups sent meanwhile are delivered
    once they have. Returns only when every warm-up sent has been delivered, so nothing of
    the warm-up is left to arrive during the measured run.
    """
    progress.stage(f"{leg.name}: waiting for every consumer group to join (~5-10 s)")
    deadline = time.monotonic() + _READY_TIMEOUT_S
    warmups: list[_Sent] = []
    while True:
        now = time.monotonic()
        record = _Sent(due=now, sent_at=now)
        await leg.sender.send(next(leg.warmups), _WARMUP_FROM + len(warmups), record)
        if record.accepted_at is not None:
            if set(record.names) != set(DEPARTMENTS):
                raise BenchError(f"a warm-up change went to {sorted(record.names)}")
            warmups.append(record)
            wanted = [(d, n) for w in warmups for d, n in w.names.items()]
            while time.monotonic() < record.accepted_at + _LIVE_WITHIN_S:
                await asyncio.sleep(0.05)
                arrivals = await receiver.arrivals()
                if all(key in arrivals for key in wanted):
                    return record
        else:
            await asyncio.sleep(_POLL_S)
        _check_children(leg.children)
        if time.monotonic() > deadline:
            message = f"{leg.name}: no warm-up change delivered within {_READY_TIMEOUT_S:.0f} s"
            logs = "\n".join(f"--- {c.name}:\n{c.log_tail()}" for c in leg.children)
            raise BenchError(f"{message}\n{logs}")


def _usage(processes: Sequence[_Process]) -> dict[str, ProcessUsage | None]:
    return {p.name: read_usage(p.pid) for p in processes}


def _costs(
    processes: Sequence[_Process],
    before: dict[str, ProcessUsage | None],
    after: dict[str, ProcessUsage | None],
) -> list[ProcessCost]:
    costs = []
    for process in processes:
        first, last = before[process.name], after[process.name]
        costs.append(
            ProcessCost(
                name=process.name,
                cpu_s=(last.cpu_s - first.cpu_s) if first and last else 0.0,
                peak_rss_mb=last.peak_rss_mb if last else 0.0,
                system=process.system,
            )
        )
    return costs


async def _measure(
    leg: _Leg,
    receiver: _Receiver,
    bodies: Sequence[bytes],
    *,
    rate: float,
    drain_timeout_s: float,
    progress: E2EProgress,
) -> _Window:
    """Send every body by the clock at ``rate``, wait for every delivery, measure the cost."""
    duration_s = len(bodies) / rate
    expected_total = len(bodies) * len(DEPARTMENTS)
    await receiver.reset(expected_total)
    for process in leg.processes:
        if process.shared:
            reset_peak_rss(process.pid)
    load_average = os.getloadavg()[0]
    records: list[_Sent] = []
    pending: set[asyncio.Task[None]] = set()
    label = leg.name

    async def tick(started: float) -> None:
        while True:
            with contextlib.suppress(aiohttp.ClientError, TimeoutError):
                stats = await receiver.stats()
                progress.running(
                    label,
                    elapsed_s=max(0.0, time.monotonic() - started),
                    total_s=duration_s,
                    sent=len(records),
                    delivered=int(stats["unique"]),
                    expected=expected_total,
                )
            await asyncio.sleep(_TICK_S)

    progress.stage(f"{leg.name}: sending {rate:g} changes/s for {duration_s:g} s")
    before, machine_before = _usage(leg.processes), machine_cpu_s()
    offset_before = wall_minus_monotonic()
    started = time.monotonic() + 0.01
    ticker = asyncio.create_task(tick(started))
    try:
        for number, body in enumerate(bodies):
            due = started + number / rate
            delay = due - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            record = _Sent(due=due, sent_at=time.monotonic())
            records.append(record)
            task = asyncio.create_task(leg.sender.send(body, number, record))
            pending.add(task)
            task.add_done_callback(pending.discard)
        deadline = time.monotonic() + drain_timeout_s
        if pending:
            await asyncio.gather(*pending)
        _check_children(leg.children)
        label = f"{leg.name} (draining)"
        ended_at = await _drain(leg, receiver, records, deadline=deadline)
    finally:
        ticker.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await ticker
    after, machine_after = _usage(leg.processes), machine_cpu_s()
    offset_after = wall_minus_monotonic()
    machine = None
    if machine_before is not None and machine_after is not None:
        machine = machine_after - machine_before
    return _Window(
        records=records,
        started_at=started,
        ended_at=ended_at,
        costs=_costs(leg.processes, before, after),
        machine_cpu_s=machine,
        load_average=load_average,
        wall_offsets=(offset_before, offset_after),
    )


async def _drain(leg: _Leg, receiver: _Receiver, records: list[_Sent], *, deadline: float) -> float:
    """Wait until every accepted change reached every department; when the last one did."""
    expected = {(d, n) for r in records for d, n in r.names.items()}
    while True:
        stats = await receiver.stats()
        if int(stats["unique"]) >= len(expected):
            arrivals = await receiver.arrivals()
            if all(key in arrivals for key in expected):
                return max((arrivals[key].first_at for key in expected), default=time.monotonic())
        if time.monotonic() > deadline:
            return time.monotonic()
        _check_children(leg.children)
        await asyncio.sleep(_POLL_S)


def _leg_result(
    leg: _Leg,
    window: _Window,
    arrivals: dict[tuple[str, str], _Arrival],
    *,
    rate: float,
    stages: list[Stage] | None = None,
) -> LegResult:
    """Match every accepted change's deliveries to their arrivals."""
    statuses: Counter[str] = Counter(r.status for r in window.records)
    accept_latencies: list[float] = []
    latencies: list[float] = []
    by_department: dict[str, list[float]] = defaultdict(list)
    expected: set[tuple[str, str]] = set()
    for record in window.records:
        if record.accepted_at is None:
            continue
        accept_latencies.append(record.accepted_at - record.due)
        for department, name in record.names.items():
            expected.add((department, name))
            arrival = arrivals.get((department, name))
            if arrival is not None:
                latency = arrival.first_at - record.accepted_at
                latencies.append(latency)
                by_department[department].append(latency)
    # n sends 1/rate apart span n/rate seconds when on time; late sends stretch the span.
    last_sent = max((r.sent_at for r in window.records), default=window.started_at)
    return LegResult(
        name=leg.name,
        planned=len(window.records),
        sent=len(window.records),
        accepted=len(accept_latencies),
        statuses=dict(sorted(statuses.items())),
        send_s=last_sent - window.started_at + 1.0 / rate,
        window_s=max(window.ended_at - window.started_at, 1e-3),
        max_send_lag_ms=max((r.sent_at - r.due for r in window.records), default=0.0) * 1000,
        accept=LatencySummary.of(accept_latencies),
        latency=LatencySummary.of(latencies),
        per_department={
            d: LatencySummary.of(by_department[d]) for d in DEPARTMENTS if d in by_department
        },
        expected=len(expected),
        delivered=len(latencies),
        duplicates=sum(a.times - 1 for a in arrivals.values()),
        unexpected=sum(1 for key in arrivals if key not in expected),
        processes=window.costs,
        machine_cpu_s=window.machine_cpu_s,
        load_average=window.load_average,
        stages=stages or [],
        clock_drift_ms=(window.wall_offsets[1] - window.wall_offsets[0]) * 1000,
    )


async def _run_leg(
    leg: _Leg,
    receiver: _Receiver,
    bodies: Sequence[bytes],
    *,
    rate: float,
    drain_timeout_s: float,
    progress: E2EProgress,
) -> tuple[_Window, dict[tuple[str, str], _Arrival]]:
    """Warm the leg up, measure it, stop its pipeline; the window and what arrived."""
    try:
        last_warmup = await _until_live(leg, receiver, progress)
        if leg.after_warmup is not None:
            await leg.after_warmup(last_warmup)
        window = await _measure(
            leg, receiver, bodies, rate=rate, drain_timeout_s=drain_timeout_s, progress=progress
        )
    finally:
        progress.stage(f"{leg.name}: stopping")
        await _stop(leg.children)
    arrivals = await receiver.arrivals()  # after the stop: late repeats count as duplicates
    return window, arrivals


# -- the two legs --------------------------------------------------------------------------------


async def _stop(children: Sequence[ChildProcess]) -> None:
    """Stop children in order (each SIGTERM, then SIGKILL if it lingers)."""
    for child in children:
        await asyncio.to_thread(child.stop)


def _warmup_bodies() -> Iterator[bytes]:
    number = _WARMUP_FROM
    while True:
        yield from change_bodies(1, start=number)
        number += 1


async def _fresh_broker(workdir: Path, name: str) -> EmbeddedBroker:
    broker = EmbeddedBroker(_HOST, free_port(), log_file=workdir / f"{name}-broker.log")
    broker.start()
    try:
        await ensure_topics(CoreSettings(kafka_bootstrap=broker.bootstrap), list(DEPARTMENTS))
    except BaseException:
        broker.stop()
        raise
    return broker


def _pid(pid: int | None) -> int:
    if pid is None:
        raise BenchError("a process of the benchmark is not running")
    return pid


async def _bare_leg(
    workdir: Path,
    receiver: _Receiver,
    bodies: Sequence[bytes],
    *,
    rate: float,
    drain_timeout_s: float,
    progress: E2EProgress,
) -> LegResult:
    """Produce with aiokafka here; one bare consumer loop per department POSTs to the receiver."""
    count = len(DEPARTMENTS)
    progress.stage(f"{BARE}: starting a fresh broker and {count} bare consumer loops")
    broker = await _fresh_broker(workdir, "bare")
    args = ["--bootstrap", broker.bootstrap, "--url-base", f"{receiver.url}/departments"]
    args += ["--group-prefix", f"tuo.bench.bare.{secrets.token_hex(4)}"]
    args += ["--concurrency", str(_CONCURRENCY)]
    for department in DEPARTMENTS:
        args += ["--department", department]
    consumers = ChildProcess(
        "bare consumers", "services.bench.bare_fanout", args, log=workdir / "bare.log"
    )
    # As the intake's producer: acks=all, no linger, large batches, no idempotence (Tansu).
    producer = AIOKafkaProducer(
        bootstrap_servers=broker.bootstrap,
        acks="all",
        linger_ms=0,
        max_batch_size=256 * 1024,
        enable_idempotence=False,
    )
    try:
        consumers.start()
        await producer.start()
        leg = _Leg(
            name=BARE,
            sender=_ProduceSender(producer, DEPARTMENTS),
            children=[consumers],
            processes=[
                _Process(name="broker", pid=_pid(broker.pid)),
                _Process(name="bare consumers", pid=_pid(consumers.pid)),
                # The producer runs in the load generator: the bare pipeline's "intake".
                _Process(name="load generator + producer", pid=os.getpid(), shared=True),
                _Process(name="receiver", pid=_pid(receiver.child.pid), system=False, shared=True),
            ],
            warmups=_warmup_bodies(),
        )
        window, arrivals = await _run_leg(
            leg, receiver, bodies, rate=rate, drain_timeout_s=drain_timeout_s, progress=progress
        )
        return _leg_result(leg, window, arrivals, rate=rate)
    finally:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(producer.stop(), timeout=10)
        await _stop([consumers])
        broker.stop()


async def _tracker_shows(
    session: aiohttp.ClientSession, url: str, token: str, reference: str, tracker: ChildProcess
) -> None:
    """Wait until the change's status (read from the tracker's store) is delivered everywhere."""
    headers = {"Authorization": f"Bearer {token}"}
    deadline = time.monotonic() + _READY_TIMEOUT_S
    while True:
        _check_children([tracker])
        with contextlib.suppress(aiohttp.ClientError, TimeoutError):
            async with session.get(f"{url}/v1/changes/{reference}", headers=headers) as answer:
                if answer.status == 200:
                    deliveries = orjson.loads(await answer.read())["deliveries"]
                    done = {d["department"] for d in deliveries if d["status"] == "delivered"}
                    if done >= set(DEPARTMENTS):
                        return
        if time.monotonic() > deadline:
            raise BenchError(
                f"the tracker did not record a warm-up change within {_READY_TIMEOUT_S:.0f} s:\n"
                f"{tracker.log_tail()}"
            )
        await asyncio.sleep(_POLL_S)


async def _stages(
    bootstrap: str, window: _Window, arrivals: dict[tuple[str, str], _Arrival]
) -> list[Stage]:
    """The end-to-end latency split into stages (see :mod:`services.bench.e2e_stages`)."""
    timelines = []
    for record in window.records:
        if record.accepted_at is None or record.event_id is None:
            continue
        for department, name in record.names.items():
            arrival = arrivals.get((department, name))
            if arrival is not None:
                timelines.append(
                    Timeline(
                        event_id=record.event_id,
                        delivery_id=name,
                        due=record.due,
                        accepted_at=record.accepted_at,
                        received_at=arrival.first_at,
                    )
                )
    marks = await read_marks(
        bootstrap,
        event_ids={t.event_id for t in timelines},
        delivery_ids={t.delivery_id for t in timelines},
    )
    offset = sum(window.wall_offsets) / 2
    return stages(timelines, marks, wall_minus_monotonic=offset)


async def _e2e_leg(
    workdir: Path,
    receiver: _Receiver,
    session: aiohttp.ClientSession,
    bodies: Sequence[bytes],
    *,
    rate: float,
    drain_timeout_s: float,
    progress: E2EProgress,
    settings: Mapping[str, str],
) -> LegResult:
    """The real intake, adapters and tracker on a fresh broker; changes POSTed to the intake."""
    progress.stage(f"{E2E}: starting a fresh broker, the tracker, the adapters and the intake")
    broker = await _fresh_broker(workdir, "e2e")
    registry = workdir / "departments.yaml"
    write_registry(registry, f"{receiver.url}/departments")
    token = secrets.token_urlsafe(24)
    env = {
        "TUO_KAFKA_BOOTSTRAP": broker.bootstrap,
        "TUO_KAFKA_IDEMPOTENT_PRODUCER": "false",
        "TUO_DATA_DIR": str(workdir / "data"),
        "TUO_DEPARTMENTS": str(registry),
        "TUO_CHANNEL_TOKENS": f"{_CHANNEL}:{token}",
        "TUO_CITIZEN_KEY_SECRET": secrets.token_urlsafe(32),
        "TUO_LOG_LEVEL": "WARNING",
    } | {f"TUO_{name.upper()}": value for name, value in settings.items()}
    port = free_port()
    url = f"http://{_HOST}:{port}"
    serve = ["intake", "--host", _HOST, "--port", str(port)]

    def child(name: str, args: list[str]) -> ChildProcess:
        return ChildProcess(name, "services.cli", args, log=workdir / f"{name}.log", env=env)

    intake, adapters = child("intake", serve), child("adapters", ["adapters"])
    tracker = child("tracker", ["tracker"])
    children = [intake, adapters, tracker]  # stopped in this order: the input first
    try:
        for started in reversed(children):
            started.start()
        await _wait_ready(session, f"{url}/readyz", intake)

        async def tracker_caught_up(last_warmup: _Sent) -> None:
            progress.stage(f"{E2E}: waiting for the tracker to record the warm-up")
            assert last_warmup.reference is not None  # noqa: S101 - accepted
            await _tracker_shows(session, url, token, last_warmup.reference, tracker)

        leg = _Leg(
            name=E2E,
            sender=_IntakeSender(session, f"{url}/v1/changes", token),
            children=children,
            processes=[
                _Process(name="broker", pid=_pid(broker.pid)),
                *(_Process(name=c.name, pid=_pid(c.pid)) for c in children),
                _Process(name="load generator", pid=os.getpid(), system=False, shared=True),
                _Process(name="receiver", pid=_pid(receiver.child.pid), system=False, shared=True),
            ],
            warmups=_warmup_bodies(),
            after_warmup=tracker_caught_up,
        )
        window, arrivals = await _run_leg(
            leg, receiver, bodies, rate=rate, drain_timeout_s=drain_timeout_s, progress=progress
        )
        progress.stage(f"{E2E}: reading the bus's own timestamps back from the broker")
        found = await _stages(broker.bootstrap, window, arrivals)
        return _leg_result(leg, window, arrivals, rate=rate, stages=found)
    finally:
        await _stop(children)
        broker.stop()


async def _run(
    *,
    rate: float,
    duration_s: float,
    drain_timeout_s: float,
    progress: E2EProgress,
    settings: Mapping[str, str],
) -> E2EBenchResult:
    planned = max(1, round(rate * duration_s))
    with tempfile.TemporaryDirectory(prefix="tuo-bench-e2e-") as tmp:
        workdir = Path(tmp)
        progress.stage(f"preparing {planned} distinct changes")
        bodies = await asyncio.to_thread(change_bodies, planned)
        connector = aiohttp.TCPConnector(limit=_MAX_CONNECTIONS)
        timeout = aiohttp.ClientTimeout(total=30)
        async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
            receiver = _Receiver(workdir)
            try:
                progress.stage("starting the receiver")
                await receiver.start(session)
                bare = await _bare_leg(
                    workdir,
                    receiver,
                    bodies,
                    rate=rate,
                    drain_timeout_s=drain_timeout_s,
                    progress=progress,
                )
                e2e = await _e2e_leg(
                    workdir,
                    receiver,
                    session,
                    bodies,
                    rate=rate,
                    drain_timeout_s=drain_timeout_s,
                    progress=progress,
                    settings=settings,
                )
            finally:
                progress.stage("stopping the receiver")
                await asyncio.to_thread(receiver.child.stop)
    return E2EBenchResult(
        rate=rate,
        duration_s=planned / rate,
        departments=list(DEPARTMENTS),
        cores=os.cpu_count() or 1,
        legs=[bare, e2e],
        settings=dict(settings),
    )


def bus_settings(settings: Mapping[str, str]) -> dict[str, str]:
    """``settings`` checked: lower-case setting names (``TUO_`` and case are tolerated).

    Raises ValueError naming any that cannot be a setting's name.
    """
    checked = {name.strip().lower().removeprefix("tuo_"): v for name, v in settings.items()}
    bad = [name for name in checked if not _SETTING_NAME.fullmatch(name)]
    if bad:
        raise ValueError(f"not setting names: {', '.join(bad)}")
    return checked


def run_e2e_bench(
    *,
    rate: float = 200.0,
    duration_s: float = 60.0,
    drain_timeout_s: float = 30.0,
    settings: Mapping[str, str] | None = None,
    progress: E2EProgress | None = None,
) -> E2EBenchResult:
    """Run the bare leg, then the end-to-end leg, with the same open-loop load.

    ``settings`` are given to the bus's processes as ``TUO_<NAME>`` variables (e.g.
    ``{"delivery_flush_interval_s": "0.1"}``), on top of the benchmark's own.

    Starts a fresh embedded broker per leg and the receiver on free ports, and stops
    everything it started before returning, also on an error or Ctrl-C. Raises BenchError
    if a process cannot start or exits early. Deliveries still missing ``drain_timeout_s``
    after the last send are reported as lost (see ``LegResult.lost``).
    """
    if rate <= 0 or duration_s <= 0 or drain_timeout_s <= 0:
        raise ValueError("rate, duration and drain timeout must be positive")
    extra = bus_settings(settings or {})
    return uvloop.run(
        _run(
            rate=rate,
            duration_s=duration_s,
            drain_timeout_s=drain_timeout_s,
            progress=progress or _Silent(),
            settings=extra,
        )
    )

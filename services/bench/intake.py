"""Runs the intake benchmark: a fresh broker, then each server started, measured and stopped.

The bare endpoint, the minimal intake, the real intake and the naive intake each run as one
uvicorn worker in their own process and are measured one after another with the same load,
so that none of them competes with another for this machine's cores.
"""

from __future__ import annotations

import asyncio
import functools
import secrets
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import aiohttp

from services.bench.load import distinct_bodies, run_load
from services.bench.process import ChildProcess, clean_environment, free_port
from services.bench.report import BARE, INTAKE, MINIMAL, NAIVE, BenchResult, TargetResult
from services.broker.admin import ensure_topics
from services.broker.embedded import EmbeddedBroker
from services.core.config import CoreSettings

__all__ = ["BenchError", "Progress", "ServerTarget", "run_intake_bench", "server_targets"]

_HOST = "127.0.0.1"
_READY_TIMEOUT_S = 60.0
_STOP_TIMEOUT_S = 15.0
_CHANNEL = "bench"


class BenchError(Exception):
    """The benchmark could not run (a server did not start, or exited)."""


class Progress(Protocol):
    """Where the benchmark reports what it is doing."""

    def stage(self, text: str) -> None:
        """A new step has started (starting the broker, a server, ...)."""
        ...

    def requests(self, label: str, done: int, total: int) -> None:
        """``done`` of ``total`` requests of a load run are answered."""
        ...


class _Silent:
    def stage(self, text: str) -> None:
        pass

    def requests(self, label: str, done: int, total: int) -> None:
        pass


@dataclass(frozen=True, kw_only=True)
class ServerTarget:
    """``python -m <module> <args> --port <port>``, ready when ``ready_path`` answers 200."""

    name: str
    module: str
    args: list[str] = field(default_factory=list)
    env: Mapping[str, str] = field(default_factory=clean_environment)
    ready_path: str = "/healthz"
    headers: Mapping[str, str] = field(default_factory=dict)
    port: int = field(default_factory=free_port)


class _Server:
    """One benchmark server as a child process in its own session, logging to a file."""

    def __init__(self, target: ServerTarget, log: Path) -> None:
        self.target = target
        self.log = log
        self._child = ChildProcess(
            target.name,
            target.module,
            [*target.args, "--port", str(target.port)],
            log=log,
            env=target.env,
        )

    @property
    def url(self) -> str:
        return f"http://{_HOST}:{self.target.port}"

    def start(self) -> None:
        self._child.start()

    def exited(self) -> bool:
        return self._child.exited()

    def log_tail(self, lines: int = 20) -> str:
        return self._child.log_tail(lines)

    def stop(self) -> None:
        """SIGTERM, then SIGKILL if the process does not exit in time."""
        self._child.stop(_STOP_TIMEOUT_S)

    def cpu_s(self) -> float | None:
        """CPU seconds the server has used so far (every thread), None if it is gone."""
        usage = self._child.usage()
        return None if usage is None else usage.cpu_s

    async def wait_ready(self, timeout_s: float) -> None:
        """Poll the readiness route until it answers 200; BenchError at the deadline."""
        deadline = time.monotonic() + timeout_s
        probe_timeout = aiohttp.ClientTimeout(total=1.0)
        async with aiohttp.ClientSession(timeout=probe_timeout) as session:
            while True:
                if self.exited():
                    raise BenchError(f"{self.target.name} exited:\n{self.log_tail()}")
                try:
                    async with session.get(self.url + self.target.ready_path) as response:
                        if response.status == 200:
                            return
                except (aiohttp.ClientError, TimeoutError):
                    pass
                if time.monotonic() > deadline:
                    message = f"{self.target.name} not ready within {timeout_s:.0f} s"
                    raise BenchError(f"{message}:\n{self.log_tail()}")
                await asyncio.sleep(0.05)


def server_targets(bootstrap: str, data_dir: Path) -> list[ServerTarget]:
    """The bare endpoint, the minimal intake, the intake and the naive intake, in order."""
    token = secrets.token_urlsafe(24)
    intake_env = {
        **clean_environment(),
        "TUO_CHANNEL_TOKENS": f"{_CHANNEL}:{token}",
        "TUO_CITIZEN_KEY_SECRET": secrets.token_urlsafe(32),
        "TUO_KAFKA_IDEMPOTENT_PRODUCER": "false",
        "TUO_DATA_DIR": str(data_dir),
        "TUO_LOG_LEVEL": "WARNING",
    }
    intake_args = ["intake", "--host", _HOST, "--kafka-bootstrap", bootstrap]
    naive_args = ["--bootstrap", bootstrap]
    return [
        ServerTarget(name=BARE, module="services.bench.bare"),
        ServerTarget(
            name=MINIMAL,
            module="services.bench.naive",
            args=[*naive_args, "--validator", "compiled"],
        ),
        ServerTarget(
            name=INTAKE,
            module="services.cli",
            args=[*intake_args, "--data-dir", str(data_dir)],
            env=intake_env,
            ready_path="/readyz",
            headers={"Authorization": f"Bearer {token}"},
        ),
        ServerTarget(name=NAIVE, module="services.bench.naive", args=naive_args),
    ]


async def _measure(
    server: _Server, bodies: Sequence[bytes], *, warmup: int, concurrency: int, progress: Progress
) -> TargetResult:
    name = server.target.name
    progress.stage(f"{name}: starting")
    server.start()
    try:
        await server.wait_ready(_READY_TIMEOUT_S)
        for label, batch in ((f"{name} warm-up", bodies[:warmup]), (name, bodies[warmup:])):
            if not batch:
                continue
            cpu_before = server.cpu_s()
            load = await run_load(
                server.url + "/v1/changes",
                batch,
                concurrency=concurrency,
                headers=server.target.headers,
                progress=functools.partial(progress.requests, label),
            )
            cpu_after = server.cpu_s()
    finally:
        progress.stage(f"{name}: stopping")
        await asyncio.to_thread(server.stop)
    used = None if cpu_before is None or cpu_after is None else cpu_after - cpu_before
    return TargetResult.from_load(name, load, cpu_s=used)


async def _run(
    *, requests: int, concurrency: int, warmup: int, references: bool, progress: Progress
) -> BenchResult:
    with tempfile.TemporaryDirectory(prefix="tuo-bench-") as tmp:
        workdir = Path(tmp)
        progress.stage("starting the embedded broker")
        broker = EmbeddedBroker(_HOST, free_port(), log_file=workdir / "broker.log")
        broker.start()
        try:
            await ensure_topics(CoreSettings(kafka_bootstrap=broker.bootstrap), [])
            progress.stage(f"preparing {warmup + requests} distinct changes")
            bodies = distinct_bodies(warmup + requests)
            results = []
            for target in server_targets(broker.bootstrap, workdir / "intake-data"):
                if target.name in (MINIMAL, NAIVE) and not references:
                    continue
                server = _Server(target, workdir / f"{target.name}.log")
                measured = await _measure(
                    server, bodies, warmup=warmup, concurrency=concurrency, progress=progress
                )
                results.append(measured)
        finally:
            progress.stage("stopping the broker")
            broker.stop()
    return BenchResult(requests=requests, concurrency=concurrency, warmup=warmup, targets=results)


def run_intake_bench(
    *,
    requests: int = 20_000,
    concurrency: int = 64,
    warmup: int = 500,
    references: bool = True,
    progress: Progress | None = None,
) -> BenchResult:
    """Measure the bare endpoint and the intake, with the same load.

    With ``references``, also the minimal and the naive intakes (reference points).

    Starts a fresh embedded broker on a free port and stops everything it started before
    returning, also on an error or Ctrl-C. Raises BenchError if a server cannot start.
    """
    if requests < 1 or concurrency < 1 or warmup < 0:
        raise ValueError("requests and concurrency must be positive, warmup not negative")
    report = progress or _Silent()
    return asyncio.run(
        _run(
            requests=requests,
            concurrency=concurrency,
            warmup=warmup,
            references=references,
            progress=report,
        )
    )

"""Instructions per change, counted by callgrind: figures that do not drift with the machine.

``python benchmarks/instructions.py TARGET [--count N]``

On a shared machine the throughput benchmarks (``tellusonce bench``) move by a quarter from
one run to the next, more than most changes to the code do. Instructions executed in user
space do not: the same code under the same load gives the same count within ~0.3% (intake)
or ~5% (the adapters, whose batches depend on timing). Each target runs under ``valgrind
--tool=callgrind`` (on every machine here; ~50x slower), warms up, then its counters are
zeroed, ``N`` changes go through, and the count is read:

- ``intake``: ``tellusonce intake``, ``N`` distinct valid changes from 64 clients (after 200
  of warm-up), as in ``tellusonce bench intake``; per request answered.
- ``bare-endpoint``: the bench's bare FastAPI endpoint (parse and 202), the same load.
- ``adapters``: ``tellusonce adapters --department hmrc`` draining ``N`` changes into the
  bench's receiver, as in ``tellusonce bench delivery``; per delivery received.
- ``bare-loop``: the bench's bare consume + POST loop, the same drain.

What it cannot see: time in the kernel (system calls, waking threads) and waiting. Compare
a target with its bare counterpart, and a commit with another (run this file from a copy of
the older commit, as benchmarks/delivery_path.py says). Takes 1.5 to 3 minutes a target.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import aiohttp

import services
from services.bench.backlog import DEPARTMENT, backlog_records, produce
from services.bench.delivery import drain_targets
from services.bench.delivery_report import ADAPTER, BARE_LOOP
from services.bench.intake import server_targets
from services.bench.load import distinct_bodies, run_load
from services.bench.process import ChildProcess, clean_environment, free_port
from services.bench.report import BARE, INTAKE
from services.broker.admin import ensure_topics
from services.broker.embedded import EmbeddedBroker
from services.core.config import CoreSettings

_HOST = "127.0.0.1"
_CLIENTS = 64
_WARMUP = 200
_TARGETS = ("intake", "bare-endpoint", "adapters", "bare-loop")
#: The checkout whose ``services`` this file imported: the targets run the same code.
_SOURCES = str(Path(services.__file__).resolve().parents[1])


class _Counted:
    """A child process under callgrind whose counters can be zeroed and read."""

    def __init__(self, module_args: list[str], env: dict[str, str], workdir: Path) -> None:
        self._out = workdir / "callgrind.out"
        valgrind = shutil.which("valgrind")
        if valgrind is None:
            raise SystemExit("valgrind is not installed (apt-get install -y valgrind)")
        self._process = subprocess.Popen(  # noqa: S603 - our own command line
            [
                valgrind,
                "--tool=callgrind",
                f"--callgrind-out-file={self._out}",
                sys.executable,
                "-m",
                *module_args,
            ],
            env={**env, "PYTHONPATH": _SOURCES},
            stdout=(workdir / "target.log").open("w"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def check(self) -> None:
        if self._process.poll() is not None:
            raise SystemExit(f"the target exited (code {self._process.returncode})")

    def zero(self) -> None:
        self._control("-z")

    def count(self) -> int:
        """Instructions since :meth:`zero` (callgrind dumps them to a file of their own)."""
        self._control("-d", "measured")
        for dump in self._out.parent.glob(self._out.name + "*"):
            text = dump.read_text(errors="replace")
            if "measured" in text[:3000]:
                for line in text.splitlines():
                    if line.startswith(("summary:", "totals:")):
                        return int(line.split()[1])
        raise SystemExit("no callgrind dump with the count")

    def stop(self) -> None:
        if self._process.poll() is None:
            self._process.send_signal(signal.SIGTERM)
            try:
                self._process.wait(60)
            except subprocess.TimeoutExpired:
                self._process.kill()

    def _control(self, *args: str) -> None:
        command = ["callgrind_control", *args, str(self._process.pid)]
        subprocess.run(command, check=True, capture_output=True)  # noqa: S603


async def _get_ok(session: aiohttp.ClientSession, url: str) -> bool:
    try:
        async with session.get(url) as response:
            return response.status == 200
    except (aiohttp.ClientError, TimeoutError):
        return False


async def _wait_for(session: aiohttp.ClientSession, url: str, target: _Counted | None) -> None:
    deadline = time.monotonic() + 900
    while not await _get_ok(session, url):
        if target is not None:
            target.check()
        if time.monotonic() > deadline:
            raise SystemExit(f"{url} did not answer 200 in time")
        await asyncio.sleep(0.5)


async def _http_target(name: str, count: int, broker: str, workdir: Path) -> float:
    wanted = INTAKE if name == "intake" else BARE
    server = next(t for t in server_targets(broker, workdir / "data") if t.name == wanted)
    port = server.port
    module = [server.module, *server.args, "--port", str(port)]
    env, ready, headers = dict(server.env), server.ready_path, dict(server.headers)
    target = _Counted(module, env, workdir)
    try:
        url = f"http://{_HOST}:{port}"
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as session:
            await _wait_for(session, url + ready, target)
        bodies = distinct_bodies(_WARMUP + count)
        changes = url + "/v1/changes"
        await run_load(changes, bodies[:_WARMUP], concurrency=_CLIENTS, headers=headers)
        target.zero()
        load = await run_load(
            changes, bodies[_WARMUP:], concurrency=_CLIENTS, headers=headers, timeout_s=600
        )
        instructions = target.count()
        if load.errors:
            raise SystemExit(f"{load.errors} requests were not answered 2xx")
    finally:
        target.stop()
    return instructions / count


async def _received(session: aiohttp.ClientSession, receiver: str) -> int:
    async with session.get(receiver + "/stats") as response:
        unique: int = (await response.json())["unique"]
        return unique


async def _drained(
    session: aiohttp.ClientSession, receiver: str, count: int, target: _Counted
) -> None:
    deadline = time.monotonic() + 1800
    while await _received(session, receiver) < count:
        target.check()
        if time.monotonic() > deadline:
            raise SystemExit(f"fewer than {count} deliveries arrived in time")
        await asyncio.sleep(0.5)


async def _drain_target(name: str, count: int, broker: str, workdir: Path) -> float:
    port = free_port()
    receiver = f"http://{_HOST}:{port}"
    receiving = ChildProcess(
        "receiver", "services.bench.receiver", ["--port", str(port)], log=workdir / "receiver.log"
    )
    receiving.start()
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as session:
        await _wait_for(session, receiver + "/stats", None)
    wanted = ADAPTER if name == "adapters" else BARE_LOOP
    drain = next(t for t in drain_targets(broker, receiver, workdir) if t.name == wanted)
    module, env = [drain.module, *drain.args], clean_environment() | drain.env
    target = _Counted(module, env, workdir)
    try:
        records = backlog_records(_WARMUP + count, citizens=2000)
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session:
            await produce(broker, records[:_WARMUP])
            await _drained(session, receiver, _WARMUP, target)  # joined, connected, warm
            target.zero()
            async with session.post(receiver + "/reset", params={"expect": str(count)}) as reset:
                reset.raise_for_status()
            await produce(broker, records[_WARMUP:])  # drained as it arrives: ~50x slower
            await _drained(session, receiver, count, target)
            instructions = target.count()
    finally:
        target.stop()
        receiving.stop()
    return instructions / count


async def _run(name: str, count: int) -> float:
    with tempfile.TemporaryDirectory(prefix="tuo-instructions-") as tmp:
        workdir = Path(tmp)
        broker = EmbeddedBroker(_HOST, free_port(), log_file=workdir / "broker.log")
        broker.start()
        try:
            await ensure_topics(CoreSettings(kafka_bootstrap=broker.bootstrap), [DEPARTMENT])
            if name in {"intake", "bare-endpoint"}:
                return await _http_target(name, count, broker.bootstrap, workdir)
            return await _drain_target(name, count, broker.bootstrap, workdir)
        finally:
            broker.stop()


def main(argv: Sequence[str] | None = None) -> None:
    """Count one target's instructions per change and print them."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("target", choices=_TARGETS)
    parser.add_argument("--count", type=int, default=2000, help="changes measured")
    options = parser.parse_args(argv)
    per_change = asyncio.run(_run(options.target, options.count))
    unit = "request" if options.target in {"intake", "bare-endpoint"} else "delivery"
    print(f"{options.target}: {per_change:,.0f} instructions per {unit} ({options.count} counted)")


if __name__ == "__main__":
    main()

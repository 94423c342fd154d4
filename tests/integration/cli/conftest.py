"""The real tracker API over SQLite, served by uvicorn, for the client commands to talk to."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sys
import uuid
from collections.abc import AsyncIterator, Generator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import uvicorn

from services.core.config import async_database_url
from services.core.departments import load_registry
from services.core.references import new_reference
from services.core.resources import default_departments_file, schemas_dir
from services.core.schema_registry import FileSchemaRegistry
from services.tracker.adapters.sql_store import SqlTrackingStore, create_engine
from services.tracker.config import TrackerSettings
from services.tracker.domain import Attempt, DeliveryStatus, TrackedChange, TrackedDelivery
from services.tracker.entrypoints.api import create_app
from services.tracker.readside import ControlUnavailableError, TrackerReadSide
from services.web.auth import parse_channel_tokens, parse_operator_tokens
from tests.support.net import apoll, free_port

ROOT = Path(__file__).resolve().parents[3]
CHANNEL_TOKEN = "cli-channel-secret-1"
ADMIN_TOKEN = "cli-admin-secret-1"
DVLA_TOKEN = "cli-dvla-secret-1"
SECRETS = (CHANNEL_TOKEN, ADMIN_TOKEN, DVLA_TOKEN)
RECEIVED = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)
#: Changes that notify hmrc only, on top of the two that notify hmrc and dvla.
EXTRA_HMRC_CHANGES = 3


class RecordingControl:
    """A ``ControlPublisher`` that records the commands published; can refuse them."""

    def __init__(self) -> None:
        self.commands: list[dict[str, str]] = []
        self.refuse = False

    async def start(self) -> None:
        pass

    async def stop(self) -> None:
        pass

    async def publish(self, command: Mapping[str, str]) -> None:
        if self.refuse:
            raise ControlUnavailableError("broker down")
        self.commands.append(dict(command))


@dataclass(frozen=True)
class Ran:
    """One finished ``tellusonce`` run."""

    code: int
    stdout: str
    stderr: str


def _env(data_dir: Path) -> dict[str, str]:
    # The caller's TUO_* settings (a token, a URL) must not leak into the commands under test.
    env = {k: v for k, v in os.environ.items() if not k.startswith("TUO_")}
    return {**env, "TUO_DATA_DIR": str(data_dir), "PYTHONUNBUFFERED": "1"}


def _no_secrets(*texts: str) -> None:
    for secret in SECRETS:
        assert all(secret not in text for text in texts), "a token was printed"


@dataclass
class Bus:
    """The served tracker, its store, the published commands and the recorded data."""

    url: str
    store: SqlTrackingStore
    control: RecordingControl
    data_dir: Path
    #: reference → its deliveries as recorded, by department.
    changes: dict[str, dict[str, TrackedDelivery]] = field(default_factory=dict)

    def write_credentials(self) -> None:
        """A credentials.json as ``up`` writes it, in the data dir the commands default to."""
        document = {
            "channel_tokens": f"online-form:{CHANNEL_TOKEN},other:other-channel-secret",
            "operator_tokens": f"admin:{ADMIN_TOKEN}:*,dvla-ops:{DVLA_TOKEN}:dvla",
        }
        (self.data_dir / "credentials.json").write_text(json.dumps(document), encoding="utf-8")

    async def start(self, *args: str) -> asyncio.subprocess.Process:
        """Start ``python -m services.cli ARGS`` (stdout and stderr piped)."""
        return await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "services.cli",
            *args,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=_env(self.data_dir),
            cwd=ROOT,
        )

    async def finish(self, process: asyncio.subprocess.Process, *, before: str = "") -> Ran:
        """Wait for a started run; ``before`` is stderr already read from it."""
        out, err = await asyncio.wait_for(process.communicate(), timeout=60)
        assert process.returncode is not None
        ran = Ran(process.returncode, out.decode(), before + err.decode())
        _no_secrets(ran.stdout, ran.stderr)
        return ran

    async def run(self, *args: str) -> Ran:
        """Run ``tellusonce ARGS`` against this bus to the end (the API keeps serving)."""
        return await self.finish(await self.start(*args, "--url", self.url))

    def ids(self, department: str) -> list[str]:
        """Every recorded delivery id of ``department``."""
        return [d[department].delivery_id for d in self.changes.values() if department in d]


def new_change(notified: Sequence[str]) -> TrackedChange:
    """A change with a fresh reference, received at ``RECEIVED``."""
    return TrackedChange(
        reference=new_reference(),
        event_id=str(uuid.uuid4()),
        type="address_changed",
        schema_version=1,
        received_at=RECEIVED,
        channel="online-form",
        notified=tuple(notified),
        document={"subject": {}, "data": {}},
    )


def finished(delivery: TrackedDelivery, status: DeliveryStatus, *codes: int) -> TrackedDelivery:
    """``delivery`` after one attempt per code (a code >= 500 carries an error text)."""
    attempts = tuple(
        Attempt(
            at=RECEIVED + timedelta(seconds=n + 1),
            status_code=code,
            latency_ms=10.0,
            error="upstream answered 503" if code >= 500 else None,
        )
        for n, code in enumerate(codes)
    )
    last = attempts[-1].at if attempts else None
    return replace(
        delivery,
        status=status,
        version=delivery.version + len(codes) + 1,
        attempts=attempts,
        last_attempt_at=last,
        delivered_at=last if status is DeliveryStatus.DELIVERED else None,
        reason="retries exhausted" if status is DeliveryStatus.FAILED else None,
    )


async def _populate(store: SqlTrackingStore) -> dict[str, dict[str, TrackedDelivery]]:
    """Change 1: hmrc delivered, dvla failed. Change 2: both pending. Then hmrc-only ones."""
    changes = [new_change(["hmrc", "dvla"]) for _ in range(2)]
    changes += [new_change(["hmrc"]) for _ in range(EXTRA_HMRC_CHANGES)]
    await store.record_changes(changes)
    recorded = {c.reference: {d.department: d for d in c.initial_deliveries()} for c in changes}
    first = recorded[changes[0].reference]
    first["hmrc"] = finished(first["hmrc"], DeliveryStatus.DELIVERED, 200)
    first["dvla"] = finished(first["dvla"], DeliveryStatus.FAILED, 503, 503)
    await store.record_statuses([first["hmrc"], first["dvla"]])
    return recorded


class _Server(uvicorn.Server):
    """uvicorn on the test's event loop; signals stay with pytest."""

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None]:
        yield


@pytest.fixture
async def bus(tmp_path: Path) -> AsyncIterator[Bus]:
    store = SqlTrackingStore(create_engine(async_database_url(f"sqlite:///{tmp_path}/t.db")))
    await store.migrate()
    control = RecordingControl()
    registry = load_registry(
        default_departments_file(),
        known_event_types=set(FileSchemaRegistry(schemas_dir()).event_types()),
    )
    readside = TrackerReadSide(
        store=store,
        control=control,
        registry=registry,
        channel_tokens=parse_channel_tokens(f"online-form:{CHANNEL_TOKEN}"),
        operator_tokens=parse_operator_tokens(f"admin:{ADMIN_TOKEN}:*,dvla-ops:{DVLA_TOKEN}:dvla"),
    )
    port = free_port()
    server = _Server(
        uvicorn.Config(
            create_app(TrackerSettings(), readside=readside),
            host="127.0.0.1",
            port=port,
            log_config=None,
            access_log=False,
            lifespan="on",
        )
    )
    serving = asyncio.create_task(server.serve())

    async def started() -> bool:
        if serving.done():
            serving.result()  # raises why it stopped
        return server.started

    data_dir = tmp_path / "data"
    data_dir.mkdir()
    try:
        await apoll(started, timeout=10)
        yield Bus(
            url=f"http://127.0.0.1:{port}",
            store=store,
            control=control,
            data_dir=data_dir,
            changes=await _populate(store),
        )
    finally:
        server.should_exit = True
        await asyncio.wait_for(serving, timeout=10)
        await store.dispose()

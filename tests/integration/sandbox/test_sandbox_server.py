"""The sandbox departments served for real by uvicorn, driven by real HTTP clients."""

from __future__ import annotations

import base64
import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta

import httpx
import pytest
import uvicorn
import yaml
from standardwebhooks.webhooks import Webhook

from services.core.departments import load_registry
from services.core.resources import schemas_dir
from services.core.schema_registry import FileSchemaRegistry
from services.sandbox.app import create_sandbox_app
from services.sandbox.client import SandboxClient, SandboxError
from tests.support.net import free_port, poll
from tests.support.processes import ServiceProcess

pytestmark = pytest.mark.integration


def new_secret() -> str:
    return "whsec_" + base64.b64encode(os.urandom(24)).decode()


HMRC_SECRET = new_secret()
DVLA_OLD, DVLA_NEW = new_secret(), new_secret()


def write_registry(path, port, secrets):
    entries = [
        {
            "id": department,
            "name": f"Sandbox {department}",
            "endpoint": f"http://127.0.0.1:{port}/departments/{department}/events",
            "signing_secret": secret,
            "event_types": ["address_changed"],
            "fields": {"address_changed": ["subject.nino", "data.new_address"]},
            "max_concurrency": 4,
            "rate_limit_per_s": 50,
            "timeout_s": 5,
            "retry_schedule_s": [1, 5],
        }
        for department, secret in secrets.items()
    ]
    path.write_text(yaml.safe_dump({"departments": entries}), encoding="utf-8")
    return path


def change(reference=None):
    return {
        "event_id": str(uuid.uuid4()),
        "reference": reference or f"TUO-{uuid.uuid4().hex[:8].upper()}",
        "type": "address_changed",
        "occurred_at": "2025-01-02T03:04:05Z",
        "subject": {"nino": "QQ123456C"},
        "data": {"new_address": {"postcode": "BS1 4DJ"}},
    }


def signed(body, *secrets, webhook_id=None, at=None):
    """Body bytes and Standard Webhooks headers, signed with each secret given."""
    payload = json.dumps(body)
    webhook_id = webhook_id or f"msg_{uuid.uuid4().hex}"
    at = at or datetime.now(UTC)
    signature = " ".join(Webhook(s).sign(webhook_id, at, payload) for s in secrets)
    headers = {
        "content-type": "application/json",
        "webhook-id": webhook_id,
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": signature,
    }
    return payload.encode(), headers


class ThreadedServer:
    """uvicorn (uvloop + httptools, as ``serve_app``) in a background thread."""

    def __init__(self, app, port):
        config = uvicorn.Config(
            app,
            host="127.0.0.1",
            port=port,
            loop="uvloop",
            http="httptools",
            log_config=None,
            access_log=False,
            timeout_graceful_shutdown=2,
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def start(self):
        self.thread.start()
        poll(lambda: self.server.started, timeout=10)

    def stop(self):
        self.server.should_exit = True
        self.thread.join(10)


@pytest.fixture(scope="module")
def sandbox_url(tmp_path_factory):
    port = free_port()
    path = write_registry(
        tmp_path_factory.mktemp("sandbox") / "departments.yaml",
        port,
        {"hmrc": HMRC_SECRET, "dvla": f"{DVLA_OLD} {DVLA_NEW}"},
    )
    known = set(FileSchemaRegistry(schemas_dir()).event_types())
    registry = load_registry(path, known_event_types=known, require_secrets=True)
    server = ThreadedServer(create_sandbox_app(registry), port)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


@pytest.fixture
async def sandbox(sandbox_url):
    async with SandboxClient(sandbox_url) as client:
        await client.reset()
        yield client


@pytest.fixture
async def http(sandbox_url):
    async with httpx.AsyncClient(base_url=sandbox_url, timeout=10) as client:
        yield client


async def push(http, department="hmrc", body=None, secret=HMRC_SECRET, **signing):
    content, headers = signed(body or change(), secret, **signing)
    return await http.post(f"/departments/{department}/events", content=content, headers=headers)


async def test_a_validly_signed_push_is_answered_200_and_recorded(sandbox, http):
    body = change()
    response = await push(http, body=body)
    assert response.status_code == 200
    assert response.json() == {"received": True, "duplicate": False}
    (record,) = await sandbox.received("hmrc")
    assert record.body == body
    assert record.signature_valid
    assert not record.duplicate
    assert record.headers["webhook-id"].startswith("msg_")


async def test_a_push_with_a_bad_signature_is_refused_with_401_and_flagged(sandbox, http):
    response = await push(http, secret=new_secret())
    assert response.status_code == 401
    assert response.headers["content-type"] == "application/problem+json"
    (record,) = await sandbox.received("hmrc")
    assert not record.signature_valid
    assert record.outcome == "rejected_signature"
    assert await sandbox.received("hmrc", unique=True) == []


async def test_a_push_without_signature_headers_is_refused_with_401(sandbox, http):
    response = await http.post("/departments/hmrc/events", json=change())
    assert response.status_code == 401


async def test_a_push_stamped_more_than_five_minutes_ago_is_refused_with_401(sandbox, http):
    old = datetime.now(UTC) - timedelta(minutes=6)
    response = await push(http, at=old)
    assert response.status_code == 401
    assert "webhook-timestamp" in response.json()["detail"]


async def test_a_redelivered_webhook_id_is_answered_200_but_flagged_duplicate(sandbox, http):
    body = change()
    first = await push(http, body=body, webhook_id="msg_same")
    again = await push(http, body=body, webhook_id="msg_same")
    assert first.json() == {"received": True, "duplicate": False}
    assert again.status_code == 200
    assert again.json() == {"received": True, "duplicate": True}
    assert [r.duplicate for r in await sandbox.received("hmrc")] == [False, True]
    assert len(await sandbox.received("hmrc", unique=True)) == 1


@pytest.mark.parametrize("secret", [DVLA_OLD, DVLA_NEW], ids=["old", "new"])
async def test_either_secret_of_a_rotation_verifies(sandbox, http, secret):
    assert (await push(http, "dvla", secret=secret)).status_code == 200


async def test_one_good_signature_among_several_is_enough(sandbox, http):
    content, headers = signed(change(), new_secret(), DVLA_NEW)
    response = await http.post("/departments/dvla/events", content=content, headers=headers)
    assert response.status_code == 200


async def test_an_unknown_department_is_404(sandbox, http):
    assert (await push(http, "nobody")).status_code == 404
    with pytest.raises(SandboxError) as caught:
        await sandbox.received("nobody")
    assert caught.value.status == 404


async def test_a_503_fault_for_two_requests_fails_exactly_two_then_accepts(sandbox, http):
    await sandbox.add_fault("hmrc", kind="status", status=503, times=2)
    statuses = [(await push(http)).status_code for _ in range(3)]
    assert statuses == [503, 503, 200]
    assert [r.outcome for r in await sandbox.received("hmrc")] == [
        "faulted",
        "faulted",
        "accepted",
    ]
    assert await sandbox.faults("hmrc") == []


async def test_a_rate_limit_fault_answers_429_with_retry_after(sandbox, http):
    await sandbox.add_fault("hmrc", kind="rate_limited", retry_after_s=7, times=1)
    response = await push(http)
    assert response.status_code == 429
    assert response.headers["retry-after"] == "7"


async def test_a_410_fault_answers_410(sandbox, http):
    await sandbox.add_fault("hmrc", kind="status", status=410)
    assert (await push(http)).status_code == 410


async def test_a_422_fault_answers_422_with_the_reason(sandbox, http):
    await sandbox.add_fault("hmrc", kind="status", status=422, reason="NINO not known")
    response = await push(http)
    assert response.status_code == 422
    assert response.json()["detail"] == "NINO not known"


async def test_a_slow_fault_answers_200_no_sooner_than_the_delay(sandbox, http):
    await sandbox.add_fault("hmrc", kind="slow", seconds=0.4, times=1)
    started = time.monotonic()
    response = await push(http)
    assert response.status_code == 200
    assert time.monotonic() - started >= 0.4
    assert len(await sandbox.received("hmrc", unique=True)) == 1


async def test_a_timeout_fault_makes_a_client_with_a_shorter_timeout_time_out(sandbox, http):
    await sandbox.add_fault("hmrc", kind="timeout", seconds=30, times=1)
    content, headers = signed(change(), HMRC_SECRET)
    async with httpx.AsyncClient(base_url=http.base_url, timeout=0.5) as impatient:
        with pytest.raises(httpx.TimeoutException):
            await impatient.post("/departments/hmrc/events", content=content, headers=headers)
    assert await sandbox.received("hmrc", unique=True) == []
    assert (await push(http)).status_code == 200


async def test_a_drop_fault_closes_the_connection_without_a_response(sandbox, http):
    await sandbox.add_fault("hmrc", kind="drop", times=1)
    with pytest.raises(httpx.RemoteProtocolError):
        await push(http)
    assert (await push(http)).status_code == 200
    assert [r.fault for r in await sandbox.received("hmrc")] == ["drop", None]


async def test_a_fault_matched_by_reference_affects_only_that_reference(sandbox, http):
    await sandbox.add_fault("hmrc", kind="status", status=500, reference="TUO-UNLUCKY")
    assert (await push(http, body=change("TUO-UNLUCKY"))).status_code == 500
    assert (await push(http, body=change("TUO-LUCKY"))).status_code == 200
    assert (await push(http, "dvla", body=change("TUO-UNLUCKY"), secret=DVLA_NEW)).is_success
    found = await sandbox.received_anywhere(reference="TUO-UNLUCKY")
    assert sorted((r.department, r.outcome) for r in found) == [
        ("dvla", "accepted"),
        ("hmrc", "faulted"),
    ]


@pytest.mark.parametrize(
    "rule",
    [
        {"kind": "explode"},
        {"kind": "status"},
        {"kind": "drop", "seconds": 1},
        {"kind": "drop", "x": 1},
    ],
)
async def test_a_fault_rule_that_makes_no_sense_is_refused_with_422(sandbox_url, rule):
    async with httpx.AsyncClient(base_url=sandbox_url) as client:
        response = await client.post("/sandbox/departments/hmrc/faults", json=rule)
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["errors"]


async def test_clearing_faults_and_resetting_restore_normal_service(sandbox, http):
    await sandbox.add_fault("hmrc", kind="status", status=503)
    assert await sandbox.clear_faults("hmrc") == 1
    assert (await push(http)).status_code == 200
    await sandbox.add_fault("hmrc", kind="drop")
    await sandbox.reset()
    assert await sandbox.received("hmrc") == []
    assert (await push(http)).status_code == 200


async def test_waiting_for_records_polls_until_they_arrive_or_the_deadline(sandbox, http):
    await push(http)
    records = await sandbox.wait_for("hmrc", lambda rs: len(rs) == 1, timeout=5)
    assert len(records) == 1
    with pytest.raises(TimeoutError):
        await sandbox.wait_for("hmrc", lambda rs: len(rs) == 2, timeout=0.2)


def test_the_sandbox_command_serves_the_registry_and_remembers_across_a_kill(tmp_path):
    port = free_port()
    registry = write_registry(tmp_path / "departments.yaml", port, {"hmrc": "env:TUO_SECRET_HMRC"})
    args = ["sandbox", "--sandbox-port", str(port), "--departments", str(registry)]
    env = {"TUO_SECRET_HMRC": HMRC_SECRET, "TUO_DATA_DIR": str(tmp_path / "data")}
    url = f"http://127.0.0.1:{port}"
    body, webhook_id = change(), f"msg_{uuid.uuid4().hex}"

    def run_once():
        process = CommandProcess(args, env, tmp_path / "sandbox.log")
        process.start()
        poll(lambda: _healthy(url, process), timeout=30)
        content, headers = signed(body, HMRC_SECRET, webhook_id=webhook_id)
        answer = httpx.post(f"{url}/departments/hmrc/events", content=content, headers=headers)
        process.stop(signal.SIGKILL)
        return answer.json()

    assert run_once() == {"received": True, "duplicate": False}
    assert run_once() == {"received": True, "duplicate": True}
    journal = tmp_path / "data" / "sandbox" / "received.jsonl"
    assert journal.stat().st_mode & 0o777 == 0o600


class CommandProcess(ServiceProcess):
    """The ``sandbox`` click command in a child process (main.py registers it separately)."""

    def start(self):
        handle = self.log.open("ab")
        code = "from services.cli.sandbox import sandbox_command; sandbox_command()"
        self.process = subprocess.Popen(
            [sys.executable, "-c", code, *self.args[1:]],
            env=self.env,
            stdout=handle,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        handle.close()


def _healthy(url, process):
    if process.process is not None and process.process.poll() is not None:
        raise AssertionError(f"sandbox exited:\n{process.output()}")
    try:
        return httpx.get(f"{url}/healthz", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False

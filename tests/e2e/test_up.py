"""`tellusonce up` end to end: every example reaches its departments and shows `delivered`;
a dead letter is redelivered from the operator API; a killed tracker converges."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from services.core.resources import schemas_dir
from tests.support.bus import test_registry as write_test_registry
from tests.support.bus import unique_nino
from tests.support.net import free_port, poll

pytestmark = pytest.mark.e2e

EXAMPLES = sorted(schemas_dir().glob("*/examples/*.json"))


@dataclass
class Up:
    process: subprocess.Popen[str]
    port: int
    sandbox_port: int
    data_dir: Path
    lines: list[str]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def sandbox(self) -> str:
        return f"http://127.0.0.1:{self.sandbox_port}"

    def credentials(self) -> dict[str, str]:
        return json.loads((self.data_dir / "credentials.json").read_text())

    def channel(self) -> dict[str, str]:
        token = self.credentials()["channel_tokens"].split(",")[0].split(":")[1]
        return {"Authorization": f"Bearer {token}"}

    def operator(self) -> dict[str, str]:
        token = self.credentials()["operator_tokens"].split(",")[0].split(":")[1]
        return {"Authorization": f"Bearer {token}"}

    def submit(self, body: dict[str, Any]) -> dict[str, Any]:
        response = httpx.post(f"{self.url}/v1/changes", json=body, headers=self.channel())
        assert response.status_code == 202, response.text
        return response.json()

    def status(self, reference: str) -> dict[str, Any] | None:
        response = httpx.get(f"{self.url}/v1/changes/{reference}", headers=self.channel())
        return response.json() if response.status_code == 200 else None

    def output(self) -> str:
        return "".join(self.lines)


def _start_up(tmp_path: Path, *, registry: Path | None = None) -> Up:
    port, broker_port, sandbox_port = free_port(), free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("TUO_")} | {
        "TUO_DATA_DIR": str(tmp_path / "data"),
        "TUO_DELIVERY_PROBE_AFTER_S": "1",
    }
    args = ["--port", str(port), "--broker-port", str(broker_port)]
    args += ["--sandbox-port", str(sandbox_port)]
    if registry is not None:
        write_test_registry(registry, sandbox_port)
        args += ["--departments", str(registry)]
    process = subprocess.Popen(
        [sys.executable, "-m", "services.cli", "up", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    lines: list[str] = []
    threading.Thread(target=lambda: lines.extend(process.stdout), daemon=True).start()
    up = Up(process, port, sandbox_port, tmp_path / "data", lines)
    poll(lambda: "[up] ready" in up.output() or process.poll() is not None, timeout=120)
    assert process.poll() is None, up.output()
    return up


def _stop_up(up: Up) -> None:
    if up.process.poll() is None:
        up.process.send_signal(signal.SIGINT)
    try:
        up.process.wait(60)
    finally:
        if up.process.poll() is None:
            os.killpg(up.process.pid, signal.SIGKILL)
        up.process.stdout.close()


@pytest.fixture(scope="module")
def up(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Up]:
    """One bus for the module, on a registry with sub-second retries (quick dead letters)."""
    tmp = tmp_path_factory.mktemp("up")
    running = _start_up(tmp, registry=tmp / "departments.yaml")
    yield running
    _stop_up(running)


def _submit_examples(up: Up) -> dict[str, set[str]]:
    """Submit every example with `tellusonce submit`; the departments told, by reference."""
    submitted = subprocess.run(
        [
            *(sys.executable, "-m", "services.cli", "submit", "--url", up.url),
            *("--data-dir", str(up.data_dir), *map(str, EXAMPLES)),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert submitted.returncode == 0, submitted.stdout + submitted.stderr
    told = {}
    for line in submitted.stdout.splitlines():
        if "telling" in line:
            reference = line.split(": ")[1].split()[0]
            told[reference] = set(line.split("telling ")[1].rstrip(")").split(", "))
    assert len(told) == len(EXAMPLES)
    return told


def _all_delivered(up: Up, told: dict[str, set[str]], waiting: dict[str, Any]) -> bool:
    waiting.clear()
    for reference, departments in told.items():
        status = up.status(reference)
        shown = {} if status is None else {d["department"]: d for d in status["deliveries"]}
        if set(shown) != departments or any(d["status"] != "delivered" for d in shown.values()):
            waiting[reference] = {d: s["status"] for d, s in shown.items()}
    return not waiting


def test_every_example_is_shown_delivered_to_exactly_its_departments_once_signed(up):
    assert (up.data_dir / "credentials.json").stat().st_mode & 0o777 == 0o600
    assert up.data_dir.stat().st_mode & 0o777 == 0o700  # the stores in it hold personal data
    token = up.credentials()["channel_tokens"].split(",")[0].split(":")[1]
    assert token in up.output()  # printed once for the person who ran `up`
    assert f"{up.url}/ops/" in up.output()
    told = _submit_examples(up)
    waiting: dict[str, Any] = {}
    try:
        poll(lambda: _all_delivered(up, told, waiting), timeout=120, interval=0.5)
    except AssertionError:
        raise AssertionError(f"not shown delivered: {dict(list(waiting.items())[:3])}") from None
    for reference, departments in told.items():
        status = up.status(reference)
        assert status is not None
        for delivery in status["deliveries"]:
            assert delivery["delivered_at"] is not None
            assert delivery["attempts"] >= 1
        received = httpx.get(f"{up.sandbox}/sandbox/received", params={"reference": reference})
        records = [r for r in received.json()["received"] if r["outcome"] == "accepted"]
        assert all(r["signature_valid"] for r in records)
        # Each department received the change once (a duplicate would be "duplicate").
        assert sorted(r["department"] for r in records) == sorted(departments)


def _move(nino: str) -> dict[str, Any]:
    body = json.loads(
        (schemas_dir() / "address_changed/examples/v1-bristol-to-cardiff.json").read_text()
    )
    body["subject"]["nino"] = nino
    body["consent"]["notify"] = ["hmrc", "dvla"]
    return body


def _delivery(up: Up, reference: str, department: str) -> dict[str, Any] | None:
    response = httpx.get(
        f"{up.url}/ops/deliveries",
        params={"reference": reference, "department": department},
        headers=up.operator(),
    )
    assert response.status_code == 200, response.text
    items = response.json()["items"]
    return items[0] if items else None


def test_a_dead_letter_is_redelivered_from_the_operator_api_with_the_same_id(up):
    fault = {"kind": "status", "status": 503, "times": 100}
    added = httpx.post(f"{up.sandbox}/sandbox/departments/dvla/faults", json=fault)
    assert added.status_code in (200, 201), added.text
    accepted = up.submit(_move(unique_nino()))
    reference = accepted["reference"]

    def failed() -> dict[str, Any] | None:
        delivery = _delivery(up, reference, "dvla")
        return delivery if delivery and delivery["status"] == "failed" else None

    dead = poll(failed, timeout=60, interval=0.3)
    assert [a["status_code"] for a in dead["attempts"]] == [503] * 4  # first try + 3 retries
    assert httpx.delete(f"{up.sandbox}/sandbox/departments/dvla/faults").status_code == 200
    redeliver = httpx.post(
        f"{up.url}/ops/deliveries/{dead['delivery_id']}/redeliver", headers=up.operator()
    )
    assert redeliver.status_code == 202, redeliver.text

    def delivered() -> bool:
        status = up.status(reference)
        return status is not None and all(d["status"] == "delivered" for d in status["deliveries"])

    poll(delivered, timeout=60, interval=0.3)
    records = httpx.get(
        f"{up.sandbox}/sandbox/departments/dvla/received", params={"unique": "true"}
    ).json()["received"]
    mine = [r for r in records if r["body"] and r["body"]["reference"] == reference]
    assert [r["webhook_id"] for r in mine] == [dead["delivery_id"]]


def _child_pid(parent: int, command: str) -> int:
    """The pid of `up`'s child running ``tellusonce <command>``."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        if ppid == parent and argv[-3:-1] == [b"services.cli", command.encode()]:
            return int(entry.name)
    raise AssertionError(f"no {command} child of {parent}")


def _nice(pid: int) -> int:
    return int((Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[16])


def test_the_tracker_yields_the_cpu_to_the_delivery_path(up):
    tracker = _nice(_child_pid(up.process.pid, "tracker"))
    assert tracker == min(19, _nice(_child_pid(up.process.pid, "adapters")) + 10)


def test_a_tracker_killed_mid_stream_is_restarted_and_every_status_converges(up):
    told: dict[str, set[str]] = {}
    tracker = _child_pid(up.process.pid, "tracker")
    with httpx.Client(base_url=up.url, headers=up.channel()) as client:
        for index in range(120):
            if index == 40:
                os.kill(tracker, signal.SIGKILL)
            response = client.post("/v1/changes", json=_move(unique_nino()))
            assert response.status_code == 202, response.text
            accepted = response.json()
            told[accepted["reference"]] = set(accepted["notified"])
    poll(lambda: "tracker restarted" in up.output(), timeout=30)
    assert _child_pid(up.process.pid, "tracker") != tracker
    waiting: dict[str, Any] = {}
    try:
        poll(lambda: _all_delivered(up, told, waiting), timeout=120, interval=1.0)
    except AssertionError:
        example = next(iter(waiting.items()))
        raise AssertionError(f"{len(waiting)} not converged, e.g. {example}") from None


def test_up_stops_cleanly_on_sigterm(tmp_path):
    up = _start_up(tmp_path)
    try:
        up.process.send_signal(signal.SIGTERM)
        assert up.process.wait(60) == 0
        with pytest.raises(httpx.HTTPError):
            httpx.get(f"{up.url}/healthz", timeout=1)
    finally:
        _stop_up(up)

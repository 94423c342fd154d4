"""A whole bus of real processes for delivery tests: broker, sandbox, adapters, intake."""

from __future__ import annotations

import base64
import itertools
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import yaml

from services.core.resources import default_departments_file
from services.delivery.domain import delivery_id_for
from services.sandbox.client import SandboxClient
from tests.support.net import free_port, poll
from tests.support.processes import (
    CHANNEL_TOKEN,
    OPERATOR_TOKEN,
    IntakeProcess,
    ServiceProcess,
)

_NINOS = itertools.count(100001)


def unique_nino() -> str:
    """A valid NINO no other test uses (prefix JT, suffix A)."""
    return f"JT{next(_NINOS):06d}A"


def test_registry(path: Path, sandbox_port: int, **overrides: Any) -> dict[str, list[str]]:
    """The shipped registry pointed at the sandbox, with literal secrets and quick retries.

    Returns the secrets by department id.
    """
    raw = yaml.safe_load(default_departments_file().read_text(encoding="utf-8"))
    secrets: dict[str, list[str]] = {}
    for entry in raw["departments"]:
        secret = "whsec_" + base64.b64encode(os.urandom(24)).decode()
        secrets[entry["id"]] = [secret]
        entry["endpoint"] = f"http://127.0.0.1:{sandbox_port}/departments/{entry['id']}/events"
        entry["signing_secret"] = secret
        entry["retry_schedule_s"] = [0.3, 0.3, 0.3]
        entry["timeout_s"] = 1.0
        entry.update(overrides.get(entry["id"], {}))
    path.write_text(yaml.safe_dump(raw), encoding="utf-8")
    return secrets


@dataclass
class Bus:
    bootstrap: str
    data_dir: Path
    registry: Path
    secrets: dict[str, list[str]]
    sandbox_port: int
    env: dict[str, str]
    intake: IntakeProcess
    sandbox_process: ServiceProcess
    adapters: ServiceProcess
    tracker: ServiceProcess
    processes: list[ServiceProcess] = field(default_factory=list)

    @property
    def sandbox(self) -> SandboxClient:
        return SandboxClient(f"http://127.0.0.1:{self.sandbox_port}")

    def submit(self, body: dict[str, Any]) -> dict[str, Any]:
        response = httpx.post(
            f"{self.intake.url}/v1/changes",
            json=body,
            headers={"Authorization": f"Bearer {CHANNEL_TOKEN}"},
            timeout=10,
        )
        assert response.status_code == 202, response.text
        return response.json()

    def status(self, reference: str) -> dict[str, Any]:
        """The change's status as the public API reports it."""
        response = httpx.get(
            f"{self.intake.url}/v1/changes/{reference}",
            headers={"Authorization": f"Bearer {CHANNEL_TOKEN}"},
            timeout=10,
        )
        assert response.status_code in (200, 404), response.text
        return response.json() if response.status_code == 200 else {}

    def ops(self, method: str, path: str, **params: Any) -> httpx.Response:
        """A call to the operator API with a scope-``*`` token."""
        return httpx.request(
            method,
            f"{self.intake.url}{path}",
            params=params or None,
            headers={"Authorization": f"Bearer {OPERATOR_TOKEN}"},
            timeout=10,
        )

    def new_tracker(self) -> ServiceProcess:
        return ServiceProcess(["tracker"], self.env, self.data_dir / "tracker.log")

    def new_adapters(self) -> ServiceProcess:
        return ServiceProcess(
            ["adapters", "--departments", str(self.registry)],
            self.env,
            self.data_dir / "adapters.log",
        )


def delivery_id(accepted: dict[str, Any], department: str) -> str:
    return delivery_id_for(accepted["event_id"], department)


def start_bus(tmp: Path, bootstrap: str, extra_env: dict[str, str] | None = None) -> Bus:
    sandbox_port = free_port()
    registry = tmp / "departments.yaml"
    secrets = test_registry(registry, sandbox_port)
    env = {
        "TUO_KAFKA_BOOTSTRAP": bootstrap,
        "TUO_KAFKA_IDEMPOTENT_PRODUCER": "false",
        "TUO_DATA_DIR": str(tmp),
        "TUO_DEPARTMENTS": str(registry),
        "TUO_DELIVERY_PROBE_AFTER_S": "1",
        "TUO_LOG_LEVEL": "INFO",
        **(extra_env or {}),
    }
    sandbox = ServiceProcess(
        ["sandbox", "--sandbox-port", str(sandbox_port), "--departments", str(registry)],
        env,
        tmp / "sandbox.log",
    )
    intake = IntakeProcess(bootstrap, tmp, extra_env={"TUO_DEPARTMENTS": str(registry)})
    bus = Bus(
        bootstrap=bootstrap,
        data_dir=tmp,
        registry=registry,
        secrets=secrets,
        sandbox_port=sandbox_port,
        env=env,
        intake=intake,
        sandbox_process=sandbox,
        adapters=ServiceProcess([], env, tmp / "adapters.log"),
        tracker=ServiceProcess([], env, tmp / "tracker.log"),
    )
    bus.adapters = bus.new_adapters()
    bus.tracker = bus.new_tracker()
    for process in (sandbox, bus.adapters, bus.tracker, intake):
        process.start()
    intake.wait_ready()
    poll(lambda: _healthy(f"http://127.0.0.1:{sandbox_port}/healthz"), timeout=30)
    return bus


def _healthy(url: str) -> bool:
    try:
        return httpx.get(url, timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def stop_bus(bus: Bus) -> None:
    for process in (bus.intake, bus.tracker, bus.adapters, bus.sandbox_process):
        process.stop()

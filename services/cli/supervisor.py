"""Runs the parts of the bus as child processes and restarts any that crash."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

__all__ = ["Child", "Supervisor"]


@dataclass(kw_only=True)
class Child:
    """One supervised process: ``tellusonce <args>`` with extra environment."""

    name: str
    args: list[str]
    env: Mapping[str, str] = field(default_factory=dict)
    process: subprocess.Popen[bytes] | None = None
    restarts: int = 0
    next_start: float = 0.0

    def start(self) -> None:
        """Start (or restart) the child in its own process group."""
        self.process = subprocess.Popen(  # noqa: S603 - our own interpreter and module
            [sys.executable, "-m", "services.cli", *self.args],
            env={**os.environ, **self.env},
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )

    def exited(self) -> int | None:
        """The exit code if the child has exited, else None."""
        return None if self.process is None else self.process.poll()


class Supervisor:
    """Starts children in order, restarts crashed ones with back-off, stops them in reverse."""

    def __init__(self, children: list[Child], say: Callable[[str], None]) -> None:
        self.children = children
        self._say = say
        self._stopping = False

    def start_all(self) -> None:
        """Start every child."""
        for child in self.children:
            child.start()

    def request_stop(self, *_: object) -> None:
        """Signal handler: stop supervising and shut down."""
        self._stopping = True

    def watch(self, *, tick: float = 0.5) -> None:
        """Restart crashed children until a stop is requested."""
        while not self._stopping:
            now = time.monotonic()
            for child in self.children:
                code = child.exited()
                if code is None or child.next_start > now:
                    continue
                if child.next_start == 0.0:
                    delay = min(2.0 ** min(child.restarts, 5) * 0.5, 15.0)
                    self._say(f"{child.name} exited with code {code}; restarting in {delay:.1f}s")
                    child.next_start = now + delay
                    continue
                child.restarts += 1
                child.next_start = 0.0
                child.start()
                self._say(f"{child.name} restarted (restart #{child.restarts})")
            time.sleep(tick)
        self.stop_all()

    def stop_all(self, timeout: float = 15.0) -> None:
        """SIGTERM every child (last started first) and wait; SIGKILL stragglers."""
        for child in reversed(self.children):
            if child.process is not None and child.process.poll() is None:
                child.process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + timeout
        for child in reversed(self.children):
            if child.process is None:
                continue
            try:
                child.process.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                child.process.kill()
                child.process.wait()

"""Child processes of the benchmarks, and what they cost (CPU seconds, peak RSS) from /proc.

Every benchmark starts the processes it measures the same way: ``python -m <module> …``
with this interpreter, in its own session (so a Ctrl-C at the terminal reaches only the
benchmark, which then stops its children in order), logging to a file, with none of the
caller's ``TUO_`` settings (the run sets its own, so it is the same on every machine).
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "ChildProcess",
    "ProcessUsage",
    "clean_environment",
    "free_port",
    "machine_cpu_s",
    "read_usage",
    "reset_peak_rss",
]

_HOST = "127.0.0.1"
_STOP_TIMEOUT_S = 20.0


def free_port(host: str = _HOST) -> int:
    """A TCP port nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def clean_environment() -> dict[str, str]:
    """This process's environment without any ``TUO_`` setting (the run sets its own)."""
    return {k: v for k, v in os.environ.items() if not k.startswith("TUO_")}


@dataclass(frozen=True, kw_only=True)
class ProcessUsage:
    """CPU seconds (user + system, every thread) used so far, and the peak resident set."""

    cpu_s: float
    peak_rss_mb: float


def read_usage(pid: int) -> ProcessUsage | None:
    """``utime + stime`` from ``/proc/<pid>/stat`` and ``VmHWM`` from its status; None if gone."""
    try:
        status = Path(f"/proc/{pid}/status").read_text(encoding="ascii")
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="ascii")
    except OSError:
        return None
    peak_kb = next(
        (int(line.split()[1]) for line in status.splitlines() if line.startswith("VmHWM:")), 0
    )
    fields = stat.rpartition(")")[2].split()  # fields[11:13]: utime, stime in clock ticks
    ticks = int(fields[11]) + int(fields[12])
    return ProcessUsage(cpu_s=ticks / os.sysconf("SC_CLK_TCK"), peak_rss_mb=peak_kb / 1024)


def reset_peak_rss(pid: int) -> bool:
    """Start ``VmHWM`` again from the current RSS (``clear_refs`` 5); False if not allowed."""
    try:
        Path(f"/proc/{pid}/clear_refs").write_text("5", encoding="ascii")
    except OSError:
        return False
    return True


def machine_cpu_s() -> float | None:
    """CPU seconds every core of this machine has spent busy since boot (``/proc/stat``)."""
    try:
        first = Path("/proc/stat").read_text(encoding="ascii").splitlines()[0].split()
    except (OSError, IndexError):
        return None
    # user nice system idle iowait irq softirq steal [guest guest_nice, already in user/nice]
    ticks = [int(value) for value in first[1:9]]
    busy = sum(ticks) - ticks[3] - ticks[4]
    return busy / os.sysconf("SC_CLK_TCK")


class ChildProcess:
    """``python -m <module> <args>`` in its own session, logging to a file, no ``TUO_`` env.

    ``env`` is added to the cleaned environment.
    """

    def __init__(
        self,
        name: str,
        module: str,
        args: Sequence[str] = (),
        *,
        log: Path,
        env: Mapping[str, str] | None = None,
    ) -> None:
        self.name, self.log = name, log
        self.argv = [sys.executable, "-m", module, *args]
        self._env = clean_environment() | dict(env or {})
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int | None:
        """The process id while it is running (or has exited but not been stopped)."""
        return self._process.pid if self._process is not None else None

    def start(self) -> None:
        """Start the process; its output goes to the log file."""
        with self.log.open("ab") as handle:
            self._process = subprocess.Popen(  # noqa: S603 - our own interpreter and modules
                self.argv,
                env=self._env,
                stdout=handle,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )

    def exited(self) -> bool:
        """Whether it was started and has exited since."""
        return self._process is not None and self._process.poll() is not None

    def log_tail(self, lines: int = 20) -> str:
        """The last lines of its log."""
        text = self.log.read_text(encoding="utf-8", errors="replace") if self.log.exists() else ""
        return "\n".join(text.splitlines()[-lines:])

    def usage(self) -> ProcessUsage | None:
        """Its CPU seconds and peak RSS so far (None if not running)."""
        pid = self.pid
        return read_usage(pid) if pid is not None else None

    def stop(self, timeout_s: float = _STOP_TIMEOUT_S) -> None:
        """SIGTERM, then SIGKILL if the process does not exit in time."""
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                process.kill()
            process.wait(timeout_s)

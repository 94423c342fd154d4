"""Run a script of ``benchmarks/`` as its docstring says: its own interpreter, its output."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

_BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"


def run_benchmark_script(name: str, *args: str) -> subprocess.CompletedProcess[str]:
    """``python benchmarks/<name> <args>``, its exit status and output (not checked here)."""
    return subprocess.run(
        [sys.executable, str(_BENCHMARKS / name), *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

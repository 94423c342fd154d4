"""Run the end-to-end benchmark: ``python benchmarks/bench_e2e.py [--rate R] [--duration S] ...``.

The same as ``tellusonce bench e2e`` (the project must be installed, e.g. editable);
see benchmarks/README.md.
"""

from __future__ import annotations

import sys

from services.cli.bench import bench_group

__all__: list[str] = []

if __name__ == "__main__":
    bench_group(["e2e", *sys.argv[1:]], prog_name="bench_e2e.py")

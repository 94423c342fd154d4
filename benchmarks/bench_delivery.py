"""Run the delivery benchmark: ``python benchmarks/bench_delivery.py [--deliveries N] [--json]``.

The same as ``tellusonce bench delivery`` (the project must be installed, e.g. editable);
see benchmarks/README.md.
"""

from __future__ import annotations

import sys

from services.cli.bench import bench_group

__all__: list[str] = []

if __name__ == "__main__":
    bench_group(["delivery", *sys.argv[1:]], prog_name="bench_delivery.py")

"""Interpreter settings for a long-running service, applied once it has started."""

from __future__ import annotations

import gc
import os
import sys

__all__ = ["lower_cpu_priority", "tune_for_service"]

#: Allocations between young-generation collections (CPython's default is 700).
_GC_YOUNG_THRESHOLD = 10_000
#: Longest wait for the GIL before the running thread is asked to give it up (CPython's
#: default is 5 ms).
_GIL_SWITCH_INTERVAL_S = 0.001


def tune_for_service() -> None:
    """Freeze start-up objects, collect garbage less often, hand the GIL over sooner.

    - Start-up objects (libraries, schemas, registry, settings) never become garbage:
      frozen, the collector's older-generation passes skip them.
    - A request or a delivery allocates a few hundred container objects that nearly all
      die by reference count; at the default young threshold a collection ran every few of
      them, each scanning everything in flight (measured: ~10% of the adapters' CPU per
      delivery, ~800 instead of ~30 collections per 8,500 intake requests, a higher p99).
    - Reads, and writes of large batches, run SQLite on other threads (aiosqlite's, the
      SQLite writer's): each result waits for the event loop's thread to give up the GIL,
      up to the switch interval. At 5 ms, when every statement crossed threads, that made
      up much of the adapters' latency under load (``tellusonce bench e2e``: p99 ~400 →
      ~220 ms at 1 ms); since writes became one call, 5 ms gave a p99 of 36 ms in one run
      and 158 ms in the next, 1 ms 51 to 58 ms in three.
    """
    gc.freeze()
    gc.set_threshold(_GC_YOUNG_THRESHOLD, *gc.get_threshold()[1:])
    sys.setswitchinterval(_GIL_SWITCH_INTERVAL_S)


def lower_cpu_priority(increment: int) -> None:
    """Make this process yield the CPU to the others on the machine (a nice increment).

    Call it before any thread starts: on Linux each thread has its own priority, and only
    threads started afterwards inherit the lowered one.
    """
    if increment > 0:
        os.nice(increment)

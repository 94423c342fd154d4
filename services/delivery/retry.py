"""Retry policy: the registry's schedule, with jitter, honouring Retry-After."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field

__all__ = ["RetryPolicy"]


@dataclass(frozen=True, kw_only=True)
class RetryPolicy:
    """When to try a failed delivery again, and when to give up.

    ``schedule_s[i]`` is the delay before retry ``i + 1``; after ``len(schedule_s)`` failed
    attempts the delivery fails. Each delay is spread by ±``jitter`` (a fraction) so that a
    department coming back is not hit by every retry at once; a ``Retry-After`` from the
    department is honoured (capped at ``max_retry_after_s``) when it asks for longer.
    """

    schedule_s: tuple[float, ...]
    jitter: float = 0.2
    max_retry_after_s: float = 3600.0
    rand: Callable[[], float] = field(default=random.random, compare=False)

    def delay_after(self, failures: int, retry_after_s: float | None = None) -> float | None:
        """Seconds to wait after the ``failures``-th failed attempt; None when exhausted."""
        if failures < 1 or failures > len(self.schedule_s):
            return None
        base = self.schedule_s[failures - 1]
        delay = base * (1 + self.jitter * (2 * self.rand() - 1))
        if retry_after_s is not None:
            delay = max(delay, min(retry_after_s, self.max_retry_after_s))
        return max(delay, 0.0)

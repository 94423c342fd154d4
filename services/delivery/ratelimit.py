"""A token bucket: a department is never sent more than its rate limit."""

from __future__ import annotations

import asyncio
import time

__all__ = ["TokenBucket"]


class TokenBucket:
    """``rate`` requests per second on average, bursts of at most ``burst``."""

    def __init__(self, rate: float, burst: float | None = None) -> None:
        self._rate = rate
        self._burst = max(1.0, burst if burst is not None else rate)
        self._tokens = self._burst
        self._last = time.monotonic()

    def try_acquire(self) -> bool:
        """Take a token if one is there now (no waiting)."""
        now = time.monotonic()
        self._tokens = min(self._burst, self._tokens + (now - self._last) * self._rate)
        self._last = now
        if self._tokens >= 1:
            self._tokens -= 1
            return True
        return False

    async def acquire(self) -> None:
        """Wait until one request may go (pacing, not synchronisation)."""
        while True:
            if self.try_acquire():
                return
            await asyncio.sleep((1 - self._tokens) / self._rate)

"""DepartmentGateway over aiohttp: signed POSTs, every answer turned into an Outcome."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime

import aiohttp

from services.core.departments import DepartmentSpec
from services.core.logging import scrub_text
from services.core.ports import Clock
from services.delivery.adapters.signing import WebhookSigner
from services.delivery.domain import Delivery, Outcome, OutcomeKind, classify_status

__all__ = ["AiohttpDepartmentGateway", "parse_retry_after"]

# aiohttp rather than httpx: measured ~12k vs ~0.5k POSTs/s at 64 concurrent on this
# machine (see docs/performance.md); the pool is one long-lived session per process.
_REASON_BYTES = 2048


def parse_retry_after(value: str | None, now: datetime) -> float | None:
    """Seconds from a ``Retry-After`` header (delta-seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        from email.utils import parsedate_to_datetime  # noqa: PLC0415 - rare path

        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - now).total_seconds())


class AiohttpDepartmentGateway:
    """Pushes deliveries of one department; never raises for the department's answer."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        department: DepartmentSpec,
        signer: WebhookSigner,
        clock: Clock,
    ) -> None:
        self._session = session
        self._url = str(department.endpoint)
        self._timeout = aiohttp.ClientTimeout(total=department.timeout_s)
        self._signer = signer
        self._clock = clock

    async def push(self, delivery: Delivery) -> Outcome:
        """One signed attempt; the webhook-id is the delivery id, the same every time."""
        now = self._clock.now()
        headers = {
            "content-type": "application/json",
            "webhook-id": delivery.delivery_id,
            "webhook-timestamp": str(int(now.timestamp())),
            "webhook-signature": self._signer.sign(delivery.delivery_id, now, delivery.body),
        }
        started = time.perf_counter()
        try:
            async with self._session.post(
                self._url, data=delivery.body, headers=headers, timeout=self._timeout
            ) as response:
                kind = classify_status(response.status)
                if kind is OutcomeKind.DELIVERED:
                    await response.read()
                    latency_ms = (time.perf_counter() - started) * 1000
                    return Outcome(kind=kind, status_code=response.status, latency_ms=latency_ms)
                raw = await response.content.read(_REASON_BYTES)
                reason = scrub_text(raw.decode(errors="replace")).strip() or None
                return Outcome(
                    kind=kind,
                    status_code=response.status,
                    latency_ms=(time.perf_counter() - started) * 1000,
                    error=reason,
                    retry_after_s=parse_retry_after(response.headers.get("retry-after"), now),
                )
        except TimeoutError:
            error = f"timeout after {self._timeout.total} s"
        except aiohttp.ClientError as exc:
            error = f"connection error: {type(exc).__name__}"
        except asyncio.CancelledError:
            raise
        return Outcome(
            kind=OutcomeKind.RETRYABLE,
            status_code=None,
            latency_ms=(time.perf_counter() - started) * 1000,
            error=error,
        )

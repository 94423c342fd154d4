"""What an attempt's outcome, an operator's command or a held circuit does to a delivery."""

from __future__ import annotations

from datetime import datetime, timedelta

from services.core.logging import scrub_text
from services.delivery.domain import (
    Attempt,
    Delivery,
    DeliveryState,
    Outcome,
    OutcomeKind,
    classify_status,
)
from services.delivery.retry import RetryPolicy

__all__ = ["after_attempt", "held", "redelivered", "retryable_failures"]

_REASON_LIMIT = 300


def retryable_failures(delivery: Delivery) -> int:
    """Failed attempts that count against the retry schedule (since the last redelivery)."""
    since = int(delivery.extra.get("retry_base", "0"))
    return sum(
        1
        for attempt in delivery.attempts[since:]
        if attempt.status_code is None
        or classify_status(attempt.status_code) is OutcomeKind.RETRYABLE
    )


def after_attempt(
    delivery: Delivery, outcome: Outcome, policy: RetryPolicy, now: datetime
) -> Delivery:
    """The delivery's next state after one attempt.

    2xx → delivered; 410 → held (the circuit opens); another 4xx → rejected with the
    department's reason; anything retryable → retrying on the schedule, or failed once the
    schedule is exhausted.
    """
    attempt = Attempt(
        at=now, status_code=outcome.status_code, latency_ms=outcome.latency_ms, error=outcome.error
    )
    attempts = (*delivery.attempts, attempt)
    if outcome.kind is OutcomeKind.DELIVERED:  # the common case: one copy
        return delivery.with_state(
            DeliveryState.DELIVERED, attempts=attempts, next_attempt_at=None, reason=None
        )
    tried = delivery.copy_with(attempts=attempts)
    if outcome.kind is OutcomeKind.GONE:
        return tried.with_state(
            DeliveryState.HELD, next_attempt_at=None, reason="department endpoint gone (410)"
        )
    if outcome.kind is OutcomeKind.REJECTED:
        reason = scrub_text(outcome.error or f"HTTP {outcome.status_code}")[:_REASON_LIMIT]
        return tried.with_state(DeliveryState.REJECTED, next_attempt_at=None, reason=reason)
    delay = policy.delay_after(retryable_failures(tried), outcome.retry_after_s)
    if delay is None:
        return tried.with_state(
            DeliveryState.FAILED,
            next_attempt_at=None,
            reason=f"retries exhausted after {len(attempts)} attempts: "
            f"{outcome.error or outcome.status_code}",
        )
    return tried.with_state(
        DeliveryState.RETRYING,
        next_attempt_at=now + timedelta(seconds=delay),
        reason=outcome.error or f"HTTP {outcome.status_code}",
    )


def held(delivery: Delivery, why: str) -> Delivery:
    """The department is paused or its circuit is open: the delivery waits, nothing is lost."""
    if delivery.state is DeliveryState.HELD:
        return delivery
    return delivery.with_state(DeliveryState.HELD, reason=why)


def redelivered(delivery: Delivery) -> Delivery:
    """An operator asked for another go: pending now, with a fresh retry schedule."""
    return delivery.with_state(
        DeliveryState.PENDING,
        next_attempt_at=None,
        reason=None,
        extra={**delivery.extra, "retry_base": str(len(delivery.attempts))},
    )

"""Retry schedule, circuit breaker and outcome handling: pure, with a fake clock."""

from datetime import UTC, datetime, timedelta

from services.delivery.circuit import CircuitBreaker
from services.delivery.domain import Delivery, DeliveryState, Outcome, OutcomeKind, classify_status
from services.delivery.handlers import after_attempt, redelivered, retryable_failures
from services.delivery.ports import CircuitState, DepartmentState
from services.delivery.retry import RetryPolicy

NOW = datetime(2026, 11, 1, 9, 30, tzinfo=UTC)


def _delivery(**changes) -> Delivery:
    return Delivery(
        delivery_id="d1",
        department="hmrc",
        event_id="e1",
        reference="AAAA-BBBB-CCCC",
        event_type="address_changed",
        citizen_key="k1",
        partition=0,
        offset=1,
        body=b"{}",
        created_at=NOW,
        **changes,
    )


def _outcome(kind, status=None, retry_after=None, error=None):
    return Outcome(
        kind=kind, status_code=status, latency_ms=3.0, retry_after_s=retry_after, error=error
    )


def test_status_codes_are_classified_as_the_contract_says():
    assert classify_status(204) is OutcomeKind.DELIVERED
    for code in (408, 425, 429, 500, 502, 503):
        assert classify_status(code) is OutcomeKind.RETRYABLE, code
    assert classify_status(410) is OutcomeKind.GONE
    for code in (400, 401, 403, 404, 409, 422):
        assert classify_status(code) is OutcomeKind.REJECTED, code


def test_the_schedule_is_followed_with_bounded_jitter_then_exhausted():
    low = RetryPolicy(schedule_s=(10, 100), jitter=0.2, rand=lambda: 0.0)
    high = RetryPolicy(schedule_s=(10, 100), jitter=0.2, rand=lambda: 1.0)
    assert low.delay_after(1) == 8.0
    assert high.delay_after(1) == 12.0
    assert low.delay_after(2) == 80.0
    assert low.delay_after(3) is None


def test_retry_after_is_honoured_when_it_asks_for_longer():
    policy = RetryPolicy(schedule_s=(1,), jitter=0.0)
    assert policy.delay_after(1, retry_after_s=30) == 30
    assert policy.delay_after(1, retry_after_s=0.5) == 1


def test_a_retryable_failure_schedules_the_next_attempt():
    policy = RetryPolicy(schedule_s=(5,), jitter=0.0)
    after = after_attempt(_delivery(), _outcome(OutcomeKind.RETRYABLE, 503), policy, NOW)
    assert after.state is DeliveryState.RETRYING
    assert after.next_attempt_at == NOW + timedelta(seconds=5)
    assert after.version == 1
    assert [a.status_code for a in after.attempts] == [503]
    failed = after_attempt(
        after, _outcome(OutcomeKind.RETRYABLE, None, error="timeout"), policy, NOW
    )
    assert failed.state is DeliveryState.FAILED
    assert "exhausted" in (failed.reason or "")


def test_a_business_refusal_is_rejected_with_the_reason_and_no_personal_data():
    policy = RetryPolicy(schedule_s=(5,))
    after = after_attempt(
        _delivery(),
        _outcome(OutcomeKind.REJECTED, 422, error="NINO JT483920B unknown"),
        policy,
        NOW,
    )
    assert after.state is DeliveryState.REJECTED
    assert "unknown" in (after.reason or "")
    assert "JT483920B" not in (after.reason or "")


def test_gone_holds_the_delivery_and_redelivery_resets_the_schedule():
    policy = RetryPolicy(schedule_s=(5,), jitter=0.0)
    held = after_attempt(_delivery(), _outcome(OutcomeKind.GONE, 410), policy, NOW)
    assert held.state is DeliveryState.HELD
    failed = after_attempt(held, _outcome(OutcomeKind.RETRYABLE, 500), policy, NOW)
    failed = after_attempt(failed, _outcome(OutcomeKind.RETRYABLE, 500), policy, NOW)
    assert failed.state is DeliveryState.FAILED
    again = redelivered(failed)
    assert again.state is DeliveryState.PENDING
    assert retryable_failures(again) == 0
    assert again.attempts == failed.attempts  # the log is kept


def test_the_circuit_opens_after_repeated_failures_and_probes_to_close():
    breaker = CircuitBreaker(
        DepartmentState(department="hmrc"), failure_threshold=3, probe_after_s=30
    )
    for _ in range(2):
        breaker.record(OutcomeKind.RETRYABLE, NOW)
    assert breaker.is_closed
    assert breaker.record(OutcomeKind.RETRYABLE, NOW)
    assert breaker.state.circuit is CircuitState.OPEN
    assert breaker.holding(NOW + timedelta(seconds=10))
    assert not breaker.allows(NOW + timedelta(seconds=10))
    assert breaker.allows(NOW + timedelta(seconds=31))  # one probe
    assert not breaker.allows(NOW + timedelta(seconds=31))  # only one
    breaker.record(OutcomeKind.DELIVERED, NOW + timedelta(seconds=32))
    assert breaker.is_closed


def test_gone_opens_the_circuit_at_once_and_a_failed_probe_waits_longer():
    breaker = CircuitBreaker(DepartmentState(department="hmrc"), probe_after_s=10)
    breaker.record(OutcomeKind.GONE, NOW)
    assert breaker.state.circuit is CircuitState.OPEN
    assert breaker.allows(NOW + timedelta(seconds=11))
    breaker.record(OutcomeKind.GONE, NOW + timedelta(seconds=11))
    assert breaker.seconds_until_probe(NOW + timedelta(seconds=11)) == 20

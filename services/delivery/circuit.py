"""A department's circuit breaker: it holds deliveries instead of discarding them."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

from services.delivery.domain import OutcomeKind
from services.delivery.ports import CircuitState, DepartmentState

__all__ = ["CircuitBreaker"]


class CircuitBreaker:
    """Opens on 410 Gone or after ``failure_threshold`` retryable failures in a row.

    While open nothing is sent; after ``probe_after_s`` (doubling up to ``max_probe_s``)
    one delivery is let through as a probe (half-open): success closes the circuit,
    failure opens it again. Any answer that proves the department is there (2xx or a
    business 4xx) resets the failure count.
    """

    def __init__(
        self,
        state: DepartmentState,
        *,
        failure_threshold: int = 5,
        probe_after_s: float = 30.0,
        max_probe_s: float = 600.0,
    ) -> None:
        self.state = state
        self._threshold = failure_threshold
        self._base_probe = probe_after_s
        self._probe = probe_after_s
        self._max_probe = max_probe_s
        self._probing = False

    @property
    def is_closed(self) -> bool:
        """Sending normally."""
        return self.state.circuit is CircuitState.CLOSED

    def holding(self, now: datetime) -> bool:
        """Open and not yet time to probe, or a probe is out: nothing may be sent."""
        if self.state.circuit is CircuitState.CLOSED:
            return False
        return self._probing or self.seconds_until_probe(now) > 0

    def allows(self, now: datetime) -> bool:
        """Whether an attempt may start now (a half-open circuit lets one probe through)."""
        if self.state.circuit is CircuitState.CLOSED:
            return True
        if self._probing:
            return False
        opened = self.state.opened_at or now
        if now - opened >= timedelta(seconds=self._probe):
            self.state = replace(self.state, circuit=CircuitState.HALF_OPEN)
            self._probing = True
            return True
        return False

    def seconds_until_probe(self, now: datetime) -> float:
        """How long until a probe may go (0 when closed)."""
        if self.state.circuit is CircuitState.CLOSED or self.state.opened_at is None:
            return 0.0
        elapsed = (now - self.state.opened_at).total_seconds()
        return max(0.0, self._probe - elapsed)

    def record(self, kind: OutcomeKind, now: datetime) -> bool:
        """Take one attempt's outcome into account; True if the circuit state changed."""
        before = self.state.circuit
        was_probe, self._probing = self._probing, False
        if kind is OutcomeKind.DELIVERED or kind is OutcomeKind.REJECTED:
            self._probe = self._base_probe
            state = self.state
            if (
                state.circuit is not CircuitState.CLOSED
                or state.opened_at
                or state.consecutive_failures
            ):
                self.state = replace(
                    state, circuit=CircuitState.CLOSED, opened_at=None, consecutive_failures=0
                )
        elif kind is OutcomeKind.GONE:
            self._open(now, grow=was_probe)
        else:
            failures = self.state.consecutive_failures + 1
            self.state = replace(self.state, consecutive_failures=failures)
            if was_probe or failures >= self._threshold:
                self._open(now, grow=was_probe)
        return self.state.circuit is not before

    def _open(self, now: datetime, *, grow: bool) -> None:
        if grow:
            self._probe = min(self._probe * 2, self._max_probe)
        self.state = replace(self.state, circuit=CircuitState.OPEN, opened_at=now)

"""Fault rules the sandbox departments obey: fail, throttle, stall, slow down or hang up."""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal, get_args

__all__ = ["FaultBook", "FaultKind", "FaultRule", "FaultRuleError", "FaultTarget"]

FaultKind = Literal["status", "rate_limited", "timeout", "slow", "drop"]

_KINDS = frozenset(get_args(FaultKind))
_DEFAULT_SECONDS: Mapping[str, float] = {"timeout": 60.0, "slow": 1.0}
_MAX_SECONDS = 3600.0


class FaultRuleError(ValueError):
    """A fault rule that makes no sense; ``field`` names the offending field."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


@dataclass(frozen=True, kw_only=True)
class FaultTarget:
    """What a rule is matched against: the department and a few top-level body fields."""

    department: str
    event_id: str | None = None
    reference: str | None = None
    event_type: str | None = None
    citizen: str | None = None

    @classmethod
    def from_body(cls, department: str, body: Mapping[str, Any]) -> FaultTarget:
        """Read ``event_id``, ``reference``, ``type`` and ``subject.nino`` from a push body."""
        subject = body.get("subject")
        nino = subject.get("nino") if isinstance(subject, Mapping) else None
        return cls(
            department=department,
            event_id=_text(body.get("event_id")),
            reference=_text(body.get("reference")),
            event_type=_text(body.get("type")),
            citizen=_text(nino),
        )


@dataclass(frozen=True, kw_only=True)
class FaultRule:
    """How one department misbehaves, for which requests, and how many more times.

    Kinds:
        ``status``: answer ``status`` (any code 200-599; 4xx/5xx as problem+json whose
        detail is ``reason``), with ``Retry-After: retry_after_s`` if given.
        ``rate_limited``: answer 429 with ``Retry-After: retry_after_s`` (default 1).
        ``timeout``: hold the request ``seconds`` (default 60) or until the caller gives
        up, then answer 504: a caller with a shorter timeout never gets an answer.
        ``slow``: wait ``seconds`` (default 1), then accept the push as usual (200).
        ``drop``: close the TCP connection without sending any response.

    Matching: every criterion given (``event_id``, ``reference``, ``event_type``,
    ``citizen`` = ``subject.nino``) must equal the request's; none given matches every
    request to ``department``. ``times`` limits the rule to the next N matching requests
    (None: until cleared). Only ``slow`` pushes are recorded as accepted; every other
    fault leaves the push undelivered, so a well-behaved caller retries it.
    """

    kind: FaultKind
    department: str
    status: int | None = None
    reason: str | None = None
    retry_after_s: int | None = None
    seconds: float | None = None
    times: int | None = None
    event_id: str | None = None
    reference: str | None = None
    event_type: str | None = None
    citizen: str | None = None

    def __post_init__(self) -> None:
        if self.kind not in _KINDS:
            raise FaultRuleError("kind", f"must be one of {sorted(_KINDS)}")
        if not self.department:
            raise FaultRuleError("department", "is required")
        if (self.kind == "status") != (self.status is not None):
            raise FaultRuleError("status", "is required for kind 'status' and only for it")
        if self.status is not None and not 200 <= self.status <= 599:
            raise FaultRuleError("status", "must be an HTTP status from 200 to 599")
        if self.reason is not None and self.kind not in {"status", "rate_limited"}:
            raise FaultRuleError("reason", "applies to kinds 'status' and 'rate_limited' only")
        self._check_retry_after()
        self._check_seconds()
        if self.times is not None and self.times < 1:
            raise FaultRuleError("times", "must be at least 1 (omit it for 'until cleared')")

    def _check_retry_after(self) -> None:
        if self.retry_after_s is not None and self.kind not in {"status", "rate_limited"}:
            raise FaultRuleError("retry_after_s", "applies to 'status' and 'rate_limited' only")
        if self.retry_after_s is not None and self.retry_after_s < 0:
            raise FaultRuleError("retry_after_s", "must be zero or more seconds")
        if self.kind == "rate_limited" and self.retry_after_s is None:
            object.__setattr__(self, "retry_after_s", 1)

    def _check_seconds(self) -> None:
        if self.seconds is not None and self.kind not in _DEFAULT_SECONDS:
            raise FaultRuleError("seconds", "applies to kinds 'timeout' and 'slow' only")
        if self.seconds is not None and not 0 <= self.seconds <= _MAX_SECONDS:
            raise FaultRuleError("seconds", f"must be between 0 and {_MAX_SECONDS:g}")
        if self.kind in _DEFAULT_SECONDS and self.seconds is None:
            object.__setattr__(self, "seconds", _DEFAULT_SECONDS[self.kind])

    def matches(self, target: FaultTarget) -> bool:
        """Whether this rule applies to a request (ignoring how many times are left)."""
        return target.department == self.department and all(
            wanted is None or wanted == actual
            for wanted, actual in (
                (self.event_id, target.event_id),
                (self.reference, target.reference),
                (self.event_type, target.event_type),
                (self.citizen, target.citizen),
            )
        )

    def to_json(self) -> dict[str, Any]:
        """The rule as the control API shows it (unset fields left out)."""
        return {k: v for k, v in dataclasses.asdict(self).items() if v is not None}


class FaultBook:
    """The rules in force, oldest first; the first matching rule wins.

    Not thread-safe: one event loop owns it. ``take`` counts the request against the rule
    it returns, so a rule with ``times=2`` fails exactly the next two matching requests
    (retries included) and then expires.
    """

    def __init__(self) -> None:
        self._rules: dict[str, FaultRule] = {}
        self._ids = itertools.count(1)

    def add(self, rule: FaultRule) -> str:
        """Put a rule in force after the existing ones; returns its id."""
        rule_id = f"fault-{next(self._ids)}"
        self._rules[rule_id] = rule
        return rule_id

    def take(self, target: FaultTarget) -> FaultRule | None:
        """The first rule matching ``target``, counted as used once; None if none applies."""
        for rule_id, rule in self._rules.items():
            if not rule.matches(target):
                continue
            if rule.times is None:
                return rule
            if rule.times <= 1:
                del self._rules[rule_id]
            else:
                self._rules[rule_id] = dataclasses.replace(rule, times=rule.times - 1)
            return rule
        return None

    def rules(self, department: str | None = None) -> dict[str, FaultRule]:
        """The rules in force (``times`` is what is left), by id, optionally for one department."""
        return {
            rule_id: rule
            for rule_id, rule in self._rules.items()
            if department is None or rule.department == department
        }

    def clear(self, department: str | None = None) -> int:
        """Remove the rules of one department (or all); returns how many were removed."""
        doomed = list(self.rules(department))
        for rule_id in doomed:
            del self._rules[rule_id]
        return len(doomed)


def _text(value: object) -> str | None:
    return value if isinstance(value, str) else None

"""What each sandbox department received, deduplicated by webhook-id, optionally journaled."""

from __future__ import annotations

import contextlib
import os
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any, Literal

import orjson

__all__ = ["KEPT_HEADERS", "Outcome", "Received", "Recorder"]

#: ``accepted``: first good delivery of a webhook-id; ``duplicate``: a later one (answered
#: 200 all the same); the rest were refused or failed on purpose and count as undelivered.
Outcome = Literal["accepted", "duplicate", "rejected_signature", "rejected_body", "faulted"]

#: The request headers kept with each record (none of them carries personal data).
KEPT_HEADERS = (
    "webhook-id",
    "webhook-timestamp",
    "webhook-signature",
    "content-type",
    "user-agent",
)


@dataclass(frozen=True, kw_only=True)
class Received:
    """One request to a department endpoint and what the sandbox made of it."""

    department: str
    webhook_id: str | None
    received_at: str
    outcome: Outcome
    signature_valid: bool
    duplicate: bool = False
    #: The status answered; None when the connection was dropped or held.
    status: int | None = None
    #: The parsed JSON body (None if it was not JSON).
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    #: For ``faulted``: the fault kind that was applied.
    fault: str | None = None

    @property
    def delivered(self) -> bool:
        """Accepted, first time or again: the department has the change."""
        return self.outcome in {"accepted", "duplicate"}

    def to_json(self) -> dict[str, Any]:
        """The record as JSON-ready data (the control API and the journal use this)."""
        return asdict(self)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Received:
        """Read back what ``to_json`` wrote (unknown keys are ignored)."""
        names = cls.__dataclass_fields__
        return cls(**{k: v for k, v in data.items() if k in names})


class Recorder:
    """Per department, the requests received in order, and the webhook-ids already accepted.

    A webhook-id is the delivery id, the same on every retry, so the second accepted
    delivery of an id is a ``duplicate``: answered 200 but left out of the unique view.
    With a ``journal`` every record is appended to a JSONL file (mode 0600), and the
    file is read back at start, so records and deduplication survive a restart.
    Only the newest ``max_per_department`` records are kept in memory per department.
    """

    def __init__(self, *, journal: Path | None = None, max_per_department: int = 100_000) -> None:
        self._max = max_per_department
        self._records: dict[str, deque[Received]] = {}
        self._accepted: dict[str, set[str]] = {}
        self._journal_path = journal
        self._journal: IO[bytes] | None = None
        if journal is not None and journal.exists():
            for record in _read_journal(journal):
                self._keep(record)

    def accept(
        self,
        department: str,
        *,
        webhook_id: str,
        body: Any,  # noqa: ANN401 - any JSON
        headers: Mapping[str, str],
    ) -> Received:
        """Record a verified push; it is a duplicate if this webhook-id was accepted before."""
        duplicate = webhook_id in self._accepted.get(department, set())
        return self._add(
            Received(
                department=department,
                webhook_id=webhook_id,
                received_at=_now(),
                outcome="duplicate" if duplicate else "accepted",
                signature_valid=True,
                duplicate=duplicate,
                status=200,
                body=body,
                headers=dict(headers),
            )
        )

    def refuse(
        self,
        department: str,
        *,
        outcome: Outcome,
        webhook_id: str | None,
        body: Any,  # noqa: ANN401 - any JSON
        headers: Mapping[str, str],
        status: int | None,
        signature_valid: bool = True,
        fault: str | None = None,
    ) -> Received:
        """Record a request that was not accepted (bad signature or body, or a fault)."""
        return self._add(
            Received(
                department=department,
                webhook_id=webhook_id,
                received_at=_now(),
                outcome=outcome,
                signature_valid=signature_valid,
                status=status,
                body=body,
                headers=dict(headers),
                fault=fault,
            )
        )

    def received(self, department: str, *, unique: bool = False) -> list[Received]:
        """Every request to ``department`` in order, or with ``unique`` only first acceptances."""
        records = self._records.get(department, ())
        return [r for r in records if not unique or r.outcome == "accepted"]

    def find(self, *, reference: str | None = None, event_id: str | None = None) -> list[Received]:
        """Records in every department whose body has this ``reference`` and/or ``event_id``."""
        found = []
        for records in self._records.values():
            for record in records:
                body = record.body if isinstance(record.body, dict) else {}
                if reference is not None and body.get("reference") != reference:
                    continue
                if event_id is not None and body.get("event_id") != event_id:
                    continue
                found.append(record)
        return sorted(found, key=lambda r: r.received_at)

    def reset(self) -> None:
        """Forget everything, the journal included."""
        self._records.clear()
        self._accepted.clear()
        self.close()
        if self._journal_path is not None:
            with contextlib.suppress(FileNotFoundError):
                self._journal_path.unlink()

    def close(self) -> None:
        """Close the journal file (it is reopened on the next record)."""
        journal, self._journal = self._journal, None
        if journal is not None:
            journal.close()

    def _add(self, record: Received) -> Received:
        self._keep(record)
        if self._journal_path is not None:
            if self._journal is None:
                self._journal = _open_journal(self._journal_path)
            self._journal.write(orjson.dumps(record.to_json()) + b"\n")
            self._journal.flush()
        return record

    def _keep(self, record: Received) -> None:
        records = self._records.setdefault(record.department, deque(maxlen=self._max))
        records.append(record)
        if record.outcome == "accepted" and record.webhook_id is not None:
            self._accepted.setdefault(record.department, set()).add(record.webhook_id)


def _now() -> str:
    return datetime.now(UTC).isoformat()


def _open_journal(path: Path) -> IO[bytes]:
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    return os.fdopen(descriptor, "ab")


def _read_journal(path: Path) -> Iterable[Received]:
    with path.open("rb") as handle:
        for line in handle:
            try:
                yield Received.from_json(orjson.loads(line))
            except (orjson.JSONDecodeError, TypeError):
                continue  # a line cut short by a crash: what came before still counts

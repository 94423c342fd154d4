"""Delivery benchmark results, the targets they are judged by, and their table and JSON forms."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import orjson

from services.bench.rounds import Rounds
from services.bench.table import Verdict, render_table, render_verdicts

__all__ = [
    "ADAPTER",
    "BARE_LOOP",
    "MAX_RSS_MB",
    "MIN_SHARE_OF_BARE_LOOP",
    "DeliveryBenchResult",
    "DrainResult",
    "Verdict",
    "format_table",
    "rounds_of",
    "to_json",
    "verdicts",
]

BARE_LOOP = "bare loop"
ADAPTER = "adapter"

#: The adapter must drain at this fraction of the bare loop's rate ...
MIN_SHARE_OF_BARE_LOOP = 0.5
#: ... with a peak resident set size of at most this many megabytes.
MAX_RSS_MB = 300.0


@dataclass(frozen=True, kw_only=True)
class DrainResult:
    """One target draining the backlog, as the receiver and ``/proc`` saw it."""

    name: str
    #: Deliveries in the backlog (the receiver waited for this many distinct ones).
    deliveries: int
    #: Distinct deliveries the receiver counted (webhook-id or record name).
    received: int
    requests: int
    #: Requests for a delivery already received (at-least-once repeats).
    duplicates: int
    #: From the process's start to the first request received (mostly the group join).
    startup_s: float
    #: From the first request received to the last distinct delivery.
    drain_s: float
    peak_rss_mb: float
    cpu_s: float

    @property
    def complete(self) -> bool:
        """Every delivery of the backlog arrived."""
        return self.received >= self.deliveries

    @property
    def rate_per_s(self) -> float:
        """Distinct deliveries per second from the first received to the last."""
        return self.received / self.drain_s if self.drain_s > 0 else 0.0

    @property
    def total_s(self) -> float:
        """From the process's start to the last distinct delivery."""
        return self.startup_s + self.drain_s

    @property
    def total_rate_per_s(self) -> float:
        """Distinct deliveries per second including start-up."""
        return self.received / self.total_s if self.total_s > 0 else 0.0


@dataclass(frozen=True, kw_only=True)
class DeliveryBenchResult:
    """One run: the same backlog drained by each target, one after another."""

    deliveries: int
    department: str
    citizens: int
    partitions: int
    concurrency: int
    targets: list[DrainResult]

    def target(self, name: str) -> DrainResult | None:
        """The result of one target, if it was measured."""
        return next((t for t in self.targets if t.name == name), None)

    def ratio_to_bare(self, name: str) -> float | None:
        """The drain rate of ``name`` as a fraction of the bare loop's."""
        target, bare = self.target(name), self.target(BARE_LOOP)
        if target is None or bare is None or bare.rate_per_s <= 0:
            return None
        return target.rate_per_s / bare.rate_per_s

    @property
    def complete(self) -> bool:
        """Every target delivered the whole backlog."""
        return bool(self.targets) and all(t.complete for t in self.targets)

    @property
    def comparable(self) -> bool:
        """Every target delivered the whole backlog (else its rate is not comparable)."""
        return self.complete

    def rate_of(self, name: str) -> float:
        """Deliveries per second of ``name`` (0 if it was not measured)."""
        target = self.target(name)
        return 0.0 if target is None else target.rate_per_s


def verdicts(result: DeliveryBenchResult) -> list[Verdict]:
    """The issue's targets for the adapter, plus: every delivery arrived, for every target."""
    adapter = result.target(ADAPTER)
    share = result.ratio_to_bare(ADAPTER)
    return [
        Verdict(
            label=f"adapter ≥ {MIN_SHARE_OF_BARE_LOOP:.0%} of bare loop",
            passed=share is not None and share >= MIN_SHARE_OF_BARE_LOOP,
        ),
        Verdict(
            label=f"adapter RSS ≤ {MAX_RSS_MB:.0f} MB",
            passed=adapter is not None and 0 < adapter.peak_rss_mb <= MAX_RSS_MB,
        ),
        Verdict(label="every delivery arrived", passed=result.complete),
    ]


def rounds_of(results: Sequence[DeliveryBenchResult]) -> Rounds:
    """The adapter against the bare loop, round by round (missed deliveries: no ratio)."""
    return Rounds.of(
        results, baseline=BARE_LOOP, target=ADAPTER, unit="/s", threshold=MIN_SHARE_OF_BARE_LOOP
    )


def format_table(result: DeliveryBenchResult, rounds: Rounds | None = None) -> str:
    """A plain-text table of every target, the verdicts, and a loud line for missing ones.

    With ``rounds`` (``result`` is their first), the rounds' table and median follow.
    """
    header = (
        "target",
        "deliveries",
        "rate/s",
        "vs bare",
        "start-up s",
        "total s",
        "total/s",
        "peak RSS MB",
        "CPU s",
        "duplicates",
    )
    rows = [header]
    for t in result.targets:
        ratio = result.ratio_to_bare(t.name)
        rows.append(
            (
                t.name,
                str(t.received),
                f"{t.rate_per_s:.0f}",
                "-" if ratio is None else f"{ratio:.1%}",
                f"{t.startup_s:.1f}",
                f"{t.total_s:.1f}",
                f"{t.total_rate_per_s:.0f}",
                f"{t.peak_rss_mb:.0f}",
                f"{t.cpu_s:.1f}",
                str(t.duplicates),
            )
        )
    lines = [
        (
            f"{result.deliveries} deliveries to one department ({result.department}),"
            f" {result.citizens} citizens, {result.partitions} partitions,"
            f" {result.concurrency} concurrent POSTs; targets drained one after another"
        ),
        (
            "rate/s: from the first delivery received to the last (consumer-group join"
            " excluded); total: from the process's start"
        ),
        "",
    ]
    lines += render_table(rows)
    lines.append("")
    lines += render_verdicts(verdicts(result))
    lines += [
        f"!!! MISSING: {t.name} delivered {t.received} of {t.deliveries} in time;"
        " its figures are not comparable !!!"
        for t in result.targets
        if not t.complete
    ]
    if rounds is not None:
        lines += ["", f"{len(rounds.rounds)} rounds (each on a fresh broker and backlog):"]
        lines += rounds.lines()
        lines += ["", *render_verdicts([rounds.verdict()])]
    return "\n".join(lines)


def to_json(result: DeliveryBenchResult, rounds: Rounds | None = None) -> str:
    """The result, derived rates, ratios and verdicts as indented JSON (and ``rounds``)."""
    document: dict[str, Any] = asdict(result)
    for target, measured in zip(document["targets"], result.targets, strict=True):
        target["rate_per_s"] = measured.rate_per_s
        target["total_s"] = measured.total_s
        target["total_rate_per_s"] = measured.total_rate_per_s
        target["complete"] = measured.complete
        target["ratio_to_bare"] = result.ratio_to_bare(measured.name)
    document["verdicts"] = [asdict(v) for v in verdicts(result)]
    document["passed"] = all(v.passed for v in verdicts(result))
    if rounds is not None:
        document["rounds"] = rounds.document()
    return orjson.dumps(document, option=orjson.OPT_INDENT_2).decode()

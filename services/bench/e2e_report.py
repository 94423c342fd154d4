"""End-to-end benchmark results, the targets they are judged by, and their table and JSON forms."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import orjson

from services.bench.load import percentile
from services.bench.table import Verdict, render_table, render_verdicts

__all__ = [
    "BARE",
    "E2E",
    "MAX_P99_MS",
    "MIN_SHARE_OF_RATE",
    "E2EBenchResult",
    "LatencySummary",
    "LegResult",
    "ProcessCost",
    "Stage",
    "Verdict",
    "format_table",
    "to_json",
    "verdicts",
]

BARE = "bare"
E2E = "end to end"

#: The 99th percentile from the 202 to a department's receipt must be at most this ...
MAX_P99_MS = 100.0
#: ... and the load generator must hold the asked rate (else the latencies are flattered).
MIN_SHARE_OF_RATE = 0.95


@dataclass(frozen=True, kw_only=True)
class LatencySummary:
    """Nearest-rank percentiles of a set of latencies, in milliseconds."""

    count: int
    min_ms: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    max_ms: float

    @classmethod
    def of(cls, seconds: Sequence[float]) -> LatencySummary:
        """Summarise latencies given in seconds (any order)."""
        ordered = sorted(seconds)
        return cls(
            count=len(ordered),
            min_ms=(ordered[0] * 1000) if ordered else 0.0,
            p50_ms=percentile(ordered, 0.50) * 1000,
            p95_ms=percentile(ordered, 0.95) * 1000,
            p99_ms=percentile(ordered, 0.99) * 1000,
            max_ms=(ordered[-1] * 1000) if ordered else 0.0,
        )


@dataclass(frozen=True, kw_only=True)
class Stage:
    """One stage of the way from the load generator to a department, and its share of the tail."""

    name: str
    latency: LatencySummary
    #: Mean milliseconds of this stage over the slowest 1% of deliveries (None: not part of
    #: the 202-to-receipt latency).
    tail_mean_ms: float | None


@dataclass(frozen=True, kw_only=True)
class ProcessCost:
    """What one process cost during a leg's measured window (from ``/proc``)."""

    name: str
    #: CPU seconds (user + system, every thread) inside the window.
    cpu_s: float
    #: Peak resident set size (``VmHWM``) at the end of the window.
    peak_rss_mb: float
    #: Part of the pipeline measured (False: a stand-in for citizens or departments).
    system: bool = True


@dataclass(frozen=True, kw_only=True)
class LegResult:
    """One leg (bare or end to end): the same open-loop load, as the receiver saw it."""

    name: str
    #: Changes the load generator was asked to send (rate x duration).
    planned: int
    #: Changes sent, and those accepted (202, or acknowledged by the broker for bare).
    sent: int
    accepted: int
    #: Answers by kind ("202", "ack", "503", "no answer", ...).
    statuses: Mapping[str, int] = field(default_factory=dict)
    #: From the first send to the last.
    send_s: float
    #: From the first send to the last delivery received (or the drain deadline).
    window_s: float
    #: How late the load generator sent against its clock-driven schedule, at worst.
    max_send_lag_ms: float
    #: From the scheduled send to the 202 (bare: to the broker's acknowledgement).
    accept: LatencySummary
    #: From the 202 (bare: the acknowledgement) to the receipt, every (change, department).
    latency: LatencySummary
    per_department: Mapping[str, LatencySummary] = field(default_factory=dict)
    #: Deliveries expected (accepted changes x departments) and distinct ones received.
    expected: int
    delivered: int
    #: Requests repeating a delivery already received.
    duplicates: int
    #: Distinct deliveries received that no accepted change of this leg should have caused.
    unexpected: int
    processes: list[ProcessCost] = field(default_factory=list)
    #: CPU seconds the whole machine spent busy inside the window (None: unknown).
    machine_cpu_s: float | None = None
    #: The 1-minute load average just before the leg started.
    load_average: float = 0.0
    #: Where the time goes, from the timestamps the bus publishes (end to end only).
    stages: list[Stage] = field(default_factory=list)
    #: How far the wall clock moved against the monotonic one during the window (NTP).
    clock_drift_ms: float | None = None

    @property
    def errors(self) -> int:
        """Changes sent but not accepted."""
        return self.sent - self.accepted

    @property
    def lost(self) -> int:
        """Deliveries expected but not received by the drain deadline."""
        return self.expected - self.delivered

    @property
    def send_rate(self) -> float:
        """Changes sent per second (achieved, against the schedule's rate)."""
        return self.sent / self.send_s if self.send_s > 0 else 0.0

    @property
    def delivery_rate(self) -> float:
        """Distinct deliveries received per second of the window."""
        return self.delivered / self.window_s if self.window_s > 0 else 0.0

    @property
    def system_cpu_s(self) -> float:
        """CPU seconds of the pipeline's own processes (stand-ins excluded)."""
        return sum(p.cpu_s for p in self.processes if p.system)

    @property
    def cpu_ms_per_change(self) -> float:
        """The pipeline's CPU milliseconds per accepted change (all its departments)."""
        return self.system_cpu_s * 1000 / self.accepted if self.accepted else 0.0

    @property
    def other_cpu_s(self) -> float | None:
        """CPU seconds the machine spent on anything but this leg's processes."""
        if self.machine_cpu_s is None:
            return None
        return max(0.0, self.machine_cpu_s - sum(p.cpu_s for p in self.processes))

    @property
    def complete(self) -> bool:
        """Every planned change sent, accepted and delivered to every department."""
        return self.sent == self.planned and self.errors == 0 and self.lost == 0


@dataclass(frozen=True, kw_only=True)
class E2EBenchResult:
    """One run: the bare leg, then the end-to-end leg, with the same load."""

    rate: float
    duration_s: float
    departments: list[str]
    cores: int
    legs: list[LegResult]
    #: Settings given to the bus's processes beyond the benchmark's own (``TUO_<NAME>``).
    settings: Mapping[str, str] = field(default_factory=dict)

    def leg(self, name: str) -> LegResult | None:
        """The result of one leg, if it ran."""
        return next((leg for leg in self.legs if leg.name == name), None)

    def ratio(self, value: str) -> float | None:
        """A leg property or latency field (``latency.p99_ms``) of end to end over bare's."""
        e2e, bare = self.leg(E2E), self.leg(BARE)
        if e2e is None or bare is None:
            return None
        mine, theirs = _value(e2e, value), _value(bare, value)
        return mine / theirs if theirs > 0 else None

    @property
    def complete(self) -> bool:
        """Both legs ran and delivered everything they accepted."""
        return bool(self.legs) and all(leg.complete for leg in self.legs)


def _value(leg: LegResult, path: str) -> float:
    target: object = leg
    for name in path.split("."):
        target = getattr(target, name)
    assert isinstance(target, int | float)  # noqa: S101 - only numeric paths are asked for
    return float(target)


def verdicts(result: E2EBenchResult) -> list[Verdict]:
    """The issue's target (end-to-end p99) plus what makes the figures trustworthy."""
    e2e = result.leg(E2E)
    return [
        Verdict(
            label=f"end-to-end p99 ≤ {MAX_P99_MS:.0f} ms",
            passed=e2e is not None and e2e.latency.count > 0 and e2e.latency.p99_ms <= MAX_P99_MS,
        ),
        Verdict(
            label="every change accepted and delivered to every department",
            passed=result.complete,
        ),
        Verdict(
            label="no delivery doubled or unexpected",
            passed=bool(result.legs)
            and all(leg.duplicates == 0 and leg.unexpected == 0 for leg in result.legs),
        ),
        Verdict(
            label=f"load held ≥ {MIN_SHARE_OF_RATE:.0%} of {result.rate:g}/s in both legs",
            passed=bool(result.legs)
            and all(leg.send_rate >= MIN_SHARE_OF_RATE * result.rate for leg in result.legs),
        ),
    ]


def _ratio(value: float | None, *, percent: bool = False) -> str:
    if value is None:
        return "-"
    return f"{value:.0%}" if percent else f"{value:.1f}×"  # noqa: RUF001 - times sign


def _leg_rows(result: E2EBenchResult) -> list[tuple[str, ...]]:
    header = (
        "leg",
        "sent",
        "sent/s",
        "accepted",
        "deliveries",
        "deliv/s",
        "lost",
        "dup",
        "p50 ms",
        "p95 ms",
        "p99 ms",
        "max ms",
        "accept p50/p99 ms",
    )
    rows: list[tuple[str, ...]] = [header]
    rows += [
        (
            leg.name,
            str(leg.sent),
            f"{leg.send_rate:.1f}",
            str(leg.accepted),
            str(leg.delivered),
            f"{leg.delivery_rate:.1f}",
            str(leg.lost),
            str(leg.duplicates),
            f"{leg.latency.p50_ms:.1f}",
            f"{leg.latency.p95_ms:.1f}",
            f"{leg.latency.p99_ms:.1f}",
            f"{leg.latency.max_ms:.1f}",
            f"{leg.accept.p50_ms:.1f} / {leg.accept.p99_ms:.1f}",
        )
        for leg in result.legs
    ]
    if result.leg(BARE) is not None and result.leg(E2E) is not None:
        rows.append(
            (
                f"{E2E} / {BARE}",
                "",
                _ratio(result.ratio("send_rate"), percent=True),
                "",
                "",
                _ratio(result.ratio("delivery_rate"), percent=True),
                "",
                "",
                _ratio(result.ratio("latency.p50_ms")),
                _ratio(result.ratio("latency.p95_ms")),
                _ratio(result.ratio("latency.p99_ms")),
                _ratio(result.ratio("latency.max_ms")),
                _ratio(result.ratio("accept.p99_ms")),
            )
        )
    return rows


def _department_rows(leg: LegResult) -> list[tuple[str, ...]]:
    rows: list[tuple[str, ...]] = [("department", "deliveries", "p50 ms", "p95 ms", "p99 ms")]
    rows += [
        (
            department,
            str(summary.count),
            f"{summary.p50_ms:.1f}",
            f"{summary.p95_ms:.1f}",
            f"{summary.p99_ms:.1f}",
        )
        for department, summary in leg.per_department.items()
    ]
    return rows


def _stage_rows(leg: LegResult) -> list[tuple[str, ...]]:
    rows: list[tuple[str, ...]] = [
        ("stage", "p50 ms", "p95 ms", "p99 ms", "max ms", "slowest 1%: mean ms")
    ]
    rows += [
        (
            stage.name,
            f"{stage.latency.p50_ms:.1f}",
            f"{stage.latency.p95_ms:.1f}",
            f"{stage.latency.p99_ms:.1f}",
            f"{stage.latency.max_ms:.1f}",
            "-" if stage.tail_mean_ms is None else f"{stage.tail_mean_ms:.1f}",
        )
        for stage in leg.stages
    ]
    return rows


def _cost_rows(result: E2EBenchResult) -> list[tuple[str, ...]]:
    rows: list[tuple[str, ...]] = [
        ("process", "leg", "CPU s", "% of a core", "peak RSS MB", "counted")
    ]
    for leg in result.legs:
        for cost in leg.processes:
            share = cost.cpu_s / leg.window_s if leg.window_s > 0 else 0.0
            rows.append(
                (
                    cost.name,
                    leg.name,
                    f"{cost.cpu_s:.1f}",
                    f"{share:.0%}",
                    f"{cost.peak_rss_mb:.0f}",
                    "yes" if cost.system else "no",
                )
            )
        rows.append(
            (
                "pipeline (counted)",
                leg.name,
                f"{leg.system_cpu_s:.1f}",
                f"{leg.system_cpu_s / leg.window_s:.0%}" if leg.window_s > 0 else "-",
                "",
                "",
            )
        )
    return rows


def _machine_lines(result: E2EBenchResult) -> list[str]:
    lines = []
    for leg in result.legs:
        other = leg.other_cpu_s
        if leg.machine_cpu_s is None or other is None or leg.window_s <= 0:
            continue
        lines.append(
            f"machine during {leg.name}: {leg.machine_cpu_s / leg.window_s:.2f} of"
            f" {result.cores} cores busy, {other / leg.window_s:.2f} of them on other work;"
            f" load average before {leg.load_average:.2f}"
        )
    return lines


def format_table(result: E2EBenchResult) -> str:
    """Plain-text tables of both legs and their cost, the verdicts, and loud lines for losses."""
    lines = [
        (
            f"{result.rate:g} changes/s for {result.duration_s:g} s (open loop), each to"
            f" {len(result.departments)} departments ({', '.join(result.departments)});"
            " legs run one after another, each on a fresh broker"
        ),
        *(
            [f"settings: {', '.join(f'{k}={v}' for k, v in result.settings.items())}"]
            if result.settings
            else []
        ),
        (
            "latency: from the 202 (bare: the broker's ack) to the department's receipt, over"
            " every (change, department); accept: from the scheduled send to the 202 / ack"
        ),
        "",
    ]
    lines += render_table(_leg_rows(result))
    e2e = result.leg(E2E)
    if e2e is not None and e2e.per_department:
        lines += ["", f"{E2E}, by department:"]
        lines += render_table(_department_rows(e2e))
    if e2e is not None and e2e.stages:
        drift = "" if e2e.clock_drift_ms is None else f"; clock drift {e2e.clock_drift_ms:.1f} ms"
        lines += [
            "",
            f"{E2E}, by stage (timestamps the bus publishes, read back after the run{drift}):",
        ]
        lines += render_table(_stage_rows(e2e))
    lines += ["", "resource cost inside each leg's window (first send to last delivery):"]
    lines += render_table(_cost_rows(result))
    bare = result.leg(BARE)
    if e2e is not None and bare is not None:
        lines.append(
            f"pipeline CPU per change: {BARE} {bare.cpu_ms_per_change:.2f} ms,"
            f" {E2E} {e2e.cpu_ms_per_change:.2f} ms"
            f" ({_ratio(result.ratio('cpu_ms_per_change'))})"
        )
    lines += _machine_lines(result)
    lines.append("")
    lines += render_verdicts(verdicts(result))
    for leg in result.legs:
        if leg.errors or leg.sent != leg.planned:
            detail = ", ".join(f"{kind}: {n}" for kind, n in leg.statuses.items())
            lines.append(
                f"!!! ERRORS: {leg.name} sent {leg.sent} of {leg.planned} changes,"
                f" {leg.accepted} accepted ({detail}); its figures are not comparable !!!"
            )
        if leg.lost:
            lines.append(
                f"!!! MISSING: {leg.name} delivered {leg.delivered} of {leg.expected}"
                " by the drain deadline; its figures are not comparable !!!"
            )
    return "\n".join(lines)


def to_json(result: E2EBenchResult) -> str:
    """The result, derived rates, ratios and verdicts as indented JSON."""
    document: dict[str, Any] = asdict(result)
    for leg, measured in zip(document["legs"], result.legs, strict=True):
        leg["errors"] = measured.errors
        leg["lost"] = measured.lost
        leg["send_rate"] = measured.send_rate
        leg["delivery_rate"] = measured.delivery_rate
        leg["system_cpu_s"] = measured.system_cpu_s
        leg["cpu_ms_per_change"] = measured.cpu_ms_per_change
        leg["other_cpu_s"] = measured.other_cpu_s
        leg["complete"] = measured.complete
    document["ratios"] = {
        name: result.ratio(name)
        for name in (
            "send_rate",
            "delivery_rate",
            "latency.p50_ms",
            "latency.p95_ms",
            "latency.p99_ms",
            "latency.max_ms",
            "accept.p99_ms",
            "cpu_ms_per_change",
        )
    }
    document["verdicts"] = [asdict(v) for v in verdicts(result)]
    document["passed"] = all(v.passed for v in verdicts(result))
    return orjson.dumps(document, option=orjson.OPT_INDENT_2).decode()

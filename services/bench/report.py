"""Benchmark results, the targets they are judged by, and their table and JSON forms."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import orjson

from services.bench.load import LoadResult, percentile
from services.bench.rounds import Rounds
from services.bench.table import Verdict, render_table, render_verdicts

__all__ = [
    "BARE",
    "INTAKE",
    "MAX_P99_MS",
    "MINIMAL",
    "MIN_SHARE_OF_BARE",
    "MIN_TIMES_NAIVE",
    "NAIVE",
    "BenchResult",
    "TargetResult",
    "Verdict",
    "format_table",
    "rounds_of",
    "to_json",
    "verdicts",
]

BARE = "bare"
INTAKE = "intake"
#: The bare endpoint plus the intake's validator and one awaited publish: no rules, ids
#: or ledger (``services/bench/naive.py``). A reference point, judged by no target.
MINIMAL = "minimal"
NAIVE = "naive"

#: The intake must reach this fraction of the bare endpoint's throughput.
MIN_SHARE_OF_BARE = 0.5
#: ... keep its 99th percentile latency at or under this many milliseconds ...
MAX_P99_MS = 50.0
#: ... and be at least this many times faster than the naive intake.
MIN_TIMES_NAIVE = 3.0


@dataclass(frozen=True, kw_only=True)
class TargetResult:
    """The measured run against one target, summarised."""

    name: str
    requests: int
    ok: int
    errors: int
    statuses: Mapping[str, int] = field(default_factory=dict)
    elapsed_s: float
    req_per_s: float
    p50_ms: float
    p99_ms: float
    #: The server's CPU seconds (user + system, every thread) during the measured run.
    cpu_s: float | None = None

    @property
    def cpu_us_per_request(self) -> float | None:
        """The server's CPU per request answered, in µs (None if not measured)."""
        if self.cpu_s is None or self.requests <= 0:
            return None
        return self.cpu_s / self.requests * 1e6

    @classmethod
    def from_load(cls, name: str, load: LoadResult, *, cpu_s: float | None = None) -> TargetResult:
        """Summarise a load run (``statuses`` keyed by code; ``"none"`` for no answer)."""
        statuses = {str(code): n for code, n in sorted(load.statuses.items())}
        if load.failures:
            statuses["none"] = load.failures
        return cls(
            name=name,
            requests=load.requests,
            ok=load.ok,
            errors=load.errors,
            statuses=statuses,
            elapsed_s=load.elapsed_s,
            req_per_s=load.throughput,
            p50_ms=percentile(load.latencies_s, 0.50) * 1000,
            p99_ms=percentile(load.latencies_s, 0.99) * 1000,
            cpu_s=cpu_s,
        )


@dataclass(frozen=True, kw_only=True)
class BenchResult:
    """One benchmark run: the same load against every target, one after another."""

    requests: int
    concurrency: int
    warmup: int
    targets: list[TargetResult]

    def target(self, name: str) -> TargetResult | None:
        """The result of one target, if it was measured."""
        return next((t for t in self.targets if t.name == name), None)

    def ratio_to_bare(self, name: str) -> float | None:
        """Throughput of ``name`` as a fraction of the bare endpoint's."""
        target, bare = self.target(name), self.target(BARE)
        if target is None or bare is None or bare.req_per_s <= 0:
            return None
        return target.req_per_s / bare.req_per_s

    def cpu_ratio_to_bare(self, name: str) -> float | None:
        """The bare endpoint's CPU per request over ``name``'s: its share of bare per core.

        What the throughput ratio would be if each server had a core to itself. The intake
        is CPU-bound, so on this machine the two ratios come out within a few points.
        """
        target, bare = self.target(name), self.target(BARE)
        if target is None or bare is None:
            return None
        ours, theirs = target.cpu_us_per_request, bare.cpu_us_per_request
        if ours is None or theirs is None or ours <= 0:
            return None
        return theirs / ours

    @property
    def errors(self) -> int:
        """Requests, over every target, not answered 2xx."""
        return sum(t.errors for t in self.targets)

    @property
    def comparable(self) -> bool:
        """Every request of every target was answered 2xx."""
        return self.errors == 0

    def rate_of(self, name: str) -> float:
        """Requests per second of ``name`` (0 if it was not measured)."""
        target = self.target(name)
        return 0.0 if target is None else target.req_per_s


def verdicts(result: BenchResult) -> list[Verdict]:
    """The issue's targets for the intake, plus: every request of every target answered 2xx."""
    intake, naive = result.target(INTAKE), result.target(NAIVE)
    share = result.ratio_to_bare(INTAKE)
    times_naive = (
        intake.req_per_s / naive.req_per_s
        if intake is not None and naive is not None and naive.req_per_s > 0
        else None
    )
    return [
        Verdict(
            label=f"intake ≥ {MIN_SHARE_OF_BARE:.0%} of bare",
            passed=share is not None and share >= MIN_SHARE_OF_BARE,
        ),
        Verdict(
            label=f"intake p99 ≤ {MAX_P99_MS:.0f} ms",
            passed=intake is not None and intake.requests > 0 and intake.p99_ms <= MAX_P99_MS,
        ),
        Verdict(
            label=f"intake ≥ {MIN_TIMES_NAIVE:.0f}× naive",  # noqa: RUF001 - the issue's wording
            passed=times_naive is not None and times_naive >= MIN_TIMES_NAIVE,
        ),
        Verdict(label="every request answered 2xx", passed=result.errors == 0),
    ]


def rounds_of(results: Sequence[BenchResult]) -> Rounds:
    """The intake against the bare endpoint, round by round (a round with errors: no ratio)."""
    return Rounds.of(
        results, baseline=BARE, target=INTAKE, unit="req/s", threshold=MIN_SHARE_OF_BARE
    )


def format_table(result: BenchResult, rounds: Rounds | None = None) -> str:
    """A plain-text table of every target, the verdicts, and a loud line for any errors.

    With ``rounds`` (``result`` is their first), the rounds' table and median follow.
    """
    header = (
        "target", "requests", "req/s", "p50 ms", "p99 ms", "vs bare", "CPU µs/req",
        "CPU vs bare", "errors",
    )  # fmt: skip
    rows = [header]
    for target in result.targets:
        ratio = result.ratio_to_bare(target.name)
        cpu, cpu_ratio = target.cpu_us_per_request, result.cpu_ratio_to_bare(target.name)
        rows.append(
            (
                target.name,
                str(target.requests),
                f"{target.req_per_s:.0f}",
                f"{target.p50_ms:.1f}",
                f"{target.p99_ms:.1f}",
                "-" if ratio is None else f"{ratio:.0%}",
                "-" if cpu is None else f"{cpu:.0f}",
                "-" if cpu_ratio is None else f"{cpu_ratio:.0%}",
                str(target.errors),
            )
        )
    lines = [
        (
            f"{result.requests} distinct valid changes per target,"
            f" concurrency {result.concurrency}, warm-up {result.warmup};"
            " targets measured one after another"
        ),
        (
            "CPU: the server process's user + system time during the measured run, per"
            " request; CPU vs bare: bare's CPU per request over the target's"
        ),
    ]
    if result.target(MINIMAL) is not None:
        lines.append(
            f"{MINIMAL}: the {BARE} endpoint + the intake's validator + one awaited publish"
            " (acks=all) per request, nothing else"
        )
    lines.append("")
    lines += render_table(rows)
    lines.append("")
    lines += render_verdicts(verdicts(result))
    for target in result.targets:
        if target.errors:
            detail = ", ".join(f"{code}: {n}" for code, n in target.statuses.items())
            lines.append(
                f"!!! ERRORS: {target.name} answered {target.errors} of {target.requests}"
                f" requests without a 2xx ({detail}); its figures are not comparable !!!"
            )
    if rounds is not None:
        lines += ["", f"{len(rounds.rounds)} rounds (each on a fresh broker, bare then intake):"]
        lines += rounds.lines()
        lines += ["", *render_verdicts([rounds.verdict()])]
    return "\n".join(lines)


def to_json(result: BenchResult, rounds: Rounds | None = None) -> str:
    """The result, the ratios and the verdicts as indented JSON (and ``rounds`` if given)."""
    document: dict[str, Any] = asdict(result)
    for target in document["targets"]:
        target["ratio_to_bare"] = result.ratio_to_bare(target["name"])
        target["cpu_ratio_to_bare"] = result.cpu_ratio_to_bare(target["name"])
    document["verdicts"] = [asdict(v) for v in verdicts(result)]
    document["passed"] = all(v.passed for v in verdicts(result))
    if rounds is not None:
        document["rounds"] = rounds.document()
    return orjson.dumps(document, option=orjson.OPT_INDENT_2).decode()

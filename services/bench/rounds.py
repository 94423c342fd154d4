"""Several rounds of a benchmark, judged by the median of their ratios to the baseline.

On a shared machine the baselines move by a quarter from one run to the next (the bare
endpoint 7.6-9.6k req/s, the bare delivery loop 7.2-10.1k/s within one hour), and a single
run's ratio moves with them. ``--rounds N`` runs the baseline and the target again, each
round on a fresh broker, and judges the target by the median of the rounds' ratios; every
round's rates stay in the report beside it.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from services.bench.table import Verdict, render_table

__all__ = ["Round", "RoundResult", "Rounds"]


class RoundResult(Protocol):
    """One round's result, as a benchmark's report holds it."""

    @property
    def comparable(self) -> bool:
        """Every target's figures are comparable (no failed request, no missed delivery)."""
        ...

    def rate_of(self, name: str) -> float:
        """The measured rate of target ``name`` (0 if it was not measured)."""
        ...


@dataclass(frozen=True, kw_only=True)
class Round:
    """One round's rates of the baseline and the target.

    ``comparable`` is False when a target of the round failed requests or missed
    deliveries: its rates are shown but give no ratio.
    """

    baseline: float
    target: float
    comparable: bool = True

    @property
    def ratio(self) -> float | None:
        """The target's rate as a fraction of the baseline's; None if not comparable."""
        if not self.comparable or self.baseline <= 0:
            return None
        return self.target / self.baseline


@dataclass(frozen=True, kw_only=True)
class Rounds:
    """The rounds of one benchmark: ``target`` against ``baseline``, at least ``threshold``."""

    baseline: str
    target: str
    unit: str
    threshold: float
    rounds: tuple[Round, ...]

    @classmethod
    def of(
        cls,
        results: Sequence[RoundResult],
        *,
        baseline: str,
        target: str,
        unit: str,
        threshold: float,
    ) -> Rounds:
        """``target`` against ``baseline`` in each of ``results``, round by round."""
        return cls(
            baseline=baseline,
            target=target,
            unit=unit,
            threshold=threshold,
            rounds=tuple(
                Round(
                    baseline=result.rate_of(baseline),
                    target=result.rate_of(target),
                    comparable=result.comparable,
                )
                for result in results
            ),
        )

    @property
    def comparable(self) -> bool:
        """Every round's figures are comparable."""
        return all(r.comparable for r in self.rounds)

    @property
    def median(self) -> float | None:
        """The median ratio; None if a round has no ratio (its figures are not comparable)."""
        ratios = [r.ratio for r in self.rounds]
        if not ratios or any(ratio is None for ratio in ratios):
            return None
        return statistics.median(ratio for ratio in ratios if ratio is not None)

    def verdict(self) -> Verdict:
        """Whether the median ratio reaches the threshold."""
        median = self.median
        return Verdict(
            label=(
                f"median {self.target} / {self.baseline} over {len(self.rounds)} rounds"
                f" ≥ {self.threshold:.0%}"
            ),
            passed=median is not None and median >= self.threshold,
        )

    def lines(self) -> list[str]:
        """A table of every round's rates and ratio, then the median."""
        header = (
            "round",
            f"{self.baseline} {self.unit}",
            f"{self.target} {self.unit}",
            f"{self.target} / {self.baseline}",
        )
        rows = [header]
        for number, one in enumerate(self.rounds, start=1):
            ratio = one.ratio
            rows.append(
                (
                    str(number),
                    f"{one.baseline:.0f}",
                    f"{one.target:.0f}",
                    "not comparable" if ratio is None else f"{ratio:.1%}",
                )
            )
        median = self.median
        rows.append(("median", "", "", "-" if median is None else f"{median:.1%}"))
        return render_table(rows)

    def document(self) -> dict[str, Any]:
        """The rounds, their ratios, the median and the verdict, for JSON."""
        verdict = self.verdict()
        return {
            "baseline": self.baseline,
            "target": self.target,
            "rounds": [
                {
                    "baseline": r.baseline,
                    "target": r.target,
                    "comparable": r.comparable,
                    "ratio": r.ratio,
                }
                for r in self.rounds
            ],
            "median_ratio": self.median,
            "verdict": {"label": verdict.label, "passed": verdict.passed},
        }

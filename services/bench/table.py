"""Plain-text result tables and verdict lines shared by every benchmark report."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["Verdict", "render_table", "render_verdicts"]


@dataclass(frozen=True, kw_only=True)
class Verdict:
    """One target of the issue, met or not."""

    label: str
    passed: bool


def render_table(rows: Sequence[Sequence[str]]) -> list[str]:
    """Aligned lines: the first row is the header (underlined), first column left-aligned."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = []
    for index, row in enumerate(rows):
        cells = [row[0].ljust(widths[0])]
        cells += [cell.rjust(width) for cell, width in zip(row[1:], widths[1:], strict=True)]
        lines.append("  ".join(cells).rstrip())
        if index == 0:
            lines.append("  ".join("-" * w for w in widths))
    return lines


def render_verdicts(verdicts: Sequence[Verdict]) -> list[str]:
    """``label: PASS`` or ``label: FAIL`` lines."""
    return [f"{v.label}: {'PASS' if v.passed else 'FAIL'}" for v in verdicts]

"""``tellusonce bench``: benchmarks that print their figures beside a baseline and the ratio."""

from __future__ import annotations

import sys
import time
from typing import TextIO

import click

from services.bench.delivery import run_delivery_bench
from services.bench.delivery_report import format_table as delivery_table
from services.bench.delivery_report import to_json as delivery_json
from services.bench.intake import BenchError, run_intake_bench
from services.bench.report import format_table, to_json
from services.core.errors import ConfigurationError

__all__ = ["bench_group"]

_REDRAW_EVERY_S = 0.2


class _StatusLine:
    """Progress as one line, redrawn in place on a terminal; one line per step otherwise."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream
        self._in_place = stream.isatty()
        self._width = 0
        self._drawn_at = 0.0

    def _draw(self, text: str, *, final: bool = True) -> None:
        if not self._in_place:
            if final and text:
                self._stream.write(text + "\n")
                self._stream.flush()
            return
        padding = " " * max(0, self._width - len(text))
        self._stream.write(f"\r{text}{padding}")
        self._stream.flush()
        self._width = len(text)

    def stage(self, text: str) -> None:
        self._draw(f"[bench] {text}")

    def requests(self, label: str, done: int, total: int) -> None:
        now = time.monotonic()
        if done < total and now - self._drawn_at < _REDRAW_EVERY_S:
            return
        self._drawn_at = now
        share = done / total if total else 1.0
        self._draw(f"[bench] {label}: {done}/{total} requests ({share:.0%})", final=done >= total)

    def finish(self) -> None:
        if self._in_place and self._width:
            self._draw("")
            self._stream.write("\r")
            self._stream.flush()


@click.group("bench")
def bench_group() -> None:
    """Benchmarks (not tests): figures on a shared machine, judged by ratios to a baseline."""


@bench_group.command("intake")
@click.option(
    "--requests",
    type=click.IntRange(min=1),
    default=20_000,
    show_default=True,
    help="Measured requests per target.",
)
@click.option(
    "--concurrency",
    type=click.IntRange(min=1),
    default=64,
    show_default=True,
    help="Concurrent clients (one connection each).",
)
@click.option(
    "--warmup",
    type=click.IntRange(min=0),
    default=500,
    show_default=True,
    help="Unmeasured requests per target before the measured ones.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def intake_bench_command(requests: int, concurrency: int, warmup: int, *, as_json: bool) -> None:
    """Measure the intake against a bare FastAPI endpoint and a naive intake, one at a time.

    Exits with status 1 if any request of any target was not answered 2xx (the figures are
    then not comparable); missed performance targets are reported as FAIL but exit 0.
    """
    status = _StatusLine(sys.stderr)
    try:
        result = run_intake_bench(
            requests=requests, concurrency=concurrency, warmup=warmup, progress=status
        )
    except (BenchError, ConfigurationError) as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        status.finish()
    click.echo(to_json(result) if as_json else format_table(result))
    if result.errors:
        click.echo(f"the run had {result.errors} failed request(s): see above", err=True)
        sys.exit(1)


@bench_group.command("delivery")
@click.option(
    "--deliveries",
    type=click.IntRange(min=1),
    default=20_000,
    show_default=True,
    help="Deliveries in the backlog each target drains.",
)
@click.option(
    "--citizens",
    type=click.IntRange(min=1),
    default=2_000,
    show_default=True,
    help="Distinct citizen keys the backlog is spread over (each kept in order).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def delivery_bench_command(deliveries: int, citizens: int, *, as_json: bool) -> None:
    """Drain one department's backlog with a bare loop, then with the adapters.

    Exits with status 1 if a target did not deliver the whole backlog in time (the figures
    are then not comparable); missed performance targets are reported as FAIL but exit 0.
    """
    status = _StatusLine(sys.stderr)
    try:
        result = run_delivery_bench(deliveries=deliveries, citizens=citizens, progress=status)
    except (BenchError, ConfigurationError) as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        status.finish()
    click.echo(delivery_json(result) if as_json else delivery_table(result))
    if not result.complete:
        click.echo("a target did not deliver the whole backlog: see above", err=True)
        sys.exit(1)

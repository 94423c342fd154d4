"""``tellusonce bench``: benchmarks that print their figures beside a baseline and the ratio."""

from __future__ import annotations

import sys
import time
from typing import TextIO

import click

from services.bench.delivery import run_delivery_bench
from services.bench.delivery_report import format_table as delivery_table
from services.bench.delivery_report import rounds_of as delivery_rounds
from services.bench.delivery_report import to_json as delivery_json
from services.bench.e2e import bus_settings, run_e2e_bench
from services.bench.e2e_report import format_table as e2e_table
from services.bench.e2e_report import to_json as e2e_json
from services.bench.intake import BenchError, run_intake_bench
from services.bench.report import format_table, rounds_of, to_json
from services.cli.progress import StatusLine
from services.core.errors import ConfigurationError

__all__ = ["bench_group"]

#: Without a terminal, a running leg is reported on a line of its own this often.
_LOG_EVERY_S = 10.0


_ROUNDS_HELP = (
    "Run the baseline and the target this many times, each round on a fresh broker, and"
    " judge the ratio by the rounds' median (steadier on a shared machine)."
)


class _StatusLine:
    """The benchmarks' progress: stages, request counts and a running leg on one line."""

    def __init__(self, stream: TextIO) -> None:
        self._line = StatusLine(stream)
        self._logged_at = 0.0
        self._round = ""

    def start_round(self, number: int, rounds: int) -> None:
        """Prefix what follows with ``round N/M`` (nothing when there is one round)."""
        self._round = f"round {number}/{rounds}: " if rounds > 1 else ""

    def stage(self, text: str) -> None:
        self._line.draw(f"[bench] {self._round}{text}")

    def requests(self, label: str, done: int, total: int) -> None:
        if done < total and not self._line.due():
            return
        share = done / total if total else 1.0
        text = f"[bench] {self._round}{label}: {done}/{total} requests ({share:.0%})"
        self._line.draw(text, final=done >= total)

    def running(
        self,
        leg: str,
        *,
        elapsed_s: float,
        total_s: float,
        sent: int,
        delivered: int,
        expected: int,
    ) -> None:
        if not self._line.due():
            return
        now = time.monotonic()
        log_line = now - self._logged_at >= _LOG_EVERY_S
        if log_line:
            self._logged_at = now
        share = delivered / expected if expected else 1.0
        self._line.draw(
            f"[bench] {leg}: {min(elapsed_s, total_s):.0f}/{total_s:.0f} s, sent {sent},"
            f" delivered {delivered}/{expected} ({share:.0%})",
            final=log_line,
        )

    def finish(self) -> None:
        self._line.finish()


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
@click.option(
    "--rounds", type=click.IntRange(min=1), default=1, show_default=True, help=_ROUNDS_HELP
)
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def intake_bench_command(
    requests: int, concurrency: int, warmup: int, rounds: int, *, as_json: bool
) -> None:
    """Measure the intake against a bare endpoint, a minimal and a naive intake, one at a time.

    With ``--rounds N`` the bare endpoint and the intake run N times (the minimal and the
    naive intakes in the first round only) and the table of the first round is followed by
    every round's ratio and their median. Exits with status 1 if any request of any target was not
    answered 2xx (the figures are then not comparable); missed performance targets are
    reported as FAIL but exit 0.
    """
    status = _StatusLine(sys.stderr)
    results = []
    try:
        for number in range(1, rounds + 1):
            status.start_round(number, rounds)
            results.append(
                run_intake_bench(
                    requests=requests,
                    concurrency=concurrency,
                    warmup=warmup,
                    references=number == 1,
                    progress=status,
                )
            )
    except (BenchError, ConfigurationError) as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        status.finish()
    summary = rounds_of(results) if rounds > 1 else None
    click.echo(to_json(results[0], summary) if as_json else format_table(results[0], summary))
    errors = sum(result.errors for result in results)
    if errors:
        click.echo(f"the run had {errors} failed request(s): see above", err=True)
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
@click.option(
    "--rounds", type=click.IntRange(min=1), default=1, show_default=True, help=_ROUNDS_HELP
)
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def delivery_bench_command(deliveries: int, citizens: int, rounds: int, *, as_json: bool) -> None:
    """Drain one department's backlog with a bare loop, then with the adapters.

    With ``--rounds N`` both drain a fresh backlog N times and the table of the first round
    is followed by every round's ratio and their median. Exits with status 1 if a target
    did not deliver the whole backlog in time (the figures are then not comparable);
    missed performance targets are reported as FAIL but exit 0.
    """
    status = _StatusLine(sys.stderr)
    results = []
    try:
        for number in range(1, rounds + 1):
            status.start_round(number, rounds)
            results.append(
                run_delivery_bench(deliveries=deliveries, citizens=citizens, progress=status)
            )
    except (BenchError, ConfigurationError) as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        status.finish()
    summary = delivery_rounds(results) if rounds > 1 else None
    first = results[0]
    click.echo(delivery_json(first, summary) if as_json else delivery_table(first, summary))
    if not all(result.complete for result in results):
        click.echo("a target did not deliver the whole backlog: see above", err=True)
        sys.exit(1)


@bench_group.command("e2e")
@click.option(
    "--rate",
    type=click.FloatRange(min=0, min_open=True),
    default=200.0,
    show_default=True,
    help="Changes per second, sent by the clock (open loop).",
)
@click.option(
    "--duration",
    type=click.FloatRange(min=0, min_open=True),
    default=60.0,
    show_default=True,
    help="Seconds of load per leg.",
)
@click.option(
    "--drain-timeout",
    type=click.FloatRange(min=0, min_open=True),
    default=30.0,
    show_default=True,
    help="Seconds after the last send by which every delivery must have arrived.",
)
@click.option(
    "--set",
    "settings",
    multiple=True,
    metavar="NAME=VALUE",
    help="A setting for the bus's processes, as TUO_<NAME> (repeatable), e.g."
    " delivery_flush_interval_s=0.1.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def e2e_bench_command(
    rate: float, duration: float, drain_timeout: float, settings: tuple[str, ...], *, as_json: bool
) -> None:
    """A steady rate of changes, each to 5 departments: bare pipeline, then the real bus.

    Latency runs from the 202 (bare: the broker's ack) to each department's receipt; CPU
    and peak RSS are read per process. Exits with status 1 if a change was not accepted or
    a delivery was missing at the drain deadline (the figures are then not comparable);
    a missed latency target is reported as FAIL but exits 0.
    """
    pairs = {}
    for setting in settings:
        name, equals, value = setting.partition("=")
        if not equals:
            raise click.BadParameter(f"{setting!r} is not NAME=VALUE", param_hint="--set")
        pairs[name] = value
    try:
        overrides = bus_settings(pairs)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--set") from None
    status = _StatusLine(sys.stderr)
    try:
        result = run_e2e_bench(
            rate=rate,
            duration_s=duration,
            drain_timeout_s=drain_timeout,
            settings=overrides,
            progress=status,
        )
    except (BenchError, ConfigurationError) as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        status.finish()
    click.echo(e2e_json(result) if as_json else e2e_table(result))
    if not result.complete:
        click.echo("a change was not accepted or not delivered everywhere: see above", err=True)
        sys.exit(1)

"""Entry point of the ``tellusonce`` command."""

from __future__ import annotations

import click

from services.cli.adapters import adapters_command
from services.cli.bench import bench_group
from services.cli.client import submit_command
from services.cli.docs import docs_group
from services.cli.operations import (
    deliveries_command,
    departments_command,
    pause_command,
    redeliver_command,
    resume_command,
)
from services.cli.run import broker_command, intake_command
from services.cli.sandbox import sandbox_command
from services.cli.schemas import schemas_group
from services.cli.status import status_command
from services.cli.tracker import tracker_command
from services.cli.up import up_command

__all__ = ["cli", "main"]


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def cli() -> None:
    """Tell Us Once: tell government about a change of circumstance once."""


for command in (
    up_command,
    broker_command,
    intake_command,
    adapters_command,
    sandbox_command,
    tracker_command,
    submit_command,
    status_command,
    deliveries_command,
    redeliver_command,
    pause_command,
    resume_command,
    departments_command,
    schemas_group,
    docs_group,
    bench_group,
):
    cli.add_command(command)


def main() -> None:
    """Run the command line."""
    cli()

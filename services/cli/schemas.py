"""``tellusonce schemas check``: refuse schema versions that would break their readers."""

from __future__ import annotations

from pathlib import Path

import click

from services.core.resources import schemas_dir
from services.core.schema_compat import check_directory
from services.core.schema_registry import FileSchemaRegistry

__all__ = ["schemas_group"]


@click.group("schemas")
def schemas_group() -> None:
    """Work with the shared event schemas."""


@schemas_group.command("check")
@click.option(
    "--dir",
    "root",
    type=click.Path(path_type=Path, file_okay=False, exists=True),
    default=None,
    help="Schemas folder (default: the shipped schemas).",
)
def check_command(root: Path | None) -> None:
    """Check every new schema version against the previous one, and every example."""
    folder = root or schemas_dir()
    registry = FileSchemaRegistry(folder)
    failures = 0
    for event_type in registry.event_types():
        for name, body in registry.examples(event_type):
            violations = registry.validate(body)
            for violation in violations:
                click.echo(f"{event_type}/examples/{name}: {violation.path}: {violation.message}")
            failures += len(violations)
    for pair, problems in check_directory(folder).items():
        for problem in problems:
            click.echo(f"{pair}: {problem.path or '/'}: {problem.reason}")
        failures += len(problems)
    versions = sum(len(registry.versions(t)) for t in registry.event_types())
    if failures:
        raise click.ClickException(f"{failures} problem(s) in {versions} schema versions")
    click.echo(f"ok: {len(registry.event_types())} event types, {versions} versions compatible")

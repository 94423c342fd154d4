"""``tellusonce docs generate [--check]``: the API references, generated from the code.

Writes ``docs/api/openapi.json`` (the public HTTP app), ``docs/api/asyncapi.json`` (the Kafka
side) and ``docs/events.md`` (the event catalogue). ``--check`` writes nothing and fails when
a committed file differs from a fresh generation, so stale references fail the tests.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from services.cli.asyncapi import build_asyncapi
from services.cli.event_catalogue import build_event_catalogue
from services.cli.public_api import create_public_app
from services.core.departments import DepartmentRegistry, load_registry
from services.core.resources import default_departments_file, schemas_dir
from services.core.schema_registry import FileSchemaRegistry
from services.intake.config import IntakeSettings
from services.tracker.config import TrackerSettings

__all__ = ["REGENERATE", "docs_group", "generate_documents", "stale_documents"]

#: The command that brings the generated files up to date.
REGENERATE = "tellusonce docs generate"


def _json(document: dict[str, Any]) -> str:
    return json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def _shipped() -> tuple[FileSchemaRegistry, DepartmentRegistry]:
    schemas = FileSchemaRegistry(schemas_dir())
    registry = load_registry(
        default_departments_file(), known_event_types=set(schemas.event_types())
    )
    return schemas, registry


def generate_documents() -> dict[str, str]:
    """Every generated file's text, by path relative to the docs folder.

    Only the shipped schemas and department registry are read: the endpoints and secrets
    of the registry (which depend on the environment) appear in none of the files.
    """
    schemas, registry = _shipped()
    # app.openapi() needs no lifespan: nothing connects to a broker or a database here.
    openapi = create_public_app(IntakeSettings(), TrackerSettings()).openapi()
    versions = {t: schemas.versions(t) for t in schemas.event_types()}
    return {
        "api/openapi.json": _json(openapi),
        "api/asyncapi.json": _json(build_asyncapi(registry.ids(), versions)),
        "events.md": build_event_catalogue(schemas, registry),
    }


def stale_documents(docs_dir: Path, documents: dict[str, str]) -> list[str]:
    """The relative paths whose file under ``docs_dir`` is missing or differs."""
    stale = []
    for relative, text in sorted(documents.items()):
        file = docs_dir / relative
        if not file.is_file() or file.read_text(encoding="utf-8") != text:
            stale.append(relative)
    return stale


@click.group("docs")
def docs_group() -> None:
    """Generate the API references (OpenAPI, AsyncAPI, event catalogue) from the code."""


@docs_group.command("generate")
@click.option(
    "--docs-dir",
    type=click.Path(path_type=Path, file_okay=False),
    default=Path("docs"),
    show_default=True,
    help="The docs folder of the checkout.",
)
@click.option("--check", is_flag=True, help="Write nothing; fail if a file is out of date.")
def generate_command(docs_dir: Path, *, check: bool) -> None:
    """Write docs/api/openapi.json, docs/api/asyncapi.json and docs/events.md."""
    documents = generate_documents()
    stale = stale_documents(docs_dir, documents)
    if check:
        if stale:
            listed = ", ".join(str(docs_dir / relative) for relative in stale)
            raise click.ClickException(f"out of date: {listed}; run `{REGENERATE}`")
        click.echo(f"ok: {len(documents)} generated files are up to date")
        return
    for relative in stale:
        file = docs_dir / relative
        file.parent.mkdir(parents=True, exist_ok=True)
        file.write_text(documents[relative], encoding="utf-8")
        click.echo(f"wrote {file}")
    click.echo(f"{len(documents)} files generated ({len(stale)} changed)")

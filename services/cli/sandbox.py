"""The ``sandbox`` command: every department of the registry, served by the sandbox."""

from __future__ import annotations

import click

from services.cli.options import server_options, settings_overrides
from services.cli.run import serve_app
from services.core.config import CoreSettings
from services.core.departments import load_registry
from services.core.errors import ConfigurationError
from services.core.logging import configure_logging, get_logger
from services.core.resources import schemas_dir
from services.core.schema_registry import FileSchemaRegistry
from services.sandbox.app import create_sandbox_app

__all__ = ["sandbox_command"]

_log = get_logger(__name__)


@click.command("sandbox")
@server_options
def sandbox_command(**options: object) -> None:
    """Run the sandbox departments on --host/--sandbox-port.

    Each registry department gets ``POST /departments/<id>/events``, which verifies the
    signature with the department's secrets (``TUO_SECRET_*`` for the shipped registry),
    records what arrived in <data-dir>/sandbox/received.jsonl and fails on request
    (``/sandbox/...`` control API).
    """
    try:
        settings = CoreSettings(**settings_overrides(**options))
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    configure_logging(settings.log_level, json=settings.log_json)
    known = set(FileSchemaRegistry(schemas_dir()).event_types())
    try:
        registry = load_registry(
            settings.departments, known_event_types=known, require_secrets=True
        )
        app = create_sandbox_app(registry, journal=settings.data_dir / "sandbox" / "received.jsonl")
    except ConfigurationError as exc:
        raise click.ClickException(str(exc)) from None
    host, port = str(options["host"]), int(options["sandbox_port"])  # type: ignore[call-overload]
    _log.info("sandbox starting", host=host, port=port, departments=len(registry))
    serve_app(app, host, port)

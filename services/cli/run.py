"""Commands that run one part of the bus: ``broker`` and ``intake``."""

from __future__ import annotations

import asyncio
import signal
import sys
from pathlib import Path

import click
import uvicorn

from services.broker.admin import ensure_topics
from services.broker.embedded import EmbeddedBroker
from services.cli.options import server_options, settings_overrides
from services.cli.public_api import create_public_app
from services.core.config import CoreSettings
from services.core.departments import load_registry
from services.core.errors import ConfigurationError
from services.core.logging import configure_logging, get_logger
from services.core.resources import schemas_dir
from services.core.schema_registry import FileSchemaRegistry
from services.intake.config import IntakeSettings
from services.intake.entrypoints.fast_path import ChangesFastPath
from services.tracker.config import TrackerSettings

__all__ = ["broker_command", "department_ids", "intake_command", "serve_app"]

_log = get_logger(__name__)


def department_ids(departments: Path | None) -> list[str]:
    """The ids in a registry file (the shipped one by default), validated."""
    settings = CoreSettings(departments=departments) if departments else CoreSettings()
    schemas = FileSchemaRegistry(schemas_dir())
    registry = load_registry(settings.departments, known_event_types=set(schemas.event_types()))
    return registry.ids()


def serve_app(app: object, host: str, port: int) -> None:
    """Serve an ASGI app with uvloop + httptools and no access log (it would leak queries)."""
    config = uvicorn.Config(
        app,  # type: ignore[arg-type]
        host=host,
        port=port,
        loop="uvloop",
        http="httptools",
        log_config=None,
        access_log=False,
        lifespan="on",
        timeout_graceful_shutdown=10,
    )
    uvicorn.Server(config).run()


@click.command("broker")
@server_options
def broker_command(**options: object) -> None:
    """Run the embedded Kafka-protocol broker (Tansu) and create the bus's topics."""
    configure_logging()
    host, port = str(options["host"]), int(options["broker_port"])  # type: ignore[call-overload]
    departments = options["departments"]
    assert departments is None or isinstance(departments, Path)  # noqa: S101
    try:
        ids = department_ids(departments)
        broker = EmbeddedBroker(host, port)
        broker.start()
    except ConfigurationError as exc:
        raise click.ClickException(str(exc)) from None
    settings = CoreSettings(kafka_bootstrap=broker.bootstrap)
    created = asyncio.run(ensure_topics(settings, ids))
    _log.info("broker started", bootstrap=broker.bootstrap, topics_created=len(created))
    click.echo(f"broker listening on {broker.bootstrap}")

    def _stop(signum: int, _frame: object) -> None:
        _log.info("broker stopping", signal=signal.Signals(signum).name)
        broker.stop()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    code = broker.wait()
    sys.exit(0 if code in (0, -signal.SIGTERM) else code)


@click.command("intake")
@server_options
def intake_command(**options: object) -> None:
    """Run the public HTTP API on --host/--port: intake, status, /ops, dashboard, metrics.

    Change status and the operator API read the tracker's store (the same --database-url,
    or tracker.db in --data-dir); run `tellusonce tracker` to keep that store up to date.
    Tokens come from TUO_CHANNEL_TOKENS and TUO_OPERATOR_TOKENS.
    """
    overrides = settings_overrides(**options)
    if "kafka_bootstrap" not in overrides:
        overrides["kafka_bootstrap"] = f"127.0.0.1:{options['broker_port']}"
    try:
        settings = IntakeSettings(**overrides)
        tracker_settings = TrackerSettings(**overrides)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    configure_logging(settings.log_level, json=settings.log_json)
    try:
        from services.intake.bootstrap import build_runtime  # noqa: PLC0415

        runtime = build_runtime(settings)
    except ConfigurationError as exc:
        raise click.ClickException(str(exc)) from None
    app = ChangesFastPath(create_public_app(settings, tracker_settings, runtime))
    serve_app(app, settings.host, settings.port)

"""Options shared by the commands; each is also an environment variable ``TUO_<NAME>``."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

__all__ = ["api_options", "server_options", "settings_overrides"]

F = TypeVar("F", bound=Callable[..., Any])


def server_options(function: F) -> F:
    """--host, --port, --kafka-bootstrap, --database-url, --data-dir, --departments."""
    decorators = [
        click.option("--host", envvar="TUO_HOST", default="127.0.0.1", show_default=True),
        click.option("--port", envvar="TUO_PORT", type=int, default=8000, show_default=True),
        click.option(
            "--broker-port", envvar="TUO_BROKER_PORT", type=int, default=9092, show_default=True
        ),
        click.option(
            "--sandbox-port", envvar="TUO_SANDBOX_PORT", type=int, default=8001, show_default=True
        ),
        click.option(
            "--kafka-bootstrap",
            envvar="TUO_KAFKA_BOOTSTRAP",
            default=None,
            help="HOST:PORT of a Kafka broker to use instead of the embedded one.",
        ),
        click.option("--database-url", envvar="TUO_DATABASE_URL", default=None),
        click.option(
            "--data-dir",
            envvar="TUO_DATA_DIR",
            type=click.Path(path_type=Path, file_okay=False),
            default=Path(".tellusonce"),
            show_default=True,
        ),
        click.option(
            "--departments",
            envvar="TUO_DEPARTMENTS",
            type=click.Path(path_type=Path, dir_okay=False, exists=True),
            default=None,
            help="Department registry YAML (default: the one shipped in deploy/).",
        ),
    ]
    for decorator in reversed(decorators):
        function = decorator(function)
    return function


def api_options(function: F) -> F:
    """--url and --token for commands that talk to a running API."""
    function = click.option(
        "--token",
        envvar="TUO_TOKEN",
        default=None,
        help="Bearer token (default: the first channel token in <data-dir>/credentials.json).",
    )(function)
    function = click.option(
        "--data-dir",
        envvar="TUO_DATA_DIR",
        type=click.Path(path_type=Path, file_okay=False),
        default=Path(".tellusonce"),
    )(function)
    return click.option(
        "--url", envvar="TUO_URL", default="http://127.0.0.1:8000", show_default=True
    )(function)


def settings_overrides(**options: Any) -> dict[str, Any]:  # noqa: ANN401 - click values
    """Keyword arguments for a Settings class from the options the user actually gave."""
    names = {"host", "port", "kafka_bootstrap", "database_url", "data_dir", "departments"}
    return {k: v for k, v in options.items() if k in names and v is not None}

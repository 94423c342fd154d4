"""Options shared by the commands; each is also an environment variable ``TUO_<NAME>``."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

__all__ = ["api_options", "operator_api_options", "server_options", "settings_overrides"]

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


def _api_options(kind: str, envvar: str) -> Callable[[F], F]:
    def decorate(function: F) -> F:
        function = click.option(
            "--token",
            envvar=envvar,
            default=None,
            show_envvar=True,
            help=f"Bearer token (default: the first {kind} token in <data-dir>/credentials.json).",
        )(function)
        function = click.option(
            "--data-dir",
            envvar="TUO_DATA_DIR",
            type=click.Path(path_type=Path, file_okay=False),
            default=Path(".tellusonce"),
            show_default=True,
            help="Where `tellusonce up` keeps credentials.json.",
        )(function)
        return click.option(
            "--url",
            envvar="TUO_URL",
            default="http://127.0.0.1:8000",
            show_default=True,
            help="Base URL of the bus's HTTP API.",
        )(function)

    return decorate


#: --url, --data-dir and --token (a channel token, ``TUO_TOKEN``) for ``/v1`` commands.
api_options = _api_options("channel", "TUO_TOKEN")
#: --url, --data-dir and --token (an operator token, ``TUO_OPERATOR_TOKEN``) for ``/ops``.
operator_api_options = _api_options("operator", "TUO_OPERATOR_TOKEN")


def settings_overrides(**options: Any) -> dict[str, Any]:  # noqa: ANN401 - click values
    """Keyword arguments for a Settings class from the options the user actually gave."""
    names = {"host", "port", "kafka_bootstrap", "database_url", "data_dir", "departments"}
    return {k: v for k, v in options.items() if k in names and v is not None}

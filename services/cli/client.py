"""Client commands that talk to a running bus over HTTP: ``submit``."""

from __future__ import annotations

import uuid
from pathlib import Path

import click

from services.cli.api_client import api_client, fail, resolve_token
from services.cli.options import api_options

__all__ = ["submit_command"]


@click.command("submit")
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path, exists=True))
@click.option(
    "--idempotency-key",
    default=None,
    help="Reuse to make retries safe (default: a new key per file and run).",
)
@api_options
def submit_command(
    files: tuple[Path, ...],
    idempotency_key: str | None,
    url: str,
    data_dir: Path,
    token: str | None,
) -> None:
    """Submit change FILE(s) (JSON request bodies) and print each reference."""
    with api_client(url, resolve_token(token, data_dir, "channel")) as client:
        for file in files:
            key = idempotency_key or str(uuid.uuid4())
            response = client.post(
                "/v1/changes",
                content=file.read_bytes(),
                headers={"Content-Type": "application/json", "Idempotency-Key": key},
            )
            if response.status_code != 202:
                click.echo(f"{file}: refused", err=True)
                fail(response)
            accepted = response.json()
            notified = ", ".join(accepted["notified"])
            click.echo(f"{file}: {accepted['reference']}  (telling {notified})")
            click.echo(f"  status: {url}{accepted['status_url']}")

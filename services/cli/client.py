"""Client commands that talk to a running bus over HTTP: ``submit``."""

from __future__ import annotations

import uuid
from pathlib import Path

import click
import httpx

from services.cli.credentials import first_channel_token
from services.cli.options import api_options

__all__ = ["submit_command"]


def _token(token: str | None, data_dir: Path) -> str:
    found = token or first_channel_token(data_dir)
    if not found:
        raise click.ClickException(
            "no token: pass --token, set TUO_TOKEN, or run from the folder where `up` ran"
        )
    return found


def _show_problem(response: httpx.Response) -> None:
    try:
        problem = response.json()
    except ValueError:
        raise click.ClickException(f"HTTP {response.status_code}") from None
    lines = [f"HTTP {response.status_code}: {problem.get('detail', problem.get('title'))}"]
    lines += [f"  {e['path'] or '(body)'}: {e['message']}" for e in problem.get("errors", [])]
    raise click.ClickException("\n".join(lines))


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
    headers = {"Authorization": f"Bearer {_token(token, data_dir)}"}
    with httpx.Client(base_url=url, headers=headers, timeout=30) as client:
        for file in files:
            key = idempotency_key or str(uuid.uuid4())
            response = client.post(
                "/v1/changes",
                content=file.read_bytes(),
                headers={"Content-Type": "application/json", "Idempotency-Key": key},
            )
            if response.status_code != 202:
                click.echo(f"{file}: refused", err=True)
                _show_problem(response)
            accepted = response.json()
            notified = ", ".join(accepted["notified"])
            click.echo(f"{file}: {accepted['reference']}  (telling {notified})")
            click.echo(f"  status: {url}{accepted['status_url']}")

"""``tellusonce status``: where one change stands with each organisation it was sent to."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import click
import httpx

from services.cli.api_client import (
    Progress,
    api_client,
    moment,
    path_segment,
    render_table,
    resolve_token,
    success_json,
)
from services.cli.options import api_options
from services.tracker.domain import FINISHED

__all__ = ["status_command"]

_FINISHED = {status.value for status in FINISHED}


class _NotFinishedError(click.ClickException):
    """--wait reached its deadline before every delivery finished."""

    exit_code = 3


def _get(client: httpx.Client, reference: str) -> httpx.Response:
    return client.get(f"/v1/changes/{path_segment(reference)}")


def _unfinished(document: dict[str, Any]) -> list[dict[str, Any]]:
    return [d for d in document["deliveries"] if d["status"] not in _FINISHED]


def _summary(document: dict[str, Any]) -> str:
    deliveries = document["deliveries"]
    waiting = _unfinished(document)
    text = f"{len(deliveries) - len(waiting)}/{len(deliveries)} finished"
    if waiting:
        text += "; waiting for " + ", ".join(f"{d['department']} ({d['status']})" for d in waiting)
    return text


def _format(document: dict[str, Any]) -> str:
    deliveries = document["deliveries"]
    with_reason = any(d.get("reason") for d in deliveries)
    header = ["department", "status", "attempts", "last attempt", "delivered at"]
    rows = []
    for d in deliveries:
        row = [
            d["department"],
            d["status"],
            str(d["attempts"]),
            moment(d.get("last_attempt_at")),
            moment(d.get("delivered_at")),
        ]
        rows.append([*row, d.get("reason") or "-"] if with_reason else row)
    lines = [
        f"reference    {document['reference']}",
        f"type         {document['type']}",
        f"received at  {moment(document['received_at'])}",
        "",
    ]
    if deliveries:
        lines.append(render_table([*header, "reason"] if with_reason else header, rows))
    else:
        lines.append("(no organisation was told about this change)")
    return "\n".join(lines)


def _wait(client: httpx.Client, reference: str, timeout: float, interval: float) -> dict[str, Any]:
    """Poll until every delivery finished, or the deadline passes (the last answer either way).

    A 404 counts as "not recorded yet" until the deadline: the tracker records a change a
    moment after intake accepts it, so ``submit`` then ``status --wait`` must not race.
    """
    deadline = time.monotonic() + timeout
    progress = Progress("status")
    try:
        while True:
            response = _get(client, reference)
            remaining = deadline - time.monotonic()
            if response.status_code == 404 and remaining > 0:
                progress.update(f"{reference} is not recorded yet")
            else:
                document: dict[str, Any] = success_json(response)
                progress.update(_summary(document))
                if not _unfinished(document) or remaining <= 0:
                    return document
            time.sleep(min(interval, remaining))
    finally:
        progress.finish()


@click.command("status")
@click.argument("reference")
@click.option(
    "--wait",
    is_flag=True,
    help="Poll until every delivery has finished (delivered, rejected or failed).",
)
@click.option(
    "--timeout",
    type=click.FloatRange(min=0),
    default=60.0,
    show_default=True,
    help="With --wait: give up after this many seconds (exit status 3).",
)
@click.option(
    "--interval",
    type=click.FloatRange(min=0.1),
    default=1.0,
    show_default=True,
    help="With --wait: seconds between polls.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the API's JSON answer as it is.")
@api_options
@click.pass_context
def status_command(
    ctx: click.Context,
    /,
    *,
    reference: str,
    timeout: float,
    interval: float,
    url: str,
    data_dir: Path,
    token: str | None,
    wait: bool,
    as_json: bool,
) -> None:
    """Show where change REFERENCE stands with each organisation it was sent to.

    With --wait, a change the tracker has not recorded yet is waited for too.

    Needs a channel token. Exit status: 0 when the change was found (with --wait: once every
    delivery has finished), 1 on an error answer or when the API cannot be reached, 2 on a
    usage error, 3 when --wait reached --timeout first.
    """
    for option in ("timeout", "interval"):
        if not wait and ctx.get_parameter_source(option) is click.core.ParameterSource.COMMANDLINE:
            raise click.UsageError(f"--{option} only goes with --wait")
    with api_client(url, resolve_token(token, data_dir, "channel")) as client:
        if wait:
            document = _wait(client, reference, timeout, interval)
        else:
            document = success_json(_get(client, reference))
    click.echo(json.dumps(document, indent=2) if as_json else _format(document))
    if wait and _unfinished(document):
        raise _NotFinishedError(f"not every delivery finished within {timeout:g} s")

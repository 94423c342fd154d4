"""Operator commands over ``/ops``: deliveries, redeliver, pause, resume, departments."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click
import httpx

from services.cli.api_client import (
    Progress,
    api_client,
    path_segment,
    problem_text,
    render_table,
    resolve_token,
    success_json,
)
from services.cli.options import operator_api_options
from services.tracker.domain import DeliveryStatus

__all__ = [
    "deliveries_command",
    "departments_command",
    "pause_command",
    "redeliver_command",
    "resume_command",
]

#: Longest error text shown in a table cell (the JSON has all of it).
_ERROR_WIDTH = 60


def _last_attempt(attempts: list[dict[str, Any]]) -> str:
    if not attempts:
        return "-"
    last = attempts[-1]
    parts = [str(last["status_code"])] if last.get("status_code") is not None else []
    error = last.get("error")
    if error:
        parts.append(error if len(error) <= _ERROR_WIDTH else error[: _ERROR_WIDTH - 1] + "…")
    return " ".join(parts) or "-"


def _deliveries_table(items: list[dict[str, Any]]) -> str:
    header = ["delivery id", "reference", "department", "status", "attempts", "last attempt"]
    rows = [
        [
            d["delivery_id"],
            d["reference"],
            d["department"],
            d["status"],
            str(len(d["attempts"])),
            _last_attempt(d["attempts"]),
        ]
        for d in items
    ]
    return render_table(header, rows)


@click.command("deliveries")
@click.option("--department", default=None, help="Only this department's deliveries.")
@click.option(
    "--status",
    type=click.Choice([s.value for s in DeliveryStatus]),
    default=None,
    help="Only deliveries in this status.",
)
@click.option("--reference", default=None, help="Only the deliveries of this change.")
@click.option(
    "--limit",
    type=click.IntRange(1, 1000),
    default=100,
    show_default=True,
    help="Deliveries per page.",
)
@click.option("--after", default=None, help="Start after this cursor (an earlier page's next).")
@click.option("--all", "all_pages", is_flag=True, help="Follow next to the last page.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON ({items, next}).")
@operator_api_options
def deliveries_command(
    *,
    department: str | None,
    status: str | None,
    reference: str | None,
    limit: int,
    after: str | None,
    url: str,
    data_dir: Path,
    token: str | None,
    all_pages: bool,
    as_json: bool,
) -> None:
    """List deliveries, oldest recorded first, with each one's status and last attempt.

    Needs an operator token; a department-scoped token sees its department only.
    """
    query = {"department": department, "status": status, "reference": reference, "limit": limit}
    params = {key: value for key, value in query.items() if value is not None}
    items: list[dict[str, Any]] = []
    progress = Progress("deliveries")
    cursor = after
    try:
        with api_client(url, resolve_token(token, data_dir, "operator")) as client:
            while True:
                page_params = params if cursor is None else {**params, "after": cursor}
                page = success_json(client.get("/ops/deliveries", params=page_params))
                items += page["items"]
                cursor = page["next"]
                if not all_pages or cursor is None:
                    break
                progress.update(f"{len(items)} deliveries so far")
    finally:
        progress.finish()
    if as_json:
        click.echo(json.dumps({"items": items, "next": cursor}, indent=2))
        return
    click.echo(_deliveries_table(items) if items else "no deliveries match")
    if cursor is not None:
        click.echo(f"more deliveries: pass --all, or --after {cursor}", err=True)


def _command(client: httpx.Client, path: str, label: str) -> str | None:
    """POST one command; None once accepted, else the problem as text (after ``label``)."""
    response = client.post(path)
    if response.status_code == 202:
        return None
    return f"{label}: {problem_text(response)}"


@click.command("redeliver")
@click.argument("delivery_ids", nargs=-1, metavar="[DELIVERY_ID]...")
@click.option("--failed", is_flag=True, help="Redeliver every failed delivery of --department.")
@click.option("--department", default=None, help="With --failed: the department.")
@operator_api_options
def redeliver_command(
    delivery_ids: tuple[str, ...],
    department: str | None,
    url: str,
    data_dir: Path,
    token: str | None,
    *,
    failed: bool,
) -> None:
    """Deliver DELIVERY_ID(s) again, or with --failed every failed delivery of a department.

    The department's adapter applies the request; its deliveries resume the retry schedule
    from the start and keep their attempt log.
    """
    if failed and delivery_ids:
        raise click.UsageError("give DELIVERY_IDs or --failed --department ID, not both")
    if failed and department is None:
        raise click.UsageError("--failed needs --department ID")
    if not failed and department is not None:
        raise click.UsageError("--department only goes with --failed")
    if not failed and not delivery_ids:
        raise click.UsageError("give one or more DELIVERY_IDs, or --failed --department ID")
    refused = []
    with api_client(url, resolve_token(token, data_dir, "operator")) as client:
        if department is not None:
            path = f"/ops/departments/{path_segment(department)}/redeliver-failed"
            if problem := _command(client, path, department):
                raise click.ClickException(problem)
            click.echo(f"{department}: redelivery of every failed delivery requested")
            return
        for delivery_id in delivery_ids:
            path = f"/ops/deliveries/{path_segment(delivery_id)}/redeliver"
            if problem := _command(client, path, delivery_id):
                click.echo(problem, err=True)
                refused.append(delivery_id)
            else:
                click.echo(f"{delivery_id}: redelivery requested")
    if refused:
        raise click.ClickException(f"{len(refused)} of {len(delivery_ids)} not redelivered")


def _department_command(
    action: str, department: str, url: str, data_dir: Path, token: str | None
) -> None:
    with api_client(url, resolve_token(token, data_dir, "operator")) as client:
        path = f"/ops/departments/{path_segment(department)}/{action}"
        if problem := _command(client, path, department):
            raise click.ClickException(problem)


@click.command("pause")
@click.argument("department")
@operator_api_options
def pause_command(department: str, url: str, data_dir: Path, token: str | None) -> None:
    """Hold DEPARTMENT's deliveries (nothing is discarded) until `tellusonce resume`."""
    _department_command("pause", department, url, data_dir, token)
    click.echo(f"{department}: pause requested; resume with `tellusonce resume {department}`")


@click.command("resume")
@click.argument("department")
@operator_api_options
def resume_command(department: str, url: str, data_dir: Path, token: str | None) -> None:
    """Let DEPARTMENT's held deliveries go again, in order."""
    _department_command("resume", department, url, data_dir, token)
    click.echo(f"{department}: resume requested")


def _age(seconds: object) -> str:
    """``42s``, ``4m12s``, ``3h04m`` or ``28d20h``: one cell, readable at a glance."""
    if not isinstance(seconds, int | float):
        return "-"
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    days, hours = divmod(hours, 24)
    if days:
        return f"{days}d{hours:02d}h"
    if hours:
        return f"{hours}h{minutes:02d}m"
    return f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"


@click.command("departments")
@click.option("--json", "as_json", is_flag=True, help="Print the API's JSON answer as it is.")
@operator_api_options
def departments_command(url: str, data_dir: Path, token: str | None, *, as_json: bool) -> None:
    """Each department's health: throughput, failures, backlog, circuit and pause."""
    with api_client(url, resolve_token(token, data_dir, "operator")) as client:
        listed: list[dict[str, Any]] = success_json(client.get("/ops/departments"))
    if as_json:
        click.echo(json.dumps(listed, indent=2))
        return
    header = [
        "department",
        "delivered/min",
        "failure rate",
        "backlog",
        "oldest pending",
        "failed",
        "circuit",
        "paused",
    ]
    rows = [
        [
            d["id"],
            f"{d['delivered_per_min']:.1f}",
            f"{d['failure_rate']:.0%}",
            str(d["backlog"]),
            _age(d.get("oldest_pending_s")) if d["backlog"] else "-",
            str(d["failed"]),
            str(d["circuit"]),
            "yes" if d["paused"] else "no",
        ]
        for d in listed
    ]
    click.echo(render_table(header, rows) if rows else "no departments visible to this token")

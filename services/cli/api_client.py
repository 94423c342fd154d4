"""What the client commands share: tokens, the HTTP client, problem output, tables, progress."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, NoReturn
from urllib.parse import quote

import click
import httpx

from services.cli.credentials import first_channel_token, first_operator_token
from services.cli.progress import StatusLine

__all__ = [
    "Progress",
    "api_client",
    "fail",
    "moment",
    "path_segment",
    "problem_text",
    "render_table",
    "resolve_token",
    "success_json",
]

_TOKEN_ENV = {"channel": "TUO_TOKEN", "operator": "TUO_OPERATOR_TOKEN"}
_TIMEOUT_S = 30.0
#: On a terminal, progress is redrawn in place at most this often.


def resolve_token(token: str | None, data_dir: Path, kind: Literal["channel", "operator"]) -> str:
    """``token`` if given, else the first token of ``kind`` that ``up`` wrote to ``data_dir``."""
    lookup = first_channel_token if kind == "channel" else first_operator_token
    found = token or lookup(data_dir)
    if not found:
        raise click.ClickException(
            f"no {kind} token: pass --token, set {_TOKEN_ENV[kind]}, or point --data-dir at"
            " the folder where `tellusonce up` keeps credentials.json"
        )
    return found


@contextlib.contextmanager
def api_client(url: str, token: str) -> Iterator[httpx.Client]:
    """One httpx client for one command; transport failures become readable errors.

    Raises:
        click.ClickException: the API could not be reached or did not answer in time.
    """
    try:
        with httpx.Client(
            base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=_TIMEOUT_S
        ) as client:
            yield client
    except httpx.ConnectError as exc:
        raise click.ClickException(
            f"cannot connect to {url} ({exc}): is `tellusonce up` running at {url}?"
        ) from None
    except httpx.TimeoutException:
        raise click.ClickException(f"{url} did not answer within {_TIMEOUT_S:.0f} s") from None
    except (httpx.TransportError, httpx.InvalidURL) as exc:
        raise click.ClickException(f"cannot talk to {url}: {exc}") from None


def path_segment(text: str) -> str:
    """``text`` quoted as one URL path segment (a typed id never reaches another route)."""
    return quote(text, safe="")


def problem_text(response: httpx.Response) -> str:
    """An error answer as text: status and detail, then each ``errors[]`` path and message."""
    try:
        problem = response.json()
    except ValueError:
        problem = None
    if not isinstance(problem, dict):
        return f"HTTP {response.status_code} {response.reason_phrase}".rstrip()
    detail = problem.get("detail") or problem.get("title") or response.reason_phrase
    lines = [f"HTTP {response.status_code}: {detail}"]
    retry_after = response.headers.get("retry-after")
    if retry_after:
        lines[0] += f" (retry after {retry_after} s)"
    lines += [
        f"  {error.get('path') or '(body)'}: {error.get('message')}"
        for error in problem.get("errors") or []
        if isinstance(error, dict)
    ]
    return "\n".join(lines)


def fail(response: httpx.Response) -> NoReturn:
    """Stop the command with the problem the API answered (exit status 1)."""
    raise click.ClickException(problem_text(response))


def success_json(response: httpx.Response, expected: int = 200) -> Any:  # noqa: ANN401 - JSON
    """The decoded body of an ``expected`` answer; any other answer stops the command."""
    if response.status_code != expected:
        fail(response)
    return response.json()


def moment(text: str | None) -> str:
    """An API timestamp as ``YYYY-MM-DD HH:MM:SSZ`` (UTC), or ``-`` when there is none."""
    if not text:
        return "-"
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return text
    if parsed.tzinfo is None:
        return parsed.strftime("%Y-%m-%d %H:%M:%S")
    return parsed.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%SZ")


def render_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Plain left-aligned columns under an underlined header."""
    table = [list(header), *(list(row) for row in rows)]
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    lines = [
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True))
        for row in table
    ]
    lines.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join(line.rstrip() for line in lines)


class Progress:
    """Progress on stderr: redrawn in place on a terminal, one line per change otherwise."""

    def __init__(self, prefix: str) -> None:
        self._prefix = prefix
        self._line = StatusLine()
        self._last = ""

    def update(self, text: str) -> None:
        """Show ``text`` unless it is what is already shown."""
        if text == self._last or (self._line.in_place and not self._line.due()):
            return
        self._last = text
        self._line.draw(f"[{self._prefix}] {text}")

    def finish(self) -> None:
        """Leave the terminal's line clean for what comes next."""
        self._line.finish()

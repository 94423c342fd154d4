"""The load generator: distinct valid change bodies, POSTed by aiohttp at a fixed concurrency."""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import string
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import orjson

from services.core.resources import schemas_dir

__all__ = [
    "LoadResult",
    "ProgressCallback",
    "distinct_bodies",
    "example_bodies",
    "percentile",
    "run_load",
]

#: Called now and then with (requests answered, requests planned).
ProgressCallback = Callable[[int, int], None]

_PROGRESS_EVERY_S = 0.25
_NINO_DIGITS = 1_000_000


@dataclass(frozen=True, kw_only=True)
class LoadResult:
    """What one run of the load generator saw."""

    #: Latency of every answered request, in seconds, ascending.
    latencies_s: list[float]
    elapsed_s: float
    #: Responses by HTTP status code.
    statuses: Mapping[int, int] = field(default_factory=dict)
    #: Requests that got no HTTP answer at all (connection error, timeout).
    failures: int = 0

    @property
    def requests(self) -> int:
        """Requests sent (answered or not)."""
        return sum(self.statuses.values()) + self.failures

    @property
    def ok(self) -> int:
        """Requests answered with a 2xx status."""
        return sum(n for status, n in self.statuses.items() if 200 <= status < 300)

    @property
    def errors(self) -> int:
        """Requests answered with a non-2xx status, or not answered at all."""
        return self.requests - self.ok

    @property
    def throughput(self) -> float:
        """Requests per second over the whole run."""
        return self.requests / self.elapsed_s if self.elapsed_s > 0 else 0.0


def percentile(sorted_values: Sequence[float], fraction: float) -> float:
    """Nearest-rank percentile (``fraction`` in 0..1) of ascending values; 0.0 if empty."""
    if not sorted_values:
        return 0.0
    rank = max(1, min(len(sorted_values), math.ceil(fraction * len(sorted_values) - 1e-9)))
    return sorted_values[rank - 1]


def example_bodies() -> list[dict[str, Any]]:
    """Every shipped example change (``schemas/<type>/examples/*.json``), in a stable order."""
    files = sorted(schemas_dir().glob("*/examples/*.json"))
    return [json.loads(file.read_text(encoding="utf-8")) for file in files]


def _letters(number: int) -> str:
    """A capitalised, letters-only word that is different for every ``number`` (3+ letters)."""
    alphabet = string.ascii_lowercase
    letters = []
    for _ in range(3):
        number, digit = divmod(number, 26)
        letters.append(alphabet[digit])
    while number:
        number, digit = divmod(number, 26)
        letters.append(alphabet[digit])
    return "".join(reversed(letters)).capitalize()


def _distinct(example: dict[str, Any], number: int) -> dict[str, Any]:
    body: dict[str, Any] = orjson.loads(orjson.dumps(example))
    subject = body.get("subject")
    if isinstance(subject, dict):
        if isinstance(subject.get("given_names"), str):
            subject["given_names"] = f"{subject['given_names']} {_letters(number)}"
        nino = subject.get("nino")
        if isinstance(nino, str) and len(nino) == 9:
            subject["nino"] = f"{nino[:2]}{number % _NINO_DIGITS:06d}{nino[8]}"
    return body


def distinct_bodies(
    count: int, *, start: int = 0, examples: Sequence[dict[str, Any]] | None = None
) -> list[bytes]:
    """``count`` different valid changes, serialised, cycling through the shipped examples.

    Each is an example with a counter-derived extra given name (letters only) and, when it
    has a National Insurance number, the counter in its six digits (prefix and suffix kept,
    so it still matches the schema's pattern). ``examples`` replaces the shipped ones.
    """
    examples = list(examples) if examples is not None else example_bodies()
    return [
        orjson.dumps(_distinct(examples[n % len(examples)], n)) for n in range(start, start + count)
    ]


async def _report_progress(progress: ProgressCallback, done: Callable[[], int], total: int) -> None:
    while True:
        progress(done(), total)
        await asyncio.sleep(_PROGRESS_EVERY_S)


async def run_load(
    url: str,
    bodies: Sequence[bytes],
    *,
    concurrency: int,
    headers: Mapping[str, str] | None = None,
    progress: ProgressCallback | None = None,
    timeout_s: float = 30.0,
) -> LoadResult:
    """POST every body once to ``url`` from ``concurrency`` clients; latencies and elapsed time.

    One ``aiohttp.ClientSession`` whose connector allows exactly ``concurrency``
    connections; each client sends its next body as soon as the previous one is answered.
    """
    all_headers = {"Content-Type": "application/json", **(headers or {})}
    latencies: list[float] = []
    statuses: Counter[int] = Counter()
    failures = 0
    next_index = 0
    total = len(bodies)

    async def client(session: aiohttp.ClientSession) -> None:
        nonlocal next_index, failures
        while next_index < total:
            body = bodies[next_index]
            next_index += 1
            started = time.perf_counter()
            try:
                async with session.post(url, data=body, headers=all_headers) as response:
                    await response.read()
                    status = response.status
            except (aiohttp.ClientError, TimeoutError):
                failures += 1
                continue
            latencies.append(time.perf_counter() - started)
            statuses[status] += 1

    connector = aiohttp.TCPConnector(limit=concurrency)
    timeout = aiohttp.ClientTimeout(total=timeout_s)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        ticker = (
            asyncio.create_task(
                _report_progress(progress, lambda: len(latencies) + failures, total)
            )
            if progress is not None
            else None
        )
        started = time.perf_counter()
        try:
            await asyncio.gather(*(client(session) for _ in range(min(concurrency, total))))
            elapsed = time.perf_counter() - started
        finally:
            if ticker is not None:
                ticker.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await ticker
    if progress is not None:
        progress(len(latencies) + failures, total)
    latencies.sort()
    return LoadResult(
        latencies_s=latencies, elapsed_s=elapsed, statuses=dict(statuses), failures=failures
    )

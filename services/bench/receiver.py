"""The fast local receiver of the delivery benchmark: answers 200 to every push and counts.

Run as ``python -m services.bench.receiver --port P``. ``POST /departments/{id}/events``
reads the body and answers 200 at once; each request is counted, and so is each distinct
(department, name) pair, the name being the ``webhook-id`` (the adapters' delivery id) or
``x-bench-record`` (the bare loops' ``partition:offset``). ``GET /stats`` returns the counts
as JSON, with the monotonic clock (``CLOCK_MONOTONIC``, shared by every process on Linux)
at the first request and at the moment the distinct count reached the expected number;
``GET /arrivals`` returns, for every distinct pair, when it first arrived (same clock) and
how many times; ``POST /reset?expect=N`` clears them for the next target.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import orjson
from aiohttp import web

__all__ = ["RECORD_HEADER", "Arrival", "ReceiverStats", "create_receiver_app", "main"]

#: The header by which the bare loop names its record (``partition:offset``).
RECORD_HEADER = "x-bench-record"
_STATS: web.AppKey[ReceiverStats] = web.AppKey("stats")


@dataclass(kw_only=True)
class Arrival:
    """The first arrival of one (department, name) and how many requests carried it."""

    first_at: float
    times: int = 1


@dataclass(kw_only=True)
class ReceiverStats:
    """What the receiver has seen since the last reset."""

    expect: int = 0
    requests: int = 0
    #: Requests that named no delivery (neither header).
    unnamed: int = 0
    first_at: float | None = None
    last_at: float | None = None
    #: When the distinct count reached ``expect`` (None until then, or if ``expect`` is 0).
    done_at: float | None = None
    #: Every distinct (department, name) seen, with its first arrival.
    arrivals: dict[tuple[str, str], Arrival] = field(default_factory=dict)

    def reset(self, expect: int) -> None:
        """Forget everything; the next target is expected to deliver ``expect`` names."""
        self.expect, self.requests, self.unnamed = expect, 0, 0
        self.first_at = self.last_at = self.done_at = None
        self.arrivals = {}

    def count(self, name: str | None, department: str = "", *, at: float | None = None) -> None:
        """Count one request naming ``name`` (None: it named nothing) for ``department``.

        ``at`` is when it arrived on the monotonic clock (default: now).
        """
        now = time.monotonic() if at is None else at
        self.requests += 1
        if self.first_at is None:
            self.first_at = now
        self.last_at = now
        if name is None:
            self.unnamed += 1
            return
        key = (department, name)
        arrival = self.arrivals.get(key)
        if arrival is not None:
            arrival.times += 1
            return
        self.arrivals[key] = Arrival(first_at=now)
        if len(self.arrivals) == self.expect:
            self.done_at = now

    def as_json(self) -> bytes:
        """The counts (``unique`` distinct names, ``duplicates`` repeated ones) as JSON."""
        named = self.requests - self.unnamed
        return orjson.dumps(
            {
                "expect": self.expect,
                "requests": self.requests,
                "unique": len(self.arrivals),
                "duplicates": named - len(self.arrivals),
                "unnamed": self.unnamed,
                "first_at": self.first_at,
                "last_at": self.last_at,
                "done_at": self.done_at,
            }
        )

    def arrivals_json(self) -> bytes:
        """``{"arrivals": [[department, name, first_at, times], …]}`` in arrival order."""
        rows = [
            (department, name, arrival.first_at, arrival.times)
            for (department, name), arrival in self.arrivals.items()
        ]
        return orjson.dumps({"arrivals": rows})


def create_receiver_app() -> web.Application:
    """The receiver app: push, ``GET /stats``, ``GET /arrivals``, ``POST /reset?expect=N``."""
    app = web.Application()
    app[_STATS] = ReceiverStats()

    async def push(request: web.Request) -> web.Response:
        arrived = time.monotonic()  # the request's head is in; its small body follows at once
        await request.read()
        headers = request.headers
        name = headers.get("webhook-id") or headers.get(RECORD_HEADER)
        request.app[_STATS].count(name, request.match_info["department"], at=arrived)
        return web.Response(status=200)

    async def stats(request: web.Request) -> web.Response:
        return web.Response(body=request.app[_STATS].as_json(), content_type="application/json")

    async def arrivals(request: web.Request) -> web.Response:
        body = request.app[_STATS].arrivals_json()
        return web.Response(body=body, content_type="application/json")

    async def reset(request: web.Request) -> web.Response:
        try:
            expect = int(request.query.get("expect", "0"))
        except ValueError:
            return web.Response(status=400, text="expect must be an integer")
        request.app[_STATS].reset(expect)
        return web.Response(body=request.app[_STATS].as_json(), content_type="application/json")

    app.router.add_post("/departments/{department}/events", push)
    app.router.add_get("/stats", stats)
    app.router.add_get("/arrivals", arrivals)
    app.router.add_post("/reset", reset)
    return app


def main(argv: Sequence[str] | None = None) -> None:
    """Command line: ``python -m services.bench.receiver --port P [--host H]``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else "")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    arguments = parser.parse_args(argv)
    with contextlib.suppress(ImportError):
        import uvloop  # noqa: PLC0415 - optional, as uvicorn uses it

        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    web.run_app(
        create_receiver_app(),
        host=arguments.host,
        port=arguments.port,
        access_log=None,
        print=None,
        handle_signals=True,
    )


if __name__ == "__main__":
    main()

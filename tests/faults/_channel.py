"""A channel that submits changes the way a real one must: concurrently, each change under
its own Idempotency-Key, retrying that same key on connection errors and 503 until 202."""

from __future__ import annotations

import asyncio
import itertools
import json
import random
import time
import uuid
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from tests.fixtures.invalid_bodies import example
from tests.support.bus import unique_nino
from tests.support.processes import CHANNEL_TOKEN

#: Consent sets a change of address from Bristol to Cardiff may carry: two or three
#: organisations each, so that every change fans out, councils (20/s) in two of five.
CONSENTS = (
    ["hmrc", "dvla"],
    ["dvla", "dwp", "council-bristol"],
    ["hmrc", "dwp"],
    ["hmrc", "dvla", "council-cardiff"],
    ["dvla", "dwp"],
)
_CONNECTION_RETRY_S = 0.2
#: Honour Retry-After, but no longer than this: the test must still finish in bounded time.
_MAX_RETRY_AFTER_S = 5.0


STREAM_DEPARTMENTS = sorted({department for consent in CONSENTS for department in consent})


def moves(count: int, *, consent: list[str] | None = None) -> list[dict[str, Any]]:
    """``count`` distinct, valid changes of address from Bristol to Cardiff, each its own
    citizen (NINO), each telling ``consent`` or else the next of ``CONSENTS`` in turn."""
    bodies = []
    for index in range(count):
        body = example("address_changed/v1-bristol-to-cardiff")
        body["subject"]["nino"] = unique_nino()
        body["consent"]["notify"] = list(consent or CONSENTS[index % len(CONSENTS)])
        bodies.append(body)
    return bodies


@dataclass
class Submission:
    """One change and everything that happened while the channel submitted it."""

    key: str
    body: dict[str, Any]
    answers: list[dict[str, Any]] = field(default_factory=list)
    requests: int = 0
    unavailable: int = 0
    connection_errors: int = 0
    #: Answers that are neither 202, 503 nor a connection error: (status, text).
    unexpected: list[tuple[int, str]] = field(default_factory=list)

    @property
    def accepted(self) -> dict[str, Any] | None:
        """The first 202's body, if there was one."""
        return self.answers[0] if self.answers else None

    @property
    def answer(self) -> dict[str, Any]:
        """The first 202's body; fails the test if the change was never accepted."""
        assert self.answers, f"never accepted: {self.unexpected}"
        return self.answers[0]


@dataclass
class Unavailable:
    """One 503: its Retry-After header and how long intake took to say it."""

    retry_after: str | None
    elapsed_s: float


class Channel:
    """Submits changes ``concurrency`` at a time and retries each with its own key.

    Connection errors and timeouts (intake killed or restarting) are retried after a short
    pause; a 503 after its Retry-After (capped); anything else but 202 is recorded as
    unexpected and not retried. Each change is given up at ``deadline_s`` after the start.
    ``accepted_at_least(n)`` lets a test act at a point of the stream.
    """

    def __init__(self, url: str, *, concurrency: int = 24, deadline_s: float = 240) -> None:
        self.url = url
        self.concurrency = concurrency
        self.deadline_s = deadline_s
        #: 202 answers so far (replays included).
        self.accepted = 0
        self.unavailable: list[Unavailable] = []
        #: Connection errors and timeouts by exception type.
        self.errors: Counter[str] = Counter()
        self._progress = asyncio.Condition()

    async def accepted_at_least(self, count: int) -> int:
        """Wait until ``count`` changes have been accepted; returns how many are."""
        async with self._progress:
            await self._progress.wait_for(lambda: self.accepted >= count)
            return self.accepted

    async def submit_all(self, bodies: Iterable[dict[str, Any]]) -> list[Submission]:
        """Submit every body under a key of its own until each is accepted (or time is up)."""
        submissions = [Submission(key=f"faults-{uuid.uuid4()}", body=b) for b in bodies]
        await self._run(submissions)
        return submissions

    async def replay(self, submissions: list[Submission]) -> None:
        """Submit every accepted change once more under its key (its answer is appended)."""
        await self._run([s for s in submissions if s.accepted is not None])

    async def _run(self, submissions: list[Submission]) -> None:
        queue = iter(submissions)
        deadline = time.monotonic() + self.deadline_s
        connector = aiohttp.TCPConnector(limit=self.concurrency)
        timeout = aiohttp.ClientTimeout(total=30)
        async with aiohttp.ClientSession(
            self.url,
            connector=connector,
            timeout=timeout,
            headers={"Authorization": f"Bearer {CHANNEL_TOKEN}"},
        ) as session:

            async def worker() -> None:
                for submission in queue:  # one shared iterator: each change taken once
                    await self._submit(session, submission, deadline)

            await asyncio.gather(*(worker() for _ in itertools.repeat(None, self.concurrency)))

    async def _submit(
        self, session: aiohttp.ClientSession, submission: Submission, deadline: float
    ) -> None:
        while time.monotonic() < deadline:
            submission.requests += 1
            started = time.monotonic()
            try:
                async with session.post(
                    "/v1/changes",
                    json=submission.body,
                    headers={"Idempotency-Key": submission.key},
                ) as response:
                    text = await response.text()
                    status = response.status
                    retry_after = response.headers.get("Retry-After")
            except (aiohttp.ClientError, TimeoutError) as exc:
                submission.connection_errors += 1
                self.errors[type(exc).__name__] += 1
                # Intake is down or restarting: a real channel backs off a little, with jitter.
                await asyncio.sleep(_CONNECTION_RETRY_S * (0.5 + random.random()))
                continue
            if status == 202:
                submission.answers.append(json.loads(text))
                async with self._progress:
                    self.accepted += 1
                    self._progress.notify_all()
                return
            if status == 503:
                submission.unavailable += 1
                self.unavailable.append(Unavailable(retry_after, time.monotonic() - started))
                # The client's back-off, as the API asks: not synchronisation.
                await asyncio.sleep(min(float(retry_after or 1), _MAX_RETRY_AFTER_S))
                continue
            submission.unexpected.append((status, text[:300]))
            return

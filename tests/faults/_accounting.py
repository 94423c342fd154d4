"""After a fault: wait for the departments to have everything, then count what happened.

Every figure comes from outside the bus: the channel's own answers, what the sandbox
departments recorded (with the webhook-id of each push) and the public status API.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

import aiohttp

from services.delivery.domain import delivery_id_for
from services.sandbox.client import SandboxClient
from services.sandbox.recorder import Received
from tests.conftest import DEPARTMENT_IDS
from tests.faults._channel import STREAM_DEPARTMENTS, Channel, Submission, moves
from tests.support.processes import CHANNEL_TOKEN

#: (reference, department): one delivery.
Key = tuple[str, str]


def expected_deliveries(submissions: Iterable[Submission]) -> dict[Key, str]:
    """Every (reference, department) the 202s promised, with the webhook-id it must carry."""
    return {
        (answer["reference"], department): delivery_id_for(answer["event_id"], department)
        for submission in submissions
        if (answer := submission.accepted) is not None
        for department in answer["notified"]
    }


def _delivered(records: Iterable[Received]) -> set[Key]:
    return {(r.body["reference"], r.department) for r in records if r.delivered}


async def received(sandbox: SandboxClient, *, unique: bool = False) -> list[Received]:
    """What every sandbox department recorded (every request, or first acceptances only)."""
    found = await asyncio.gather(*(sandbox.received(d, unique=unique) for d in DEPARTMENT_IDS))
    return [record for records in found for record in records]


async def wait_until_delivered(
    sandbox: SandboxClient, wanted: Iterable[Key], *, timeout: float
) -> set[Key]:
    """Poll the sandbox until every wanted delivery was accepted; returns what is missing.

    Returns (rather than raises) at the deadline so that the caller can print the accounting.
    """
    missing = set(wanted)
    deadline = time.monotonic() + timeout
    while missing and time.monotonic() < deadline:
        await asyncio.sleep(1.0)  # poll interval: each look transfers every record
        missing -= _delivered(await received(sandbox, unique=True))
    return missing


async def wait_for_statuses(
    url: str, targets: dict[Key, str], *, timeout: float, concurrency: int = 16
) -> dict[str, dict[str, str]]:
    """Poll ``GET /v1/changes/{reference}`` until every (reference, department) shows its
    target status; returns the last statuses seen, by reference and department.

    Returns (rather than raises) at the deadline so that the caller can print the accounting.
    """
    wanted: dict[str, dict[str, str]] = defaultdict(dict)
    for (reference, department), status in targets.items():
        wanted[reference][department] = status
    last: dict[str, dict[str, str]] = {}
    pending = set(wanted)
    deadline = time.monotonic() + timeout
    limit = asyncio.Semaphore(concurrency)
    async with aiohttp.ClientSession(
        url,
        headers={"Authorization": f"Bearer {CHANNEL_TOKEN}"},
        timeout=aiohttp.ClientTimeout(total=30),
    ) as session:

        async def look(reference: str) -> None:
            async with limit, session.get(f"/v1/changes/{reference}") as response:
                if response.status != 200:
                    return
                document = await response.json()
            last[reference] = {d["department"]: d["status"] for d in document["deliveries"]}
            if all(last[reference].get(d) == s for d, s in wanted[reference].items()):
                pending.discard(reference)

        while True:
            await asyncio.gather(*(look(reference) for reference in sorted(pending)))
            if not pending or time.monotonic() > deadline:
                return last
            await asyncio.sleep(0.5)  # poll interval while the tracker catches up


async def warm_up(channel: Channel, sandbox: SandboxClient) -> list[Submission]:
    """One change to every department a stream tells, delivered: the adapters have joined
    their consumer groups (Tansu takes seconds), so a fault meets deliveries in flight."""
    (submission,) = await channel.submit_all(moves(1, consent=list(STREAM_DEPARTMENTS)))
    missing = await wait_until_delivered(sandbox, expected_deliveries([submission]), timeout=60)
    assert not missing, f"the bus did not deliver a first change: {missing}"
    return [submission]


async def settle(
    channel: Channel, sandbox: SandboxClient, intake_url: str, submissions: list[Submission]
) -> tuple[dict[Key, str], list[Received], dict[str, dict[str, str]]]:
    """After a stream: every key once more (the same reference, and no second change), then
    wait for every promised delivery and its public ``delivered`` status.

    Returns what the 202s promised, what the departments recorded and the public statuses.
    """
    await channel.replay(submissions)
    expected = expected_deliveries(submissions)
    await wait_until_delivered(sandbox, expected, timeout=180)
    targets = dict.fromkeys(expected, "delivered")
    statuses = await wait_for_statuses(intake_url, targets, timeout=90)
    return expected, await received(sandbox), statuses


@dataclass
class DepartmentCount:
    expected: int = 0
    delivered: int = 0
    duplicates: int = 0
    lost: int = 0


@dataclass
class Accounting:
    """What was submitted, accepted and delivered, and every way it could have gone wrong."""

    title: str
    submitted: int
    requests: int
    unavailable: int
    connection_errors: int
    unexpected: list[tuple[int, str]]
    accepted: int
    departments: dict[str, DepartmentCount]
    #: Idempotency-Keys answered under more than one reference.
    keys_with_two_references: dict[str, set[str]]
    #: (reference, department) delivered under more than one webhook-id, or a wrong one.
    split: dict[Key, set[str]]
    #: References departments received that no 202 ever gave the channel.
    ghosts: set[str]
    bad_signatures: int
    statuses: Counter[str]
    notes: list[str] = field(default_factory=list)

    @property
    def lost(self) -> int:
        return sum(count.lost for count in self.departments.values())

    @property
    def duplicates(self) -> int:
        return sum(count.duplicates for count in self.departments.values())

    def table(self) -> str:
        submitted = (
            f"  submitted  {self.submitted:>6} changes in {self.requests} requests (503: "
            f"{self.unavailable}, connection errors: {self.connection_errors}, "
            f"unexpected answers: {len(self.unexpected)})"
        )
        accepted = (
            f"  accepted   {self.accepted:>6} distinct references (keys answered under 2+ "
            f"references: {len(self.keys_with_two_references)})"
        )
        header = (
            f"  {'department':<22}{'expected':>9}{'delivered':>10}{'duplicates':>11}{'lost':>6}"
        )
        rows = [f"accounting: {self.title}", submitted, accepted, header]
        total = DepartmentCount()
        for department, count in sorted(self.departments.items()):
            if count.expected or count.delivered or count.duplicates:
                rows.append(_row(department, count))
                total.expected += count.expected
                total.delivered += count.delivered
                total.duplicates += count.duplicates
                total.lost += count.lost
        rows.append(_row("total", total))
        rows.append(
            f"  (reference, department) under 2+ or wrong webhook-ids: {len(self.split)}; "
            f"ghost references: {len(self.ghosts)}; bad signatures: {self.bad_signatures}"
        )
        statuses = ", ".join(f"{s} {n}" for s, n in sorted(self.statuses.items()))
        rows.append(f"  public status: {statuses}")
        rows += [f"  {note}" for note in self.notes]
        return "\n".join(rows)


def _row(name: str, count: DepartmentCount) -> str:
    return (
        f"  {name:<22}{count.expected:>9}{count.delivered:>10}{count.duplicates:>11}{count.lost:>6}"
    )


def account(
    title: str,
    submissions: list[Submission],
    records: list[Received],
    statuses: dict[str, dict[str, str]],
    *,
    expected: dict[Key, str] | None = None,
) -> Accounting:
    """Count everything; ``expected`` defaults to what the 202s promised."""
    expected = expected_deliveries(submissions) if expected is None else expected
    references = {a["reference"] for s in submissions for a in s.answers}
    departments = {d: DepartmentCount() for d in DEPARTMENT_IDS}
    for _, department in expected:
        departments[department].expected += 1
    webhook_ids: dict[Key, set[str]] = defaultdict(set)
    ghosts = set()
    for record in records:
        if not record.delivered:
            continue
        key = (record.body["reference"], record.department)
        if record.webhook_id is not None:
            webhook_ids[key].add(record.webhook_id)
        if key[0] not in references:
            ghosts.add(key[0])
        if record.outcome == "duplicate":
            departments[record.department].duplicates += 1
    for key in expected:
        if key in webhook_ids:
            departments[key[1]].delivered += 1
        else:
            departments[key[1]].lost += 1
    split = {
        key: ids
        for key, ids in webhook_ids.items()
        if len(ids) > 1 or (key in expected and ids != {expected[key]})
    }
    answered: dict[str, set[str]] = {
        s.key: {a["reference"] for a in s.answers} for s in submissions if s.answers
    }
    public: Counter[str] = Counter()
    for reference, department in expected:
        public[statuses.get(reference, {}).get(department, "missing")] += 1
    return Accounting(
        title=title,
        submitted=len(submissions),
        requests=sum(s.requests for s in submissions),
        unavailable=sum(s.unavailable for s in submissions),
        connection_errors=sum(s.connection_errors for s in submissions),
        unexpected=[u for s in submissions for u in s.unexpected],
        accepted=len({s.answer["reference"] for s in submissions if s.accepted}),
        departments=departments,
        keys_with_two_references={k: refs for k, refs in answered.items() if len(refs) > 1},
        split=split,
        ghosts=ghosts,
        bad_signatures=sum(1 for r in records if not r.signature_valid),
        statuses=public,
    )


def check(accounting: Accounting, *, expected_status: str = "delivered") -> None:
    """The invariants every fault test holds the bus to, each failure showing the table."""
    table = accounting.table()
    assert not accounting.unexpected, f"unexpected answers {accounting.unexpected[:5]}\n{table}"
    assert accounting.accepted == accounting.submitted, f"not every change accepted\n{table}"
    assert not accounting.keys_with_two_references, (
        f"one Idempotency-Key, two references: {accounting.keys_with_two_references}\n{table}"
    )
    assert accounting.lost == 0, f"lost deliveries\n{table}"
    assert not accounting.split, f"split webhook-ids: {list(accounting.split.items())[:5]}\n{table}"
    assert not accounting.ghosts, f"changes nobody was given: {sorted(accounting.ghosts)}\n{table}"
    assert accounting.bad_signatures == 0, table
    assert set(accounting.statuses) == {expected_status}, f"public statuses\n{table}"


def report(text: str) -> None:
    """Show the accounting in the test's output (``-s``, or ``-rA`` for passed tests)."""
    print(text)  # noqa: T201 - this table is the report the fault tests exist to give

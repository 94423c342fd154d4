"""Every kind of department fault at once, each in its own department, beside ordinary
traffic to every department: each faulted delivery ends in the state its fault calls for,
after the attempts it calls for, and nothing else is slowed down or lost."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx
import pytest

from services.delivery.domain import delivery_id_for
from services.sandbox.client import SandboxClient
from tests.faults._accounting import (
    Key,
    account,
    expected_deliveries,
    received,
    report,
    wait_for_statuses,
    wait_until_delivered,
)
from tests.faults._channel import Channel, Submission
from tests.fixtures.invalid_bodies import example
from tests.support.bus import Bus, unique_nino
from tests.support.processes import OPERATOR_TOKEN

pytestmark = [pytest.mark.slow, pytest.mark.integration]

RETRY_AFTER_S = 2
SLOW_S = 0.5  # under the test registry's 1 s timeout: slow, not timed out
REJECTION = "no such claimant"
BYSTANDERS = 40
#: Bystanders tell every department but the Passport Office (whose circuit holds all).
_BYSTANDER_BODIES = (
    ("death_notified/v1-death-in-bristol", ["hmrc", "dvla", "dwp", "council-bristol"]),
    ("address_changed/v1-bristol-to-cardiff", ["hmrc", "dvla", "dwp", "council-cardiff"]),
    ("address_changed/v1-within-denbighshire", ["hmrc", "dvla", "dwp", "council-denbighshire"]),
)


@dataclass(frozen=True)
class Victim:
    """A change sent to one department only, of a type no bystander sends it, so that a
    fault rule scoped to that type hits this delivery and nothing else."""

    department: str
    example: str
    fault: dict[str, Any]
    #: Status codes of its attempts until its final state (None: no answer).
    attempts: tuple[int | None, ...]


VICTIMS = {
    "5xx": Victim(
        "hmrc",
        "birth_registered/v1-birth-in-bristol-one-parent",
        {"kind": "status", "status": 503, "times": 3},
        (503, 503, 503, 200),
    ),
    "429": Victim(
        "dvla",
        "name_changed/v1-deed-poll-in-bristol",
        {"kind": "rate_limited", "retry_after_s": RETRY_AFTER_S, "times": 1},
        (429, 200),
    ),
    "410": Victim(
        "hmpo",
        "death_notified/v1-death-in-bristol",
        {"kind": "status", "status": 410},  # every hmpo push, until cleared
        (410,),  # then probes, 410 until the fault is cleared, and one 200
    ),
    "422": Victim(
        "dwp",
        "partnership_registered/v1-marriage-in-cardiff",
        {"kind": "status", "status": 422, "reason": REJECTION},
        (422,),
    ),
    "timeout": Victim(
        "council-bristol",
        "name_changed/v1-deed-poll-in-bristol",
        {"kind": "timeout", "seconds": 5},  # until cleared
        (None, None, None, None, 200),  # the schedule's 4 attempts, then the redelivery
    ),
    "slow": Victim(
        "council-cardiff",
        "partnership_registered/v1-marriage-in-cardiff",
        {"kind": "slow", "seconds": SLOW_S},
        (200,),
    ),
    "drop": Victim(
        "council-denbighshire",
        "name_changed/v1-divorce-in-denbighshire",
        {"kind": "drop", "times": 2},
        (None, None, 200),
    ),
}


def _body(name: str, notify: list[str]) -> dict[str, Any]:
    body = example(name)
    if "nino" in body["subject"]:
        body["subject"]["nino"] = unique_nino()
    body["consent"]["notify"] = notify
    return body


class _Operator:
    """The operator API, with a scope-``*`` token."""

    def __init__(self, url: str) -> None:
        self.http = httpx.AsyncClient(
            base_url=url, headers={"Authorization": f"Bearer {OPERATOR_TOKEN}"}, timeout=10
        )

    async def delivery(self, reference: str, department: str) -> dict[str, Any]:
        answer = await self.http.get(
            "/ops/deliveries", params={"reference": reference, "department": department}
        )
        assert answer.status_code == 200, answer.text
        (item,) = answer.json()["items"]
        return dict(item)

    async def circuit(self, department: str) -> str:
        answer = await self.http.get("/ops/departments")
        assert answer.status_code == 200, answer.text
        (state,) = [d for d in answer.json() if d["id"] == department]
        return str(state["circuit"])

    async def wait_circuit(self, department: str, wanted: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while (circuit := await self.circuit(department)) != wanted:
            assert time.monotonic() < deadline, f"{department} circuit {circuit}, not {wanted}"
            await asyncio.sleep(0.2)


def _codes(item: dict[str, Any]) -> tuple[int | None, ...]:
    return tuple(a["status_code"] for a in item["attempts"])


async def _submit(channel: Channel, bodies: list[dict[str, Any]]) -> list[Submission]:
    submissions = await channel.submit_all(bodies)
    assert all(s.accepted for s in submissions), [s.unexpected for s in submissions]
    return submissions


async def _hold_at_the_passport_office(
    bus: Bus,
    channel: Channel,
    operator: _Operator,
    sandbox: SandboxClient,
    victim: dict[str, Any],
) -> list[Submission]:
    """410: the circuit opens, and later changes wait (held) instead of being pushed."""
    await operator.wait_circuit("hmpo", "open", timeout=30)
    later = await _submit(
        channel, [_body("death_notified/v1-death-in-bristol", ["hmpo"]) for _ in range(3)]
    )
    keys = [(victim["reference"], "hmpo"), *((s.answer["reference"], "hmpo") for s in later)]
    statuses = await wait_for_statuses(bus.intake.url, dict.fromkeys(keys, "held"), timeout=30)
    assert {statuses[r].get(d) for r, d in keys} == {"held"}, statuses
    pushes = await sandbox.received("hmpo")
    assert not [r for r in pushes if r.delivered], "pushed through an open circuit"
    assert {r.status for r in pushes} == {410}, "only the first push and probes went"
    return later


async def _fail_then_redeliver(
    bus: Bus, operator: _Operator, sandbox: SandboxClient, key: Key
) -> None:
    """Timeout: failed once the schedule is spent; cleared, redelivered by an operator."""
    statuses = await wait_for_statuses(bus.intake.url, {key: "failed"}, timeout=60)
    assert statuses[key[0]][key[1]] == "failed", statuses
    await sandbox.clear_faults(key[1])
    answer = await operator.http.post(f"/ops/departments/{key[1]}/redeliver-failed")
    assert answer.status_code == 202, answer.text


def _check_courses(items: dict[str, dict[str, Any]], rejection: dict[str, Any], table: str) -> None:
    """Each faulted delivery took the attempts its fault calls for.

    Where a push on a loaded machine could also time out (the test registry allows 1 s),
    the fault's own attempts are checked and the delivery's end, not the exact count.
    """
    for kind in ("5xx", "429", "422"):
        assert _codes(items[kind]) == VICTIMS[kind].attempts, f"{kind}\n{table}"
    first, second = (datetime.fromisoformat(a["at"]) for a in items["429"]["attempts"])
    assert (second - first).total_seconds() >= RETRY_AFTER_S, f"Retry-After not honoured\n{table}"
    codes_410 = _codes(items["410"])
    assert codes_410[-1] == 200, table
    assert set(codes_410[:-1]) == {410}, f"only the first push and failed probes\n{table}"
    assert REJECTION in (items["422"]["attempts"][0]["error"] or ""), table
    assert REJECTION in (rejection["reason"] or ""), f"{rejection}\n{table}"
    # The whole schedule timed out (and the delivery failed), then the redelivery went.
    timeouts = items["timeout"]["attempts"][:-1]
    assert len(timeouts) >= len(VICTIMS["timeout"].attempts) - 1, table
    assert all(a["status_code"] is None and "timeout" in a["error"] for a in timeouts), table
    assert _codes(items["timeout"])[-1] == 200, table
    last = items["slow"]["attempts"][-1]
    assert (last["status_code"], last["latency_ms"] >= SLOW_S * 1000) == (200, True), table
    dropped = items["drop"]["attempts"][:2]
    assert all(a["status_code"] is None and "connection" in a["error"] for a in dropped), table
    assert _codes(items["drop"])[-1] == 200, table


async def test_every_kind_of_department_fault_at_once_ends_in_its_own_state(bus):
    operator = _Operator(bus.intake.url)
    channel = Channel(bus.intake.url, concurrency=16, deadline_s=60)
    async with bus.sandbox as sandbox:
        for victim in VICTIMS.values():
            event_type = victim.example.split("/")[0]
            await sandbox.add_fault(victim.department, event_type=event_type, **victim.fault)
        bodies = [_body(v.example, [v.department]) for v in VICTIMS.values()]
        bodies += [_body(*_BYSTANDER_BODIES[i % 3]) for i in range(BYSTANDERS)]
        started = time.monotonic()
        submissions = await _submit(channel, bodies)
        victims = {kind: s.answer for kind, s in zip(VICTIMS, submissions, strict=False)}
        bystanders = expected_deliveries(submissions[len(VICTIMS) :])

        held = await _hold_at_the_passport_office(bus, channel, operator, sandbox, victims["410"])
        # Everyone else is delivered while every fault is still in force.
        missing = await wait_until_delivered(sandbox, bystanders, timeout=60)
        bystanders_s = time.monotonic() - started
        assert not missing, f"{len(missing)} bystander deliveries held up, e.g. {min(missing)}"

        # Cleared, a probe closes the circuit and the held deliveries go.
        await sandbox.clear_faults("hmpo")
        await operator.wait_circuit("hmpo", "closed", timeout=30)
        timeout_key = (victims["timeout"]["reference"], "council-bristol")
        await _fail_then_redeliver(bus, operator, sandbox, timeout_key)

        everything = [*submissions, *held]
        finals = dict.fromkeys(expected_deliveries(everything), "delivered")
        finals[(victims["422"]["reference"], "dwp")] = "rejected"
        statuses = await wait_for_statuses(bus.intake.url, finals, timeout=60)
        to_deliver = [key for key, status in finals.items() if status == "delivered"]
        await wait_until_delivered(sandbox, to_deliver, timeout=30)
        records = await received(sandbox)
        items = {
            kind: await operator.delivery(v["reference"], VICTIMS[kind].department)
            for kind, v in victims.items()
        }
        for department in ("hmrc", "dvla", "dwp", "council-cardiff", "council-denbighshire"):
            await sandbox.clear_faults(department)
    await operator.http.aclose()
    (rejection,) = [
        d for d in bus.status(victims["422"]["reference"])["deliveries"] if d["department"] == "dwp"
    ]

    promised = expected_deliveries(everything)
    accounting = account(
        "every department fault at once",
        everything,
        records,
        statuses,
        expected={k: v for k, v in promised.items() if finals[k] == "delivered"},
    )
    accounting.statuses = Counter(statuses[r].get(d, "missing") for r, d in finals)
    accounting.notes = [
        f"{kind:<8} {VICTIMS[kind].department:<21} attempts {_codes(item)} -> {item['status']}"
        for kind, item in items.items()
    ]
    faulted_bystanders = [
        r for r in records if (r.body["reference"], r.department) in bystanders and not r.delivered
    ]
    accounting.notes.append(
        f"bystanders: {len(bystanders)} deliveries, all delivered {bystanders_s:.1f} s after the "
        f"first submission, with the faults in force; refused pushes: {len(faulted_bystanders)}"
    )
    table = accounting.table()
    report(table)

    assert accounting.lost == 0, table
    assert not accounting.split, table
    assert not accounting.ghosts, table
    assert accounting.bad_signatures == 0, table
    assert all(statuses[r].get(d) == s for (r, d), s in finals.items()), table
    assert not faulted_bystanders, f"a fault rule hit a bystander\n{table}"
    _check_courses(items, rejection, table)
    # A business rejection is not retried: the department saw it exactly once.
    rejected_id = delivery_id_for(victims["422"]["event_id"], "dwp")
    assert len([r for r in records if r.webhook_id == rejected_id]) == 1, table

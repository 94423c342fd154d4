"""``tellusonce status`` against the real tracker API, run as a subprocess."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest
from click.testing import CliRunner

from services.cli.main import cli
from services.tracker.domain import DeliveryStatus
from tests.integration.cli.conftest import CHANNEL_TOKEN, Bus, finished, new_change
from tests.support.net import free_port

pytestmark = pytest.mark.integration


def _references(bus: Bus) -> tuple[str, str]:
    mixed, pending, *_ = bus.changes
    return mixed, pending


async def test_status_shows_the_change_and_a_row_per_delivery_with_its_reason(bus):
    mixed, _ = _references(bus)

    ran = await bus.run("status", mixed.lower(), "--token", CHANNEL_TOKEN)

    assert ran.code == 0, ran.stderr
    lines = ran.stdout.splitlines()
    assert lines[:3] == [
        f"reference    {mixed}",
        "type         address_changed",
        "received at  2026-11-01 09:00:00Z",
    ]
    header = lines[4].split()
    assert header[:2] == ["department", "status"]
    assert header[-1] == "reason"
    rows = {line.split()[0]: line for line in lines[6:]}
    assert rows.keys() == {"hmrc", "dvla"}
    assert rows["hmrc"].split() == [
        "hmrc",
        "delivered",
        "1",
        "2026-11-01",
        "09:00:01Z",
        "2026-11-01",
        "09:00:01Z",
        "-",
    ]
    assert rows["dvla"].split()[:5] == ["dvla", "failed", "2", "2026-11-01", "09:00:02Z"]
    assert rows["dvla"].split()[5:] == ["-", "retries", "exhausted"]


async def test_status_json_prints_the_api_answer_using_the_token_up_wrote(bus):
    mixed, _ = _references(bus)
    bus.write_credentials()

    ran = await bus.run("status", mixed, "--json")

    assert ran.code == 0, ran.stderr
    async with httpx.AsyncClient(base_url=bus.url) as http:
        expected = await http.get(
            f"/v1/changes/{mixed}", headers={"Authorization": f"Bearer {CHANNEL_TOKEN}"}
        )
    assert json.loads(ran.stdout) == expected.json()


async def test_an_unknown_reference_is_a_404_problem_and_exit_status_1(bus):
    ran = await bus.run("status", "ZZZZ-ZZZZ-ZZZZ", "--token", CHANNEL_TOKEN)

    assert ran.code == 1
    assert ran.stdout == ""
    assert "HTTP 404: No change has that reference." in ran.stderr


async def test_a_wrong_token_is_a_401_problem_and_is_not_printed(bus):
    mixed, _ = _references(bus)

    ran = await bus.run("status", mixed, "--token", "not-a-real-token-123")

    assert ran.code == 1
    assert "HTTP 401: A valid channel token is required" in ran.stderr
    assert "not-a-real-token-123" not in ran.stdout + ran.stderr


async def test_without_any_token_the_command_says_where_one_comes_from(bus):
    mixed, _ = _references(bus)

    ran = await bus.run("status", mixed)

    assert ran.code == 1
    assert "no channel token: pass --token, set TUO_TOKEN" in ran.stderr


async def test_an_api_that_is_not_running_is_reported_with_its_url(bus):
    url = f"http://127.0.0.1:{free_port()}"
    process = await bus.start("status", "ZZZZ-ZZZZ-ZZZZ", "--url", url, "--token", CHANNEL_TOKEN)

    ran = await bus.finish(process)

    assert ran.code == 1
    assert f"is `tellusonce up` running at {url}?" in ran.stderr
    assert "Traceback" not in ran.stderr


async def test_wait_shows_progress_until_every_delivery_has_finished(bus):
    _, pending = _references(bus)
    process = await bus.start(
        "status", pending, "--wait", "--interval", "0.1", "--url", bus.url, "--token", CHANNEL_TOKEN
    )
    assert process.stderr is not None
    first = await asyncio.wait_for(process.stderr.readline(), timeout=30)
    assert first.decode().startswith("[status] 0/2 finished; waiting for ")
    deliveries = bus.changes[pending]
    await bus.store.record_statuses(
        [
            finished(deliveries["hmrc"], DeliveryStatus.DELIVERED, 200),
            finished(deliveries["dvla"], DeliveryStatus.REJECTED, 422),
        ]
    )

    ran = await bus.finish(process, before=first.decode())

    assert ran.code == 0, ran.stderr
    assert "[status] 2/2 finished" in ran.stderr
    statuses = {line.split()[0]: line.split()[1] for line in ran.stdout.splitlines()[6:]}
    assert statuses == {"hmrc": "delivered", "dvla": "rejected"}


async def test_wait_waits_for_a_change_the_tracker_has_not_recorded_yet(bus):
    change = new_change(["hmrc"])
    process = await bus.start(
        "status", change.reference, "--wait", "--interval", "0.1",
        "--url", bus.url, "--token", CHANNEL_TOKEN,
    )  # fmt: skip
    assert process.stderr is not None
    first = await asyncio.wait_for(process.stderr.readline(), timeout=30)
    assert first.decode() == f"[status] {change.reference} is not recorded yet\n"
    await bus.store.record_changes([change])
    (delivery,) = change.initial_deliveries()
    await bus.store.record_statuses([finished(delivery, DeliveryStatus.DELIVERED, 200)])

    ran = await bus.finish(process, before=first.decode())

    assert ran.code == 0, ran.stderr
    assert "[status] 1/1 finished" in ran.stderr
    assert ran.stdout.splitlines()[0] == f"reference    {change.reference}"


async def test_wait_gives_up_on_an_unknown_reference_with_the_404_problem(bus):
    ran = await bus.run(
        "status", "ZZZZ-ZZZZ-ZZZZ", "--wait", "--timeout", "0.3", "--interval", "0.1",
        "--token", CHANNEL_TOKEN,
    )  # fmt: skip

    assert ran.code == 1
    assert "[status] ZZZZ-ZZZZ-ZZZZ is not recorded yet" in ran.stderr
    assert "HTTP 404: No change has that reference." in ran.stderr


async def test_wait_gives_up_at_the_timeout_with_exit_status_3(bus):
    _, pending = _references(bus)

    ran = await bus.run(
        "status", pending, "--wait", "--timeout", "0.5", "--interval", "0.1",
        "--token", CHANNEL_TOKEN,
    )  # fmt: skip

    assert ran.code == 3
    assert [line.split()[1] for line in ran.stdout.splitlines()[6:]] == ["pending", "pending"]
    assert "not every delivery finished within 0.5 s" in ran.stderr


@pytest.mark.parametrize("option", [["--timeout", "5"], ["--interval", "0.5"]])
def test_wait_options_without_wait_are_a_usage_error(option):
    result = CliRunner().invoke(cli, ["status", "ZZZZ-ZZZZ-ZZZZ", *option, "--token", "x"])

    assert result.exit_code == 2
    assert f"{option[0]} only goes with --wait" in result.stderr

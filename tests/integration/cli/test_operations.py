"""The operator commands against the real tracker API, run as subprocesses."""

from __future__ import annotations

import json
import re

import pytest
from click.testing import CliRunner

from services.cli.main import cli
from tests.integration.cli.conftest import ADMIN_TOKEN, DVLA_TOKEN, EXTRA_HMRC_CHANGES

pytestmark = pytest.mark.integration

ALL_HMRC = 2 + EXTRA_HMRC_CHANGES


def _rows(stdout: str) -> list[list[str]]:
    """The table rows (after the header and its underline), split into cells."""
    return [line.split() for line in stdout.splitlines()[2:]]


async def test_deliveries_lists_every_delivery_using_the_operator_token_up_wrote(bus):
    bus.write_credentials()

    ran = await bus.run("deliveries")

    assert ran.code == 0, ran.stderr
    assert ran.stdout.splitlines()[0].split() == [
        "delivery", "id", "reference", "department", "status", "attempts", "last", "attempt",
    ]  # fmt: skip
    rows = _rows(ran.stdout)
    assert sorted(r[0] for r in rows) == sorted(bus.ids("hmrc") + bus.ids("dvla"))
    mixed = next(iter(bus.changes))
    failed = bus.changes[mixed]["dvla"].delivery_id
    assert next(r for r in rows if r[0] == failed)[1:] == [
        mixed, "dvla", "failed", "2", "503", "upstream", "answered", "503",
    ]  # fmt: skip
    delivered = bus.changes[mixed]["hmrc"].delivery_id
    assert next(r for r in rows if r[0] == delivered)[1:] == [
        mixed,
        "hmrc",
        "delivered",
        "1",
        "200",
    ]


async def test_deliveries_filters_by_department_status_and_reference(bus):
    mixed = next(iter(bus.changes))

    by_status = await bus.run(
        "deliveries", "--department", "dvla", "--status", "failed", "--token", ADMIN_TOKEN
    )
    by_reference = await bus.run("deliveries", "--reference", mixed.lower(), "--token", ADMIN_TOKEN)

    assert by_status.code == 0, by_status.stderr
    assert [r[0] for r in _rows(by_status.stdout)] == [bus.changes[mixed]["dvla"].delivery_id]
    assert by_reference.code == 0, by_reference.stderr
    assert {r[1] for r in _rows(by_reference.stdout)} == {mixed}
    assert len(_rows(by_reference.stdout)) == 2


async def test_deliveries_shows_one_page_and_all_follows_next_to_the_last(bus):
    args = ("deliveries", "--department", "hmrc", "--limit", "2", "--token", ADMIN_TOKEN)

    one_page = await bus.run(*args)
    every_page = await bus.run(*args, "--all")
    as_json = await bus.run(*args, "--all", "--json")

    assert one_page.code == 0, one_page.stderr
    assert len(_rows(one_page.stdout)) == 2
    assert "more deliveries: pass --all, or --after " in one_page.stderr
    assert every_page.code == 0, every_page.stderr
    assert sorted(r[0] for r in _rows(every_page.stdout)) == sorted(bus.ids("hmrc"))
    assert "[deliveries] 4 deliveries so far" in every_page.stderr
    assert "more deliveries" not in every_page.stderr
    document = json.loads(as_json.stdout)
    assert document["next"] is None
    assert sorted(d["delivery_id"] for d in document["items"]) == sorted(bus.ids("hmrc"))
    assert len(document["items"]) == ALL_HMRC


async def test_a_department_scoped_token_asking_for_another_department_gets_403(bus):
    ran = await bus.run("deliveries", "--department", "hmrc", "--token", DVLA_TOKEN)

    assert ran.code == 1
    assert "HTTP 403: This operator token does not cover that department." in ran.stderr


async def test_a_channel_token_on_ops_is_a_401_problem(bus):
    bus.write_credentials()

    ran = await bus.run("deliveries", "--token", "cli-channel-secret-1")

    assert ran.code == 1
    assert "HTTP 401: A valid operator token is required" in ran.stderr


async def test_redeliver_asks_for_each_delivery_and_reports_the_unknown_one(bus):
    mixed = next(iter(bus.changes))
    dvla, hmrc = bus.changes[mixed]["dvla"].delivery_id, bus.changes[mixed]["hmrc"].delivery_id

    ran = await bus.run("redeliver", dvla, "no-such-delivery", hmrc, "--token", ADMIN_TOKEN)

    assert ran.code == 1
    assert ran.stdout.splitlines() == [
        f"{dvla}: redelivery requested",
        f"{hmrc}: redelivery requested",
    ]
    assert "no-such-delivery: HTTP 404: No delivery has that id." in ran.stderr
    assert "1 of 3 not redelivered" in ran.stderr
    assert bus.control.commands == [
        {"action": "redeliver", "department": "dvla", "delivery_id": dvla},
        {"action": "redeliver", "department": "hmrc", "delivery_id": hmrc},
    ]


async def test_redeliver_failed_asks_the_department_to_redeliver_its_dead_letters(bus):
    ran = await bus.run("redeliver", "--failed", "--department", "dvla", "--token", DVLA_TOKEN)

    assert ran.code == 0, ran.stderr
    assert ran.stdout == "dvla: redelivery of every failed delivery requested\n"
    assert bus.control.commands == [{"action": "redeliver_failed", "department": "dvla"}]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], "give one or more DELIVERY_IDs, or --failed --department ID"),
        (["--failed"], "--failed needs --department ID"),
        (["some-id", "--failed", "--department", "dvla"], "not both"),
        (["some-id", "--department", "dvla"], "--department only goes with --failed"),
    ],
)
def test_bad_redeliver_combinations_are_usage_errors(args, message):
    result = CliRunner().invoke(cli, ["redeliver", *args, "--url", "http://127.0.0.1:9"])

    assert result.exit_code == 2
    assert message in result.stderr


async def test_pause_and_resume_publish_the_commands_for_the_adapters(bus):
    paused = await bus.run("pause", "dvla", "--token", ADMIN_TOKEN)
    resumed = await bus.run("resume", "dvla", "--token", ADMIN_TOKEN)

    assert paused.code == 0, paused.stderr
    assert paused.stdout == "dvla: pause requested; resume with `tellusonce resume dvla`\n"
    assert resumed.code == 0, resumed.stderr
    assert resumed.stdout == "dvla: resume requested\n"
    assert bus.control.commands == [
        {"action": "pause", "department": "dvla"},
        {"action": "resume", "department": "dvla"},
    ]


async def test_departments_shows_a_row_per_department_as_the_api_reports_it(bus):
    table = await bus.run("departments", "--token", ADMIN_TOKEN)
    as_json = await bus.run("departments", "--json", "--token", ADMIN_TOKEN)

    assert table.code == 0, table.stderr
    assert as_json.code == 0, as_json.stderr
    reported = json.loads(as_json.stdout)
    rows = _rows(table.stdout)
    assert [r[0] for r in rows] == [d["id"] for d in reported]
    for row, department in zip(rows, reported, strict=True):
        age = row.pop(4)  # the oldest pending delivery's age, as of the request
        assert re.fullmatch(r"\d+[dhm]\d\d[hms]|\d+s", age) if department["backlog"] else age == "-"
        assert row == [
            department["id"],
            f"{department['delivered_per_min']:.1f}",
            f"{department['failure_rate']:.0%}",
            str(department["backlog"]),
            str(department["failed"]),
            department["circuit"],
            "yes" if department["paused"] else "no",
        ]
    dvla = next(r for r in rows if r[0] == "dvla")
    assert dvla[3:5] == ["1", "1"]  # backlog (the second change), failed (the first)


async def test_departments_json_lists_only_what_a_scoped_token_covers(bus):
    ran = await bus.run("departments", "--json", "--token", DVLA_TOKEN)

    assert ran.code == 0, ran.stderr
    (dvla,) = json.loads(ran.stdout)
    assert dvla["id"] == "dvla"
    assert dvla["backlog"] == 1


async def test_pause_outside_the_token_scope_or_of_an_unknown_department_is_refused(bus):
    other = await bus.run("pause", "hmrc", "--token", DVLA_TOKEN)
    unknown = await bus.run("pause", "no-such-department", "--token", ADMIN_TOKEN)

    assert other.code == 1
    assert "hmrc: HTTP 403: This operator token does not cover that department." in other.stderr
    assert unknown.code == 1
    assert "HTTP 404: There is no department 'no-such-department'." in unknown.stderr
    assert bus.control.commands == []


async def test_a_command_the_broker_does_not_take_is_a_503_with_retry_after(bus):
    bus.control.refuse = True

    ran = await bus.run("resume", "dvla", "--token", ADMIN_TOKEN)

    assert ran.code == 1
    assert "HTTP 503: The command could not be passed on; try again shortly." in ran.stderr
    assert "(retry after 5 s)" in ran.stderr

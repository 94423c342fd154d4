"""The operator dashboard in headless Chromium over a real bus: health, drill-down, repair."""

from __future__ import annotations

import asyncio
import re
import shutil
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from playwright.async_api import (
    Browser,
    ConsoleMessage,
    Locator,
    Page,
    async_playwright,
    expect,
)

from tests.fixtures.invalid_bodies import example
from tests.support.bus import Bus, delivery_id, start_bus, stop_bus, unique_nino
from tests.support.processes import OPERATOR_TOKEN, IntakeProcess

pytestmark = pytest.mark.e2e

DEATH = "death_notified/v1-death-in-bristol"  # tells hmrc, dvla, hmpo, dwp, council-bristol
FAILING = "dvla"
PAUSED = "hmpo"
HMRC_TOKEN = "test-operator-token-hmrc"
#: Milliseconds to wait for what the bus does in the background (a few 0.3 s retries, the
#: adapters applying a command, the tracker recording it, the page's next poll).
BACKGROUND_MS = 30_000


@pytest.fixture
def bus(tmp_path, broker) -> Iterator[Bus]:
    running = start_bus(tmp_path, broker.bootstrap)
    yield running
    stop_bus(running)


@pytest.fixture
def scoped_api(bus) -> Iterator[IntakeProcess]:
    """A second replica of the public API whose operator tokens include one for HMRC only.

    Started now, waited for when the test needs it.
    """
    replica = IntakeProcess(
        bus.bootstrap,
        bus.data_dir,
        extra_env={
            "TUO_DEPARTMENTS": str(bus.registry),
            "TUO_OPERATOR_TOKENS": f"ops:{OPERATOR_TOKEN}:*,hmrc-ops:{HMRC_TOKEN}:hmrc",
        },
    )
    replica.start()
    yield replica
    replica.stop()


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    executable = shutil.which("chromium")
    if executable is None:
        pytest.fail("Debian's chromium is needed: apt-get install chromium (.ci/run does)")
    async with async_playwright() as playwright:
        # Playwright's default is --no-sandbox, which Chromium needs when run as root (CI).
        instance = await playwright.chromium.launch(executable_path=executable)
        yield instance
        await instance.close()


def _death() -> dict[str, Any]:
    body = example(DEATH)
    body["subject"]["nino"] = unique_nino()
    return body


def _names(bus: Bus) -> dict[str, str]:
    registry = yaml.safe_load(bus.registry.read_text(encoding="utf-8"))
    return {entry["id"]: entry["name"] for entry in registry["departments"]}


async def _open(browser: Browser, url: str, problems: list[str]) -> Page:
    """A page in a fresh context (its own sessionStorage) that records script errors."""
    page = await (await browser.new_context()).new_page()
    page.on("pageerror", lambda error: problems.append(f"page error: {error}"))

    def console(message: ConsoleMessage) -> None:
        if "Content Security Policy" in message.text:
            problems.append(f"CSP: {message.text}")

    page.on("console", console)
    await page.goto(url)
    return page


async def _sign_in(page: Page, token: str) -> None:
    await page.get_by_label("Operator token").fill(token)
    await page.get_by_role("button", name="Sign in").click()


async def _status(bus: Bus, reference: str, department: str) -> str:
    response = await asyncio.to_thread(bus.ops, "GET", "/ops/deliveries", reference=reference)
    (found,) = (d for d in response.json()["items"] if d["department"] == department)
    return str(found["status"])


async def test_an_operator_sees_a_failed_delivery_first_and_redelivers_it_from_the_dashboard(
    bus, scoped_api, browser, tmp_path
):
    names = _names(bus)
    async with bus.sandbox as sandbox:
        await sandbox.add_fault(FAILING, kind="status", status=503, reason="down for maintenance")
    accepted, other = (bus.submit(_death()) for _ in range(2))
    problems: list[str] = []

    page = await _open(browser, f"{bus.intake.url}/ops", problems)
    await expect(page).to_have_url(f"{bus.intake.url}/ops/")
    await _sign_in(page, "not-a-valid-token")
    await expect(page.get_by_role("alert")).to_contain_text("not accepted (401)")
    await _sign_in(page, OPERATOR_TOKEN)

    await _every_department_is_listed_the_failing_one_first(page, names)
    await _the_department_lists_its_failed_deliveries(page, names)
    await page.screenshot(path=tmp_path / "dashboard-department.png", full_page=True)
    change = await _the_change_shows_every_delivery_and_attempt(page, accepted)
    await page.screenshot(path=tmp_path / "dashboard-failed.png", full_page=True)

    # The department is back: redeliver one, then every other dead letter at once.
    async with bus.sandbox as sandbox:
        await sandbox.clear_faults(FAILING)
    await change.get_by_role("button", name=re.compile(r"^Redeliver")).click()
    await expect(page.get_by_role("status")).to_contain_text("requested")
    status = change.locator('[data-field="status"]')
    await expect(status).to_have_text("delivered", timeout=BACKGROUND_MS)
    failing = _department_row(page, FAILING)
    failed_count = failing.locator('[data-field="failed"]')
    await expect(failed_count).to_have_text("1", timeout=BACKGROUND_MS)
    await failing.get_by_role("button", name=re.compile(r"^Redeliver all failed")).click()
    await expect(failed_count).to_have_text("0", timeout=BACKGROUND_MS)
    assert (await _status(bus, other["reference"], FAILING)) == "delivered"

    await _a_paused_department_rises_to_the_top_until_resumed(page, tmp_path)
    await asyncio.to_thread(scoped_api.wait_ready)
    await _a_scoped_token_sees_its_department_only(browser, scoped_api.url, problems)
    assert problems == []


def _department_row(page: Page, department: str) -> Locator:
    return page.locator(f'#departments tbody tr[data-department="{department}"]')


async def _every_department_is_listed_the_failing_one_first(
    page: Page, names: dict[str, str]
) -> None:
    failing = _department_row(page, FAILING)
    await expect(failing.locator('[data-field="failed"]')).to_have_text("2", timeout=BACKGROUND_MS)
    rows = page.locator("#departments tbody tr")
    await expect(rows).to_have_count(len(names))
    await expect(rows.first).to_have_attribute("data-department", FAILING)
    await expect(failing.locator('[data-field="health"]')).to_contain_text("2 failed")
    for department, name in names.items():
        await expect(_department_row(page, department).locator("th a")).to_have_text(name)


async def _the_department_lists_its_failed_deliveries(page: Page, names: dict[str, str]) -> None:
    failing = _department_row(page, FAILING)
    await failing.get_by_role("link", name=re.compile(r"failed deliveries")).click()
    detail = page.locator("#detail")
    await expect(detail.get_by_role("heading", level=2)).to_have_text(
        f"Deliveries to {names[FAILING]}"
    )
    await expect(page.get_by_label("Status", exact=True)).to_have_value("failed")
    listed = detail.locator("#deliveries tbody tr")
    await expect(listed).to_have_count(2)
    await expect(listed.locator('[data-field="status"]')).to_have_text(["failed"] * 2)
    await expect(listed.locator('[data-field="attempts"]')).to_have_text(["4"] * 2)


async def _the_change_shows_every_delivery_and_attempt(
    page: Page, accepted: dict[str, Any]
) -> Locator:
    """Find the change by its reference (typed in lower case); returns the failed delivery."""
    await page.get_by_label("Find a change by reference").fill(accepted["reference"].lower())
    await page.get_by_role("button", name="Find", exact=True).click()
    detail = page.locator("#detail")
    await expect(detail.get_by_role("heading", level=2)).to_have_text(
        f"Change {accepted['reference']}"
    )
    await expect(detail.locator("article.delivery")).to_have_count(len(accepted["notified"]))
    change = detail.locator(f'article[data-delivery="{delivery_id(accepted, FAILING)}"]')
    await expect(change.locator('[data-field="status"]')).to_have_text("failed")
    await expect(change.locator('[data-field="status_code"]')).to_have_text(["503"] * 4)
    return change


async def _a_paused_department_rises_to_the_top_until_resumed(page: Page, tmp_path: Path) -> None:
    paused = _department_row(page, PAUSED)
    health = paused.locator('[data-field="health"]')
    await paused.get_by_role("button", name=re.compile(r"^Pause")).click()
    await expect(health).to_contain_text("paused", timeout=BACKGROUND_MS)
    rows = page.locator("#departments tbody tr")
    await expect(rows.first).to_have_attribute("data-department", PAUSED)
    await page.screenshot(path=tmp_path / "dashboard.png", full_page=True)
    await paused.get_by_role("button", name=re.compile(r"^Resume")).click()
    await expect(health).not_to_contain_text("paused", timeout=BACKGROUND_MS)
    await expect(paused.get_by_role("button", name=re.compile(r"^Pause"))).to_be_visible()


async def _a_scoped_token_sees_its_department_only(
    browser: Browser, url: str, problems: list[str]
) -> None:
    page = await _open(browser, f"{url}/ops/", problems)
    await _sign_in(page, HMRC_TOKEN)
    rows = page.locator("#departments tbody tr")
    await expect(rows).to_have_count(1)
    await expect(rows.first).to_have_attribute("data-department", "hmrc")
    await page.goto(f"{url}/ops/#department={FAILING}")
    await expect(page.get_by_role("alert")).to_contain_text("403")
    await expect(rows).to_have_count(1)

"""POST /v1/changes in front of FastAPI answers exactly what FastAPI's route answers.

Every bad input of the integration suite, a conflict, a broker outage, an unexpected error,
acceptance and replay are sent to two apps over the same kind of fake runtime: one with
the fast path, one with FastAPI's route only. Status, headers and body must be the same
(a 202's fresh reference and event id are compared by shape).
"""

from __future__ import annotations

import copy
import json

import httpx
import pytest
from click.testing import CliRunner

from services.cli import run
from services.core.resources import schemas_dir
from services.intake.domain import BrokerUnavailableError
from services.intake.entrypoints.fast_path import ChangesFastPath
from tests.integration.intake.test_bad_inputs import CASES
from tests.support.intake_app import CHANNEL_HEADERS, intake_app, served
from tests.support.processes import CHANNEL_TOKEN

MOVE = json.loads(
    (schemas_dir() / "address_changed/examples/v1-bristol-to-cardiff.json").read_text()
)
FAKE_TOKEN = CHANNEL_HEADERS["Authorization"].removeprefix("Bearer ")
# What may differ between two answers: the date, and the ids minted per acceptance.
_VOLATILE_HEADERS = {"date"}


class _Pair:
    """The same request to an app with the fast path and to one without."""

    def __init__(self) -> None:
        self.fast_app = intake_app()
        self.route_app = intake_app()
        self.fast = httpx.AsyncClient(
            transport=httpx.ASGITransport(served(self.fast_app), raise_app_exceptions=False),
            base_url="http://intake",
        )
        self.route = httpx.AsyncClient(
            transport=httpx.ASGITransport(self.route_app, raise_app_exceptions=False),
            base_url="http://intake",
        )

    async def send(self, method: str, url: str, **kwargs) -> tuple[httpx.Response, httpx.Response]:
        fast = await self.fast.request(method, url, **kwargs)
        route = await self.route.request(method, url, **kwargs)
        return fast, route

    def published(self) -> tuple[int, int]:
        return (
            len(self.fast_app.state.runtime.publisher.published),
            len(self.route_app.state.runtime.publisher.published),
        )

    def runtimes(self):
        return self.fast_app.state.runtime, self.route_app.state.runtime

    async def aclose(self) -> None:
        await self.fast.aclose()
        await self.route.aclose()


@pytest.fixture
async def pair():
    both = _Pair()
    yield both
    await both.aclose()


def _same(fast: httpx.Response, route: httpx.Response) -> None:
    assert fast.status_code == route.status_code, (fast.text, route.text)
    assert _headers(fast) == _headers(route)
    if fast.status_code == 202:
        a, b = fast.json(), route.json()
        assert a.keys() == b.keys() == {"reference", "event_id", "notified", "status_url"}
        assert a["notified"] == b["notified"]
        assert a["status_url"] == f"/v1/changes/{a['reference']}"
    else:
        assert fast.content == route.content


def _headers(response: httpx.Response) -> list[tuple[str, str]]:
    return [(k, v) for k, v in response.headers.multi_items() if k not in _VOLATILE_HEADERS]


def test_the_intake_is_served_on_the_fast_path_and_the_route_still_documented(
    tmp_path, monkeypatch
):
    served_apps = []
    monkeypatch.setattr(run, "serve_app", lambda app, _host, _port: served_apps.append(app))
    monkeypatch.setenv("TUO_CHANNEL_TOKENS", f"online-form:{FAKE_TOKEN}")
    result = CliRunner().invoke(run.intake_command, ["--data-dir", str(tmp_path)])
    assert result.exit_code == 0, result.output
    [app] = served_apps
    assert isinstance(app, ChangesFastPath)
    assert "post" in app.app.openapi()["paths"]["/v1/changes"]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
async def test_every_bad_input_gets_the_same_problem(pair, case):
    headers = dict(case.headers)
    if case.token:
        headers["Authorization"] = (
            f"Bearer {FAKE_TOKEN if case.token == CHANNEL_TOKEN else case.token}"
        )
    if case.content_type:
        headers["Content-Type"] = case.content_type
    fast, route = await pair.send("POST", "/v1/changes", content=case.content, headers=headers)
    _same(fast, route)
    assert fast.status_code == case.status
    assert fast.headers["content-type"] == "application/problem+json"
    assert pair.published() == (0, 0)


async def test_acceptance_replay_and_conflict_are_answered_alike(pair):
    keyed = {**CHANNEL_HEADERS, "Idempotency-Key": "fast-1"}
    other = copy.deepcopy(MOVE)
    other["data"]["moved_on"] = "2024-03-02"

    _same(*await pair.send("POST", "/v1/changes", json=MOVE, headers=CHANNEL_HEADERS))
    first = await pair.send("POST", "/v1/changes", json=MOVE, headers=keyed)
    again = await pair.send("POST", "/v1/changes", json=MOVE, headers=keyed)
    conflict = await pair.send("POST", "/v1/changes", json=other, headers=keyed)

    _same(*first)
    _same(*again)
    _same(*conflict)
    assert [first[0].status_code, again[0].status_code, conflict[0].status_code] == [202, 202, 409]
    assert again[0].json() == first[0].json()  # the replay is the first answer
    assert pair.published() == (2, 2)


async def test_a_broker_outage_is_the_same_503_with_retry_after(pair):
    for runtime in pair.runtimes():
        runtime.publisher.fail_with = BrokerUnavailableError("down")
    fast, route = await pair.send("POST", "/v1/changes", json=MOVE, headers=CHANNEL_HEADERS)
    _same(fast, route)
    assert fast.status_code == 503
    assert fast.headers["retry-after"] == "5"


async def test_an_unexpected_error_is_the_same_500(pair):
    for runtime in pair.runtimes():
        runtime.publisher.fail_with = RuntimeError("boom")  # type: ignore[assignment]
    fast, route = await pair.send("POST", "/v1/changes", json=MOVE, headers=CHANNEL_HEADERS)
    _same(fast, route)
    assert fast.status_code == 500
    assert fast.headers["content-type"] == "application/problem+json"


@pytest.mark.parametrize(
    ("method", "url"),
    [
        ("GET", "/v1/changes"),
        ("PUT", "/v1/changes"),
        ("POST", "/v1/changes/"),
        ("POST", "/v1/changes?x=1"),
        ("POST", "/v1/changes/preview"),
        ("GET", "/v1/organisations"),
    ],
)
async def test_other_methods_and_paths_are_left_to_the_app(pair, method, url):
    fast, route = await pair.send(method, url, json=MOVE, headers=CHANNEL_HEADERS)
    _same(fast, route)


async def test_under_a_root_path_the_request_goes_through_the_router():
    seen = []

    async def app(scope, receive, send):
        seen.append(scope["path"])
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    transport = httpx.ASGITransport(ChangesFastPath(app), root_path="/intake")
    async with httpx.AsyncClient(transport=transport, base_url="http://intake") as client:
        response = await client.post("/intake/v1/changes", json=MOVE)
    assert response.status_code == 204
    assert seen == ["/intake/v1/changes"]

"""Bad input gets a clear problem+json answer and publishes nothing (real broker, real HTTP)."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from dataclasses import dataclass, field

import httpx
import pytest

from tests.conftest import all_examples
from tests.fixtures.invalid_bodies import INVALID_CASES, example
from tests.support.kafka import header, read_all
from tests.support.processes import CHANNEL_TOKEN

pytestmark = pytest.mark.integration
JSON = "application/json"
MOVE = "address_changed/v1-bristol-to-cardiff"


@dataclass(frozen=True)
class BadRequest:
    name: str
    status: int
    content: bytes
    path: str | None = ""
    headers: dict[str, str] = field(default_factory=dict)
    token: str | None = CHANNEL_TOKEN
    content_type: str | None = JSON


def _body(mutate) -> bytes:
    body = example(MOVE)
    mutate(body)
    return httpx.Request("POST", "/", json=body).content


def _transport_cases() -> Iterator[BadRequest]:
    valid = _body(lambda b: None)
    yield BadRequest("malformed JSON", 400, b'{"type": "address_changed",')
    yield BadRequest("trailing garbage", 400, valid + b"}")
    yield BadRequest("empty body", 400, b"")
    yield BadRequest("invalid UTF-8", 400, b'{"type": "\xff\xfe"}')
    yield BadRequest("plain text media type", 415, valid, content_type="text/plain")
    yield BadRequest("no media type", 415, valid, content_type=None)
    yield BadRequest(
        "form media type", 415, b"a=b", content_type="application/x-www-form-urlencoded"
    )
    yield BadRequest("body over 64 KiB", 413, b'{"pad": "' + b"x" * 70_000 + b'"}')
    yield BadRequest("no token", 401, valid, token=None)
    yield BadRequest("wrong token", 401, valid, token="not-a-real-token")
    yield BadRequest(
        "basic auth instead of bearer",
        401,
        valid,
        token=None,
        headers={"Authorization": "Basic dXNlcjpwYXNz"},
    )
    yield BadRequest("a JSON array", 422, b"[]")
    yield BadRequest("a JSON string", 422, b'"change"')
    yield BadRequest(
        "idempotency key too long", 422, valid, path=None, headers={"Idempotency-Key": "k" * 300}
    )


def _rule_cases() -> Iterator[BadRequest]:
    def consent(ids):
        return lambda b: b["consent"].__setitem__("notify", ids)

    yield BadRequest(
        "unknown organisation", 422, _body(consent(["hmrc", "mi5"])), "/consent/notify/1"
    )
    yield BadRequest(
        "organisation not entitled", 422, _body(consent(["hmpo"])), "/consent/notify/0"
    )
    yield BadRequest(
        "council covering neither address",
        422,
        _body(consent(["council-denbighshire"])),
        "/consent/notify/0",
    )
    yield BadRequest(
        "birth date in the future",
        422,
        _body(lambda b: b["subject"].__setitem__("date_of_birth", "2099-01-01")),
        "/subject/date_of_birth",
    )
    death = copy.deepcopy(dict(all_examples())["death_notified/v1-death-in-bristol.json"])
    death["data"]["date_of_death"] = "1900-01-01"
    yield BadRequest(
        "death before birth",
        422,
        httpx.Request("POST", "/", json=death).content,
        "/data/date_of_death",
    )


CASES = [
    *_transport_cases(),
    *_rule_cases(),
    *(
        BadRequest(c.name, 422, httpx.Request("POST", "/", json=c.body).content, c.path)
        for c in INVALID_CASES
    ),
]


def test_there_are_at_least_forty_bad_inputs():
    assert len(CASES) >= 40


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_bad_input_gets_the_right_status_and_a_problem_naming_the_field(intake, case):
    headers = dict(case.headers)
    if case.token:
        headers["Authorization"] = f"Bearer {case.token}"
    if case.content_type:
        headers["Content-Type"] = case.content_type
    response = httpx.post(f"{intake.url}/v1/changes", content=case.content, headers=headers)
    assert response.status_code == case.status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["status"] == case.status
    assert problem["title"]
    assert problem["detail"]
    if case.status == 401:
        assert response.headers["www-authenticate"].startswith("Bearer")
    if case.status in (400, 413, 415, 422):
        paths = [e["path"] for e in problem["errors"]]
        assert all(e["message"] for e in problem["errors"])
        if case.path is not None:
            assert case.path in paths, paths


def test_problem_messages_never_echo_the_personal_data_sent(intake):
    body = example(MOVE)
    body["subject"]["nino"] = "QQ12345XY"  # not a valid NINO, but personal-looking
    body["subject"]["given_names"] = " Rhiannon"
    response = httpx.post(
        f"{intake.url}/v1/changes", json=body, headers={"Authorization": f"Bearer {CHANNEL_TOKEN}"}
    )
    assert response.status_code == 422
    assert "QQ12345XY" not in response.text
    assert "Rhiannon" not in response.text


async def test_none_of_the_bad_inputs_published_anything(intake, own_broker):
    # Runs after the cases above (module order): a marker change proves the topic is read
    # to its end, and it must be the only record there.
    marker = httpx.post(
        f"{intake.url}/v1/changes",
        json=example(MOVE),
        headers={"Authorization": f"Bearer {CHANNEL_TOKEN}"},
    )
    assert marker.status_code == 202
    records = await read_all(own_broker.bootstrap, until={marker.json()["event_id"]})
    assert [header(r, "ce_id") for r in records] == [marker.json()["event_id"]]

"""The tracker HTTP API over an in-memory store and a fake command publisher: no sockets."""

from collections.abc import AsyncIterator, Mapping
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from services.core.departments import load_registry
from services.core.ids import delivery_id_for
from services.core.references import new_reference
from services.core.resources import default_departments_file, schemas_dir
from services.core.schema_registry import FileSchemaRegistry
from services.core.testing import FakeClock
from services.tracker.adapters.memory_store import InMemoryTrackingStore
from services.tracker.config import TrackerSettings
from services.tracker.domain import (
    Attempt,
    CircuitStatus,
    DeliveryStatus,
    DepartmentState,
    TrackedChange,
)
from services.tracker.entrypoints.api import create_app
from services.tracker.readside import ControlUnavailableError, TrackerReadSide
from services.web.auth import parse_channel_tokens, parse_operator_tokens

CHANNEL = {"Authorization": "Bearer channel-secret-1"}
ADMIN = {"Authorization": "Bearer admin-secret-1"}
DVLA_OPERATOR = {"Authorization": "Bearer dvla-secret-1"}
RECEIVED = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)
REFERENCE = new_reference()
EVENT_ID = "0b7f9a6e-1f64-4c55-9a38-3a1e7c1f0001"


class FakeControl:
    """Records the commands it is given; can be told to refuse them."""

    def __init__(self) -> None:
        self.commands: list[dict[str, str]] = []
        self.refuse = False
        self.started = False

    async def start(self) -> None:
        self.started = True

    async def stop(self) -> None:
        self.started = False

    async def publish(self, command: Mapping[str, str]) -> None:
        if self.refuse:
            raise ControlUnavailableError("broker down")
        self.commands.append(dict(command))


@pytest.fixture
def control() -> FakeControl:
    return FakeControl()


@pytest.fixture
async def client(control: FakeControl) -> AsyncIterator[httpx.AsyncClient]:
    store = InMemoryTrackingStore()
    change = TrackedChange(
        reference=REFERENCE,
        event_id=EVENT_ID,
        type="address_changed",
        schema_version=1,
        received_at=RECEIVED,
        channel="online-form",
        notified=("hmrc", "dvla"),
        document={"subject": {}, "data": {}},
    )
    await store.record_changes([change])
    hmrc, dvla = sorted(change.initial_deliveries(), key=lambda d: d.department != "hmrc")
    attempt_at = RECEIVED + timedelta(seconds=2)
    await store.record_statuses(
        [
            replace(
                hmrc,
                status=DeliveryStatus.DELIVERED,
                version=1,
                attempts=(Attempt(at=attempt_at, status_code=200, latency_ms=12.5, error=None),),
                last_attempt_at=attempt_at,
                delivered_at=attempt_at,
            ),
            replace(
                dvla,
                status=DeliveryStatus.FAILED,
                version=3,
                attempts=(Attempt(at=attempt_at, status_code=503, latency_ms=4.0, error="503"),),
                last_attempt_at=attempt_at,
                reason="retries exhausted",
            ),
        ]
    )
    schemas = FileSchemaRegistry(schemas_dir())
    readside = TrackerReadSide(
        store=store,
        control=control,
        registry=load_registry(
            default_departments_file(), known_event_types=set(schemas.event_types())
        ),
        channel_tokens=parse_channel_tokens("online-form:channel-secret-1"),
        operator_tokens=parse_operator_tokens("admin:admin-secret-1:*,dvla-ops:dvla-secret-1:dvla"),
        clock=FakeClock(RECEIVED + timedelta(minutes=1)),
    )
    app = create_app(TrackerSettings(), readside=readside)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://t") as http,
    ):
        yield http


async def test_a_change_status_lists_each_delivery_and_what_each_department_receives(client):
    response = await client.get(f"/v1/changes/{REFERENCE.lower()}", headers=CHANNEL)

    assert response.status_code == 200
    body = response.json()
    assert body["reference"] == REFERENCE
    assert body["event_id"] == EVENT_ID
    assert body["type"] == "address_changed"
    assert datetime.fromisoformat(body["received_at"]) == RECEIVED
    by_department = {d["department"]: d for d in body["deliveries"]}
    assert by_department["hmrc"]["status"] == "delivered"
    assert by_department["hmrc"]["attempts"] == 1
    assert by_department["hmrc"]["delivered_at"] is not None
    assert by_department["dvla"]["status"] == "failed"
    assert by_department["dvla"]["reason"] == "retries exhausted"
    assert by_department["dvla"]["delivered_at"] is None
    receipt = {r["department"]: r for r in body["receipt"]}
    assert receipt["hmrc"]["name"].startswith("HM Revenue")
    assert "subject.nino" in receipt["hmrc"]["fields"]
    assert "subject.nino" not in receipt["dvla"]["fields"]


async def test_an_unknown_reference_is_a_404_problem(client):
    for reference in (new_reference(), "not-a-reference"):
        response = await client.get(f"/v1/changes/{reference}", headers=CHANNEL)

        assert response.status_code == 404
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["status"] == 404


async def test_a_request_without_a_valid_token_is_a_401_with_a_bearer_challenge(client):
    for path, headers in (
        (f"/v1/changes/{REFERENCE}", {}),
        (f"/v1/changes/{REFERENCE}", ADMIN),
        ("/ops/deliveries", {}),
        ("/ops/deliveries", CHANNEL),
    ):
        response = await client.get(path, headers=headers)

        assert response.status_code == 401
        assert response.headers["www-authenticate"].startswith("Bearer")
        assert response.headers["content-type"] == "application/problem+json"


async def test_an_operator_with_every_scope_sees_every_delivery_with_its_attempts(client):
    response = await client.get("/ops/deliveries", headers=ADMIN)

    assert response.status_code == 200
    body = response.json()
    assert {d["department"] for d in body["items"]} == {"hmrc", "dvla"}
    assert body["next"] is None
    hmrc = next(d for d in body["items"] if d["department"] == "hmrc")
    assert hmrc["delivery_id"] == delivery_id_for(EVENT_ID, "hmrc")
    assert hmrc["attempts"][0]["status_code"] == 200
    assert hmrc["attempts"][0]["latency_ms"] == 12.5


async def test_a_department_scoped_operator_sees_only_its_department(client):
    response = await client.get("/ops/deliveries", headers=DVLA_OPERATOR)

    assert response.status_code == 200
    assert [d["department"] for d in response.json()["items"]] == ["dvla"]


async def test_a_department_scoped_operator_is_forbidden_other_departments(client, control):
    hmrc_delivery = delivery_id_for(EVENT_ID, "hmrc")
    for method, path in (
        ("GET", "/ops/deliveries?department=hmrc"),
        ("POST", f"/ops/deliveries/{hmrc_delivery}/redeliver"),
        ("POST", "/ops/departments/hmrc/pause"),
        ("POST", "/ops/departments/hmrc/redeliver-failed"),
    ):
        response = await client.request(method, path, headers=DVLA_OPERATOR)

        assert response.status_code == 403, path
        assert response.headers["content-type"] == "application/problem+json"
    assert control.commands == []


async def test_the_delivery_list_filters_by_status_and_pages_with_a_cursor(client):
    failed = await client.get("/ops/deliveries?status=failed", headers=ADMIN)
    first = await client.get("/ops/deliveries?limit=1", headers=ADMIN)
    cursor = first.json()["next"]
    second = await client.get(f"/ops/deliveries?limit=1&after={cursor}", headers=ADMIN)
    bad = await client.get("/ops/deliveries?after=nonsense", headers=ADMIN)

    assert [d["department"] for d in failed.json()["items"]] == ["dvla"]
    assert cursor is not None
    assert len(second.json()["items"]) == 1
    assert second.json()["items"][0] != first.json()["items"][0]
    assert bad.status_code == 400


async def test_redelivering_a_delivery_publishes_a_redeliver_command(client, control):
    dvla_delivery = delivery_id_for(EVENT_ID, "dvla")

    response = await client.post(
        f"/ops/deliveries/{dvla_delivery}/redeliver", headers=DVLA_OPERATOR
    )

    assert response.status_code == 202
    assert response.json() == {"accepted": True}
    assert control.commands == [
        {"action": "redeliver", "department": "dvla", "delivery_id": dvla_delivery}
    ]


async def test_redelivering_an_unknown_delivery_is_a_404(client, control):
    response = await client.post("/ops/deliveries/no-such-id/redeliver", headers=ADMIN)

    assert response.status_code == 404
    assert control.commands == []


async def test_department_commands_publish_pause_resume_and_redeliver_failed(client, control):
    for action in ("pause", "resume", "redeliver-failed"):
        response = await client.post(f"/ops/departments/dvla/{action}", headers=ADMIN)
        assert response.status_code == 202

    assert control.commands == [
        {"action": "pause", "department": "dvla"},
        {"action": "resume", "department": "dvla"},
        {"action": "redeliver_failed", "department": "dvla"},
    ]


async def test_a_command_for_an_unknown_department_is_a_404(client, control):
    response = await client.post("/ops/departments/atlantis/pause", headers=ADMIN)

    assert response.status_code == 404
    assert control.commands == []


async def test_a_command_the_broker_refuses_is_a_503_with_retry_after(client, control):
    control.refuse = True

    response = await client.post("/ops/departments/dvla/pause", headers=ADMIN)

    assert response.status_code == 503
    assert "retry-after" in response.headers


async def test_the_department_list_shows_health_and_the_state_the_adapters_reported(client):
    reported = RECEIVED + timedelta(seconds=30)
    await _readside(client).store.record_department_states(
        [
            DepartmentState(
                department="dvla",
                paused=True,
                circuit=CircuitStatus.OPEN,
                at=reported,
                opened_at=RECEIVED,
            ),
            DepartmentState(
                department="dwp", paused=False, circuit=CircuitStatus.HALF_OPEN, at=reported
            ),
        ]
    )

    everything = await client.get("/ops/departments", headers=ADMIN)
    scoped = await client.get("/ops/departments", headers=DVLA_OPERATOR)

    assert everything.status_code == 200
    by_id = {d["id"]: d for d in everything.json()}
    assert {"hmrc", "dvla", "dwp"} <= set(by_id)
    assert (by_id["dvla"]["paused"], by_id["dvla"]["circuit"]) == (True, "open")
    assert datetime.fromisoformat(by_id["dvla"]["state_reported_at"]) == reported
    assert by_id["dvla"]["failed"] == 1
    assert (by_id["dwp"]["paused"], by_id["dwp"]["circuit"]) == (False, "half_open")
    assert by_id["hmrc"]["delivered_per_min"] > 0
    assert set(by_id["hmrc"]) == {
        "id",
        "name",
        "delivered_per_min",
        "failure_rate",
        "backlog",
        "oldest_pending_s",
        "failed",
        "circuit",
        "paused",
        "state_reported_at",
    }
    assert [d["id"] for d in scoped.json()] == ["dvla"]


async def test_a_department_never_reported_shows_an_unknown_circuit_even_after_a_pause(client):
    held = await client.get("/ops/deliveries?department=dvla", headers=ADMIN)
    readside = _readside(client)
    delivery = await readside.find_delivery(held.json()["items"][0]["delivery_id"])
    await readside.store.record_statuses([replace(delivery, status=DeliveryStatus.HELD, version=9)])

    # The command is only a request: the adapters' report, not the API's guess, decides.
    await client.post("/ops/departments/dvla/pause", headers=ADMIN)
    response = await client.get("/ops/departments", headers=ADMIN)

    dvla = {d["id"]: d for d in response.json()}["dvla"]
    assert (dvla["circuit"], dvla["paused"], dvla["state_reported_at"]) == ("unknown", False, None)


def _readside(client: httpx.AsyncClient) -> TrackerReadSide:
    """The read side behind the test client's app."""
    transport = client._transport
    assert isinstance(transport, httpx.ASGITransport)
    return transport.app.state.tracker  # type: ignore[attr-defined]

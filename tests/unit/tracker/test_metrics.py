"""GET /metrics: the store's figures per department, the process's registry, no personal data."""

import json
from collections.abc import Mapping
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from prometheus_client import REGISTRY, CollectorRegistry, Counter
from prometheus_client.parser import text_string_to_metric_families

from services.core.departments import load_registry
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
from services.tracker.entrypoints.api import create_app, create_tracker_router
from services.tracker.readside import TrackerReadSide
from services.web.auth import parse_channel_tokens, parse_operator_tokens
from tests.support.intake_app import CHANNEL_HEADERS, intake_app, served

RECEIVED = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)
REPORTED = RECEIVED + timedelta(minutes=1)
MOVE = json.loads(
    (schemas_dir() / "address_changed/examples/v1-bristol-to-cardiff.json").read_text()
)
SCHEMAS = FileSchemaRegistry(schemas_dir())
DEPARTMENTS = load_registry(
    default_departments_file(), known_event_types=set(SCHEMAS.event_types())
)


class FakeControl:
    async def start(self) -> None:
        pass

    async def stop(self) -> None:
        pass

    async def publish(self, command: Mapping[str, str]) -> None:
        pass


class BrokenStore(InMemoryTrackingStore):
    async def delivery_figures(self, _latency_bounds_ms):
        raise OSError("database away")


def _change(reference: str, notified: tuple[str, ...]) -> TrackedChange:
    return TrackedChange(
        reference=reference,
        event_id=f"event-{reference}",
        type="address_changed",
        schema_version=1,
        received_at=RECEIVED,
        channel="online-form",
        notified=notified,
        document={"subject": MOVE["subject"], "data": MOVE["data"]},
    )


def _attempts(*latencies: float) -> tuple[Attempt, ...]:
    return tuple(
        Attempt(at=RECEIVED + timedelta(seconds=i), status_code=503, latency_ms=ms, error="503")
        for i, ms in enumerate(latencies)
    )


async def _filled_store(store: InMemoryTrackingStore) -> InMemoryTrackingStore:
    """hmrc: one delivered (12.5 ms); dvla: one failed (4 ms, 2.6 s), reported paused and open."""
    change = _change("C6F5-EB23-25D4", ("hmrc", "dvla", "atlantis"))
    await store.record_changes([change])
    by_department = {d.department: d for d in change.initial_deliveries()}
    await store.record_statuses(
        [
            replace(
                by_department["hmrc"],
                status=DeliveryStatus.DELIVERED,
                version=1,
                attempts=_attempts(12.5),
            ),
            replace(
                by_department["dvla"],
                status=DeliveryStatus.FAILED,
                version=3,
                attempts=_attempts(4.0, 2600.0),
                reason="retries exhausted",
            ),
        ]
    )
    await store.record_department_states(
        [
            DepartmentState(
                department="dvla",
                paused=True,
                circuit=CircuitStatus.OPEN,
                at=REPORTED,
                opened_at=RECEIVED,
            )
        ]
    )
    return store


def _readside(store, metrics=None) -> TrackerReadSide:
    return TrackerReadSide(
        store=store,
        control=FakeControl(),
        registry=DEPARTMENTS,
        channel_tokens=parse_channel_tokens("online-form:channel-secret-1"),
        operator_tokens=parse_operator_tokens("admin:admin-secret-1:*"),
        clock=FakeClock(REPORTED),
        metrics=metrics if metrics is not None else CollectorRegistry(),
    )


async def _scrape(readside: TrackerReadSide) -> httpx.Response:
    app = create_app(TrackerSettings(), readside=readside)
    transport = httpx.ASGITransport(app)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://t") as http,
    ):
        return await http.get("/metrics")


def _samples(text: str) -> dict[tuple[str, frozenset], float]:
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def _value(samples, name: str, **labels: str) -> float | None:
    return samples.get((name, frozenset(labels.items())))


async def test_department_figures_come_from_the_store_without_a_token():
    response = await _scrape(_readside(await _filled_store(InMemoryTrackingStore())))

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    samples = _samples(response.text)
    assert _value(samples, "tuo_deliveries", department="hmrc", status="delivered") == 1
    assert _value(samples, "tuo_deliveries", department="hmrc", status="failed") == 0
    assert _value(samples, "tuo_deliveries", department="dvla", status="failed") == 1
    assert _value(samples, "tuo_department_dead_letters", department="dvla") == 1
    assert _value(samples, "tuo_department_backlog", department="dvla") == 0
    assert _value(samples, "tuo_tracker_store_up") == 1


async def test_the_backlog_counts_every_unfinished_delivery():
    store = InMemoryTrackingStore()
    await store.record_changes([_change(f"REF-{n}", ("dwp",)) for n in range(3)])
    [held, *_] = (await store.deliveries(department="dwp"))[0]
    await store.record_statuses([replace(held, status=DeliveryStatus.HELD, version=2)])

    samples = _samples((await _scrape(_readside(store))).text)

    assert _value(samples, "tuo_department_backlog", department="dwp") == 3
    assert _value(samples, "tuo_deliveries", department="dwp", status="pending") == 2
    assert _value(samples, "tuo_deliveries", department="dwp", status="held") == 1


async def test_attempt_latency_is_a_histogram_in_seconds_per_department():
    samples = _samples(
        (await _scrape(_readside(await _filled_store(InMemoryTrackingStore())))).text
    )

    bucket = "tuo_delivery_attempt_latency_seconds_bucket"
    assert _value(samples, bucket, department="dvla", le="0.005") == 1
    assert _value(samples, bucket, department="dvla", le="2.5") == 1
    assert _value(samples, bucket, department="dvla", le="5.0") == 2
    assert _value(samples, bucket, department="dvla", le="+Inf") == 2
    assert _value(samples, bucket, department="hmrc", le="0.01") == 0
    assert _value(samples, bucket, department="hmrc", le="0.025") == 1
    assert _value(
        samples, "tuo_delivery_attempt_latency_seconds_sum", department="dvla"
    ) == pytest.approx(2.604)
    assert _value(samples, "tuo_delivery_attempt_latency_seconds_count", department="hmrc") == 1
    # A department with no attempt yet has an empty histogram, not a missing one.
    assert _value(samples, "tuo_delivery_attempt_latency_seconds_count", department="dwp") == 0


async def test_circuit_and_pause_are_what_the_adapters_last_reported():
    samples = _samples(
        (await _scrape(_readside(await _filled_store(InMemoryTrackingStore())))).text
    )

    circuit = "tuo_department_circuit_state"
    assert _value(samples, circuit, department="dvla", state="open") == 1
    assert _value(samples, circuit, department="dvla", state="closed") == 0
    assert _value(samples, circuit, department="dvla", state="half_open") == 0
    assert _value(samples, "tuo_department_paused", department="dvla") == 1
    reported = "tuo_department_state_reported_timestamp_seconds"
    assert _value(samples, reported, department="dvla") == REPORTED.timestamp()
    # Never reported: no state is 1, not paused, no timestamp.
    assert {_value(samples, circuit, department="hmrc", state=s) for s in CircuitStatus} == {0}
    assert _value(samples, "tuo_department_paused", department="hmrc") == 0
    assert _value(samples, reported, department="hmrc") is None


async def test_only_registry_departments_get_series():
    samples = _samples(
        (await _scrape(_readside(await _filled_store(InMemoryTrackingStore())))).text
    )

    departments = {dict(labels).get("department") for _, labels in samples} - {None}
    assert departments == set(DEPARTMENTS.ids())


async def test_the_process_registry_is_included_and_survives_a_store_outage():
    metrics = CollectorRegistry()
    Counter("tuo_test_things", "Things.", registry=metrics).inc(3)

    response = await _scrape(_readside(BrokenStore(), metrics))

    assert response.status_code == 200
    samples = _samples(response.text)
    assert _value(samples, "tuo_test_things_total") == 3
    assert _value(samples, "tuo_tracker_store_up") == 0
    assert not any(name.startswith("tuo_deliveries") for name, _ in samples)


async def test_no_personal_data_reaches_the_metrics_of_the_public_api():
    app = intake_app()
    app.include_router(create_tracker_router())
    app.state.tracker = _readside(await _filled_store(InMemoryTrackingStore()), REGISTRY)
    personal = [
        MOVE["subject"]["nino"],
        MOVE["subject"]["given_names"],
        MOVE["subject"]["family_name"],
        MOVE["data"]["new_address"]["postcode"],
        MOVE["data"]["driving_licence_number"],
    ]
    transport = httpx.ASGITransport(served(app))
    async with httpx.AsyncClient(transport=transport, base_url="http://api") as http:
        accepted = await http.post("/v1/changes", json=MOVE, headers=CHANNEL_HEADERS)
        wrong_type = await http.post(
            "/v1/changes",
            json={**MOVE, "type": f"{MOVE['subject']['nino']} {MOVE['subject']['family_name']}"},
            headers=CHANNEL_HEADERS,
        )
        response = await http.get("/metrics")

    assert (accepted.status_code, wrong_type.status_code) == (202, 422)
    text = response.text
    assert all(value not in text for value in personal)
    assert accepted.json()["reference"] not in text
    samples = _samples(text)
    assert _value(samples, "tuo_intake_changes_total", outcome="accepted", type="address_changed")
    allowed = (
        set(DEPARTMENTS.ids())
        | set(SCHEMAS.event_types())
        | {s.value for s in DeliveryStatus}
        | {s.value for s in CircuitStatus}
        | {"unknown", "accepted", "replayed", "invalid", "conflict", "unavailable", "error"}
        | {"malformed", "unauthorised", "too_large", "unsupported_media_type"}
    )
    for name, labels in samples:
        if name.startswith("tuo_"):
            values = {v for k, v in labels if k != "le"}
            assert values <= allowed, (name, values - allowed)

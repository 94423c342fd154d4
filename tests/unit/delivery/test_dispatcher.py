"""The dispatch engine with fakes: in-memory store, scripted department, recorded statuses."""

import asyncio
from datetime import UTC, datetime

from services.core.departments import DepartmentSpec
from services.core.ports import SystemClock
from services.delivery.adapters.memory_store import InMemoryDeliveryStore
from services.delivery.dispatcher import Dispatcher, DispatcherTuning
from services.delivery.domain import Delivery, DeliveryState, Outcome, OutcomeKind
from services.delivery.ports import CircuitState, DepartmentState
from services.delivery.retry import RetryPolicy
from tests.support.net import apoll

NOW = datetime(2026, 11, 1, 9, 30, tzinfo=UTC)


def _department(concurrency: int = 4) -> DepartmentSpec:
    return DepartmentSpec.model_validate(
        {
            "id": "hmrc",
            "name": "HMRC",
            "endpoint": "http://127.0.0.1:9/x",
            "signing_secret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
            "event_types": ["address_changed"],
            "fields": {"address_changed": ["subject.nino"]},
            "max_concurrency": concurrency,
            "rate_limit_per_s": 10_000,
            "timeout_s": 1,
            "retry_schedule_s": [0.01, 0.01],
        }
    )


def _delivery(n: int, key: str) -> Delivery:
    return Delivery(
        delivery_id=f"d{n}",
        department="hmrc",
        event_id=f"e{n}",
        reference=f"R{n}",
        event_type="address_changed",
        citizen_key=key,
        partition=0,
        offset=n,
        body=b"{}",
        created_at=NOW,
    )


class ScriptedDepartment:
    def __init__(self, script=None):
        self.script = script or {}
        self.calls: list[str] = []
        self.concurrent = 0
        self.max_concurrent = 0

    async def push(self, delivery):
        self.calls.append(delivery.delivery_id)
        self.concurrent += 1
        self.max_concurrent = max(self.max_concurrent, self.concurrent)
        await asyncio.sleep(0.01)
        self.concurrent -= 1
        codes = self.script.get(delivery.delivery_id, [])
        code = codes.pop(0) if codes else 200
        kind = OutcomeKind.DELIVERED if code == 200 else OutcomeKind.RETRYABLE
        return Outcome(kind=kind, status_code=code, latency_ms=10)


class RecordedStatuses:
    def __init__(self):
        self.events: list[tuple[str, str, int]] = []
        self.department_states: list[tuple[DepartmentState, datetime]] = []

    async def publish(self, deliveries):
        self.events += [(d.delivery_id, d.state.value, d.version) for d in deliveries]

    async def publish_department_state(self, state, at):
        self.department_states.append((state, at))


async def _run(deliveries, gateway, concurrency=4):
    store = InMemoryDeliveryStore()
    statuses = RecordedStatuses()
    dispatcher = Dispatcher(
        department=_department(concurrency),
        store=store,
        gateway=gateway,
        status=statuses,
        clock=SystemClock(),
        policy=RetryPolicy(schedule_s=(0.01, 0.01), jitter=0),
        tuning=DispatcherTuning(flush_interval_s=0.005, state_refresh_s=0.05),
    )
    await dispatcher.start()
    dispatcher.offer(await store.add(deliveries))

    async def finished():
        done = [await store.get(d.delivery_id) for d in deliveries]
        return all(d is not None and d.finished for d in done) and done

    try:
        return await apoll(finished, timeout=10), statuses
    finally:
        await dispatcher.stop()


async def test_concurrency_stays_within_the_department_limit():
    gateway = ScriptedDepartment()
    done, _ = await _run([_delivery(n, f"k{n}") for n in range(20)], gateway, concurrency=3)
    assert {d.state for d in done} == {DeliveryState.DELIVERED}
    assert gateway.max_concurrent == 3


async def test_a_citizens_later_change_waits_for_the_retried_one():
    gateway = ScriptedDepartment({"d1": [503, 503]})
    done, _ = await _run([_delivery(1, "a"), _delivery(2, "a"), _delivery(3, "b")], gateway)
    assert [d.state for d in done] == [DeliveryState.DELIVERED] * 3
    assert gateway.calls.index("d3") < gateway.calls.index("d2")
    assert [c for c in gateway.calls if c in {"d1", "d2"}] == ["d1", "d1", "d1", "d2"]


async def test_every_state_change_is_published_in_version_order():
    gateway = ScriptedDepartment({"d1": [500, 500, 500]})
    done, statuses = await _run([_delivery(1, "a")], gateway)
    assert done[0].state is DeliveryState.FAILED
    mine = [(state, version) for d, state, version in statuses.events if d == "d1"]
    assert mine[-1] == ("failed", 3)
    assert {state for state, _ in mine} <= {"pending", "retrying", "failed"}
    assert [v for _, v in mine] == sorted(v for _, v in mine)


def _dispatcher(store, gateway, statuses, **tuning):
    settings = {"flush_interval_s": 0.005, "state_refresh_s": 0.01, "state_heartbeat_s": 3600}
    return Dispatcher(
        department=_department(),
        store=store,
        gateway=gateway,
        status=statuses,
        clock=SystemClock(),
        policy=RetryPolicy(schedule_s=(0.01,) * 10, jitter=0),
        tuning=DispatcherTuning(**(settings | tuning)),
    )


async def _published(statuses, check, timeout=5):
    async def found():
        return [s for s, _ in statuses.department_states if check(s)]

    return await apoll(found, timeout=timeout)


async def test_a_pause_and_a_resume_are_published_as_department_states():
    store, statuses = InMemoryDeliveryStore(), RecordedStatuses()
    dispatcher = _dispatcher(store, ScriptedDepartment(), statuses)
    await dispatcher.start()
    try:
        # The first heartbeat goes at start-up: a tracker learns the state without a change.
        await _published(statuses, lambda s: not s.paused)
        await dispatcher.set_paused(True)
        await _published(statuses, lambda s: s.paused)
        await dispatcher.set_paused(False)
        await apoll(_latest(statuses, lambda s: not s.paused), timeout=5)
    finally:
        await dispatcher.stop()
    published = [s for s, _ in statuses.department_states]
    assert {s.department for s in published} == {"hmrc"}
    assert {s.circuit for s in published} == {CircuitState.CLOSED}
    times = [at for _, at in statuses.department_states]
    assert times == sorted(times)


def _latest(statuses, check):
    async def found():
        return bool(statuses.department_states) and check(statuses.department_states[-1][0])

    return found


async def test_the_stored_state_is_republished_as_a_heartbeat():
    store, statuses = InMemoryDeliveryStore(), RecordedStatuses()
    dispatcher = _dispatcher(store, ScriptedDepartment(), statuses, state_heartbeat_s=0.02)
    await dispatcher.start()
    try:
        await apoll(_count_at_least(statuses, 3), timeout=5)
        # Another replica pauses the department: the heartbeat tells the stored state.
        await store.save_department_state(DepartmentState(department="hmrc", paused=True))
        await _published(statuses, lambda s: s.paused)
    finally:
        await dispatcher.stop()


def _count_at_least(statuses, n):
    async def enough():
        return len(statuses.department_states) >= n

    return enough


async def test_an_opened_circuit_is_saved_and_published():
    store, statuses = InMemoryDeliveryStore(), RecordedStatuses()
    gateway = ScriptedDepartment({"d1": [503] * 5})
    dispatcher = _dispatcher(store, gateway, statuses, failure_threshold=2, probe_after_s=3600)
    await dispatcher.start()
    try:
        dispatcher.offer(await store.add([_delivery(1, "a")]))
        [opened] = await _published(statuses, lambda s: s.circuit is CircuitState.OPEN)
    finally:
        await dispatcher.stop()
    assert opened.opened_at is not None
    assert (await store.department_state("hmrc")).circuit is CircuitState.OPEN
    assert gateway.calls == ["d1", "d1"]


async def test_beyond_the_backlog_limit_deliveries_wait_in_the_store_and_go_in_order():
    # 5 citizens x 12 changes offered in batches of 10 to a dispatcher that may hold 8:
    # most wait in the store, are queued from it as the backlog drains, and each
    # citizen's changes still reach the department in order, each once.
    gateway = ScriptedDepartment({"d7": [503]})
    store = InMemoryDeliveryStore()
    dispatcher = Dispatcher(
        department=_department(concurrency=3),
        store=store,
        gateway=gateway,
        status=RecordedStatuses(),
        clock=SystemClock(),
        policy=RetryPolicy(schedule_s=(0.01, 0.01), jitter=0),
        tuning=DispatcherTuning(flush_interval_s=0.005, state_refresh_s=0.05, max_backlog=8),
    )
    deliveries = [_delivery(n, f"k{n % 5}") for n in range(60)]
    await dispatcher.start()
    most_held = 0
    try:
        for start in range(0, 60, 10):
            dispatcher.offer(await store.add(deliveries[start : start + 10]))
            most_held = max(most_held, dispatcher.backlog())
        assert dispatcher.spilled()

        async def all_finished():
            done = [await store.get(d.delivery_id) for d in deliveries]
            return all(d is not None and d.finished for d in done)

        await apoll(all_finished, timeout=20)
        assert not dispatcher.spilled()
    finally:
        await dispatcher.stop()
    assert most_held <= 8
    assert sorted(set(gateway.calls)) == sorted(d.delivery_id for d in deliveries)
    assert len(gateway.calls) == 61  # d7 twice (a 503, then delivered), every other once
    for key in {d.citizen_key for d in deliveries}:
        mine = [
            c for c in dict.fromkeys(gateway.calls) if deliveries[int(c[1:])].citizen_key == key
        ]
        assert mine == [d.delivery_id for d in deliveries if d.citizen_key == key]


async def test_a_spill_ends_once_the_store_has_nothing_more_and_offers_are_queued_directly_again():
    gateway = ScriptedDepartment()
    store = InMemoryDeliveryStore()
    dispatcher = Dispatcher(
        department=_department(),
        store=store,
        gateway=gateway,
        status=RecordedStatuses(),
        clock=SystemClock(),
        tuning=DispatcherTuning(flush_interval_s=0.005, state_refresh_s=0.05, max_backlog=4),
    )
    await dispatcher.start()
    try:
        dispatcher.offer(await store.add([_delivery(n, f"k{n}") for n in range(10)]))
        assert dispatcher.spilled()

        async def drained():
            return not dispatcher.spilled() and len(gateway.calls) == 10

        await apoll(drained, timeout=10)
        dispatcher.offer(await store.add([_delivery(10, "k10")]))
        assert not dispatcher.spilled()
        assert dispatcher.backlog() == 1

        async def sent():
            return "d10" in gateway.calls

        await apoll(sent, timeout=10)
    finally:
        await dispatcher.stop()
    assert gateway.calls.count("d10") == 1

"""The status relay: save first, then publish; nothing lost when a flush fails or is cut."""

import asyncio
from dataclasses import replace
from datetime import timedelta

import pytest

from services.delivery.adapters.memory_store import InMemoryDeliveryStore
from services.delivery.domain import DeliveryState
from services.delivery.ports import CircuitState, DepartmentState
from services.delivery.relay import StatusRelay
from tests.support.deliveries import AT as NOW
from tests.support.deliveries import sample_delivery


class Statuses:
    def __init__(self, fail_states_after: int | None = None):
        self.events: list[tuple[str, str, int]] = []
        self.states: list[DepartmentState] = []
        self.fail_states_after = fail_states_after

    async def publish(self, deliveries):
        self.events += [(d.delivery_id, d.state.value, d.version) for d in deliveries]

    async def publish_department_state(self, state, _at):
        if self.fail_states_after is not None and len(self.states) >= self.fail_states_after:
            raise ConnectionError("broker away")
        self.states.append(state)


async def test_one_relay_publishes_every_departments_deliveries_and_state():
    store, statuses = InMemoryDeliveryStore(), Statuses()
    relay = StatusRelay(store=store, status=statuses)
    new = await store.add([sample_delivery(1), sample_delivery(2, department="dvla")])
    relay.announce_new(new)
    relay.note(replace(new[0], state=DeliveryState.DELIVERED, version=1))
    relay.announce_state(DepartmentState(department="hmrc", paused=True), NOW)
    relay.announce_state(DepartmentState(department="dvla", circuit=CircuitState.OPEN), NOW)

    await relay.flush()

    assert sorted(statuses.events) == [("delivery-1", "delivered", 1), ("delivery-2", "pending", 0)]
    assert (await store.get("delivery-1")).state is DeliveryState.DELIVERED  # saved first
    assert sorted(s.department for s in statuses.states) == ["dvla", "hmrc"]


async def test_department_states_not_sent_are_kept_and_a_newer_one_wins():
    statuses = Statuses(fail_states_after=1)
    relay = StatusRelay(store=InMemoryDeliveryStore(), status=statuses)
    relay.announce_state(DepartmentState(department="hmrc", paused=True), NOW)
    relay.announce_state(DepartmentState(department="dvla", paused=True), NOW)
    with pytest.raises(ConnectionError):
        await relay.flush()
    assert [s.department for s in statuses.states] == ["hmrc"]
    # dvla was not sent; a heartbeat older than its news does not replace it.
    relay.heartbeat(DepartmentState(department="dvla"), NOW - timedelta(seconds=1))
    statuses.fail_states_after = None
    await relay.flush()
    assert [(s.department, s.paused) for s in statuses.states] == [
        ("hmrc", True),
        ("dvla", True),
    ]


async def test_a_flush_cut_short_leaves_its_changes_to_the_final_flush():
    store, statuses = InMemoryDeliveryStore(), Statuses()
    relay = StatusRelay(store=store, status=statuses)
    [added] = await store.add([sample_delivery(1)])
    relay.note(replace(added, state=DeliveryState.DELIVERED, version=1))
    entered, never = asyncio.Event(), asyncio.Event()
    save = store.save

    async def stuck_save(*args, **kwargs):
        entered.set()
        await never.wait()

    store.save = stuck_save
    flushing = asyncio.create_task(relay.flush())
    await entered.wait()
    flushing.cancel()
    with pytest.raises(asyncio.CancelledError):
        await flushing
    store.save = save

    await relay.flush(final=True)

    assert (await store.get("delivery-1")).state is DeliveryState.DELIVERED
    assert statuses.events == [("delivery-1", "delivered", 1)]
    assert await store.unpublished(10) == []  # the final flush recorded the published mark

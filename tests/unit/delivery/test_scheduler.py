"""Per-citizen order with concurrency across citizens."""

from datetime import UTC, datetime, timedelta

from services.delivery.domain import Delivery
from services.delivery.scheduler import CitizenScheduler

NOW = datetime(2026, 11, 1, 9, 30, tzinfo=UTC)


def _d(seq: int, key: str, partition: int = 0) -> Delivery:
    return Delivery(
        delivery_id=f"d{seq}",
        department="hmrc",
        event_id=f"e{seq}",
        reference="R",
        event_type="t",
        citizen_key=key,
        partition=partition,
        offset=seq,
        body=b"{}",
        created_at=NOW,
        seq=seq,
    )


def test_one_citizens_deliveries_go_one_at_a_time_in_order():
    scheduler = CitizenScheduler()
    scheduler.add([_d(1, "a"), _d(2, "a"), _d(3, "b")], NOW)
    first = scheduler.take(NOW)
    second = scheduler.take(NOW)
    assert {first.delivery_id, second.delivery_id} == {"d1", "d3"}
    assert scheduler.take(NOW) is None  # d2 waits for d1
    scheduler.finish(first if first.delivery_id == "d1" else second, NOW)
    assert scheduler.take(NOW).delivery_id == "d2"


def test_a_retrying_head_blocks_only_its_own_citizen():
    scheduler = CitizenScheduler()
    scheduler.add([_d(1, "a"), _d(2, "a"), _d(3, "b")], NOW)
    head = scheduler.take(NOW)
    assert head.delivery_id == "d1"
    scheduler.requeue(head, NOW + timedelta(seconds=60))
    assert scheduler.take(NOW).delivery_id == "d3"
    assert scheduler.take(NOW) is None
    assert scheduler.next_due() == NOW + timedelta(seconds=60)
    assert scheduler.take(NOW + timedelta(seconds=61)).delivery_id == "d1"


def test_known_deliveries_are_not_queued_twice():
    scheduler = CitizenScheduler()
    assert scheduler.add([_d(1, "a")], NOW) == 1
    assert scheduler.add([_d(1, "a")], NOW) == 0
    assert len(scheduler) == 1


def test_revoked_partitions_are_forgotten_but_in_flight_work_is_kept():
    scheduler = CitizenScheduler()
    scheduler.add([_d(1, "a", 0), _d(2, "b", 1), _d(3, "c", 1)], NOW)
    in_flight = scheduler.take(NOW)
    assert in_flight.delivery_id == "d1"
    scheduler.drop_partitions({1})
    assert len(scheduler) == 1
    assert scheduler.heads() == []
    assert not scheduler.knows("d2")
    scheduler.finish(in_flight, NOW)
    assert len(scheduler) == 0

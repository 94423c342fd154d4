"""A department whose backlog is full keeps its new deliveries in the store, not in memory,
and never holds up the others (real broker, real HTTP, real processes)."""

from __future__ import annotations

import orjson
import pytest
from aiokafka import AIOKafkaProducer

from tests.conftest import start_broker
from tests.fixtures.invalid_bodies import example
from tests.support.bus import delivery_id, start_bus, stop_bus, unique_nino
from tests.support.kafka import latest_department_states, latest_statuses
from tests.support.net import apoll

pytestmark = pytest.mark.integration
DEATH = "death_notified/v1-death-in-bristol"  # tells hmrc, dvla, hmpo, dwp, council-bristol
BACKLOG = 100  # the smallest the settings allow


@pytest.fixture(scope="module")
def bus(tmp_path_factory):
    broker = start_broker(tmp_path_factory.mktemp("spill-broker"))
    running = start_bus(
        tmp_path_factory.mktemp("bus"),
        broker.bootstrap,
        extra_env={"TUO_DELIVERY_MAX_BACKLOG": str(BACKLOG)},
    )
    yield running
    stop_bus(running)
    broker.stop()


async def _command(bus, action: str) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bus.bootstrap)
    await producer.start()
    try:
        payload = orjson.dumps({"action": action, "department": "council-bristol"})
        await producer.send_and_wait("tuo.delivery.control.v1", payload)
    finally:
        await producer.stop()


async def _pause(bus) -> None:
    """Pause council-bristol and wait until its adapter says it holds."""
    await _command(bus, "pause")
    await latest_department_states(
        bus.bootstrap,
        until=lambda s: s.get("council-bristol", {}).get("paused") is True,
        timeout=60,
    )


async def test_a_paused_departments_spilled_backlog_goes_out_in_order_after_resume(bus):
    await _pause(bus)
    # 60 citizens x 3 changes each: 180 deliveries for the paused council, over its backlog.
    ninos = [unique_nino() for _ in range(60)]
    answers = []
    for round_ in range(3):
        for nino in ninos:
            body = example(DEATH)
            body["subject"]["nino"] = nino
            answers.append((nino, round_, bus.submit(body)))
    bristol = [delivery_id(answer, "council-bristol") for _, _, answer in answers]
    others = [delivery_id(answer, "hmrc") for _, _, answer in answers]

    # The others are not held up by the paused council's full backlog.
    await latest_statuses(
        bus.bootstrap,
        until=lambda s: all(s.get(d, {}).get("status") == "delivered" for d in others),
        timeout=90,
    )
    async with bus.sandbox as sandbox:
        assert not await sandbox.received("council-bristol")
    log = (bus.data_dir / "adapters.log").read_text()
    assert "backlog full: new deliveries wait in the store" in log

    await _command(bus, "resume")
    await latest_statuses(
        bus.bootstrap,
        until=lambda s: all(s.get(d, {}).get("status") == "delivered" for d in bristol),
        timeout=90,
    )

    async def all_received():
        async with bus.sandbox as sandbox:
            received = await sandbox.received("council-bristol")
        return len({r.webhook_id for r in received}) == len(bristol) and received

    received = await apoll(all_received, timeout=30)
    assert sorted(r.webhook_id for r in received) == sorted(bristol)  # each exactly once
    order = [r.webhook_id for r in received]
    for nino in ninos:
        mine = [delivery_id(a, "council-bristol") for n, _, a in answers if n == nino]
        assert [w for w in order if w in mine] == mine  # each citizen's changes in order

"""One fresh broker and one real bus per fault module, so consumer groups never clash."""

from __future__ import annotations

import pytest

from tests.conftest import start_broker
from tests.support.bus import start_bus, stop_bus


@pytest.fixture(scope="module")
def fault_broker(tmp_path_factory):
    broker = start_broker(tmp_path_factory.mktemp("faults-broker"))
    yield broker
    broker.stop()  # also SIGCONTs it first, should a stall test have failed mid-stall


@pytest.fixture(scope="module")
def bus(tmp_path_factory, fault_broker):
    running = start_bus(tmp_path_factory.mktemp("faults-bus"), fault_broker.bootstrap)
    yield running
    stop_bus(running)

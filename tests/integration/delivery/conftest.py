"""One real bus per delivery test module."""

from __future__ import annotations

import pytest

from tests.conftest import start_broker
from tests.support.bus import start_bus, stop_bus


@pytest.fixture(scope="module")
def bus(tmp_path_factory):
    broker = start_broker(tmp_path_factory.mktemp("delivery-broker"))
    running = start_bus(tmp_path_factory.mktemp("bus"), broker.bootstrap)
    yield running
    stop_bus(running)
    broker.stop()

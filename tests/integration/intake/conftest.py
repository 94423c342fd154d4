"""A fresh broker and intake for each intake test module, so 'nothing published' is provable."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.conftest import start_broker
from tests.support.processes import IntakeProcess


@pytest.fixture(scope="module")
def own_broker(tmp_path_factory):
    broker = start_broker(tmp_path_factory.mktemp("own-broker"))
    yield broker
    broker.stop()


@pytest.fixture(scope="module")
def intake(own_broker, tmp_path_factory) -> Iterator[IntakeProcess]:
    process = IntakeProcess(own_broker.bootstrap, tmp_path_factory.mktemp("intake"))
    process.start()
    process.wait_ready()
    yield process
    process.stop()

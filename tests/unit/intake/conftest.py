"""Intake's handlers over fakes: the shipped schemas and registry, nothing on the network."""

import pytest

from services.core.departments import load_registry
from services.core.resources import default_departments_file, schemas_dir
from services.core.schema_registry import FileSchemaRegistry
from services.core.testing import FakeClock, FakeEventPublisher
from services.intake.adapters.memory_change_ledger import InMemoryChangeLedger
from services.intake.adapters.memory_idempotency_store import InMemoryIdempotencyStore
from services.intake.handlers import IntakeDeps


@pytest.fixture
def deps():
    schemas = FileSchemaRegistry(schemas_dir())
    return IntakeDeps(
        schemas=schemas,
        departments=load_registry(
            default_departments_file(), known_event_types=set(schemas.event_types())
        ),
        publisher=FakeEventPublisher(),
        idempotency=InMemoryIdempotencyStore(),
        ledger=InMemoryChangeLedger(),
        clock=FakeClock(),
        citizen_key_secret=b"k",
    )

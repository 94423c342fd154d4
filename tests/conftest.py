"""Session fixtures: a real Tansu broker, a real PostgreSQL database, test data."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from services.broker.admin import ensure_topics
from services.broker.embedded import EmbeddedBroker
from services.core.config import CoreSettings
from services.core.resources import default_departments_file, schemas_dir
from services.core.schema_registry import FileSchemaRegistry
from tests.support.net import free_port

DEPARTMENT_IDS = [
    "hmrc",
    "dvla",
    "hmpo",
    "dwp",
    "council-bristol",
    "council-cardiff",
    "council-denbighshire",
]


def start_broker(tmp: Path) -> EmbeddedBroker:
    """A fresh Tansu on a free port with the bus's topics created."""
    broker = EmbeddedBroker(port=free_port(), log_file=tmp / "broker.log")
    broker.start()
    asyncio.run(ensure_topics(CoreSettings(kafka_bootstrap=broker.bootstrap), DEPARTMENT_IDS))
    return broker


@pytest.fixture(scope="session")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedBroker]:
    """One broker for the whole session (tests use unique ids, never shared state)."""
    instance = start_broker(tmp_path_factory.mktemp("broker"))
    yield instance
    instance.stop()


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A fresh PostgreSQL database on 127.0.0.1:5432, dropped at the end of the session."""
    name = f"tuo_test_{uuid.uuid4().hex[:12]}"

    async def admin(sql: str) -> None:
        connection = await asyncpg.connect("postgresql://postgres@127.0.0.1:5432/postgres")
        try:
            await connection.execute(sql)
        finally:
            await connection.close()

    asyncio.run(admin(f'CREATE DATABASE "{name}"'))
    yield f"postgresql://postgres@127.0.0.1:5432/{name}"
    asyncio.run(admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture
async def fresh_postgres_url(postgres_url: str):
    """An empty PostgreSQL database of its own (migrations really race in it), then dropped."""
    server, _, _ = postgres_url.rpartition("/")
    name = f"tuo_test_fresh_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(f"{server}/postgres")
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        yield f"{server}/{name}"
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


@pytest.fixture(scope="session")
def schema_registry() -> FileSchemaRegistry:
    return FileSchemaRegistry(schemas_dir())


@pytest.fixture(scope="session")
def departments_file() -> Path:
    return default_departments_file()


def all_examples() -> list[tuple[str, dict[str, Any]]]:
    """Every shipped example body, named ``type/file``."""
    return [
        (f"{file.parent.parent.name}/{file.name}", json.loads(file.read_text(encoding="utf-8")))
        for file in sorted(schemas_dir().glob("*/examples/*.json"))
    ]

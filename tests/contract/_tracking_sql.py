"""The SQL TrackingStore under both contract modules: the store and its two databases."""

from __future__ import annotations

import pytest

from services.core.config import async_database_url
from services.tracker.adapters.sql_store import SqlTrackingStore, create_engine


class SqlTrackingStoreFixture:
    """A migrated ``store`` on the database of a ``url`` fixture."""

    @pytest.fixture
    async def store(self, url):
        store = SqlTrackingStore(create_engine(async_database_url(url)))
        await store.migrate()
        yield store
        await store.dispose()


class SqliteDatabases:
    """``url`` and ``fresh_url``: SQLite files of the test's own."""

    @pytest.fixture
    def url(self, tmp_path):
        return f"sqlite:///{tmp_path / 'tracker.db'}"

    @pytest.fixture
    def fresh_url(self, tmp_path):
        return f"sqlite:///{tmp_path / 'fresh.db'}"


class PostgresDatabases:
    """``url``: the session's database (tests tag what they write); ``fresh_url``: an empty one."""

    @pytest.fixture
    def url(self, postgres_url):
        return postgres_url

    @pytest.fixture
    def fresh_url(self, fresh_postgres_url):
        return fresh_postgres_url

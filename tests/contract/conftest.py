"""Fixtures shared by the contract modules."""

from __future__ import annotations

import uuid

import pytest


@pytest.fixture
def tag():
    """Unique per test: the PostgreSQL database is shared by the whole session."""
    return uuid.uuid4().hex[:10]

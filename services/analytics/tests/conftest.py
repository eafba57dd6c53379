"""Fixtures of the analytics tests. The chDB data path is the session-wide ``clickhouse_url``
of the devstack plugin (chDB opens one path per process); each test keeps its data apart
in a database of its own."""

from __future__ import annotations

import uuid

import pytest


@pytest.fixture
def clickhouse_database() -> str:
    """A database name of this test's own."""
    return f"t_{uuid.uuid4().hex[:12]}"

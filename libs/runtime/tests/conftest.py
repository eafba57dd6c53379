"""Fixtures of the runtime tests: a migrated database of each test's own, and the
in-memory fake of the one edge the runtime has besides PostgreSQL (the Kafka producer)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from learnstream.events import KafkaRecord
from learnstream.runtime.db import create_engine, migrate, package_migrations


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(database_url, pool_size=5)
    await migrate(engine, package_migrations("learnstream.runtime"))
    yield engine
    await engine.dispose()


class RecordingPublisher:
    """Keeps what it was asked to publish, in order; can be told to fail."""

    def __init__(self) -> None:
        self.records: list[KafkaRecord] = []
        self.fail_with: Exception | None = None
        self.published = asyncio.Event()

    async def publish(self, records: Sequence[KafkaRecord]) -> None:
        if self.fail_with is not None:
            raise self.fail_with
        self.records.extend(records)
        self.published.set()

    def topics(self) -> list[str]:
        return [record.topic for record in self.records]


@pytest.fixture
def publisher() -> RecordingPublisher:
    return RecordingPublisher()

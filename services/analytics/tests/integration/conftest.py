"""The analytics service running in-process against the real broker, PostgreSQL and chDB,
fed by publishing events on the topics as the other services would."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from typing import Any
from uuid import UUID, uuid4

import httpx
import pytest
from fastapi import FastAPI

from learnstream.analytics.bootstrap import build
from learnstream.analytics.config import Settings
from learnstream.devstack.testing import Infra, running
from learnstream.events import DomainEvent, encode
from learnstream.runtime.bus import KafkaPublisher
from learnstream.runtime.projection import BatchProjection
from learnstream.runtime.settings import DEV_SERVICE_TOKEN


@dataclass
class AnalyticsApi:
    """The service's HTTP API (acting as any user) and a way to publish events to it."""

    http: httpx.AsyncClient
    app: FastAPI
    publisher: KafkaPublisher

    @property
    def projection(self) -> BatchProjection:
        projection: BatchProjection = self.app.state.projection
        return projection

    async def publish(self, events: Iterable[DomainEvent]) -> None:
        await self.publisher.publish([encode(event, source="/learnstream/test") for event in events])

    async def caught_up(self) -> None:
        await self.projection.wait_caught_up(60)

    async def get(self, path: str, actor: tuple[UUID, str], **params: Any) -> Any:
        user, role = actor
        headers = {"X-Service-Token": DEV_SERVICE_TOKEN, "X-Actor-Id": str(user), "X-Actor-Role": role}
        response = await self.http.get(path, headers=headers, params=params)
        assert response.status_code == 200, response.text
        return response.json()


@pytest.fixture(scope="session")
async def analytics(session_infra: Infra, clickhouse_url: str) -> AsyncIterator[AnalyticsApi]:
    settings = Settings(
        env="test",
        service_name=f"analytics-{uuid4().hex[:8]}",  # a consumer group of its own
        database_url=await session_infra.new_database("analytics"),
        kafka_bootstrap_servers=session_infra.kafka_bootstrap_servers,
        clickhouse_url=clickhouse_url,
        clickhouse_database="analytics_it",
        analyst_http_port=0,
        projection_max_wait_ms=50,
    )
    app = build(settings)
    publisher = KafkaPublisher(
        session_infra.kafka_bootstrap_servers, idempotent=False, client_id="analytics-test"
    )
    await publisher.start()
    try:
        async with running(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://analytics") as http:
                yield AnalyticsApi(http, app, publisher)
    finally:
        await publisher.stop()

"""The achievements service in-process against the real PostgreSQL, broker and Redis, fed the
progress, chat, catalog and identity events other contexts would publish."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID, uuid4

import httpx
import pytest
from fastapi import FastAPI

from learnstream.achievements.bootstrap import build
from learnstream.achievements.config import Settings
from learnstream.achievements.service_layer.services import AchievementsService
from learnstream.devstack.testing import Infra, publish, running
from learnstream.events import DomainEvent
from learnstream.events.catalog import CourseCreated, CoursePublished
from learnstream.events.identity import UserRegistered
from learnstream.runtime.settings import DEV_SERVICE_TOKEN


@dataclass
class AchievementsApi:
    http: httpx.AsyncClient
    app: FastAPI
    infra: Infra

    @property
    def service(self) -> AchievementsService:
        service: AchievementsService = self.app.state.achievements
        return service

    async def call(self, method: str, path: str, actor: UUID, **kwargs: Any) -> httpx.Response:
        headers = {"X-Service-Token": DEV_SERVICE_TOKEN, "X-Actor-Id": str(actor), "X-Actor-Role": "student"}
        return await self.http.request(method, path, headers=headers, **kwargs)

    async def get(self, path: str, actor: UUID, **kwargs: Any) -> dict[str, Any]:
        answer = await self.call("GET", path, actor, **kwargs)
        assert answer.status_code == 200, answer.text
        body: dict[str, Any] = answer.json()
        return body

    async def publish(self, *events: DomainEvent) -> None:
        await publish(self.infra, *events)

    async def learner(self, timezone: str = "UTC", name: str = "Ada") -> UUID:
        learner = uuid4()
        await self.publish(
            UserRegistered(user_id=learner, role="student", display_name=name, timezone=timezone)
        )
        if timezone != "UTC":
            # identity and progress are different topics, consumed side by side; a learner
            # registers long before their first lesson, so the tests wait for that too
            await self.until(learner, lambda o: o["timezone"] == timezone)
        return learner

    async def course(self, category: str | None = None) -> UUID:
        course = uuid4()
        summary = {"course_id": course, "instructor_id": uuid4(), "title": "Python 101"}
        summary |= {"category": category or f"cat-{course.hex[:8]}", "difficulty": "beginner"}
        await self.publish(CourseCreated(**summary), CoursePublished(**summary))
        return course

    async def until(
        self, learner: UUID, check: Callable[[dict[str, Any]], bool], timeout: float = 30
    ) -> dict[str, Any]:
        """The learner's achievements overview once ``check`` holds for it."""
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            overview = await self.get("/api/learner/achievements", learner)
            if check(overview):
                return overview
            assert asyncio.get_running_loop().time() < deadline, overview
            await asyncio.sleep(0.1)

    async def settled(self, learner: UUID, quiet: float = 1.0) -> dict[str, Any]:
        """The overview once it stopped changing for ``quiet`` seconds."""
        last = await self.get("/api/learner/achievements", learner)
        while True:
            await asyncio.sleep(quiet)
            now = await self.get("/api/learner/achievements", learner)
            if now == last:
                return now
            last = now


@contextlib.asynccontextmanager
async def achievements_service(
    infra: Infra, now: Callable[[], datetime] | None = None, **settings: Any
) -> AsyncIterator[AchievementsApi]:
    app = build(
        Settings(
            env="test",
            service_name=f"achievements-{uuid4().hex[:8]}",
            database_url=await infra.new_database("achievements"),
            kafka_bootstrap_servers=infra.kafka_bootstrap_servers,
            redis_url=infra.redis_url,
            leaderboard_key_prefix=f"test-{uuid4().hex[:8]}:leaderboard",
            outbox_poll_interval_seconds=0.05,
            **settings,
        )
    )
    if now is not None:
        app.state.achievements.now = now
    async with running(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://achievements", timeout=30) as http:
            yield AchievementsApi(http, app, infra)


@pytest.fixture(scope="module")
async def achievements(infra: Infra) -> AsyncIterator[AchievementsApi]:
    async with achievements_service(infra) as api:
        yield api

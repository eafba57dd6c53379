"""The progress service running in-process against the real embedded PostgreSQL and broker,
driven over HTTP as the gateway drives it (service credential plus actor headers)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any
from uuid import UUID, uuid4

import httpx
import pytest
from fastapi import FastAPI

from learnstream.devstack.testing import Infra, running
from learnstream.progress.bootstrap import build
from learnstream.progress.config import Settings
from learnstream.runtime.settings import DEV_SERVICE_TOKEN


@dataclass
class ProgressApi:
    """An HTTP client of the service that can act as any user."""

    http: httpx.AsyncClient
    app: FastAPI
    settings: Settings

    async def call(self, method: str, path: str, actor: tuple[UUID, str], **kwargs: Any) -> httpx.Response:
        user, role = actor
        headers = {"X-Service-Token": DEV_SERVICE_TOKEN, "X-Actor-Id": str(user), "X-Actor-Role": role}
        return await self.http.request(method, path, headers=headers, **kwargs)


@pytest.fixture(scope="module")
async def progress(infra: Infra) -> AsyncIterator[ProgressApi]:
    settings = Settings(
        env="test",
        database_url=await infra.new_database("progress"),
        kafka_bootstrap_servers=infra.kafka_bootstrap_servers,
        outbox_poll_interval_seconds=0.05,
    )
    app = build(settings)
    async with running(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://progress") as http:
            yield ProgressApi(http, app, settings)


@pytest.fixture
def instructor() -> tuple[UUID, str]:
    return uuid4(), "instructor"


@pytest.fixture
def learner() -> tuple[UUID, str]:
    return uuid4(), "student"


def course_body(title: str = "Python for Data Analysis") -> dict[str, Any]:
    """A course of 4 lessons: an article, a 100 s video, another article and a quiz."""
    return {
        "title": title,
        "description": "From notebooks to dataframes.",
        "category": "programming",
        "difficulty": "beginner",
        "sections": [
            {
                "title": "Getting started",
                "lessons": [
                    {
                        "title": "Why Python",
                        "contentType": "article",
                        "durationSeconds": 300,
                        "body": "Because.",
                    },
                    {
                        "title": "Jupyter tour",
                        "contentType": "video",
                        "durationSeconds": 100,
                        "body": "Transcript",
                    },
                ],
            },
            {
                "title": "pandas",
                "lessons": [
                    {"title": "DataFrames", "contentType": "article", "durationSeconds": 600},
                    {
                        "title": "Check yourself",
                        "contentType": "quiz",
                        "durationSeconds": 120,
                        "quiz": {
                            "passingScore": 50,
                            "maxAttempts": 3,
                            "questions": [
                                {"text": "len([1, 2])?", "options": ["1", "2"], "correctIndex": 1},
                                {
                                    "text": "Type of {}?",
                                    "options": ["set", "dict", "list"],
                                    "correctIndex": 1,
                                },
                            ],
                        },
                    },
                ],
            },
        ],
    }


@dataclass
class PublishedCourse:
    id: UUID
    body: dict[str, Any]

    def lesson(self, index: int) -> UUID:
        lessons = [lesson for section in self.body["sections"] for lesson in section["lessons"]]
        return UUID(lessons[index]["id"])

    @property
    def quiz_id(self) -> UUID:
        return UUID(self.body["sections"][1]["lessons"][1]["quiz"]["id"])


@pytest.fixture
async def published(progress: ProgressApi, instructor: tuple[UUID, str]) -> PublishedCourse:
    created = await progress.call("POST", "/api/instructor/courses", instructor, json=course_body())
    assert created.status_code == 201, created.text
    course_id = created.json()["id"]
    published = await progress.call("POST", f"/api/instructor/courses/{course_id}/publish", instructor)
    assert published.status_code == 200, published.text
    return PublishedCourse(UUID(course_id), published.json())

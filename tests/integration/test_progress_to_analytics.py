"""What learners do through the progress service shows up, exactly, in the instructor's
analytics: two real services in one process, their own PostgreSQL databases, the real
broker and chDB, connected only by the events on the topics."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any
from uuid import UUID, uuid4

import httpx
import pytest
from fastapi import FastAPI

from learnstream.analytics.bootstrap import build as build_analytics
from learnstream.analytics.config import Settings as AnalyticsSettings
from learnstream.devstack.testing import Infra, running
from learnstream.progress.bootstrap import build as build_progress
from learnstream.progress.config import Settings as ProgressSettings
from learnstream.runtime.settings import DEV_SERVICE_TOKEN

pytestmark = pytest.mark.integration


class Client:
    def __init__(self, app: FastAPI, name: str) -> None:
        self.http = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=f"http://{name}")

    async def call(self, method: str, path: str, actor: tuple[UUID, str], **kwargs: Any) -> Any:
        user, role = actor
        headers = {"X-Service-Token": DEV_SERVICE_TOKEN, "X-Actor-Id": str(user), "X-Actor-Role": role}
        response = await self.http.request(method, path, headers=headers, **kwargs)
        assert response.is_success, response.text
        return response.json()


@pytest.fixture
async def services(infra: Infra, clickhouse_url: str) -> AsyncIterator[tuple[Client, Client]]:
    progress = build_progress(
        ProgressSettings(
            env="test",
            database_url=await infra.new_database("progress"),
            kafka_bootstrap_servers=infra.kafka_bootstrap_servers,
            outbox_poll_interval_seconds=0.05,
        )
    )
    analytics = build_analytics(
        AnalyticsSettings(
            env="test",
            service_name=f"analytics-{uuid4().hex[:8]}",  # a consumer group of its own
            database_url=await infra.new_database("analytics"),
            kafka_bootstrap_servers=infra.kafka_bootstrap_servers,
            clickhouse_url=clickhouse_url,
            clickhouse_database=f"flow_{uuid4().hex[:8]}",
            analyst_http_port=0,
            projection_max_wait_ms=50,
        )
    )
    async with running(progress), running(analytics):
        await analytics.state.projection.wait_caught_up(60)
        yield Client(progress, "progress"), Client(analytics, "analytics")


COURSE = {
    "title": "Statistics in Practice",
    "description": "Means, medians and what they hide.",
    "category": "data",
    "difficulty": "beginner",
    "sections": [
        {
            "title": "Basics",
            "lessons": [
                {"title": "Averages", "contentType": "article", "durationSeconds": 300, "body": "Mean."},
                {"title": "Spread", "contentType": "video", "durationSeconds": 20, "body": "Variance."},
            ],
        }
    ],
}


async def test_instructor_analytics_match_what_learners_did(services: tuple[Client, Client]) -> None:
    progress, analytics = services
    instructor = (uuid4(), "instructor")
    course = await progress.call("POST", "/api/instructor/courses", instructor, json=COURSE)
    await progress.call("POST", f"/api/instructor/courses/{course['id']}/publish", instructor)
    article, video = (lesson["id"] for lesson in course["sections"][0]["lessons"])
    learners = [(uuid4(), "student") for _ in range(3)]
    for learner in learners:
        await progress.call("POST", f"/api/courses/{course['id']}/enroll", learner)
    # learner 0 reads the article and watches the whole video; learner 1 reads the article; 2 only enrols
    reports = [
        (learners[0], {"lessonId": article, "timeSpentSeconds": 120, "completed": True}),
        (
            learners[0],
            {
                "lessonId": video,
                "timeSpentSeconds": 20,
                "videoPositionSeconds": 20,
                "videoDurationSeconds": 20,
                "watchedRanges": [[0, 20]],
            },
        ),
        (learners[1], {"lessonId": article, "timeSpentSeconds": 45, "completed": True}),
    ]
    for learner, report in reports:
        body = {"courseId": course["id"], "viewId": str(uuid4()), **report}
        await progress.call("POST", "/api/learner/track-lesson", learner, json=body)
    last_event = time.perf_counter()

    expected_stats = {
        "totalStudents": 3,
        "activeStudents": 2,
        "averageProgress": 50.0,  # 100 + 50 + 0 over three
        "totalTimeSpent": 185,
        "completionRate": 33.3,
    }
    path = f"/api/instructor/courses/{course['id']}/analytics"
    answer: dict[str, Any] = {}
    headers = {
        "X-Service-Token": DEV_SERVICE_TOKEN,
        "X-Actor-Id": str(instructor[0]),
        "X-Actor-Role": "instructor",
    }
    for _ in range(400):
        response = await analytics.http.get(path, headers=headers, params={"period": "7d"})
        if response.status_code == 200:  # 404 until the course's events are projected
            answer = response.json()
            if {k: answer["stats"][k] for k in expected_stats} == expected_stats:
                break
        await asyncio.sleep(0.025)
    visible_after = time.perf_counter() - last_event
    print(f"the last report was visible in course analytics after {visible_after * 1000:.0f} ms")
    assert {k: answer["stats"][k] for k in expected_stats} == expected_stats
    assert [stage["count"] for stage in answer["funnelData"]] == [3, 2, 2, 2, 1, 1]
    assert answer["progressDistribution"][0]["count"] == 1  # the learner who only enrolled
    assert answer["progressDistribution"][5]["count"] == 1
    assert answer["progressDistribution"][9]["count"] == 1
    assert answer["freshness"]["lagMs"] is not None

    lessons = await analytics.call(
        "GET", f"/api/instructor/courses/{course['id']}/lessons/analytics", instructor
    )
    by_title = {lesson["title"]: lesson for lesson in lessons["lessons"]}
    assert by_title["Averages"]["completions"] == 2
    assert by_title["Spread"]["completions"] == 1
    assert by_title["Spread"]["dropOffRate"] == 50.0  # learner 1 completed the article, not the video
    videos = await analytics.call(
        "GET", f"/api/instructor/courses/{course['id']}/videos/analytics", instructor
    )
    assert [segment["viewers"] for segment in videos["videos"][0]["segments"]] == [1, 1, 1, 1]

    stranger = (uuid4(), "instructor")
    response = await analytics.http.get(
        path,
        headers={
            "X-Service-Token": DEV_SERVICE_TOKEN,
            "X-Actor-Id": str(stranger[0]),
            "X-Actor-Role": "instructor",
        },
    )
    assert response.status_code == 404

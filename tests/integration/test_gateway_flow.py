"""Through the gateway as a new user would: tokens, a course, an enrollment, tracking and the
instructor's analytics; nobody reaches what is not theirs. The gateway, progress and
analytics run as real HTTP servers (uvicorn) on free ports."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any
from uuid import uuid4

import httpx
import pytest
import uvicorn

from learnstream.analytics.bootstrap import build as build_analytics
from learnstream.analytics.config import Settings as AnalyticsSettings
from learnstream.devstack.servers import free_port
from learnstream.devstack.testing import Infra
from learnstream.gateway.bootstrap import build as build_gateway
from learnstream.gateway.config import Settings as GatewaySettings
from learnstream.progress.bootstrap import build as build_progress
from learnstream.progress.config import Settings as ProgressSettings

pytestmark = pytest.mark.integration


async def _serve(app: Any, port: int) -> tuple[uvicorn.Server, asyncio.Task[None]]:
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, lifespan="on"))
    task = asyncio.create_task(server.serve())
    while not server.started:
        assert not task.done(), "server did not start"
        await asyncio.sleep(0.05)
    return server, task


@pytest.fixture(scope="module")
async def gateway(infra: Infra, clickhouse_url: str) -> AsyncIterator[httpx.AsyncClient]:
    ports = {name: free_port() for name in ("gateway", "progress", "analytics")}
    common = {"env": "test", "kafka_bootstrap_servers": infra.kafka_bootstrap_servers}
    progress = build_progress(
        ProgressSettings(
            **common, database_url=await infra.new_database("progress"), outbox_poll_interval_seconds=0.05
        )
    )
    analytics = build_analytics(
        AnalyticsSettings(
            **common,
            service_name=f"analytics-{uuid4().hex[:8]}",
            database_url=await infra.new_database("analytics"),
            clickhouse_url=clickhouse_url,
            clickhouse_database=f"gw_{uuid4().hex[:8]}",
            projection_max_wait_ms=50,
        )
    )
    gateway = build_gateway(
        GatewaySettings(
            **common,
            database_url=await infra.new_database("gateway"),
            redis_url=infra.redis_url,
            progress_url=f"http://127.0.0.1:{ports['progress']}",
            analytics_url=f"http://127.0.0.1:{ports['analytics']}",
        )
    )
    servers = [
        await _serve(progress, ports["progress"]),
        await _serve(analytics, ports["analytics"]),
        await _serve(gateway, ports["gateway"]),
    ]
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{ports['gateway']}", timeout=10) as http:
            yield http
    finally:
        for server, task in reversed(servers):
            server.should_exit = True
            await task


async def token(http: httpx.AsyncClient, role: str) -> dict[str, str]:
    answer = await http.post(
        "/api/auth/dev-token", json={"email": f"{role}-{uuid4().hex[:8]}@example.com", "role": role}
    )
    assert answer.status_code == 200, answer.text
    return {"Authorization": f"Bearer {answer.json()['accessToken']}"}


COURSE = {
    "title": "Gateway course",
    "category": "testing",
    "difficulty": "beginner",
    "sections": [
        {"title": "One", "lessons": [{"title": "Only", "contentType": "article", "durationSeconds": 60}]}
    ],
}


async def test_a_course_is_created_learned_and_analysed_through_the_gateway(
    gateway: httpx.AsyncClient,
) -> None:
    http = gateway
    teacher, learner, stranger, other_teacher = (
        await token(http, "instructor"),
        await token(http, "student"),
        await token(http, "student"),
        await token(http, "instructor"),
    )
    created = await http.post("/api/instructor/courses", json=COURSE, headers=teacher)
    assert created.status_code == 201, created.text
    course = created.json()
    assert (
        await http.post(f"/api/instructor/courses/{course['id']}/publish", headers=teacher)
    ).status_code == 200
    assert (await http.post(f"/api/courses/{course['id']}/enroll", headers=learner)).status_code in (200, 201)
    lesson = course["sections"][0]["lessons"][0]["id"]
    report = {
        "courseId": course["id"],
        "lessonId": lesson,
        "viewId": str(uuid4()),
        "timeSpentSeconds": 42,
        "completed": True,
    }
    tracked = await http.post("/api/learner/track-lesson", json=report, headers=learner)
    assert tracked.status_code == 200, tracked.text

    # nobody reaches what is not theirs
    assert (await http.post("/api/instructor/courses", json=COURSE, headers=learner)).status_code == 404
    assert (await http.get(f"/api/learner/course/{course['id']}/progress", headers=stranger)).status_code in (
        403,
        404,
    )
    analytics_path = f"/api/instructor/courses/{course['id']}/analytics"
    assert (await http.get(analytics_path, headers=other_teacher)).status_code == 404
    assert (await http.get(analytics_path, headers=learner)).status_code == 404
    assert (await http.get("/api/admin/analytics/overview", headers=teacher)).status_code == 404
    assert (await http.get(analytics_path)).status_code == 401

    stats: dict[str, Any] = {}
    for _ in range(200):
        answer = await http.get(analytics_path, params={"period": "7d"}, headers=teacher)
        if answer.status_code == 200:
            stats = answer.json()["stats"]
            if stats["totalTimeSpent"] == 42:
                break
        await asyncio.sleep(0.05)
    assert (stats["totalStudents"], stats["completionRate"], stats["totalTimeSpent"]) == (1, 100.0, 42)

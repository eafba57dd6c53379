"""Through the gateway as a new user would: tokens, a course, an enrollment, tracking and the
instructor's analytics; nobody reaches what is not theirs. The gateway, progress, chat and
analytics run as real HTTP servers (uvicorn) on free ports."""

from __future__ import annotations

import asyncio
from typing import Any
from uuid import uuid4

import httpx
import pytest

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def gateway(stack: Any) -> httpx.AsyncClient:
    """The client of the module's stack (``conftest.Stack``)."""
    return stack.http


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


async def test_the_public_api_document_carries_the_contracts_of_the_contexts_behind_it(
    gateway: httpx.AsyncClient,
) -> None:
    async def documented() -> dict[str, Any] | None:
        document = (await gateway.get("/openapi.json")).json()
        progress = document["paths"]["/api/learner/track-lesson"]["post"]
        chat = document["paths"]["/api/chat/sessions"]["post"]
        exports = document["paths"]["/api/creator/export"]["post"]
        ready = all("requestBody" in route for route in (progress, chat, exports))
        return document if ready else None

    document = None
    for _ in range(100):
        if document := await documented():
            break
        await asyncio.sleep(0.2)
    assert document is not None, "the contexts' contracts never reached the gateway's document"
    track = document["paths"]["/api/learner/track-lesson"]["post"]
    body = track["requestBody"]["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[-1]
    assert "viewId" in document["components"]["schemas"][body]["properties"]
    assert not {p["name"].lower() for p in track["parameters"]} & {"x-actor-id", "x-service-token"}
    analytics = document["paths"]["/api/instructor/courses/{course_id}/analytics"]["get"]
    assert "period" in {p["name"] for p in analytics["parameters"]}
    ask = document["paths"]["/api/chat/sessions/{session_id}/messages"]["post"]
    assert "text/event-stream" in ask["responses"]["200"]["content"]
    export = document["paths"]["/api/instructor/courses/{course_id}/export"]["post"]
    assert "format" in str(export["requestBody"])

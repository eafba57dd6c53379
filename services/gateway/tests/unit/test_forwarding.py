"""A tracking answer is passed on with what the learner earned since last told, and never
waits on or fails for the achievements service (contexts are fakes at the HTTP edge)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any
from uuid import uuid4

import httpx
from aiohttp import web
from fastapi import Depends, FastAPI

from learnstream.gateway.adapters.services import ContextServices
from learnstream.gateway.entrypoints.routes import build_forwarding_router
from learnstream.runtime.actors import Actor

from .conftest import Handler, answering, fake_contexts

TRACKED = {"success": True, "progress": {"completionPercentage": 50.0, "lessonCompleted": True}}
BADGE = {"id": "first_course", "title": "First Steps", "rarity": "common"}


@contextlib.asynccontextmanager
async def gateway(handlers: dict[str, Handler], **kwargs: Any) -> AsyncIterator[httpx.AsyncClient]:
    async with fake_contexts(handlers, **kwargs) as services:
        yield client(services)


def client(services: ContextServices) -> httpx.AsyncClient:
    app = FastAPI()
    learner = Actor(user_id=uuid4(), role="student")

    async def caller() -> Actor:
        return learner

    async def nobody() -> None:  # the routes that need no token (signed links)
        return None

    limited = {"reads": Depends(caller), "tracking": Depends(caller), "public": Depends(nobody)}
    app.include_router(build_forwarding_router(services, limited))
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gateway")


async def track(http: httpx.AsyncClient) -> httpx.Response:
    body = {"courseId": str(uuid4()), "lessonId": str(uuid4()), "viewId": str(uuid4()), "timeSpentSeconds": 5}
    return await http.post("/api/learner/track-lesson", json=body)


async def test_the_answer_tells_what_is_new() -> None:
    handlers = {
        "progress": answering(200, TRACKED),
        "achievements": answering(200, {"newAchievements": [BADGE]}),
    }
    async with gateway(handlers) as http, http:
        answer = await track(http)
    assert answer.status_code == 200
    assert answer.json() == {**TRACKED, "newAchievements": [BADGE]}


async def test_achievements_down_slow_or_failing_leave_the_list_empty() -> None:
    cases: list[tuple[dict[str, Handler], dict[str, Any]]] = [
        ({"progress": answering(200, TRACKED)}, {"down": ("achievements",)}),
        ({"progress": answering(200, TRACKED), "achievements": answering(503)}, {}),
        ({"progress": answering(200, TRACKED), "achievements": answering(200, {"x": 1}, delay=2.0)}, {}),
    ]
    for handlers, kwargs in cases:
        async with gateway(handlers, **kwargs) as http, http:
            answer = await track(http)
        assert answer.status_code == 200, answer.text
        assert answer.json() == {**TRACKED, "newAchievements": []}


async def test_a_refused_report_is_passed_on_as_it_is() -> None:
    problem = {"title": "Invalid request", "status": 422, "detail": "viewId is required"}
    handlers = {
        "progress": answering(422, problem),
        "achievements": answering(200, {"newAchievements": [BADGE]}),
    }
    async with gateway(handlers) as http, http:
        answer = await track(http)
    assert answer.status_code == 422 and answer.json() == problem


async def test_a_signed_download_goes_on_without_an_actor_and_keeps_its_file_name() -> None:
    seen: dict[str, Any] = {}

    async def exports(request: web.Request) -> web.StreamResponse:
        seen.update(request.headers)
        seen["query"] = dict(request.query)
        return web.Response(
            body=b"name,progress\r\nAda,50\r\n",
            content_type="text/csv",
            headers={"Content-Disposition": 'attachment; filename="report.csv"'},
        )

    async with gateway({"exports": exports}) as http, http:
        answer = await http.get(f"/api/exports/{uuid4()}/download", params={"expires": "1", "signature": "s"})
    assert answer.status_code == 200
    assert answer.content == b"name,progress\r\nAda,50\r\n"
    assert answer.headers["content-disposition"] == 'attachment; filename="report.csv"'
    assert "X-Actor-Id" not in seen and seen["query"] == {"expires": "1", "signature": "s"}

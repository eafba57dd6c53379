"""The composed pages pass the caller's own mistakes on as they are (contexts are fakes at
the HTTP edge)."""

from __future__ import annotations

from typing import Any
from uuid import UUID, uuid4

import httpx
from fastapi import Depends, FastAPI

from learnstream.gateway.entrypoints.pages import build_pages_router
from learnstream.gateway.service_layer.composition import Composer
from learnstream.runtime.actors import Actor
from learnstream.runtime.problems import install_problem_handlers

from .conftest import answering, fake_contexts

INVALID_PERIOD = {
    "type": "about:blank",
    "title": "Invalid request",
    "status": 422,
    "detail": "period: Input should be '7d', '30d' or '90d'",
}


async def test_a_creator_dashboard_asked_for_a_bad_period_is_a_422_not_an_empty_page() -> None:
    instructor = Actor(user_id=uuid4(), role="instructor")

    async def caller() -> Actor:
        return instructor

    async def account(user_id: UUID) -> dict[str, Any]:
        return {"id": str(user_id)}

    handlers = {
        "analytics": answering(422, INVALID_PERIOD),
        "progress": answering(200, {"courses": []}),
    }
    async with fake_contexts(handlers) as services:
        app = FastAPI()
        install_problem_handlers(app)
        app.include_router(build_pages_router(Composer(services, timeout=0.5), Depends(caller), account))
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as http:
            answer = await http.get("/api/creator/dashboard", params={"period": "' OR 1=1 --"})
    assert answer.status_code == 422, answer.text
    assert answer.headers["content-type"].startswith("application/problem+json")
    assert "period" in answer.json()["detail"]

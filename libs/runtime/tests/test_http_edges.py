"""What every service's HTTP edge does the same way: problem+json errors and the
service credential on internal APIs."""

from __future__ import annotations

from typing import Annotated

import httpx
import pytest
from fastapi import APIRouter, FastAPI, Query
from pydantic import BaseModel, Field
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from learnstream.runtime.actors import require_service_token
from learnstream.runtime.problems import install_problem_handlers


class Lesson(BaseModel):
    title: str = Field(min_length=1)


class Section(BaseModel):
    lessons: list[Lesson] = Field(min_length=1)


class Outline(BaseModel):
    sections: list[Section]


def app() -> FastAPI:
    application = FastAPI()
    install_problem_handlers(application)
    internal = APIRouter(dependencies=[require_service_token("s3cret")])

    @internal.get("/internal/ping")
    async def ping() -> dict[str, str]:
        return {"pong": "yes"}

    @application.post("/outline")
    async def outline(body: Outline, limit: Annotated[int, Query(le=100)] = 20) -> dict[str, int]:
        return {"sections": len(body.sections)}

    @application.get("/boom")
    async def boom() -> None:
        raise RuntimeError("secret internals")

    application.include_router(internal)
    return application


@pytest.fixture
async def client() -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app(), raise_app_exceptions=False)
    return httpx.AsyncClient(transport=transport, base_url="http://test")


async def test_invalid_input_names_each_field_by_its_path(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/outline?limit=500", json={"sections": [{"lessons": [{"title": ""}]}, {"lessons": []}]}
    )

    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["title"] == "Invalid request"
    assert {error["field"] for error in problem["errors"]} == {
        "sections[0].lessons[0].title",
        "sections[1].lessons",
        "limit",
    }
    assert "sections[0].lessons[0].title" in problem["detail"]


async def test_an_unexpected_error_is_a_500_problem_that_leaks_nothing(client: httpx.AsyncClient) -> None:
    response = await client.get("/boom")

    assert response.status_code == 500
    assert response.headers["content-type"] == "application/problem+json"
    assert "secret internals" not in response.text


async def test_unknown_routes_answer_problem_json(client: httpx.AsyncClient) -> None:
    response = await client.get("/nope")
    assert response.status_code == 404
    assert response.json()["title"] == "Not found"


@pytest.mark.parametrize(
    ("headers", "status"),
    [({}, 401), ({"X-Service-Token": "guess"}, 401), ({"X-Service-Token": "s3cret"}, 200)],
)
async def test_internal_apis_need_the_service_credential(
    client: httpx.AsyncClient, headers: dict[str, str], status: int
) -> None:
    response = await client.get("/internal/ping", headers=headers)
    assert response.status_code == status


@pytest.mark.integration
async def test_text_postgresql_cannot_store_is_the_clients_422_not_a_500(engine: AsyncEngine) -> None:
    application = FastAPI()
    install_problem_handlers(application)

    @application.post("/notes")
    async def note(body: Lesson) -> dict[str, str]:
        async with engine.connect() as conn:
            await conn.execute(text("SELECT CAST(:t AS text)"), {"t": body.title})
        return {"kept": body.title}

    transport = httpx.ASGITransport(app=application, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        fine = await http.post("/notes", json={"title": "fine"})
        refused = await http.post("/notes", json={"title": "nul\u0000inside"})
    assert fine.status_code == 200
    assert refused.status_code == 422 and "U+0000" in refused.json()["detail"]
    assert refused.headers["content-type"].startswith("application/problem+json")


async def test_a_request_span_continues_the_callers_trace_under_its_route_template() -> None:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
    from prometheus_client import REGISTRY

    from learnstream.runtime.telemetry import instrument_http

    exported = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exported))
    application = app()

    @application.get("/lessons/{lesson_id}")
    async def lesson(lesson_id: str) -> dict[str, str]:
        return {"id": lesson_id}

    @application.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    instrument_http(application, provider)
    transport = httpx.ASGITransport(app=application, raise_app_exceptions=False)
    trace_id = "4bf92f3577b34da6a3ce929d0e0e4736"
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        assert (
            await http.get("/lessons/l-1", headers={"traceparent": f"00-{trace_id}-00f067aa0ba902b7-01"})
        ).status_code == 200
        assert (await http.get("/boom")).status_code == 500
        assert (await http.get("/health")).status_code == 200
        assert (await http.get("/metrics")).status_code == 200

    spans = {span.name: span for span in exported.get_finished_spans()}
    # health and metrics are not traced; the raw path never names a span
    assert set(spans) == {"GET /lessons/{lesson_id}", "GET /boom"}
    served = spans["GET /lessons/{lesson_id}"]
    assert format(served.context.trace_id, "032x") == trace_id
    assert served.parent is not None and format(served.parent.span_id, "016x") == "00f067aa0ba902b7"
    assert served.attributes["http.route"] == "/lessons/{lesson_id}"
    assert served.attributes["http.response.status_code"] == 200
    failed = spans["GET /boom"]
    assert failed.parent is None
    assert failed.attributes["http.response.status_code"] == 500
    assert failed.status.status_code.name == "ERROR"
    labels = {"method": "GET", "route": "/lessons/{lesson_id}", "status": "200"}
    assert REGISTRY.get_sample_value("learnstream_http_request_seconds_count", labels) == 1
    assert (
        REGISTRY.get_sample_value("learnstream_http_request_seconds_count", {**labels, "route": "/health"})
        == 1
    )


async def test_an_unreachable_store_is_a_503_that_does_not_escape_to_the_server() -> None:
    """Answered by a handler of its own, not the catch-all: the catch-all's exception goes on
    to the server, which then closes the connection (a client reusing it sees it drop)."""
    application = FastAPI()
    install_problem_handlers(application)

    @application.get("/store")
    async def store() -> None:
        raise ConnectionRefusedError(111, "Connection refused")

    transport = httpx.ASGITransport(app=application, raise_app_exceptions=True)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
        answer = await http.get("/store")
    assert answer.status_code == 503
    assert answer.headers["retry-after"] == "2"

"""The gateway's client of the context services: what every upstream call carries."""

from __future__ import annotations

from aiohttp import web
from opentelemetry.sdk.trace import TracerProvider

from .conftest import TOKEN, fake_contexts


async def test_a_forwarded_request_carries_the_actor_and_the_trace_of_the_public_request() -> None:
    seen: list[dict[str, str]] = []

    async def handle(request: web.Request) -> web.StreamResponse:
        seen.append(dict(request.headers))
        return web.json_response({})

    tracer = TracerProvider().get_tracer("test")
    async with fake_contexts({"chat": handle}) as services:
        with tracer.start_as_current_span("GET /api/chat/sessions") as span:
            answer = await services.forward(
                "chat", "GET", "/api/chat/sessions", actor=("u-1", "student"), params=[], body=None
            )
        assert answer.status_code == 200
        # outside any request nothing claims to continue a trace
        await services.internal("chat", "GET", "/openapi.json")

    forwarded, internal = seen
    assert (forwarded["X-Actor-Id"], forwarded["X-Actor-Role"], forwarded["X-Service-Token"]) == (
        "u-1",
        "student",
        TOKEN,
    )
    context = span.get_span_context()
    assert forwarded["traceparent"].startswith(f"00-{context.trace_id:032x}-{context.span_id:016x}-")
    assert "traceparent" not in internal

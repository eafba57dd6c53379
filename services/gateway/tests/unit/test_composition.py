"""The composer's rules, with the context services faked at the HTTP edge (httpx.MockTransport)."""

from __future__ import annotations

from uuid import uuid4

import httpx
import pytest

from learnstream.gateway.adapters.services import ContextServices
from learnstream.gateway.service_layer.composition import Composer, Section
from learnstream.runtime.actors import Actor
from learnstream.runtime.problems import Problem

ACTOR = Actor(uuid4(), "instructor")


def composer(answers: dict[str, httpx.Response | Exception], *, timeout: float = 0.5) -> Composer:
    """Each service answers what ``answers`` says (an exception is raised at the transport)."""
    services = ContextServices(
        {name: f"http://{name}" for name in ("progress", "analytics", "chat")},
        service_token="t",
        timeout=timeout,
    )

    async def handle(request: httpx.Request) -> httpx.Response:
        assert request.headers["X-Actor-Id"] == str(ACTOR.user_id)
        assert request.headers["X-Service-Token"] == "t"
        answer = answers[request.url.host]
        if isinstance(answer, Exception):
            raise answer
        return answer

    for client in services._clients.values():
        client._transport = httpx.MockTransport(handle)
    return Composer(services, timeout=timeout)


async def test_a_failing_section_is_null_and_named_and_the_rest_is_served() -> None:
    c = composer(
        {
            "progress": httpx.Response(200, json={"a": 1}),
            "analytics": httpx.Response(503),
            "chat": httpx.ConnectError("refused"),
        }
    )
    composed = await c.compose(
        ACTOR,
        [Section("p", "progress", "/p"), Section("a", "analytics", "/a"), Section("c", "chat", "/c")],
    )
    assert composed.sections == {"p": {"a": 1}, "a": None, "c": None}
    assert "analytics service is unavailable (answered 503)" in composed.unavailable["a"]
    assert "ConnectError" in composed.unavailable["c"]


async def test_a_slow_section_misses_its_deadline() -> None:
    c = composer({"progress": httpx.ReadTimeout("slow"), "analytics": httpx.Response(200, json={})})
    composed = await c.compose(ACTOR, [Section("p", "progress", "/p"), Section("a", "analytics", "/a")])
    assert composed.sections["p"] is None and "no answer in time" in composed.unavailable["p"]


async def test_a_guard_saying_404_makes_the_page_404_whatever_the_others_say() -> None:
    c = composer({"progress": httpx.Response(200, json={}), "analytics": httpx.Response(404, json={})})
    with pytest.raises(Problem) as refused:
        await c.compose(ACTOR, [Section("p", "progress", "/p"), Section("a", "analytics", "/a", guard=True)])
    assert refused.value.status_code == 404


async def test_a_guard_check_refusing_the_answer_is_a_404() -> None:
    c = composer({"progress": httpx.Response(200, json={"instructorId": str(uuid4())})})
    owner = Section("p", "progress", "/p", guard=True, check=lambda b, a: b["instructorId"] == str(a.user_id))
    with pytest.raises(Problem) as refused:
        await c.compose(ACTOR, [owner])
    assert refused.value.status_code == 404


async def test_when_no_guard_can_answer_the_page_is_503_not_served_unchecked() -> None:
    c = composer({"progress": httpx.ConnectError("down"), "analytics": httpx.Response(200, json={})})
    with pytest.raises(Problem) as refused:
        await c.compose(ACTOR, [Section("p", "progress", "/p", guard=True), Section("a", "analytics", "/a")])
    assert refused.value.status_code == 503


async def test_one_guard_answering_is_enough() -> None:
    c = composer({"progress": httpx.ConnectError("down"), "analytics": httpx.Response(200, json={"x": 1})})
    composed = await c.compose(
        ACTOR, [Section("p", "progress", "/p", guard=True), Section("a", "analytics", "/a", guard=True)]
    )
    assert composed.sections["a"] == {"x": 1} and set(composed.unavailable) == {"p"}


async def test_a_route_a_context_does_not_serve_yet_is_named_as_such() -> None:
    c = composer({"chat": httpx.Response(404, json={})})
    composed = await c.compose(ACTOR, [Section("c", "chat", "/api/chat/sessions")])
    assert composed.unavailable["c"] == "the chat service does not serve /api/chat/sessions (404)"

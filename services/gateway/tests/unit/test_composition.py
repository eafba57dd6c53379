"""The composer's rules, with the context services faked at the HTTP edge (``conftest``)."""

from __future__ import annotations

from uuid import uuid4

import pytest
from aiohttp import web

from learnstream.gateway.service_layer.composition import Composer, Section
from learnstream.runtime.actors import Actor
from learnstream.runtime.problems import Problem

from .conftest import answering, fake_contexts

ACTOR = Actor(uuid4(), "instructor")
TIMEOUT = 0.5


async def test_a_failing_section_is_null_and_named_and_the_rest_is_served() -> None:
    async def progress(request: web.Request) -> web.Response:
        assert request.headers["X-Actor-Id"] == str(ACTOR.user_id)
        assert request.headers["X-Actor-Role"] == "instructor"
        return web.json_response({"a": 1})

    async with fake_contexts(
        {"progress": progress, "analytics": answering(503)}, down=("chat",), timeout=TIMEOUT
    ) as services:
        composed = await Composer(services, timeout=TIMEOUT).compose(
            ACTOR,
            [Section("p", "progress", "/p"), Section("a", "analytics", "/a"), Section("c", "chat", "/c")],
        )
    assert composed.sections == {"p": {"a": 1}, "a": None, "c": None}
    assert "analytics service is unavailable (answered 503)" in composed.unavailable["a"]
    assert "chat service is unavailable (ClientConnectorError)" in composed.unavailable["c"]


async def test_a_slow_section_misses_its_deadline() -> None:
    async with fake_contexts(
        {"progress": answering(200, {}, delay=TIMEOUT * 4), "analytics": answering(200, {})}, timeout=TIMEOUT
    ) as services:
        composed = await Composer(services, timeout=TIMEOUT).compose(
            ACTOR, [Section("p", "progress", "/p"), Section("a", "analytics", "/a")]
        )
    assert composed.sections["p"] is None and "no answer in time" in composed.unavailable["p"]
    assert composed.sections["a"] == {}


async def test_a_guard_saying_404_makes_the_page_404_whatever_the_others_say() -> None:
    async with fake_contexts({"progress": answering(200, {}), "analytics": answering(404, {})}) as services:
        with pytest.raises(Problem) as refused:
            await Composer(services, timeout=TIMEOUT).compose(
                ACTOR, [Section("p", "progress", "/p"), Section("a", "analytics", "/a", guard=True)]
            )
    assert refused.value.status_code == 404


async def test_a_guard_check_refusing_the_answer_is_a_404() -> None:
    owner = Section("p", "progress", "/p", guard=True, check=lambda b, a: b["instructorId"] == str(a.user_id))
    async with fake_contexts({"progress": answering(200, {"instructorId": str(uuid4())})}) as services:
        with pytest.raises(Problem) as refused:
            await Composer(services, timeout=TIMEOUT).compose(ACTOR, [owner])
    assert refused.value.status_code == 404


async def test_when_no_guard_can_answer_the_page_is_503_not_served_unchecked() -> None:
    async with fake_contexts({"analytics": answering(200, {})}, down=("progress",)) as services:
        with pytest.raises(Problem) as refused:
            await Composer(services, timeout=TIMEOUT).compose(
                ACTOR, [Section("p", "progress", "/p", guard=True), Section("a", "analytics", "/a")]
            )
    assert refused.value.status_code == 503


async def test_one_guard_answering_is_enough() -> None:
    async with fake_contexts({"analytics": answering(200, {"x": 1})}, down=("progress",)) as services:
        composed = await Composer(services, timeout=TIMEOUT).compose(
            ACTOR, [Section("p", "progress", "/p", guard=True), Section("a", "analytics", "/a", guard=True)]
        )
    assert composed.sections["a"] == {"x": 1} and set(composed.unavailable) == {"p"}


async def test_a_route_a_context_does_not_serve_yet_is_named_as_such() -> None:
    async with fake_contexts({"chat": answering(404, {})}) as services:
        composed = await Composer(services, timeout=TIMEOUT).compose(
            ACTOR, [Section("c", "chat", "/api/chat/sessions")]
        )
    assert composed.unavailable["c"] == "the chat service has nothing at /api/chat/sessions (404), or not yet"


async def test_a_validating_section_passes_on_the_callers_mistake_but_not_its_404() -> None:
    figures = Section("a", "analytics", "/a", validates=True)
    async with fake_contexts({"analytics": answering(422, {"detail": "period: bad"})}) as services:
        with pytest.raises(Problem) as refused:
            await Composer(services, timeout=TIMEOUT).compose(ACTOR, [figures])
    assert refused.value.status_code == 422 and "period" in str(refused.value.detail)
    # a course the projection has not seen yet: the section is missing, the page is served
    async with fake_contexts({"progress": answering(200, {}), "analytics": answering(404, {})}) as services:
        composed = await Composer(services, timeout=TIMEOUT).compose(
            ACTOR, [Section("p", "progress", "/p", guard=True), figures]
        )
    assert composed.sections["p"] == {} and "(404), or not yet" in composed.unavailable["a"]


async def test_the_clients_cache_control_goes_to_every_section() -> None:
    seen: list[str | None] = []

    async def context(request: web.Request) -> web.Response:
        seen.append(request.headers.get("Cache-Control"))
        return web.json_response({})

    async with fake_contexts({"progress": context, "analytics": context}) as services:
        composer = Composer(services, timeout=TIMEOUT)
        sections = [Section("p", "progress", "/p"), Section("a", "analytics", "/a")]
        await composer.compose(ACTOR, sections, cache_control="no-cache")
        assert seen == ["no-cache", "no-cache"]
        await composer.compose(ACTOR, sections)
    assert seen[2:] == [None, None]

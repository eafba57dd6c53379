"""The assistant behind a real OpenAI-compatible endpoint, through the real ``openai`` client.

llm-katan's echo backend answers plain and streamed completions the way a hosted model
would (its answer echoes the question and counts the messages it got, which shows the
history reaching it). A recording endpoint of our own shows what the prompt carries, and
failing endpoints — nothing listening, 429 every time, too slow — show that the retries
and the timeout are bounded, that the learner gets an apology with ``answered: false``,
and that the question is kept.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import web

from learnstream.devstack.servers import free_port
from learnstream.devstack.testing import Infra

from .conftest import ChatApi, chat_service

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
async def katan_chat(infra: Infra, llm_server: str) -> AsyncIterator[ChatApi]:
    """The chat service asking llm-katan (echo backend) through the openai package."""
    async with chat_service(
        infra, openai_base_url=llm_server, openai_api_key="test-key", openai_model="echo-model"
    ) as api:
        yield api


async def conversation(chat: ChatApi) -> tuple[tuple[Any, str], str]:
    course = await chat.course()
    learner = await chat.learner(course)
    started = await chat.call("POST", "/api/chat/sessions", learner, json={"courseId": str(course.id)})
    assert started.status_code == 201, started.text
    return learner, started.json()["id"]


async def test_a_plain_reply_from_the_model_is_stored_with_its_usage(katan_chat: ChatApi) -> None:
    learner, session = await conversation(katan_chat)
    asked = await katan_chat.call(
        "POST",
        f"/api/chat/sessions/{session}/messages",
        learner,
        json={"content": "What does range(5) give?"},
    )
    assert asked.status_code == 200, asked.text
    reply = asked.json()["reply"]
    assert reply["answered"] is True and reply["model"] == "echo-model"
    # the echo backend repeats the question and says how many messages it got: system + question
    assert "What does range(5) give?" in reply["content"] and "messages=2" in reply["content"]

    again = await katan_chat.call(
        "POST", f"/api/chat/sessions/{session}/messages", learner, json={"content": "And range(2, 4)?"}
    )
    # the history went with the second question: system, question, reply, question
    assert "messages=4" in again.json()["reply"]["content"]
    stored = (await katan_chat.call("GET", f"/api/chat/sessions/{session}/messages", learner)).json()
    assert [m["role"] for m in stored["messages"]] == ["user", "assistant", "user", "assistant"]
    assert stored["messages"][3]["content"] == again.json()["reply"]["content"]


async def test_a_streamed_reply_from_the_model_arrives_in_pieces(katan_chat: ChatApi) -> None:
    learner, session = await conversation(katan_chat)
    events = await katan_chat.ask_streamed(session, learner, "How do I stop a while loop?")
    kinds = [kind for kind, _ in events]
    assert kinds[0] == "question" and kinds[-1] == "reply" and kinds.count("delta") > 5
    streamed = "".join(data["text"] for kind, data in events if kind == "delta")
    reply = events[-1][1]
    assert reply["answered"] is True and reply["content"] == streamed.strip()
    assert "How do I stop a while loop?" in streamed


@dataclass
class FakeModel:
    """An OpenAI-compatible endpoint that records what it is asked and answers as told."""

    behaviour: str = "answer"  # answer | busy | slow
    requests: list[dict[str, Any]] = field(default_factory=list)

    async def completions(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        self.requests.append(body)
        if self.behaviour == "busy":
            return web.json_response(
                {"error": {"message": "Rate limit reached", "type": "rate_limit_error"}},
                status=429,
                headers={"retry-after-ms": "20"},
            )
        if self.behaviour == "slow":
            await asyncio.sleep(30)
        words = ["Loops ", "repeat ", "things."]
        if not body.get("stream"):
            return web.json_response(
                {
                    "id": "c1",
                    "object": "chat.completion",
                    "created": int(time.time()),
                    "model": body["model"],
                    "choices": [
                        {
                            "index": 0,
                            "message": {"role": "assistant", "content": "".join(words)},
                            "finish_reason": "stop",
                        }
                    ],
                    "usage": {"prompt_tokens": 120, "completion_tokens": 3, "total_tokens": 123},
                }
            )
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        for word in words:
            chunk = {
                "id": "c1",
                "object": "chat.completion.chunk",
                "created": int(time.time()),
                "model": body["model"],
                "choices": [{"index": 0, "delta": {"content": word}, "finish_reason": None}],
            }
            await response.write(f"data: {json.dumps(chunk)}\n\n".encode())
        await response.write(b"data: [DONE]\n\n")
        return response


@contextlib.asynccontextmanager
async def fake_model(behaviour: str) -> AsyncIterator[tuple[FakeModel, str]]:
    model = FakeModel(behaviour)
    app = web.Application()
    app.router.add_post("/v1/chat/completions", model.completions)
    runner = web.AppRunner(app, shutdown_timeout=0.1)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield model, f"http://127.0.0.1:{port}/v1"
    finally:
        await runner.cleanup()


def model_settings(base_url: str, **overrides: Any) -> dict[str, Any]:
    return {
        "openai_base_url": base_url,
        "openai_api_key": "test-key",
        "openai_model": "tutor-model",
        **overrides,
    }


async def test_the_prompt_carries_the_matching_lesson_text_and_the_instructions(infra: Infra) -> None:
    async with fake_model("answer") as (model, url), chat_service(infra, **model_settings(url)) as chat:
        learner, session = await conversation(chat)
        asked = await chat.call(
            "POST",
            f"/api/chat/sessions/{session}/messages",
            learner,
            json={"content": "Why does range(5) stop before 5?"},
        )
        assert asked.json()["reply"]["content"] == "Loops repeat things."
    [request] = model.requests
    assert request["model"] == "tutor-model" and "stream" not in request
    system, question = request["messages"]
    assert system["role"] == "system" and "Python 101" in system["content"]
    assert "range(5) gives 0, 1, 2, 3 and 4" in system["content"]  # the Loops lesson, retrieved
    assert "Append adds an item" not in system["content"]  # the Lists lesson does not match
    assert question == {"role": "user", "content": "Why does range(5) stop before 5?"}


async def assert_apologised_and_kept(
    chat: ChatApi, learner: Any, session: str, question: str, why: str
) -> None:
    stored = (await chat.call("GET", f"/api/chat/sessions/{session}/messages", learner)).json()
    user, assistant = stored["messages"]
    assert (user["role"], user["content"]) == ("user", question)
    assert assistant["answered"] is False and why in assistant["content"]
    assert "Your question is saved" in assistant["content"]


async def test_a_model_that_is_down_gets_an_apology_and_the_question_is_kept(infra: Infra) -> None:
    nothing = f"http://127.0.0.1:{free_port()}/v1"
    settings = model_settings(nothing, openai_max_retries=1, openai_timeout_seconds=2)
    async with chat_service(infra, **settings) as chat:
        learner, session = await conversation(chat)
        started = time.monotonic()
        asked = await chat.call(
            "POST", f"/api/chat/sessions/{session}/messages", learner, json={"content": "Is anyone there?"}
        )
        assert time.monotonic() - started < 10  # one retry after a short backoff, not forever
        assert asked.status_code == 200 and asked.json()["reply"]["answered"] is False
        await assert_apologised_and_kept(chat, learner, session, "Is anyone there?", "cannot be reached")


async def test_a_busy_model_is_retried_a_bounded_number_of_times(infra: Infra) -> None:
    async with (
        fake_model("busy") as (model, url),
        chat_service(infra, **model_settings(url, openai_max_retries=2)) as chat,
    ):
        learner, session = await conversation(chat)
        events = await chat.ask_streamed(session, learner, "Too popular?")
        assert [kind for kind, _ in events] == ["question", "reply"]
        assert events[-1][1]["answered"] is False
        await assert_apologised_and_kept(chat, learner, session, "Too popular?", "rate limited")
    assert len(model.requests) == 3  # the first try and two retries


async def test_a_model_that_is_too_slow_times_out(infra: Infra) -> None:
    async with fake_model("slow") as (model, url):
        settings = model_settings(url, openai_max_retries=0, openai_timeout_seconds=0.5)
        async with chat_service(infra, **settings) as chat:
            learner, session = await conversation(chat)
            started = time.monotonic()
            asked = await chat.call(
                "POST", f"/api/chat/sessions/{session}/messages", learner, json={"content": "Still thinking?"}
            )
            assert time.monotonic() - started < 5
            assert asked.json()["reply"]["answered"] is False
            await assert_apologised_and_kept(
                chat, learner, session, "Still thinking?", "did not answer in time"
            )
    assert len(model.requests) == 1

"""Conversations over the chat service's HTTP API with the offline course-notes assistant:
start, ask (whole and streamed), titles, paging, rename, delete, search, ratings, limits,
other learners refused, erasure; and what goes on the bus."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4
from zoneinfo import ZoneInfo

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text

from learnstream.chat.entrypoints import http
from learnstream.devstack.testing import Infra, events_on
from learnstream.events.identity import LearnerErasureRequested
from learnstream.runtime.db import create_engine
from learnstream.runtime.settings import DEV_SERVICE_TOKEN

from .conftest import ChatApi

pytestmark = pytest.mark.integration


async def chat_events(infra: Infra, learner: UUID, until: str, timeout: float = 30) -> list[Any]:
    """The events on ``learnstream.chat`` about ``learner``, read until one named ``until``."""
    return await events_on(
        infra,
        "learnstream.chat",
        str(learner),
        until=lambda seen: any(e.event_name() == until for e in seen),
        timeout=timeout,
    )


async def test_a_learner_asks_and_the_offline_assistant_answers_from_the_course(chat: ChatApi) -> None:
    course = await chat.course()
    learner = await chat.learner(course)
    started = await chat.call(
        "POST",
        "/api/chat/sessions",
        learner,
        json={"courseId": str(course.id), "lessonId": str(course.lessons["Loops"])},
    )
    assert started.status_code == 201, started.text
    session = started.json()
    assert (session["title"], session["messageCount"], session["group"]) == ("New conversation", 0, "today")

    question = "Why does range(5) never give me the number 5 when I loop over it in my code?"
    answer = await chat.call(
        "POST", f"/api/chat/sessions/{session['id']}/messages", learner, json={"content": question}
    )
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["question"]["content"] == question and body["question"]["role"] == "user"
    reply = body["reply"]
    assert reply["role"] == "assistant" and reply["answered"] is True
    assert reply["model"] == "offline-course-notes"
    assert (
        "offline course assistant" in reply["content"]
        and "range(5) gives 0, 1, 2, 3 and 4" in reply["content"]
    )

    page = (await chat.call("GET", f"/api/chat/sessions/{session['id']}/messages", learner)).json()
    assert [m["role"] for m in page["messages"]] == ["user", "assistant"]
    assert page["session"]["title"] == question[:50].rstrip() + "..."
    assert page["session"]["messageCount"] == 2 and page["session"]["lastMessageAt"]

    # nothing in the notes: the reply says so and is not counted as answered
    unknown = await chat.call(
        "POST",
        f"/api/chat/sessions/{session['id']}/messages",
        learner,
        json={"content": "quantum chromodynamics?"},
    )
    assert unknown.json()["reply"]["answered"] is False

    events = await chat_events(chat.infra, learner[0], until="AssistantReplied")
    names = [e.event_name() for e in events if str(e.session_id) == session["id"]]
    assert names[:3] == ["ChatSessionStarted", "ChatMessageSent", "AssistantReplied"]
    sent = next(e for e in events if e.event_name() == "ChatMessageSent")
    assert (sent.text, sent.course_id, sent.lesson_id) == (question, course.id, course.lessons["Loops"])


async def test_a_reply_streams_as_server_sent_events(chat: ChatApi) -> None:
    course = await chat.course()
    learner = await chat.learner(course)
    session = (
        await chat.call("POST", "/api/chat/sessions", learner, json={"courseId": str(course.id)})
    ).json()
    events = await chat.ask_streamed(session["id"], learner, "How do I leave a while loop early?")
    kinds = [kind for kind, _ in events]
    assert kinds[0] == "question" and kinds[-1] == "reply" and kinds.count("delta") >= 2
    streamed = "".join(data["text"] for kind, data in events if kind == "delta")
    assert streamed == events[-1][1]["content"] and "break leaves a loop early" in streamed
    stored = (await chat.call("GET", f"/api/chat/sessions/{session['id']}/messages", learner)).json()
    assert stored["messages"][-1]["content"] == streamed


async def test_twenty_a_page_newest_activity_first(chat: ChatApi) -> None:
    course = await chat.course()
    learner = await chat.learner(course)
    ids = []
    for _ in range(23):
        started = await chat.call("POST", "/api/chat/sessions", learner, json={"courseId": str(course.id)})
        ids.append(started.json()["id"])
    first = (
        await chat.call("GET", "/api/chat/sessions", learner, params={"courseId": str(course.id)})
    ).json()
    assert len(first["sessions"]) == 20 and first["hasMore"] is True
    assert [s["id"] for s in first["sessions"]] == ids[::-1][:20]
    rest = (
        await chat.call(
            "GET", "/api/chat/sessions", learner, params={"courseId": str(course.id), "offset": 20}
        )
    ).json()
    assert [s["id"] for s in rest["sessions"]] == ids[::-1][20:] and rest["hasMore"] is False
    # a question moves its conversation to the top
    await chat.call("POST", f"/api/chat/sessions/{ids[0]}/messages", learner, json={"content": "lists?"})
    top = (await chat.call("GET", "/api/chat/sessions", learner, params={"limit": 1})).json()
    assert top["sessions"][0]["id"] == ids[0]


async def test_the_sidebar_groups_by_the_learners_own_days(chat: ChatApi) -> None:
    course = await chat.course()
    zones = ("Asia/Tokyo", "America/New_York", "UTC")
    learners = {zone: await chat.learner(course, timezone=zone) for zone in zones}
    started = {
        zone: (await chat.call("POST", "/api/chat/sessions", who, json={"courseId": str(course.id)})).json()
        for zone, who in learners.items()
    }
    created = datetime.fromisoformat(started["UTC"]["createdAt"])
    # some hours later, when Tokyo's day has turned and New York's has not (or the other way)
    local_hours = {zone: created.astimezone(ZoneInfo(zone)).hour for zone in zones[:2]}
    later = next(
        hours
        for hours in range(1, 24)
        if (local_hours["Asia/Tokyo"] + hours >= 24) != (local_hours["America/New_York"] + hours >= 24)
    )
    expected = {
        zone: "today"
        if (created + timedelta(hours=later)).astimezone(ZoneInfo(zone)).date()
        == created.astimezone(ZoneInfo(zone)).date()
        else "yesterday"
        for zone in zones
    }
    assert expected["Asia/Tokyo"] != expected["America/New_York"]
    service = chat.app.state.chat
    real = service.clock
    service.clock = lambda: real() + timedelta(hours=later)
    try:
        deadline = asyncio.get_running_loop().time() + 30
        while True:  # the identity events (time zones) may arrive after the enrollments
            groups = {
                zone: (await chat.call("GET", "/api/chat/sessions", who)).json()["sessions"][0]["group"]
                for zone, who in learners.items()
            }
            if groups == expected or asyncio.get_running_loop().time() > deadline:
                break
            await asyncio.sleep(0.2)
        assert groups == expected
        service.clock = lambda: real() + timedelta(days=3)
        three_days = (await chat.call("GET", "/api/chat/sessions", learners["UTC"])).json()
        assert three_days["sessions"][0]["group"] == "last7Days"
        service.clock = lambda: real() + timedelta(days=8)
        assert (await chat.call("GET", "/api/chat/sessions", learners["UTC"])).json()["sessions"][0][
            "group"
        ] == "older"
    finally:
        service.clock = real
    assert started["Asia/Tokyo"]["id"] != started["UTC"]["id"]


async def test_rename_delete_and_search(chat: ChatApi) -> None:
    course = await chat.course()
    learner = await chat.learner(course)
    sessions = []
    for question in ("How does append work on a list?", "What does break do in a loop?"):
        started = (
            await chat.call("POST", "/api/chat/sessions", learner, json={"courseId": str(course.id)})
        ).json()
        await chat.call(
            "POST", f"/api/chat/sessions/{started['id']}/messages", learner, json={"content": question}
        )
        sessions.append(started["id"])
    renamed = await chat.call(
        "PATCH", f"/api/chat/sessions/{sessions[0]}", learner, json={"title": "  My list notes "}
    )
    assert renamed.status_code == 200 and renamed.json()["title"] == "My list notes"
    assert (
        await chat.call("PATCH", f"/api/chat/sessions/{sessions[0]}", learner, json={"title": " "})
    ).status_code == 422

    found = (await chat.call("GET", "/api/chat/search", learner, params={"query": "appending lists"})).json()
    assert next(s["id"] for s in found["sessions"]) == sessions[0]
    assert any("<mark>" in m["excerpt"] for m in found["messages"])
    by_title = (await chat.call("GET", "/api/chat/sessions", learner, params={"q": "notes"})).json()
    assert [s["id"] for s in by_title["sessions"]] == [sessions[0]]
    # the excerpt is HTML: the message's own markup escaped, only the matching words marked
    marked = await chat.call(
        "POST",
        f"/api/chat/sessions/{sessions[0]}/messages",
        learner,
        json={"content": "Is <script>alert(1)</script> a list?"},
    )
    assert marked.status_code == 200
    found = (await chat.call("GET", "/api/chat/search", learner, params={"query": "alert"})).json()
    [excerpt] = [m["excerpt"] for m in found["messages"] if m["role"] == "user"]
    assert "<mark>alert</mark>(1)&lt;/script&gt; a list?" in excerpt and "<script>" not in excerpt
    tagged = (await chat.call("GET", "/api/chat/search", learner, params={"query": "script"})).json()
    assert "<mark>script</mark>&gt;" in tagged["messages"][0]["excerpt"]  # markup is searchable
    for path, field in (("/api/chat/search", "query"), ("/api/chat/sessions", "q")):
        nul = await chat.call("GET", path, learner, params={field: "lo\x00op"})
        assert nul.status_code == 422 and nul.json()["errors"][0]["field"] == field, nul.text
    for hostile in ("' OR 1=1 --", "loop & !break | :*", "); DROP TABLE chat_messages; --", "\\", "<->"):
        answer = await chat.call("GET", "/api/chat/search", learner, params={"query": hostile})
        assert answer.status_code == 200, (hostile, answer.text)

    deleted = await chat.call("DELETE", f"/api/chat/sessions/{sessions[1]}", learner)
    assert deleted.status_code == 204
    assert (await chat.call("GET", f"/api/chat/sessions/{sessions[1]}/messages", learner)).status_code == 404
    listed = (await chat.call("GET", "/api/chat/sessions", learner)).json()
    assert sessions[1] not in [s["id"] for s in listed["sessions"]]
    after = (await chat.call("GET", "/api/chat/search", learner, params={"query": "break"})).json()
    assert after["messages"] and sessions[1] not in {m["sessionId"] for m in after["messages"]}
    assert sessions[1] not in {s["id"] for s in after["sessions"]}
    events = await chat_events(chat.infra, learner[0], until="ChatSessionRenamed")
    assert "ChatSessionDeleted" in [e.event_name() for e in events]
    # only the tombstone of the deleted conversation stays in the event store
    engine = create_engine(chat.app.state.runtime.settings.database_url, pool_size=1)
    try:
        async with engine.connect() as conn:
            left = (
                (
                    await conn.execute(
                        text("SELECT event_type FROM event_store WHERE stream_id = :s"),
                        {"s": f"chat-{sessions[1]}"},
                    )
                )
                .scalars()
                .all()
            )
    finally:
        await engine.dispose()
    assert [t.split(".")[2] for t in left] == ["ChatSessionDeleted"]


async def test_ratings_of_replies(chat: ChatApi) -> None:
    course = await chat.course()
    learner = await chat.learner(course)
    session = (
        await chat.call("POST", "/api/chat/sessions", learner, json={"courseId": str(course.id)})
    ).json()
    asked = (
        await chat.call(
            "POST", f"/api/chat/sessions/{session['id']}/messages", learner, json={"content": "len?"}
        )
    ).json()
    rated = await chat.call(
        "POST", f"/api/chat/messages/{asked['reply']['id']}/rating", learner, json={"helpful": True}
    )
    assert rated.status_code == 200 and rated.json() == {"messageId": asked["reply"]["id"], "helpful": True}
    own_question = await chat.call(
        "POST", f"/api/chat/messages/{asked['question']['id']}/rating", learner, json={"helpful": True}
    )
    assert own_question.status_code == 404
    page = (await chat.call("GET", f"/api/chat/sessions/{session['id']}/messages", learner)).json()
    assert page["messages"][1]["helpful"] is True
    events = await chat_events(chat.infra, learner[0], until="AssistantReplyRated")
    rating = next(e for e in events if e.event_name() == "AssistantReplyRated")
    assert (str(rating.message_id), rating.helpful) == (asked["reply"]["id"], True)


async def test_bad_messages_and_too_many_are_refused_and_nothing_is_lost(chat: ChatApi) -> None:
    course = await chat.course()
    learner = await chat.learner(course)
    session = (
        await chat.call("POST", "/api/chat/sessions", learner, json={"courseId": str(course.id)})
    ).json()
    path = f"/api/chat/sessions/{session['id']}/messages"
    for content in ("", "   ", "x" * 4001, "a NUL \x00 here"):
        refused = await chat.call("POST", path, learner, json={"content": content})
        assert refused.status_code == 422, refused.text
        assert refused.headers["content-type"].startswith("application/problem+json")
        assert refused.json()["errors"][0]["field"] == "content"
    codes = [
        (await chat.call("POST", path, learner, json={"content": f"question {i}"})).status_code
        for i in range(7)
    ]
    assert codes == [200] * 5 + [429] * 2  # this module's limit: 5 a minute
    limited = await chat.call("POST", path, learner, json={"content": "one more"})
    assert (
        1 <= int(limited.headers["Retry-After"]) <= 60 and "5 messages a minute" in limited.json()["detail"]
    )
    page = (await chat.call("GET", path, learner)).json()
    assert (
        page["session"]["messageCount"] == 10
    )  # five questions, five replies; the refused ones were never stored


async def test_nobody_reaches_another_learners_conversation(chat: ChatApi) -> None:
    course = await chat.course()
    owner = await chat.learner(course)
    stranger = await chat.learner(course)
    outsider = await chat.learner()  # not enrolled
    session = (await chat.call("POST", "/api/chat/sessions", owner, json={"courseId": str(course.id)})).json()
    asked = (
        await chat.call(
            "POST", f"/api/chat/sessions/{session['id']}/messages", owner, json={"content": "loops?"}
        )
    ).json()
    attempts = [
        ("GET", f"/api/chat/sessions/{session['id']}/messages", None),
        ("POST", f"/api/chat/sessions/{session['id']}/messages", {"content": "mine now"}),
        ("PATCH", f"/api/chat/sessions/{session['id']}", {"title": "taken"}),
        ("DELETE", f"/api/chat/sessions/{session['id']}", None),
        ("POST", f"/api/chat/messages/{asked['reply']['id']}/rating", {"helpful": False}),
    ]
    for method, path, body in attempts:
        answer = await chat.call(method, path, stranger, json=body)
        assert answer.status_code == 404, (method, path, answer.text)
    assert (await chat.call("GET", "/api/chat/sessions", stranger)).json()["sessions"] == []
    assert not (await chat.call("GET", "/api/chat/search", stranger, params={"query": "loops"})).json()[
        "messages"
    ]
    # a course one is not enrolled in, and an unknown one, answer alike
    for course_id in (course.id, uuid4()):
        answer = await chat.call("POST", "/api/chat/sessions", outsider, json={"courseId": str(course_id)})
        assert answer.status_code == 404
    # the course's instructor may try its assistant
    teacher = (course.instructor, "instructor")
    assert (
        await chat.call("POST", "/api/chat/sessions", teacher, json={"courseId": str(course.id)})
    ).status_code == 201


async def test_erasure_removes_every_conversation_and_is_confirmed(chat: ChatApi) -> None:
    course = await chat.course()
    learner = await chat.learner(course)
    session = (
        await chat.call("POST", "/api/chat/sessions", learner, json={"courseId": str(course.id)})
    ).json()
    await chat.call(
        "POST", f"/api/chat/sessions/{session['id']}/messages", learner, json={"content": "append?"}
    )
    export = (await chat.call("GET", "/api/me/data-export", learner)).json()
    assert [len(c["messages"]) for c in export["conversations"]] == [2]

    await chat.publish(LearnerErasureRequested(user_id=learner[0], request_id=uuid4()))
    events = await chat_events(chat.infra, learner[0], until="LearnerChatErased")
    assert events[-1].event_name() == "LearnerChatErased"
    assert (await chat.call("GET", "/api/chat/sessions", learner)).json()["sessions"] == []
    engine = create_engine(chat.app.state.runtime.settings.database_url, pool_size=1)
    try:
        async with engine.connect() as conn:
            left = await conn.scalar(
                text(
                    "SELECT (SELECT count(*) FROM chat_messages WHERE learner_id = :l)"
                    " + (SELECT count(*) FROM event_store WHERE data->>'learner_id' = :s"
                    "    AND event_type NOT LIKE '%LearnerChatErased%')"
                ),
                {"l": learner[0], "s": str(learner[0])},
            )
    finally:
        await engine.dispose()
    assert left == 0


async def test_in_dev_mode_demo_data_names_its_past_moments(chat: ChatApi) -> None:
    course = await chat.course()
    learner = await chat.learner(course)
    now = datetime.now(UTC)
    started_at, sent_at = now - timedelta(days=10), now - timedelta(days=9)
    session = await chat.call(
        "POST",
        "/api/chat/sessions",
        learner,
        json={"courseId": str(course.id), "startedAt": started_at.isoformat()},
    )
    assert session.status_code == 201, session.text
    # (events keep milliseconds)
    assert abs(datetime.fromisoformat(session.json()["createdAt"]) - started_at) < timedelta(milliseconds=1)
    path = f"/api/chat/sessions/{session.json()['id']}/messages"
    asked = (
        await chat.call("POST", path, learner, json={"content": "len?", "sentAt": sent_at.isoformat()})
    ).json()
    question_at = datetime.fromisoformat(asked["question"]["createdAt"])
    reply_at = datetime.fromisoformat(asked["reply"]["createdAt"])
    assert abs(question_at - sent_at) < timedelta(milliseconds=1)
    # the reply is dated the assistant's latency after the question, not now
    assert question_at <= reply_at < question_at + timedelta(minutes=1)
    # a moment before the conversation's newest message is moved up to it, so the order holds
    earlier = (
        await chat.call(
            "POST",
            path,
            learner,
            json={"content": "range?", "sentAt": (sent_at - timedelta(days=1)).isoformat()},
        )
    ).json()
    assert datetime.fromisoformat(earlier["question"]["createdAt"]) >= reply_at
    rated_at = sent_at + timedelta(hours=1)
    rated = await chat.call(
        "POST",
        f"/api/chat/messages/{earlier['reply']['id']}/rating",
        learner,
        json={"helpful": False, "ratedAt": rated_at.isoformat()},
    )
    assert rated.status_code == 200, rated.text
    listed = (await chat.call("GET", "/api/chat/sessions", learner)).json()["sessions"][0]
    assert listed["group"] == "older" and listed["messageCount"] == 4

    # other contexts (analytics' activity, at-risk learners) see the same moments on the bus
    events = await chat_events(chat.infra, learner[0], until="AssistantReplyRated")
    ours = [e for e in events if str(e.session_id) == session.json()["id"]]
    moments = {e.event_name(): e.occurred_at for e in reversed(ours)}  # the first of each name
    assert abs(moments["ChatSessionStarted"] - started_at) < timedelta(milliseconds=1)
    assert abs(moments["ChatMessageSent"] - sent_at) < timedelta(milliseconds=1)
    assert abs(moments["AssistantReplyRated"] - rated_at) < timedelta(milliseconds=1)

    # in the future or too far back: refused, naming the field; nothing stored
    for field_name, body in (
        ("sentAt", {"content": "later?", "sentAt": (now + timedelta(hours=1)).isoformat()}),
        ("sentAt", {"content": "long ago?", "sentAt": (now - timedelta(days=91)).isoformat()}),
    ):
        refused = await chat.call("POST", path, learner, json=body)
        assert refused.status_code == 422, refused.text
        assert refused.json()["errors"][0]["field"] == field_name
    too_old_start = await chat.call(
        "POST",
        "/api/chat/sessions",
        learner,
        json={"courseId": str(course.id), "startedAt": (now - timedelta(days=91)).isoformat()},
    )
    assert too_old_start.status_code == 422 and too_old_start.json()["errors"][0]["field"] == "startedAt"
    page = (await chat.call("GET", path, learner)).json()
    assert page["session"]["messageCount"] == 4


async def test_outside_dev_mode_no_moment_may_be_named(chat: ChatApi) -> None:
    course = await chat.course()
    learner = await chat.learner(course)
    # the routes as a production stack builds them, over the same service
    production = FastAPI()
    production.include_router(http.build_router(chat.app.state.chat, DEV_SERVICE_TOKEN, backdating=False))
    http.install_error_handlers(production)
    user, role = learner
    headers = {"X-Service-Token": DEV_SERVICE_TOKEN, "X-Actor-Id": str(user), "X-Actor-Role": role}
    moment = (datetime.now(UTC) - timedelta(days=2)).isoformat()
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=production), base_url="http://chat"
    ) as client:
        refused = await client.post(
            "/api/chat/sessions", headers=headers, json={"courseId": str(course.id), "startedAt": moment}
        )
        assert refused.status_code == 422 and refused.json()["errors"][0]["field"] == "startedAt"
        session = await client.post("/api/chat/sessions", headers=headers, json={"courseId": str(course.id)})
        assert session.status_code == 201
        path = f"/api/chat/sessions/{session.json()['id']}/messages"
        asked = await client.post(path, headers=headers, json={"content": "len?", "sentAt": moment})
        assert asked.status_code == 422 and asked.json()["errors"][0]["field"] == "sentAt"
        listed = (await client.get("/api/chat/sessions", headers=headers)).json()["sessions"]
    # only the conversation started without a moment exists, and it has no messages
    assert [(s["id"], s["messageCount"]) for s in listed] == [(session.json()["id"], 0)]

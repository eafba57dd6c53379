"""The assistant chat through the gateway, as the first seed's chat test list has it: create a
conversation, switch between conversations, delete, search, load more, rename, resume after
a reload; the reply streamed as server-sent events through the gateway, ratings, the send
limit, and the course page listing the learner's conversations. The course's text comes
from the instructor's outline (progress → catalog events → chat), and the offline
course-notes assistant answers from it.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest

pytestmark = pytest.mark.integration

COURSE = {
    "title": "Python basics",
    "description": "Loops and lists",
    "category": "programming",
    "difficulty": "beginner",
    "sections": [
        {
            "title": "Control flow",
            "lessons": [
                {
                    "title": "Loops",
                    "contentType": "article",
                    "durationSeconds": 300,
                    "body": "range(n) counts from 0 up to n - 1, so range(5) gives 0, 1, 2, 3 and 4.\n\n"
                    "A while loop repeats as long as its condition holds; break leaves it early.",
                },
                {
                    "title": "Lists",
                    "contentType": "article",
                    "durationSeconds": 300,
                    "body": "A list keeps items in order; append adds one at the end.",
                },
            ],
        }
    ],
}


async def started_when_chat_knows(
    http: httpx.AsyncClient, who: dict[str, str], course: str
) -> dict[str, Any]:
    """Start a conversation, waiting for chat to have the enrollment and the course's text."""
    for _ in range(300):
        started = await http.post("/api/chat/sessions", json={"courseId": course}, headers=who)
        if started.status_code == 201:
            return dict(started.json())
        await asyncio.sleep(0.1)
    raise AssertionError(started.text)


@pytest.fixture(scope="module")
async def learner(stack: Any) -> tuple[dict[str, str], str]:
    teacher = await stack.token("instructor")
    created = await stack.http.post("/api/instructor/courses", json=COURSE, headers=teacher)
    assert created.status_code == 201, created.text
    course = created.json()["id"]
    assert (
        await stack.http.post(f"/api/instructor/courses/{course}/publish", headers=teacher)
    ).status_code == 200
    who = await stack.token("student", name="Chatty Learner")
    assert (await stack.http.post(f"/api/courses/{course}/enroll", headers=who)).status_code == 201
    first = await started_when_chat_knows(stack.http, who, course)
    assert (await stack.http.delete(f"/api/chat/sessions/{first['id']}", headers=who)).status_code == 204
    return who, course


async def ask(http: httpx.AsyncClient, who: dict[str, str], session: str, content: str) -> dict[str, Any]:
    asked = await http.post(f"/api/chat/sessions/{session}/messages", json={"content": content}, headers=who)
    assert asked.status_code == 200, asked.text
    return dict(asked.json())


async def test_create_ask_switch_and_resume_after_a_reload(stack: Any, learner: Any) -> None:
    who, course = learner
    http = stack.http
    loops = await started_when_chat_knows(http, who, course)
    assert loops["title"] == "New conversation" and loops["group"] == "today"
    answered = await ask(http, who, loops["id"], "Why does range(5) stop at 4?")
    assert answered["reply"]["answered"] is True
    assert "range(5) gives 0, 1, 2, 3 and 4" in answered["reply"]["content"]

    lists = await started_when_chat_knows(http, who, course)
    await ask(http, who, lists["id"], "How do I add an item to a list?")

    # the sidebar: both, newest activity first, titled by their first questions
    sidebar = (await http.get("/api/chat/sessions", params={"courseId": course}, headers=who)).json()
    assert [s["title"] for s in sidebar["sessions"][:2]] == [
        "How do I add an item to a list?",
        "Why does range(5) stop at 4?",
    ]
    assert sidebar["sessions"][0]["messageCount"] == 2 and sidebar["hasMore"] is False

    # switching back to the first, and resuming it from a new client (a reload)
    async with httpx.AsyncClient(base_url=stack.base_url, timeout=10) as reloaded:
        back = (await reloaded.get(f"/api/chat/sessions/{loops['id']}/messages", headers=who)).json()
    assert [m["role"] for m in back["messages"]] == ["user", "assistant"]
    assert back["messages"][0]["content"] == "Why does range(5) stop at 4?"
    assert back["messages"][1]["content"] == answered["reply"]["content"]


async def test_the_reply_streams_through_the_gateway(stack: Any, learner: Any) -> None:
    who, course = learner
    session = await started_when_chat_knows(stack.http, who, course)
    headers = {**who, "Accept": "text/event-stream"}
    path = f"/api/chat/sessions/{session['id']}/messages"
    async with stack.http.stream(
        "POST", path, json={"content": "How do I leave a while loop early?"}, headers=headers
    ) as stream:
        assert stream.status_code == 200
        assert stream.headers["content-type"].startswith("text/event-stream")
        raw = "".join([chunk async for chunk in stream.aiter_text()])
    events = []
    for block in raw.strip().split("\n\n"):
        fields = dict(line.split(": ", 1) for line in block.split("\n"))
        events.append((fields["event"], json.loads(fields["data"])))
    assert events[0][0] == "question" and events[-1][0] == "reply"
    text = "".join(data["text"] for kind, data in events if kind == "delta")
    assert "break leaves it early" in text and events[-1][1]["content"] == text

    rated = await stack.http.post(
        f"/api/chat/messages/{events[-1][1]['id']}/rating", json={"helpful": True}, headers=who
    )
    assert rated.status_code == 200 and rated.json()["helpful"] is True


async def test_rename_search_delete_and_load_more(stack: Any, learner: Any) -> None:
    who, course = learner
    http = stack.http
    session = await started_when_chat_knows(http, who, course)
    await ask(http, who, session["id"], "Tell me about appending to lists")
    renamed = await http.patch(
        f"/api/chat/sessions/{session['id']}", json={"title": "My list notes"}, headers=who
    )
    assert renamed.status_code == 200 and renamed.json()["title"] == "My list notes"

    found = (await http.get("/api/chat/search", params={"query": "appending"}, headers=who)).json()
    assert found["sessions"][0]["id"] == session["id"]
    by_title = (await http.get("/api/chat/sessions", params={"q": "list notes"}, headers=who)).json()
    assert [s["id"] for s in by_title["sessions"]] == [session["id"]]
    # query syntax is only text
    odd = await http.get("/api/chat/search", params={"query": "'&|!:*()"}, headers=who)
    assert odd.status_code == 200 and odd.json() == {"sessions": [], "messages": []}

    assert (await http.delete(f"/api/chat/sessions/{session['id']}", headers=who)).status_code == 204
    assert (await http.get(f"/api/chat/sessions/{session['id']}/messages", headers=who)).status_code == 404
    gone = (await http.get("/api/chat/search", params={"query": "appending"}, headers=who)).json()
    assert session["id"] not in {s["id"] for s in gone["sessions"]}

    # load more: 20 a page
    existing = (await http.get("/api/chat/sessions", headers=who)).json()["sessions"]
    for _ in range(22 - len(existing)):
        await started_when_chat_knows(http, who, course)
    first = (await http.get("/api/chat/sessions", headers=who)).json()
    assert len(first["sessions"]) == 20 and first["hasMore"] is True
    more = (await http.get("/api/chat/sessions", params={"offset": 20}, headers=who)).json()
    assert len(more["sessions"]) == 2 and more["hasMore"] is False
    assert not {s["id"] for s in first["sessions"]} & {s["id"] for s in more["sessions"]}


async def test_bad_messages_and_the_course_page(stack: Any, learner: Any) -> None:
    who, course = learner
    http = stack.http
    session = await started_when_chat_knows(http, who, course)
    path = f"/api/chat/sessions/{session['id']}/messages"
    for content in ("", "   ", "x" * 4_001):
        refused = await http.post(path, json={"content": content}, headers=who)
        assert refused.status_code == 422, content[:10]
        assert refused.headers["content-type"].startswith("application/problem+json")
    page = (await http.get(f"/api/learner/course/{course}/progress", headers=who)).json()
    assert page["unavailable"] == {} and page["conversations"]
    assert all(c["courseId"] == course for c in page["conversations"])


async def test_too_many_questions_a_minute_are_refused_with_retry_after(stack: Any) -> None:
    teacher = await stack.token("instructor")
    course = (await stack.http.post("/api/instructor/courses", json=COURSE, headers=teacher)).json()["id"]
    await stack.http.post(f"/api/instructor/courses/{course}/publish", headers=teacher)
    who = await stack.token("student")
    await stack.http.post(f"/api/courses/{course}/enroll", headers=who)
    session = await started_when_chat_knows(stack.http, who, course)
    path = f"/api/chat/sessions/{session['id']}/messages"
    statuses = []
    for n in range(31):
        answer = await stack.http.post(path, json={"content": f"question {n}"}, headers=who)
        statuses.append(answer.status_code)
    assert statuses == [200] * 30 + [429]
    assert int(answer.headers["Retry-After"]) >= 1
    stored = (await stack.http.get(path, headers=who)).json()
    assert len(stored["messages"]) == 60  # every accepted question with its reply, nothing lost

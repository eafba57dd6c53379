"""Object-level authorization through the gateway: every instructor and learner route, asked
about someone else's object, answers exactly as for an object that does not exist (404), so
ids cannot be probed; a route for another role answers the same.

A conversation with the assistant is its learner's alone: other learners, the course's own
instructor and strangers are refused alike. The achievements routes name no object of
anyone's (each answers about the caller; a course leaderboard shows any course's top
learners by display name, as a public board does). The routes are
:mod:`learnstream.devstack.bola`'s, which the fault suite's matrix asks too.
"""

from __future__ import annotations

import asyncio
from typing import Any
from uuid import uuid4

import pytest

from learnstream.devstack.bola import ABOUT_THE_STUDENT, Call, authoring, chatting, learning, teaching

pytestmark = pytest.mark.integration

COURSE = {
    "title": "Private course",
    "description": "Owned by one instructor",
    "category": "security",
    "difficulty": "advanced",
    "sections": [
        {
            "title": "Only",
            "lessons": [
                {"title": "Video", "contentType": "video", "durationSeconds": 120},
                {
                    "title": "Quiz",
                    "contentType": "quiz",
                    "durationSeconds": 60,
                    "quiz": {
                        "passingScore": 50,
                        "questions": [{"text": "1 + 1?", "options": ["1", "2"], "correctIndex": 1}],
                    },
                },
            ],
        }
    ],
}


async def a_conversation(stack: Any, learner: dict[str, str], course: str) -> tuple[str, str]:
    """A conversation of ``learner`` with one question answered; its id and the reply's."""
    for _ in range(300):  # until chat has the enrollment from the bus
        started = await stack.http.post("/api/chat/sessions", json={"courseId": course}, headers=learner)
        if started.status_code == 201:
            break
        await asyncio.sleep(0.1)
    assert started.status_code == 201, started.text
    session = started.json()["id"]
    asked = await stack.http.post(
        f"/api/chat/sessions/{session}/messages", json={"content": "What is in the video?"}, headers=learner
    )
    assert asked.status_code == 200, asked.text
    return session, asked.json()["reply"]["id"]


async def answer(stack: Any, call: Call, who: dict[str, str]) -> tuple[int, str]:
    response = await stack.http.request(call.method, call.path, json=call.body, headers=who)
    return response.status_code, response.headers.get("content-type", "")


async def test_nobody_reaches_an_object_that_is_not_theirs(stack: Any) -> None:
    owner = await stack.token("instructor")
    other = await stack.token("instructor")
    enrolled = await stack.token("student")
    stranger = await stack.token("student")
    admin = await stack.token("admin")
    created = await stack.http.post("/api/instructor/courses", json=COURSE, headers=owner)
    assert created.status_code == 201, created.text
    course = created.json()
    assert (
        await stack.http.post(f"/api/instructor/courses/{course['id']}/publish", headers=owner)
    ).status_code == 200
    assert (await stack.http.post(f"/api/courses/{course['id']}/enroll", headers=enrolled)).status_code == 201
    me = (await stack.http.get("/api/me", headers=enrolled)).json()["id"]
    lessons = course["sections"][0]["lessons"]
    quiz_id = lessons[1]["quiz"]["id"]

    mismatches: list[str] = []

    def expect(label: str, got: tuple[int, str], status: int = 404) -> None:
        if got[0] != status or not got[1].startswith("application/problem+json"):
            mismatches.append(f"{label}: {got[0]} {got[1]}")

    # another instructor, a learner of the course and a stranger, on the owner's course
    for call in teaching(course["id"], me) + authoring(course["id"], COURSE):
        for name, who in (
            ("other instructor", other),
            ("enrolled learner", enrolled),
            ("stranger", stranger),
        ):
            expect(f"{name} {call.method} {call.path}", await answer(stack, call, who))
    # an unknown course answers the same as a foreign one
    for call in teaching(str(uuid4()), me) + authoring(str(uuid4()), COURSE):
        expect(f"unknown {call.method} {call.path}", await answer(stack, call, owner))
    # the owner's calls about someone who is not their student
    outsider = (await stack.http.get("/api/me", headers=stranger)).json()["id"]
    for call in teaching(course["id"], outsider)[ABOUT_THE_STUDENT]:
        expect(f"owner about a non-student {call.method} {call.path}", await answer(stack, call, owner))

    # a learner not enrolled, on the course's learner routes; unknown ids alike
    for call in learning(course["id"], lessons[0]["id"], quiz_id):
        expect(f"stranger {call.method} {call.path}", await answer(stack, call, stranger))
    for call in learning(str(uuid4()), str(uuid4()), str(uuid4())):
        expect(f"unknown {call.method} {call.path}", await answer(stack, call, enrolled))

    # a learner's conversation: nobody else reaches it, the course's instructor neither
    session, reply = await a_conversation(stack, enrolled, course["id"])
    for call in chatting(session, reply):
        for name, who in (("stranger", stranger), ("course owner", owner), ("admin", admin)):
            expect(f"{name} {call.method} {call.path}", await answer(stack, call, who))
    for call in chatting(str(uuid4()), str(uuid4())):
        expect(f"unknown {call.method} {call.path}", await answer(stack, call, enrolled))
    start = Call("POST", "/api/chat/sessions", {"courseId": course["id"]})
    expect("stranger starts a conversation", await answer(stack, start, stranger))
    for listing in ("/api/chat/sessions", f"/api/chat/search?query=video&courseId={course['id']}"):
        found = (await stack.http.get(listing, headers=stranger)).json()
        assert session not in {s["id"] for s in found["sessions"]}, listing

    # admin routes are for admins only
    for who in (owner, enrolled):
        expect("non-admin overview", await answer(stack, Call("GET", "/api/admin/analytics/overview"), who))
    assert (await answer(stack, Call("GET", "/api/admin/analytics/overview"), admin))[0] == 200

    assert not mismatches, "\n".join(mismatches)

    # and the owner does reach all of it
    for call in teaching(course["id"], me):
        status, _ = await answer(stack, call, owner)
        assert status in (200, 201), f"owner {call.method} {call.path}: {status}"
    # and the learner all of their conversation
    for call in chatting(session, reply):
        status, _ = await answer(stack, call, enrolled)
        assert status in (200, 204), f"learner {call.method} {call.path}: {status}"

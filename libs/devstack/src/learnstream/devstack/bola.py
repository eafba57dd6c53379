"""The gateway's routes about one object each, for the object-level authorization tests
(``tests/integration/test_gateway_bola.py`` against services in one process, and the
fault suite's matrix against the supervised stack): asked by someone the object is not
theirs, each must answer as for an id that does not exist."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Call:
    method: str
    path: str
    body: dict[str, Any] | None = None


def teaching(course: str, student: str) -> list[Call]:
    """What a course's instructor reads and writes about it and one of its students (its
    owner gets 2xx from each; the 7th and 8th are about the student)."""
    base = f"/api/instructor/courses/{course}"
    return [
        Call("GET", f"{base}/analytics"),
        Call("GET", f"{base}/lessons/analytics"),
        Call("GET", f"{base}/videos/analytics"),
        Call("GET", f"{base}/quizzes/analytics"),
        Call("GET", f"{base}/students"),
        Call("GET", f"{base}/students/at-risk"),
        Call("GET", f"{base}/students/{student}"),
        Call("GET", f"{base}/students/{student}/notes"),
        Call("GET", f"{base}/ai-analytics"),
        Call("GET", f"{base}/dashboard"),
        Call("POST", f"/api/instructor/students/{student}/notes", {"courseId": course, "note": "probe"}),
    ]


ABOUT_THE_STUDENT = slice(6, 8)
"""The calls of :func:`teaching` about the student rather than the course."""


def authoring(course: str, outline: dict[str, Any]) -> list[Call]:
    """What changes a course, or takes all of it away: ``outline`` replaces it."""
    base = f"/api/instructor/courses/{course}"
    return [
        Call("POST", f"{base}/export", {"format": "csv"}),
        Call("PUT", base, outline),
        Call("POST", f"{base}/publish"),
        Call("POST", f"{base}/archive"),
    ]


def learning(course: str, lesson: str, quiz: str) -> list[Call]:
    """A learner's routes about a course they are enrolled in."""
    return [
        Call("GET", f"/api/learner/course/{course}/progress"),
        Call(
            "POST",
            "/api/learner/track-lesson",
            {"courseId": course, "lessonId": lesson, "viewId": str(uuid.uuid4()), "timeSpentSeconds": 5},
        ),
        Call("POST", f"/api/learner/quizzes/{quiz}/attempts", {"answers": [1]}),
        Call("DELETE", f"/api/courses/{course}/enroll"),
        Call("GET", f"/api/learner/courses/{course}/certificate"),
    ]


def chatting(session: str, message: str) -> list[Call]:
    """A conversation's routes (and one of its replies'); the last deletes it."""
    return [
        Call("GET", f"/api/chat/sessions/{session}/messages"),
        Call("POST", f"/api/chat/sessions/{session}/messages", {"content": "whose is this?"}),
        Call("PATCH", f"/api/chat/sessions/{session}", {"title": "mine now"}),
        Call("POST", f"/api/chat/messages/{message}/rating", {"helpful": False}),
        Call("DELETE", f"/api/chat/sessions/{session}"),
    ]

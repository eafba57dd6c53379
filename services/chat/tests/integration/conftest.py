"""The chat service in-process against the real PostgreSQL and broker, fed the catalog,
progress and identity events other contexts would publish; and a real OpenAI-compatible
server (llm-katan's echo backend) for the assistant."""

from __future__ import annotations

import asyncio
import contextlib
import json
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import httpx
import pytest
from fastapi import FastAPI

from learnstream.chat.bootstrap import build
from learnstream.chat.config import Settings
from learnstream.devstack.servers import free_port, port_is_open
from learnstream.devstack.testing import Infra, publish, running
from learnstream.events import DomainEvent
from learnstream.events.catalog import CourseCreated, CoursePublished, LessonContentChanged
from learnstream.events.identity import UserRegistered
from learnstream.events.progress import EnrollmentCreated
from learnstream.runtime.settings import DEV_SERVICE_TOKEN

LESSONS = {
    "Loops": (
        "A for loop repeats a block once for every item of a sequence. range(n) counts from 0 up to "
        "n - 1, so range(5) gives 0, 1, 2, 3 and 4 and never 5.\n\n"
        "A while loop repeats as long as its condition is true; break leaves a loop early."
    ),
    "Lists": "A list keeps items in order. Append adds an item at the end; len tells how many there are.",
}


@dataclass
class Course:
    id: UUID
    instructor: UUID
    lessons: dict[str, UUID]


@dataclass
class ChatApi:
    http: httpx.AsyncClient
    app: FastAPI
    infra: Infra

    async def call(self, method: str, path: str, actor: tuple[UUID, str], **kwargs: Any) -> httpx.Response:
        user, role = actor
        headers = {
            "X-Service-Token": DEV_SERVICE_TOKEN,
            "X-Actor-Id": str(user),
            "X-Actor-Role": role,
            **kwargs.pop("headers", {}),
        }
        return await self.http.request(method, path, headers=headers, **kwargs)

    async def ask_streamed(
        self, session_id: str, actor: tuple[UUID, str], content: str
    ) -> list[tuple[str, dict[str, Any]]]:
        """Ask with ``Accept: text/event-stream``; the server-sent events, as (event, data)."""
        user, role = actor
        headers = {
            "X-Service-Token": DEV_SERVICE_TOKEN,
            "X-Actor-Id": str(user),
            "X-Actor-Role": role,
            "Accept": "text/event-stream",
        }
        path = f"/api/chat/sessions/{session_id}/messages"
        async with self.http.stream("POST", path, json={"content": content}, headers=headers) as stream:
            assert stream.status_code == 200, await stream.aread()
            assert stream.headers["content-type"].startswith("text/event-stream")
            raw = "".join([chunk async for chunk in stream.aiter_text()])
        return parse_server_sent(raw)

    async def publish(self, *events: DomainEvent) -> None:
        await publish(self.infra, *events)

    async def course(self, title: str = "Python 101") -> Course:
        """A published course with two lessons of text, known to chat."""
        course_id, instructor = uuid4(), uuid4()
        lessons = {name: uuid4() for name in LESSONS}
        summary = {"course_id": course_id, "instructor_id": instructor, "title": title}
        summary |= {"category": "programming", "difficulty": "beginner"}
        await self.publish(
            CourseCreated(**summary),
            CoursePublished(**summary),
            *(
                LessonContentChanged(course_id=course_id, lesson_id=lessons[name], title=name, text=body)
                for name, body in LESSONS.items()
            ),
        )
        return Course(course_id, instructor, lessons)

    async def learner(self, course: Course | None = None, timezone: str = "UTC") -> tuple[UUID, str]:
        """A learner (registered in ``timezone``), enrolled in ``course``; waits until chat knows."""
        learner = uuid4()
        events: list[DomainEvent] = [
            UserRegistered(user_id=learner, role="student", display_name="Ada", timezone=timezone)
        ]
        if course:
            events.append(
                EnrollmentCreated(
                    learner_id=learner,
                    enrollment_id=uuid4(),
                    course_id=course.id,
                    enrolled_at=events[0].occurred_at,
                    instructor_id=course.instructor,
                )
            )
        await self.publish(*events)
        if course:
            await self.wait_until_enrolled((learner, "student"), course)
        return learner, "student"

    async def wait_until_enrolled(
        self, learner: tuple[UUID, str], course: Course, timeout: float = 30
    ) -> None:
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            started = await self.call(
                "POST", "/api/chat/sessions", learner, json={"courseId": str(course.id)}
            )
            if started.status_code == 201:
                await self.call("DELETE", f"/api/chat/sessions/{started.json()['id']}", learner)
                return
            assert asyncio.get_running_loop().time() < deadline, started.text
            await asyncio.sleep(0.1)


def parse_server_sent(raw: str) -> list[tuple[str, dict[str, Any]]]:
    events = []
    for block in raw.strip().split("\n\n"):
        fields = dict(line.split(": ", 1) for line in block.split("\n"))
        events.append((fields["event"], json.loads(fields["data"])))
    return events


@contextlib.asynccontextmanager
async def chat_service(infra: Infra, **settings: Any) -> AsyncIterator[ChatApi]:
    app = build(
        Settings(
            env="test",
            service_name=f"chat-{uuid4().hex[:8]}",
            database_url=await infra.new_database("chat"),
            kafka_bootstrap_servers=infra.kafka_bootstrap_servers,
            outbox_poll_interval_seconds=0.05,
            **settings,
        )
    )
    async with running(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://chat", timeout=30) as http:
            yield ChatApi(http, app, infra)


@pytest.fixture(scope="module")
async def chat(infra: Infra) -> AsyncIterator[ChatApi]:
    """The chat service with the offline course-notes assistant (the embedded default)."""
    async with chat_service(infra, chat_messages_per_minute=5) as api:
        yield api


@pytest.fixture(scope="session")
def llm_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real OpenAI-compatible HTTP server: llm-katan with its echo backend; its base URL."""
    port = free_port()
    log = tmp_path_factory.mktemp("llm") / "llm-katan.log"
    katan = Path(sys.executable).with_name("llm-katan")
    with log.open("wb") as out:
        process = subprocess.Popen(
            [
                str(katan),
                "--model",
                "echo-model",
                "--backend",
                "echo",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        for _ in range(300):
            if port_is_open("127.0.0.1", port):
                break
            assert process.poll() is None, log.read_text()
            time.sleep(0.1)
        else:
            raise AssertionError(f"llm-katan did not start:\n{log.read_text()}")
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        process.terminate()
        process.wait(timeout=10)

"""The fault suite's platform: the embedded stack as ``make run`` starts it (supervised, in a
temporary directory, ports shifted by 4,000), driven through the public API, broken with
real signals, and counted where each context keeps its effects.

What was sent is what progress accepted: its event store is the source of every progress
event. What was counted is each consumer's own record of the effect: analytics' ClickHouse
(through the analysts' read-only endpoint, ``FINAL`` as the reports read it), achievements'
lessons and courses, chat's enrollments, exports' certificates. Every fault adds a line to
the table printed at the end of the run (``make test-faults``).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import psutil
import pytest
from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition

from learnstream.devstack.harness import EmbeddedStack
from learnstream.devstack.supervisor import ANALYST_PORT, KAFKA_PORT, POSTGRES_PORT
from learnstream.events import KafkaRecord, topic_name

OFFSET = int(os.environ.get("LEARNSTREAM_FAULTS_PORT_OFFSET", "4000"))
"""Ports of the suite's stack: the usual ones plus 4,000 (another value runs two suites at once)."""
KAFKA = f"127.0.0.1:{KAFKA_PORT + OFFSET}"
STACK_ENV = {
    # the suite's few users send far more than a person would
    "LEARNSTREAM_RATE_LIMIT_READS_PER_MINUTE": "1000000",
    "LEARNSTREAM_RATE_LIMIT_TRACKING_PER_MINUTE": "1000000",
    "LEARNSTREAM_RATE_LIMIT_AUTH_PER_MINUTE": "1000000",
}
CONSUMERS = ("analytics", "achievements", "chat", "exports")
PROGRESS_TYPES = ("EnrollmentCreated", "LessonCompleted", "LessonTimeTracked", "CourseCompleted")
LESSONS = 4
SETTLE_SECONDS = 180.0

REPORT: list[tuple[str, str, str]] = []
"""(fault, what was sent, what was counted): the table printed at the end."""


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not REPORT:
        return
    terminalreporter.section("faults: what was sent and what was counted")
    for fault, sent, counted in REPORT:
        terminalreporter.write_line(f"{fault}\n    sent:    {sent}\n    counted: {counted}")


async def read_topics(topics: Sequence[str] | None = None) -> list[tuple[str, ConsumerRecord[bytes, bytes]]]:
    """Every record of ``topics`` (every Learnstream topic when None) from its first offset,
    with its topic, as the broker holds them. Read to an empty fetch, not to the end offsets:
    Tansu under-reports the end after a batch of several records (learnstream.runtime.dlq)."""
    consumer = AIOKafkaConsumer(bootstrap_servers=KAFKA, enable_auto_commit=False)
    await consumer.start()
    try:
        existing = await consumer.topics()
        wanted = (
            list(topics)
            if topics is not None
            else sorted(t for t in existing if t.startswith("learnstream."))
        )
        partitions = [
            TopicPartition(t, p) for t in wanted for p in sorted(consumer.partitions_for_topic(t) or ())
        ]
        consumer.assign(partitions)
        ends = await consumer.end_offsets(partitions)
        for tp in partitions:
            consumer.seek(tp, 0)
        found: list[tuple[str, ConsumerRecord[bytes, bytes]]] = []
        while True:
            batches = await consumer.getmany(*partitions, timeout_ms=500)
            for tp, records in batches.items():
                found += [(tp.topic, record) for record in records]
            if not batches and all([await consumer.position(tp) >= ends[tp] for tp in partitions]):
                return found
    finally:
        await consumer.stop()


@pytest.fixture(scope="session")
def stack() -> Iterator[EmbeddedStack]:
    with (
        tempfile.TemporaryDirectory(prefix="learnstream-faults-") as tmp,
        EmbeddedStack(Path(tmp) / "data", OFFSET, STACK_ENV) as running,
    ):
        yield running


@dataclass
class Course:
    id: str
    lessons: list[str]
    instructor: str


@dataclass
class Counts:
    sent: dict[str, int]
    analytics: dict[str, int]
    achievements: dict[str, int]
    chat: dict[str, int]
    exports: dict[str, int]

    def expected(self) -> dict[str, dict[str, int]]:
        """What each consumer must hold when nothing was lost and nothing counted twice."""
        sent = self.sent
        return {
            "analytics": {name: sent.get(name, 0) for name in PROGRESS_TYPES},
            "achievements": {
                "enrolled": sent.get("EnrollmentCreated", 0),
                "lessons": sent.get("LessonCompleted", 0),
                "completed": sent.get("CourseCompleted", 0),
            },
            "chat": {"enrolled": sent.get("EnrollmentCreated", 0)},
            "exports": {"certificates": sent.get("CourseCompleted", 0)},
        }

    def counted(self) -> dict[str, dict[str, int]]:
        return {
            "analytics": self.analytics,
            "achievements": self.achievements,
            "chat": self.chat,
            "exports": self.exports,
        }

    def exact(self) -> bool:
        return self.counted() == self.expected()


@dataclass
class Platform:
    """The running stack as a client, an operator and an auditor see it."""

    stack: EmbeddedStack
    http: httpx.AsyncClient
    tokens: dict[str, str] = field(default_factory=dict)

    # --- a client ---------------------------------------------------------------------------

    async def token(self, role: str, name: str | None = None) -> str:
        email = f"{name or role}-{uuid.uuid4().hex[:10]}@faults.test"
        deadline = time.monotonic() + 60
        while True:  # 503 while a store is down: a client tries again
            answer = await self.http.post("/api/auth/dev-token", json={"email": email, "role": role})
            if answer.status_code != 503 or time.monotonic() > deadline:
                answer.raise_for_status()
                return str(answer.json()["accessToken"])
            await asyncio.sleep(0.5)

    async def call(self, method: str, path: str, token: str, **kwargs: Any) -> httpx.Response:
        """A request, retried while the gateway says a context is briefly unavailable (503)."""
        deadline = time.monotonic() + 60
        while True:
            answer = await self.http.request(
                method, path, headers={"Authorization": f"Bearer {token}"}, **kwargs
            )
            if answer.status_code != 503 or time.monotonic() > deadline:
                return answer
            await asyncio.sleep(0.5)

    async def course(self) -> Course:
        instructor = await self.token("instructor")
        lessons = [
            {"title": f"Lesson {i + 1}", "contentType": "article", "durationSeconds": 60, "body": "Text."}
            for i in range(LESSONS)
        ]
        body = {
            "title": f"Faults {uuid.uuid4().hex[:6]}",
            "description": "A course the fault suite breaks things under",
            "category": "testing",
            "difficulty": "beginner",
            "sections": [{"title": "All", "lessons": lessons}],
        }
        made = (await self.call("POST", "/api/instructor/courses", instructor, json=body)).json()
        published = await self.call("POST", f"/api/instructor/courses/{made['id']}/publish", instructor)
        assert published.status_code == 200, published.text
        ids = [lesson["id"] for section in made["sections"] for lesson in section["lessons"]]
        return Course(made["id"], ids, instructor)

    async def learner_path(self, course: Course, on_request: Callable[[], Awaitable[None]]) -> None:
        """A new learner enrolls and completes every lesson (the last completes the course)."""
        token = await self.token("student")
        answer = await self.call("POST", f"/api/courses/{course.id}/enroll", token)
        assert answer.status_code in (200, 201, 409), answer.text  # 409: a retry after a crash
        await on_request()
        for lesson in course.lessons:
            body = {
                "courseId": course.id,
                "lessonId": lesson,
                "viewId": str(uuid.uuid4()),
                "timeSpentSeconds": 90,
                "completed": True,
            }
            answer = await self.call("POST", "/api/learner/track-lesson", token, json=body)
            assert answer.status_code == 200, answer.text
            await on_request()

    async def stream(
        self,
        course: Course,
        learners: int,
        *,
        clients: int = 6,
        at: float = 0.4,
        fault: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        """``learners`` learners' paths, ``clients`` at a time; ``fault`` once the share ``at``
        of the requests has been answered."""
        total = learners * (1 + LESSONS)
        done = 0
        struck = asyncio.Event()

        async def counted() -> None:
            nonlocal done
            done += 1
            if fault is not None and not struck.is_set() and done >= total * at:
                struck.set()
                await fault()

        gate = asyncio.Semaphore(clients)

        async def one() -> None:
            async with gate:
                await self.learner_path(course, counted)

        await asyncio.gather(*(one() for _ in range(learners)))
        assert fault is None or struck.is_set()

    # --- an operator --------------------------------------------------------------------------

    def service(self, name: str) -> psutil.Process:
        assert self.stack.process is not None
        supervisor = psutil.Process(self.stack.process.pid)
        found = []
        for child in supervisor.children():
            with contextlib.suppress(psutil.Error):  # e.g. a killed one not yet reaped
                if f"learnstream.{name}" in child.cmdline() and child.status() != psutil.STATUS_ZOMBIE:
                    found.append(child)
        if len(found) != 1:
            raise LookupError(f"{len(found)} running processes of {name}")
        return found[0]

    def server(self, name: str) -> psutil.Process:
        """An embedded server the supervisor runs: ``kafka`` (Tansu, topics in memory) or
        ``postgres`` (the postmaster)."""
        assert self.stack.process is not None
        supervisor = psutil.Process(self.stack.process.pid)
        for child in supervisor.children():
            with contextlib.suppress(psutil.Error):
                arguments = child.cmdline()
                if child.status() == psutil.STATUS_ZOMBIE or not arguments:
                    continue
                if (name == "kafka" and "memory://tansu/" in arguments) or (
                    name == "postgres" and arguments[0].endswith("/postgres") and "-D" in arguments
                ):
                    return child
        raise LookupError(f"no {name} running")

    async def server_restarted(self, name: str, old_pid: int, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with contextlib.suppress(LookupError):
                if self.server(name).pid != old_pid:
                    return
            await asyncio.sleep(0.5)
        raise AssertionError(f"{name} was not started again within {timeout:.0f} s")

    def kill(self, name: str) -> int:
        """``kill -9`` of a service; its pid."""
        process = self.service(name)
        process.kill()
        return int(process.pid)

    async def restarted(self, name: str, old_pid: int, timeout: float = 90.0) -> None:
        """Until the supervisor has started the service again and it answers /health."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if self.service(name).pid != old_pid:
                    health = await self.http.get(f"{self.stack.url(name)}/health")
                    if health.status_code == 200:
                        return
            except (LookupError, psutil.Error, httpx.HTTPError):
                pass
            await asyncio.sleep(0.5)
        raise AssertionError(f"{name} was not restarted within {timeout:.0f} s")

    # --- an auditor ---------------------------------------------------------------------------

    async def pg(self, service: str) -> asyncpg.Connection:
        port = POSTGRES_PORT + OFFSET
        return await asyncpg.connect(f"postgresql://postgres@127.0.0.1:{port}/learnstream_{service}")

    async def clickhouse(self, sql: str, **parameters: str) -> list[list[str]]:
        """Rows of ``sql`` (``{name:Type}`` parameters) through the analysts' endpoint."""
        answer = await self.http.post(
            f"http://127.0.0.1:{ANALYST_PORT + OFFSET}/",
            content=sql.encode(),
            params={f"param_{name}": value for name, value in parameters.items()},
        )
        answer.raise_for_status()
        return [line.split("\t") for line in answer.text.splitlines()]

    async def records_about(self, course: Course) -> list[KafkaRecord]:
        """Every record about the course on the progress and catalog topics, as the broker
        holds them (a redelivered event is there twice)."""
        return [
            KafkaRecord(topic, r.key or b"", r.value or b"", list(r.headers))
            for topic, r in await read_topics([topic_name("progress"), topic_name("catalog")])
            if course.id.encode() in (r.value or b"")
        ]

    async def _rows(self, service: str, sql: str, *args: Any) -> list[asyncpg.Record]:
        conn = await self.pg(service)
        try:
            return list(await conn.fetch(sql, *args))
        finally:
            await conn.close()

    async def stored_about(self, course: Course) -> int:
        """How many events about the course progress's event store holds (every type)."""
        [row] = await self._rows(
            "progress", "SELECT count(*) FROM event_store WHERE data->>'course_id' = $1", course.id
        )
        return int(row[0])

    async def counts(self, course: Course) -> Counts:
        cid = uuid.UUID(course.id)
        sent = await self._rows(
            "progress",
            "SELECT split_part(event_type, '.', 3), count(*) FROM event_store"
            " WHERE data->>'course_id' = $1 GROUP BY 1",
            course.id,
        )
        analytics = await self.clickhouse(
            "SELECT name, count() FROM learnstream.activity FINAL WHERE course_id = {c:UUID} GROUP BY name",
            c=course.id,
        )
        [achieved] = await self._rows(
            "achievements",
            "SELECT count(*) FILTER (WHERE enrolled_at IS NOT NULL),"
            " count(*) FILTER (WHERE completed_at IS NOT NULL),"
            " (SELECT count(*) FROM learner_lessons WHERE course_id = $1)"
            " FROM learner_courses WHERE course_id = $1",
            cid,
        )
        [chat] = await self._rows(
            "chat", "SELECT count(*) FROM chat_enrollments WHERE course_id = $1 AND active", cid
        )
        [exports] = await self._rows("exports", "SELECT count(*) FROM certificates WHERE course_id = $1", cid)
        in_analytics = {name: int(count) for name, count in analytics}
        return Counts(
            sent={name: int(count) for name, count in sent if name in PROGRESS_TYPES},
            analytics={name: in_analytics.get(name, 0) for name in PROGRESS_TYPES},
            achievements={"enrolled": achieved[0], "lessons": achieved[2], "completed": achieved[1]},
            chat={"enrolled": chat[0]},
            exports={"certificates": exports[0]},
        )

    async def settled(self, course: Course, timeout: float = SETTLE_SECONDS) -> Counts:
        """The counts once every consumer holds exactly what was sent (or, at the timeout, as
        they are: the caller's assertion shows the difference)."""
        deadline = time.monotonic() + timeout
        while True:
            counts = await self.counts(course)
            if counts.exact() or time.monotonic() > deadline:
                return counts
            await asyncio.sleep(1.0)


@pytest.fixture(scope="session")
async def platform(stack: EmbeddedStack) -> AsyncIterator[Platform]:
    async with httpx.AsyncClient(base_url=stack.gateway, timeout=60) as http:
        yield Platform(stack, http)


def report(fault: str, counts: Counts) -> None:
    REPORT.append((fault, str(counts.sent), str(counts.counted())))
    print(f"\n{fault}\n  sent:    {counts.sent}\n  counted: {counts.counted()}")


def env_flag(name: str) -> bool:
    return os.environ.get(name, "") not in ("", "0")

"""Demo data: a generated workload replayed through the gateway's public API.

``make run`` seeds a fresh stack with it so that every page of the web app has something to
show (``python -m learnstream.devstack.demo`` seeds a running stack by hand). The history
comes from :mod:`learnstream.devstack.workload`, the generator the analytics tests and the
benchmarks use: courses with video, article and quiz lessons, and learners following
personas (finishers, drop-outs, learners who went quiet, got stuck, fail a quiz, keep asking
the assistant…) over the last four weeks.

Unlike the tests, which publish the generated events on the bus, this replays each learner's
history as the calls a client would make, so every context (progress, chat, achievements,
analytics, exports) holds it as if it had happened: accounts through the dev token,
enrollments with their past moment (dev mode only), lesson views as offline tracking batches
(``occurredAt``), quiz attempts with the answers the learner got right or wrong, assistant
conversations, questions and ratings at their past moments (dev mode only again). The courses get the final
outline of the generated ones; cancellations, outline changes and erasures are left out.

The demo users' emails are fixed (``demo-learner@learnstream.dev``, ``demo-instructor@…``,
``demo-admin@…``): the sign-in page's demo buttons log in as them. The demo learner is the
generated learner with the most activity; the demo instructor teaches the generated courses
of the first instructor.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

import aiohttp

from learnstream.devstack.workload import Course, Learner, Workload, generate
from learnstream.events import DomainEvent
from learnstream.events.chat import AssistantReplied, AssistantReplyRated, ChatMessageSent
from learnstream.events.progress import (
    EnrollmentCreated,
    LessonCompleted,
    LessonTimeTracked,
    QuizSubmitted,
    VideoProgressed,
)

DEMO_LEARNER = "demo-learner@learnstream.dev"
DEMO_INSTRUCTOR = "demo-instructor@learnstream.dev"
DEMO_ADMIN = "demo-admin@learnstream.dev"
WEEKS = 4
"""How far back the history goes: progress accepts offline moments up to 30 days old."""
BATCH = 500
"""Tracking reports per ``track-batch`` call (the API takes up to 1,000)."""
OPTIONS = 3
CHAT_PATIENCE = 120
"""Seconds to wait for chat to hear of a course and an enrollment before asking about it."""


class SeedError(RuntimeError):
    """The stack refused a call the seeding needs."""


@dataclass
class CourseMap:
    """A generated course as created through the API: its id and the ids of its parts."""

    course_id: str
    lessons: dict[UUID, str]
    content_types: dict[UUID, str]
    quizzes: dict[UUID, str]
    correct: dict[UUID, list[int]]
    """Generated quiz id → the correct option of each question, in order."""
    questions: dict[UUID, str] = field(default_factory=dict)
    """Generated question id → the id of the API's question."""


@dataclass
class Summary:
    """What the seeding made."""

    courses: int = 0
    learners: int = 0
    enrollments: int = 0
    reports: int = 0
    quiz_attempts: int = 0
    questions: int = 0
    seconds: float = 0.0
    rejected: list[str] = field(default_factory=list)


class Api:
    """The gateway, with a retry after a 429 (the seeding asks faster than a person)."""

    def __init__(self, http: aiohttp.ClientSession) -> None:
        self.http = http

    async def call(
        self,
        method: str,
        path: str,
        token: str | None = None,
        body: Any = None,
        ok: tuple[int, ...] = (200, 201),
    ) -> Any:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        for _ in range(20):
            async with self.http.request(method, path, json=body, headers=headers) as answer:
                if answer.status == 429:
                    await asyncio.sleep(float(answer.headers.get("Retry-After", "1")))
                    continue
                data = await answer.json(content_type=None) if answer.status != 204 else None
                if answer.status not in ok:
                    raise SeedError(f"{method} {path} answered {answer.status}: {data}")
                return data
        raise SeedError(f"{method} {path} was rate limited twenty times")

    async def sign_in(self, email: str, role: str, name: str, timezone: str | None = None) -> tuple[str, str]:
        """The user's token and id (created on first use), with their time zone set."""
        body = {"email": email, "role": role, "fullName": name}
        answer = await self.call("POST", "/api/auth/dev-token", body=body)
        token = answer["accessToken"]
        if timezone and answer["user"]["timezone"] != timezone:
            await self.call("PATCH", "/api/me", token, {"timezone": timezone})
        return token, answer["user"]["id"]


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _course_body(course: Course, rng: random.Random) -> tuple[dict[str, Any], dict[UUID, list[int]]]:
    correct: dict[UUID, list[int]] = {}
    sections = []
    for section in course.outline.sections:
        lessons = []
        for lesson in section.lessons:
            item: dict[str, Any] = {
                "title": lesson.title,
                "contentType": lesson.content_type,
                "durationSeconds": lesson.duration_seconds,
                "body": f"{lesson.title}. This lesson of {course.title} covers "
                f"{', '.join(course.topics[:3])} with worked examples and a short exercise.",
            }
            if lesson.quiz is not None:
                answers = [rng.randrange(OPTIONS) for _ in lesson.quiz.question_ids]
                correct[lesson.quiz.quiz_id] = answers
                item["quiz"] = {
                    "passingScore": lesson.quiz.passing_score,
                    "questions": [
                        {
                            "text": f"{lesson.title}: question {n + 1}",
                            "options": [f"Answer {chr(65 + k)}" for k in range(OPTIONS)],
                            "correctIndex": answer,
                        }
                        for n, answer in enumerate(answers)
                    ],
                }
            lessons.append(item)
        sections.append({"title": section.title, "lessons": lessons})
    body = {
        "title": course.renamed_to or course.title,
        "description": f"A course on {', '.join(course.topics)}.",
        "category": course.category,
        "difficulty": course.difficulty,
        "sections": sections,
    }
    return body, correct


async def create_course(api: Api, token: str, course: Course, rng: random.Random) -> CourseMap:
    body, correct = _course_body(course, rng)
    made = await api.call("POST", "/api/instructor/courses", token, body)
    await api.call("POST", f"/api/instructor/courses/{made['id']}/publish", token)
    lessons: dict[UUID, str] = {}
    types: dict[UUID, str] = {}
    quizzes: dict[UUID, str] = {}
    questions: dict[UUID, str] = {}
    made_lessons = [lesson for section in made["sections"] for lesson in section["lessons"]]
    for generated, created in zip(course.outline.lessons, made_lessons, strict=True):
        lessons[generated.lesson_id] = created["id"]
        types[generated.lesson_id] = generated.content_type
        if generated.quiz is not None:
            quizzes[generated.quiz.quiz_id] = created["quiz"]["id"]
            for question, made_question in zip(
                generated.quiz.question_ids, created["quiz"]["questions"], strict=True
            ):
                questions[question] = made_question["id"]
    return CourseMap(made["id"], lessons, types, quizzes, correct, questions)


class _LearnerReplay:
    """One learner's generated history, replayed in time order through the API."""

    def __init__(self, api: Api, token: str, courses: dict[UUID, CourseMap], summary: Summary) -> None:
        self.api = api
        self.token = token
        self.courses = courses
        self.summary = summary
        self.reports: list[dict[str, Any]] = []
        self.spent: dict[UUID, int] = defaultdict(int)
        self.last_view: dict[UUID, UUID] = {}
        self.enrolled: set[UUID] = set()
        self.chats: dict[UUID, str] = {}
        self.replies: dict[UUID, str] = {}
        """Generated question id → the id of the API's reply to it."""
        self.reply_of: dict[UUID, UUID] = {}
        """Generated reply id → generated question id."""

    async def run(self, events: list[DomainEvent]) -> None:
        for event in events:
            course_id: UUID | None = getattr(event, "course_id", None)
            course = self.courses.get(course_id) if course_id else None
            if course_id is None or course is None:
                continue
            if isinstance(event, EnrollmentCreated):
                if course_id in self.enrolled:
                    continue  # a return after a cancellation: the demo keeps them enrolled throughout
                await self.flush()
                await self.api.call(
                    "POST",
                    f"/api/courses/{course.course_id}/enroll",
                    self.token,
                    {"enrolledAt": _iso(event.occurred_at)},
                )
                self.enrolled.add(course_id)
                self.summary.enrollments += 1
            elif course_id not in self.enrolled:
                continue
            elif isinstance(event, LessonTimeTracked):
                self.spent[event.view_id] += event.seconds
                self.last_view[event.lesson_id] = event.view_id
                self._report(course, event.lesson_id, event.view_id, event.occurred_at)
            elif isinstance(event, VideoProgressed):
                self.last_view[event.lesson_id] = event.view_id
                self._report(
                    course,
                    event.lesson_id,
                    event.view_id,
                    event.occurred_at,
                    videoPositionSeconds=event.position_seconds,
                    videoDurationSeconds=event.duration_seconds,
                    watchedRanges=[[r.from_seconds, r.to_seconds] for r in event.watched_ranges],
                )
            elif isinstance(event, LessonCompleted) and course.content_types[event.lesson_id] == "article":
                view = self.last_view.get(event.lesson_id) or uuid4()
                self._report(course, event.lesson_id, view, event.occurred_at, completed=True)
            elif isinstance(event, QuizSubmitted):
                await self.flush()
                answers = [
                    right if result.correct else (right + 1) % OPTIONS
                    for result, right in zip(
                        event.question_results, course.correct[event.quiz_id], strict=False
                    )
                ]
                await self.api.call(
                    "POST",
                    f"/api/learner/quizzes/{course.quizzes[event.quiz_id]}/attempts",
                    self.token,
                    {"answers": answers, "occurredAt": _iso(event.occurred_at)},
                    ok=(201, 404, 409, 422),
                )
                self.summary.quiz_attempts += 1
            elif isinstance(event, ChatMessageSent):
                await self._ask(course, event)
            elif isinstance(event, AssistantReplied):
                self.reply_of[event.message_id] = event.reply_to_message_id
            elif isinstance(event, AssistantReplyRated):
                reply = self.replies.get(self.reply_of.get(event.message_id, uuid4()))
                if reply:
                    await self.api.call(
                        "POST",
                        f"/api/chat/messages/{reply}/rating",
                        self.token,
                        {"helpful": event.helpful, "ratedAt": _iso(event.occurred_at)},
                    )
        await self.flush()

    def _report(self, course: CourseMap, lesson_id: UUID, view_id: UUID, at: datetime, **extra: Any) -> None:
        self.reports.append(
            {
                "courseId": course.course_id,
                "lessonId": course.lessons[lesson_id],
                "viewId": str(view_id),
                "timeSpentSeconds": self.spent[view_id],
                "occurredAt": _iso(at),
                **extra,
            }
        )

    async def flush(self) -> None:
        while self.reports:
            batch, self.reports = self.reports[:BATCH], self.reports[BATCH:]
            answer = await self.api.call("POST", "/api/learner/track-batch", self.token, {"events": batch})
            self.summary.reports += len(batch)
            for result in answer["results"]:
                if result.get("reason") and len(self.summary.rejected) < 20:
                    self.summary.rejected.append(f"{result['reason']}: {result.get('message', '')}")

    async def _ask(self, course: CourseMap, event: ChatMessageSent) -> None:
        await self.flush()
        session = self.chats.get(event.session_id)
        if session is None:
            body: dict[str, Any] = {"courseId": course.course_id, "startedAt": _iso(event.occurred_at)}
            if event.lesson_id in course.lessons:
                body["lessonId"] = course.lessons[event.lesson_id]
            # chat learns of courses and enrollments from the bus: a few seconds after progress
            for _ in range(CHAT_PATIENCE):
                started = await self.api.call("POST", "/api/chat/sessions", self.token, body, ok=(201, 404))
                if "id" in started:
                    break
                await asyncio.sleep(1)
            else:
                raise SeedError(f"chat did not learn of course {course.course_id}: {started}")
            session = started["id"]
            self.chats[event.session_id] = session
        answer = await self.api.call(
            "POST",
            f"/api/chat/sessions/{session}/messages",
            self.token,
            {"content": event.text, "sentAt": _iso(event.occurred_at)},
        )
        if answer.get("reply", {}).get("id"):
            self.replies[event.message_id] = answer["reply"]["id"]
        self.summary.questions += 1


def _richest(workload: Workload, events: dict[UUID, list[DomainEvent]]) -> UUID:
    """The learner with the most courses and activity: the one the demo learner becomes."""
    learners = [learner for learner in workload.learners if learner.registered and learner.display_name]
    return max(learners, key=lambda learner: (len(learner.enrollments), len(events[learner.user_id]))).user_id


async def seed(
    base_url: str,
    *,
    learners: int = 300,
    seed_value: int = 7,
    progress: Callable[[int, int], None] | None = None,
) -> Summary:
    """Seed the stack behind ``base_url`` with ``learners`` generated learners; ``progress(done,
    total)`` is told after each learner."""
    started = time.monotonic()
    now = datetime.now(UTC) - timedelta(minutes=10)
    workload = generate(seed_value, learners=learners, courses=5, instructors=3, weeks=WEEKS, now=now)
    rng = random.Random(seed_value)  # noqa: S311 - demo answers, not secrets
    per_learner: dict[UUID, list[DomainEvent]] = defaultdict(list)
    for event in workload.events:
        learner_id = getattr(event, "learner_id", None)
        if learner_id is not None:
            per_learner[learner_id].append(event)
    demo_learner = _richest(workload, per_learner)
    summary = Summary()
    timeout = aiohttp.ClientTimeout(total=120)
    async with aiohttp.ClientSession(base_url=base_url, timeout=timeout) as http:
        api = Api(http)
        await api.sign_in(DEMO_ADMIN, "admin", "Demo Admin")
        teachers: dict[UUID, str] = {}
        for index, person in enumerate(workload.instructors):
            email = DEMO_INSTRUCTOR if index == 0 else f"instructor-{index}@demo.learnstream.dev"
            name = "Demo Instructor" if index == 0 else person.display_name
            teachers[person.user_id], _ = await api.sign_in(email, "instructor", name, person.timezone)
        courses: dict[UUID, CourseMap] = {}
        for course in workload.courses:
            courses[course.course_id] = await create_course(api, teachers[course.instructor_id], course, rng)
            summary.courses += 1

        limit = asyncio.Semaphore(12)
        done = 0

        async def replay(index: int, learner: Learner) -> None:
            nonlocal done
            async with limit:
                demo = learner.user_id == demo_learner
                email = DEMO_LEARNER if demo else f"learner-{index}@demo.learnstream.dev"
                name = "Demo Learner" if demo else (learner.display_name or f"Learner {index}")
                token, _ = await api.sign_in(email, "student", name, learner.timezone)
                await _LearnerReplay(api, token, courses, summary).run(per_learner[learner.user_id])
                summary.learners += 1
                done += 1
                if progress is not None:
                    progress(done, len(workload.learners))

        await asyncio.gather(*(replay(i, learner) for i, learner in enumerate(workload.learners)))
    summary.seconds = time.monotonic() - started
    return summary


def main() -> int:
    parser = argparse.ArgumentParser(
        prog="learnstream.devstack.demo", description="Seed a running stack with demo data."
    )
    parser.add_argument("--base-url", default="http://127.0.0.1:8000", help="the gateway")
    parser.add_argument("--learners", type=int, default=300, help="generated learners (default 300)")
    parser.add_argument("--seed", type=int, default=7, help="the generator's seed")
    args = parser.parse_args()

    def show(done: int, total: int) -> None:
        print(f"  {done}/{total} learners", end="\r", flush=True)

    summary = asyncio.run(seed(args.base_url, learners=args.learners, seed_value=args.seed, progress=show))
    print(
        f"seeded {summary.courses} courses, {summary.learners} learners, {summary.enrollments} enrollments, "
        f"{summary.reports} tracking reports, {summary.quiz_attempts} quiz attempts and "
        f"{summary.questions} assistant questions in {summary.seconds:.0f} s"
    )
    for reason in summary.rejected:
        print(f"  rejected: {reason}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

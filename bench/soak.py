"""``python -m bench.soak`` (``make soak``): a steady load for a long time, and the memory of
every process of the stack over it.

Starts the embedded stack in a temporary data directory (ports shifted by ``--port-offset``,
5000 by default, so neither a ``make run`` stack nor the benchmark's (+300) nor the fault
suite's (+4000) is disturbed) and seeds through the public API a modest catalog: two
instructors with four published courses of ten lessons (four videos, four articles, two
quizzes) and ``--learners`` learners enrolled in one to three of them. Then a process of its
own (``python -m bench.soak --drive``, aiohttp) sends what the learners' clients send through
the gateway, open loop: requests leave on a schedule (exponential gaps sized so that the
*events* they carry arrive at ``--rate`` a second), whether or not earlier ones have been
answered; a learner sends one request at a time, as a client does.

What a learner's client sends, in compressed time (a heartbeat is 15 s of lesson time):

- lesson views: cumulative ``timeSpentSeconds`` per ``viewId``; on a video also the position,
  the player's length and the stretch played since the last heartbeat, so a video completes
  once 95 % of it has been watched; an article's last report says ``completed``;
- a quiz lesson: a few heartbeats on the page, then an attempt
  (``POST /api/learner/quizzes/{id}/attempts``, three answers in four right on average,
  again until passed);
- web clients (60 % of learners) flush their heartbeats as ``track-batch`` of 4-8 items and
  send the report completing an article alone (``track-lesson``, for its progress answer);
- mobile clients (40 %) send everything in ``track-batch`` of 8-20 items with ``occurredAt``,
  one upload in twenty an offline session of 100-300 items;
- once every lesson of their courses is done, learners revisit lessons at random.

An *event* is one tracked item or one quiz attempt. Every item is counted as accepted,
rejected (a 4xx answer, or an item the batch answer rejects, by reason) or errored (a 5xx
answer, a timeout or a refused connection); requests the driver could not send because
``--max-in-flight`` were outstanding (or no learner was free) are counted as not sent. After
a 503 or 429 a learner waits the answer's ``Retry-After`` before its next request (its
failed events are not sent again). Tokens are renewed (dev token) before they are an hour old.

Every ``--sample-seconds`` it records, with psutil, the resident set (RSS), unique set (USS)
and proportional set (PSS) of every process of the stack, each server and service with its
children summed (PostgreSQL with its backends), and their CPU time. Every 5 s a probe
learner (a course of its own) reports through the gateway and ClickHouse is asked every
100 ms until it holds the row (freshness, end to end); beside it the analytics projection's
own lag figure (``GET /api/analytics/freshness``, service credential), which offline
reports' past ``occurredAt`` inflate. After the load it waits (at most
``min(600, max(60, --seconds))`` s) for that figure to fall under 2 s and records the memory
once more. At the end it prints, per process, RSS at the start (seeded, before the load),
after the warm-up, at the end and its maximum, its growth per hour (the least-squares slope
over the samples after the warm-up), USS at the end and its growth, PSS at the end and CPU
use; then the events sent, accepted, rejected and errored, the achieved rate and the
freshness, and writes every sample to ``--out`` (``bench/results/soak.json`` by default,
git-ignored; a ``.csv`` path gets the memory samples as rows).

The exit status is 1 when any event errored (5xx or connection) or the accepted rate fell
below 90 % of ``--rate``; 130 when interrupted (Ctrl-C stops the load and the stack and
prints what was measured so far). Not part of CI: see ``bench/README.md``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import csv
import functools
import json
import os
import platform
import random
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import httpx
import psutil

from bench.load import percentile
from bench.seeding import article_course, dev_token, published_course
from bench.stack import EmbeddedStack, json_of
from learnstream.devstack.supervisor import ANALYST_PORT
from learnstream.runtime.settings import DEV_SERVICE_TOKEN

RESULTS = Path(__file__).parent / "results"
REPO = Path(__file__).parent.parent
PORT_OFFSET = 5000
HEARTBEAT_SECONDS = 15
"""Lesson time one heartbeat reports (time is compressed: heartbeats leave at the load's pace)."""
COURSES = 4
OPTIONS = 3
QUESTIONS = 4
PASSING_SCORE = 75
TOKEN_RENEWAL_SECONDS = 45 * 60
"""Access tokens last an hour; a client asks for a new one before that."""
LAG_EVERY = 5.0
REPORT_EVERY = 1.0
"""How often the driver prints its counters."""
MIN_RATE_SHARE = 0.9
"""The accepted rate must be at least this share of the target."""
CAUGHT_UP_MS = 2_000
NAMES = {"redis-server": "redis"}
ORDER = (
    "supervisor",
    "postgres",
    "tansu",
    "redis",
    "progress",
    "chat",
    "achievements",
    "analytics",
    "exports",
    "gateway",
)
DRIVER = "load driver (not the stack)"


# --- the catalog and the learners ---------------------------------------------------------------


def _course_body(index: int, rng: random.Random) -> tuple[dict[str, Any], list[list[int]]]:
    """A course of two sections (video, article, video, article, quiz each) and its quizzes'
    correct options, in order."""
    correct: list[list[int]] = []
    sections = []
    for s in range(2):
        lessons: list[dict[str, Any]] = []
        for position, kind in enumerate(("video", "article", "video", "article", "quiz")):
            title = f"{s + 1}.{position + 1} {kind.title()}"
            lesson: dict[str, Any] = {"title": title, "contentType": kind}
            if kind == "video":
                lesson |= {"durationSeconds": rng.randrange(180, 481, 15), "body": "A video."}
            elif kind == "article":
                lesson |= {"durationSeconds": rng.randrange(120, 301, 15), "body": "Text."}
            else:
                answers = [rng.randrange(OPTIONS) for _ in range(QUESTIONS)]
                correct.append(answers)
                lesson |= {
                    "durationSeconds": 60,
                    "quiz": {
                        "passingScore": PASSING_SCORE,
                        "questions": [
                            {
                                "text": f"{title}: question {n + 1}",
                                "options": [f"Answer {chr(65 + k)}" for k in range(OPTIONS)],
                                "correctIndex": answer,
                            }
                            for n, answer in enumerate(answers)
                        ],
                    },
                }
            lessons.append(lesson)
        sections.append({"title": f"Part {s + 1}", "lessons": lessons})
    body = {
        "title": f"Soak course {index + 1}",
        "description": "Seeded by the soak test",
        "category": "soak",
        "difficulty": "beginner",
        "sections": sections,
    }
    return body, correct


async def seed(base: str, learners: int) -> dict[str, Any]:
    """Courses, learners and their enrollments through the gateway; what the driver needs."""
    rng = random.Random(5)
    run = uuid.uuid4().hex[:8]
    async with aiohttp.ClientSession(base_url=base, timeout=aiohttp.ClientTimeout(total=60)) as http:
        courses = []
        for index in range(COURSES):
            teacher = await dev_token(http, f"soak-teacher-{index % 2}-{run}@example.com", "instructor")
            headers = {"Authorization": f"Bearer {teacher}"}
            body, correct = _course_body(index, rng)
            async with http.post("/api/instructor/courses", json=body, headers=headers) as answer:
                made = await json_of(answer)
            async with http.post(f"/api/instructor/courses/{made['id']}/publish", headers=headers) as answer:
                await json_of(answer)
            outline = [lesson for section in made["sections"] for lesson in section["lessons"]]
            answers = iter(correct)
            courses.append(
                {
                    "id": made["id"],
                    "lessons": [
                        {
                            "id": lesson["id"],
                            "type": lesson["contentType"],
                            "seconds": lesson["durationSeconds"],
                            **(
                                {"quiz": lesson["quiz"]["id"], "correct": next(answers)}
                                if lesson["contentType"] == "quiz"
                                else {}
                            ),
                        }
                        for lesson in outline
                    ],
                }
            )
        limit = asyncio.Semaphore(16)
        plans = [(rng.sample(range(COURSES), rng.randint(1, 3)), rng.random() < 0.6) for _ in range(learners)]

        async def learner(index: int) -> dict[str, Any]:
            enrolled, web = plans[index]
            email = f"soak-learner-{index}-{run}@example.com"
            async with limit:
                token = await dev_token(http, email, "student")
                issued = time.time()
                headers = {"Authorization": f"Bearer {token}"}
                for course in enrolled:
                    async with http.post(
                        f"/api/courses/{courses[course]['id']}/enroll", headers=headers
                    ) as answer:
                        await json_of(answer)
            return {
                "email": email,
                "token": token,
                "issued": issued,
                "courses": enrolled,
                "client": "web" if web else "mobile",
            }

        people = await asyncio.gather(*(learner(i) for i in range(learners)))
        # the freshness probe: a learner of a course of its own, so counting its rows is cheap
        email = f"soak-probe-{run}@example.com"
        token = await dev_token(http, email, "student")
        teacher = await dev_token(http, f"soak-teacher-0-{run}@example.com", "instructor")
        probe_course = await published_course(http, teacher, article_course("Soak probe", lesson_seconds=600))
        headers = {"Authorization": f"Bearer {token}"}
        async with http.post(f"/api/courses/{probe_course['id']}/enroll", headers=headers) as answer:
            await json_of(answer)
    probe = {
        "email": email,
        "token": token,
        "issued": time.time(),
        "course": probe_course["id"],
        "lesson": probe_course["sections"][0]["lessons"][0]["id"],
    }
    return {"courses": courses, "learners": list(people), "probe": probe}


# --- what a learner's client sends --------------------------------------------------------------


@dataclass
class Item:
    """One tracking report (an event); ``alone``: a web client sends it by itself."""

    body: dict[str, Any]
    alone: bool = False


@dataclass
class Attempt:
    quiz: str
    answers: list[int]


@dataclass
class Request:
    kind: str
    """``batch``, ``single`` or ``quiz``."""
    path: str
    body: Any
    events: int


class Client:
    """One learner's client: walks through the learner's courses lesson by lesson and cuts
    what it would report into requests."""

    def __init__(self, learner: dict[str, Any], courses: list[dict[str, Any]], rng: random.Random) -> None:
        self.email: str = learner["email"]
        self.token: str = learner["token"]
        self.issued: float = learner["issued"]
        self.web = learner["client"] == "web"
        self.courses = [courses[index] for index in learner["courses"]]
        self.rng = rng
        self.done: set[str] = set()
        self.position: dict[str, int] = {}
        self._actions = self._walk()
        self._next: Item | Attempt | None = None

    def _walk(self) -> Iterator[Item | Attempt]:
        while True:
            course, lesson = self._next_lesson()
            yield from self._view(course["id"], lesson)

    def _next_lesson(self) -> tuple[dict[str, Any], dict[str, Any]]:
        for course in self.courses:
            for lesson in course["lessons"]:
                if lesson["id"] not in self.done:
                    return course, lesson
        course = self.rng.choice(self.courses)  # everything done: revisit a lesson
        return course, self.rng.choice([lesson for lesson in course["lessons"] if lesson["type"] != "quiz"])

    def _view(self, course: str, lesson: dict[str, Any]) -> Iterator[Item | Attempt]:
        rng, lesson_id, length = self.rng, lesson["id"], int(lesson["seconds"])
        view, spent = str(uuid.uuid4()), 0

        def report(**more: Any) -> dict[str, Any]:
            return {
                "courseId": course,
                "lessonId": lesson_id,
                "viewId": view,
                "timeSpentSeconds": spent,
                **more,
            }

        if lesson["type"] == "video":
            position = self.position.get(lesson_id, 0)
            if position >= length:
                position = 0  # watched to the end before: from the start again
            for _ in range(rng.randint(6, 30)):
                spent, start = spent + HEARTBEAT_SECONDS, position
                position = min(length, position + HEARTBEAT_SECONDS)
                yield Item(
                    report(
                        videoPositionSeconds=position,
                        videoDurationSeconds=length,
                        watchedRanges=[[start, position]],
                    )
                )
                if position >= length:
                    break
            self.position[lesson_id] = position
            if position >= 0.95 * length:
                self.done.add(lesson_id)
        elif lesson["type"] == "article":
            beats = max(2, round(length * rng.uniform(0.6, 1.2) / HEARTBEAT_SECONDS))
            for _ in range(beats - 1):
                spent += HEARTBEAT_SECONDS
                yield Item(report())
            spent += HEARTBEAT_SECONDS
            if rng.random() < 0.85:
                yield Item(report(completed=True), alone=True)
                self.done.add(lesson_id)
            else:  # left before the end; comes back to it later
                yield Item(report())
        else:
            for _ in range(rng.randint(2, 4)):
                spent += HEARTBEAT_SECONDS
                yield Item(report())
            answers = [c if rng.random() < 0.75 else (c + 1) % OPTIONS for c in lesson["correct"]]
            yield Attempt(lesson["quiz"], answers)
            right = sum(a == c for a, c in zip(answers, lesson["correct"], strict=True))
            if right * 100 >= PASSING_SCORE * QUESTIONS:
                self.done.add(lesson_id)

    def _peek(self) -> Item | Attempt:
        if self._next is None:
            self._next = next(self._actions)
        return self._next

    def _take(self) -> Item | Attempt:
        action = self._peek()
        self._next = None
        return action

    def next_request(self, now: float) -> Request:
        """What the client sends next (``now``: the wall clock, for offline moments)."""
        if self.web:
            size = self.rng.randint(4, 8)
        else:
            size = self.rng.randint(100, 300) if self.rng.random() < 0.05 else self.rng.randint(8, 20)
        items: list[dict[str, Any]] = []
        while len(items) < size:
            action = self._peek()
            if isinstance(action, Attempt):
                if items:
                    break
                self._take()
                path = f"/api/learner/quizzes/{action.quiz}/attempts"
                return Request("quiz", path, {"answers": action.answers}, 1)
            if action.alone and self.web:
                if items:
                    break
                self._take()
                return Request("single", "/api/learner/track-lesson", action.body, 1)
            self._take()
            items.append(action.body)
        if not self.web:  # an app reports when each heartbeat happened
            for index, item in enumerate(items):
                moment = now - (len(items) - 1 - index) * HEARTBEAT_SECONDS
                item["occurredAt"] = datetime.fromtimestamp(moment, UTC).isoformat()
        return Request("batch", "/api/learner/track-batch", {"events": items}, len(items))


# --- the driver (a process of its own) ----------------------------------------------------------


@dataclass
class Tally:
    """The driver's counters, cumulative; latencies since the last report."""

    sent: int = 0
    accepted: int = 0
    rejected: int = 0
    errors: int = 0
    requests: Counter[str] = field(default_factory=Counter)
    events: Counter[str] = field(default_factory=Counter)
    statuses: Counter[str] = field(default_factory=Counter)
    reasons: Counter[str] = field(default_factory=Counter)
    failures: Counter[str] = field(default_factory=Counter)
    """5xx answers by status and detail."""
    not_sent: int = 0
    behind_s: float = 0.0
    renewals: int = 0
    latencies: list[float] = field(default_factory=list)

    def line(self, elapsed: float, final: bool = False) -> str:
        line = {
            "t": round(elapsed, 3),
            "sent": self.sent,
            "accepted": self.accepted,
            "rejected": self.rejected,
            "errors": self.errors,
            "requests": dict(self.requests),
            "events": dict(self.events),
            "statuses": dict(self.statuses),
            "reasons": dict(self.reasons),
            "failures": dict(self.failures),
            "not_sent": self.not_sent,
            "behind_s": round(self.behind_s, 3),
            "renewals": self.renewals,
            "latencies": [round(v, 1) for v in self.latencies],
            "final": final,
        }
        self.latencies = []
        return json.dumps(line)


async def _send(http: aiohttp.ClientSession, client: Client, request: Request, tally: Tally) -> float:
    """Send one request and count its events; the seconds its ``Retry-After`` asks the
    client to wait before its next request (0 when none)."""
    if time.time() - client.issued > TOKEN_RENEWAL_SECONDS:
        with contextlib.suppress(aiohttp.ClientError, TimeoutError, RuntimeError):
            client.token, client.issued = await dev_token(http, client.email, "student"), time.time()
            tally.renewals += 1
    tally.sent += request.events
    tally.requests[request.kind] += 1
    tally.events[request.kind] += request.events
    began = time.perf_counter()
    try:
        headers = {"Authorization": f"Bearer {client.token}"}
        async with http.post(request.path, json=request.body, headers=headers) as answer:
            status = answer.status
            retry_after = answer.headers.get("Retry-After", "0")
            try:
                body = await answer.json(content_type=None)
            except ValueError:
                if status < 500:
                    raise
                body = None
    except asyncio.CancelledError:  # still unanswered 30 s after the end of the load
        tally.statuses["unanswered at the end"] += 1
        tally.errors += request.events
        raise
    except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
        tally.statuses[type(exc).__name__] += 1
        tally.errors += request.events
        return 1.0
    tally.latencies.append((time.perf_counter() - began) * 1000)
    tally.statuses[str(status)] += 1
    if status >= 500:
        tally.errors += request.events
        detail = str(body.get("detail", "")) if isinstance(body, dict) else ""
        if len(tally.failures) < 50:
            tally.failures[f"{status} {detail[:160]}".strip()] += 1
        return _seconds(retry_after)
    if status >= 400:
        tally.rejected += request.events
        tally.reasons[f"HTTP {status}"] += request.events
        if status == 401:
            client.issued = 0.0  # renewed before the next request
        return _seconds(retry_after)
    if request.kind == "batch":
        try:
            accepted = int(body["accepted"])
            refused = [
                str(result.get("reason")) for result in body["results"] if result["status"] != "accepted"
            ]
        except (KeyError, TypeError, ValueError):  # an answer not in the contract's shape
            tally.failures[f"{status} unreadable batch answer"] += 1
            tally.errors += request.events
            return 0.0
        tally.accepted += accepted
        tally.rejected += request.events - accepted
        tally.reasons.update(refused)
    else:
        tally.accepted += request.events
    return 0.0


def _seconds(header: str) -> float:
    try:
        return min(60.0, max(0.0, float(header)))
    except ValueError:
        return 1.0


async def drive(base: str, spec: dict[str, Any], rate: float, seconds: float, max_in_flight: int) -> None:
    """Send the learners' requests open loop at ``rate`` events a second for ``seconds``,
    printing the counters as a JSON line every second (and once more at the end)."""
    rng = random.Random(11)
    clients = [
        Client(learner, spec["courses"], random.Random(i)) for i, learner in enumerate(spec["learners"])
    ]
    free = list(range(len(clients)))
    tally = Tally()
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stopping.set)
    parent = os.getppid()
    in_flight: set[asyncio.Task[float]] = set()
    connector = aiohttp.TCPConnector(limit=max_in_flight)
    timeout = aiohttp.ClientTimeout(total=60)
    async with aiohttp.ClientSession(base_url=base, connector=connector, timeout=timeout) as http:
        start = time.monotonic()

        async def report() -> None:
            while not stopping.is_set():
                await asyncio.sleep(REPORT_EVERY)
                print(tally.line(time.monotonic() - start), flush=True)
                if os.getppid() != parent:  # the soak is gone: stop too
                    stopping.set()

        reporter = asyncio.create_task(report())
        stop_at, due, mean_events = start + seconds, start, 10.0

        def finished(index: int, task: asyncio.Task[float]) -> None:
            in_flight.discard(task)
            if task.cancelled():
                return
            if task.exception() is not None:
                tally.statuses[type(task.exception()).__name__] += 1
                free.append(index)
            elif wait := task.result():  # as a client does after a 503 or 429 with Retry-After
                loop.call_later(wait, free.append, index)
            else:
                free.append(index)

        while not stopping.is_set():
            now = time.monotonic()
            if now >= stop_at:
                break
            if due > now:
                await asyncio.sleep(min(due, stop_at) - now)
                continue
            if now - due > 1.0:  # this process fell more than a second behind its schedule
                tally.behind_s += now - due
                due = now
            if len(in_flight) >= max_in_flight or not free:
                tally.not_sent += 1
                due += rng.expovariate(rate / mean_events)
                continue
            slot = rng.randrange(len(free))
            free[slot], free[-1] = free[-1], free[slot]
            index = free.pop()
            request = clients[index].next_request(time.time())
            mean_events = 0.99 * mean_events + 0.01 * request.events
            task = asyncio.create_task(_send(http, clients[index], request, tally))
            in_flight.add(task)
            task.add_done_callback(functools.partial(finished, index))
            due += rng.expovariate(rate / request.events)
        elapsed = time.monotonic() - start
        if in_flight:  # the answers still due count; a request unanswered after 30 s more is an error
            _, late = await asyncio.wait(set(in_flight), timeout=30)
            for task in late:
                task.cancel()
            await asyncio.gather(*late, return_exceptions=True)
        stopping.set()
        reporter.cancel()
        print(tally.line(elapsed, final=True), flush=True)


# --- measuring the stack ------------------------------------------------------------------------


def _label(process: psutil.Process) -> str:
    arguments = process.cmdline()
    if "-m" in arguments[:-1]:
        return str(arguments[arguments.index("-m") + 1]).removeprefix("learnstream.")
    name = process.name()
    return "tansu" if name.startswith("tansu") else NAMES.get(name, name)


def _usage(processes: list[psutil.Process]) -> dict[str, float]:
    """Memory (MB) and CPU seconds of processes together; the CPU time includes that of their
    children that have exited (PostgreSQL's backends)."""
    rss = uss = pss = cpu = 0.0
    count = 0
    for process in processes:
        with contextlib.suppress(psutil.Error):
            memory = process.memory_full_info()
            times = process.cpu_times()
            rss, uss, pss = rss + memory.rss, uss + memory.uss, pss + getattr(memory, "pss", memory.uss)
            cpu += times.user + times.system + times.children_user + times.children_system
            count += 1
    mb = 2**20
    return {
        "rss_mb": round(rss / mb, 1),
        "uss_mb": round(uss / mb, 1),
        "pss_mb": round(pss / mb, 1),
        "cpu_s": round(cpu, 2),
        "processes": count,
    }


def sample_memory(stack: EmbeddedStack, driver: int | None) -> dict[str, Any]:
    """Every process of the stack, each child of the supervisor with its own children."""
    assert stack.process is not None
    began = time.monotonic()
    supervisor = psutil.Process(stack.process.pid)
    groups: dict[str, list[psutil.Process]] = {"supervisor": [supervisor]}
    pids: dict[str, int] = {"supervisor": supervisor.pid}
    for child in supervisor.children():
        with contextlib.suppress(psutil.Error):
            label = _label(child)
            groups.setdefault(label, []).extend([child, *child.children(recursive=True)])
            pids[label] = child.pid
    if driver is not None:
        with contextlib.suppress(psutil.Error):
            process = psutil.Process(driver)
            groups[DRIVER] = [process]
            pids[DRIVER] = driver
    processes = {label: {**_usage(members), "pid": pids[label]} for label, members in groups.items()}
    return {"processes": processes, "sample_s": round(time.monotonic() - began, 3)}


def lag_ms(stack: EmbeddedStack) -> int | None:
    """The analytics projection's lag behind the bus; None while it cannot say (or no answer)."""
    try:
        answer = httpx.get(
            f"{stack.url('analytics')}/api/analytics/freshness",
            headers={"X-Service-Token": DEV_SERVICE_TOKEN},
            timeout=3.0,
        )
        value = answer.json().get("lagMs") if answer.status_code == 200 else None
    except (httpx.HTTPError, ValueError):
        return None
    return int(value) if value is not None else None


def slope_per_hour(points: list[tuple[float, float]]) -> float | None:
    """The least-squares slope of (seconds, MB) points, in MB an hour."""
    if len(points) < 3:
        return None
    mean_t = statistics.fmean(t for t, _ in points)
    mean_y = statistics.fmean(y for _, y in points)
    spread = sum((t - mean_t) ** 2 for t, _ in points)
    if spread == 0:
        return None
    return sum((t - mean_t) * (y - mean_y) for t, y in points) / spread * 3600


# --- the run ------------------------------------------------------------------------------------


class Probe(threading.Thread):
    """End-to-end freshness: every ``every`` seconds the probe learner reports through the
    gateway, and ClickHouse (the analysts' endpoint) is asked every 100 ms until it holds
    the new row; the time from the answer to then is the sample (None: not within 300 s)."""

    def __init__(self, stack: EmbeddedStack, spec: dict[str, Any], began: float, every: float) -> None:
        super().__init__(daemon=True)
        self.gateway, self.spec, self.began, self.every = stack.gateway, spec, began, every
        self.analyst = f"http://127.0.0.1:{ANALYST_PORT + stack.port_offset}/"
        self.samples: list[dict[str, Any]] = []
        self.halt = threading.Event()

    def _count(self, http: httpx.Client) -> int | None:
        query = (
            "SELECT uniqExact(event_id) FROM learnstream.activity"
            " WHERE course_id = {c:UUID} AND name = 'LessonTimeTracked'"
        )
        try:
            answer = http.post(self.analyst, params={"param_c": self.spec["course"]}, content=query)
            return int(answer.text.strip()) if answer.status_code == 200 else None
        except (httpx.HTTPError, ValueError):
            return None

    def run(self) -> None:
        spec = self.spec
        view, spent = str(uuid.uuid4()), 0
        with httpx.Client(timeout=60.0) as http:
            base, sent = self._count(http), 0
            while not self.halt.wait(self.every):
                if base is None:  # ClickHouse did not answer yet
                    base = self._count(http)
                    continue
                t = round(time.monotonic() - self.began, 1)
                if time.time() - spec["issued"] > TOKEN_RENEWAL_SECONDS:
                    with contextlib.suppress(httpx.HTTPError, KeyError, ValueError):
                        body = {"email": spec["email"], "role": "student"}
                        answer = http.post(f"{self.gateway}/api/auth/dev-token", json=body)
                        spec["token"], spec["issued"] = answer.json()["accessToken"], time.time()
                if spent >= 1_500 * HEARTBEAT_SECONDS:  # a view lasts at most 12 hours
                    view, spent = str(uuid.uuid4()), 0
                spent += HEARTBEAT_SECONDS
                report = {"courseId": spec["course"], "lessonId": spec["lesson"], "viewId": view}
                try:
                    answer = http.post(
                        f"{self.gateway}/api/learner/track-lesson",
                        json={**report, "timeSpentSeconds": spent},
                        headers={"Authorization": f"Bearer {spec['token']}"},
                    )
                except httpx.HTTPError as exc:
                    self.samples.append({"t": t, "ms": None, "error": type(exc).__name__})
                    continue
                if answer.status_code != 200:
                    self.samples.append({"t": t, "ms": None, "error": f"HTTP {answer.status_code}"})
                    continue
                accepted, sent = time.monotonic(), sent + 1
                while not self.halt.is_set():
                    count = self._count(http)
                    if count is not None and count >= base + sent:  # this one and every earlier one
                        self.samples.append({"t": t, "ms": round((time.monotonic() - accepted) * 1000, 1)})
                        break
                    if time.monotonic() - accepted > 300:
                        self.samples.append({"t": t, "ms": None, "error": "not in ClickHouse after 300 s"})
                        break
                    time.sleep(0.1)


class Driver:
    """The driver process and what it has reported so far (read by a thread)."""

    def __init__(self, gateway: str, spec_file: Path, args: argparse.Namespace) -> None:
        command = [sys.executable, "-m", "bench.soak", "--drive", str(spec_file), "--base", gateway]
        command += ["--rate", str(args.rate), "--seconds", str(args.seconds)]
        command += ["--max-in-flight", str(args.max_in_flight)]
        # a session of its own: Ctrl-C reaches the soak, which stops the driver itself
        self.process = subprocess.Popen(
            command, stdout=subprocess.PIPE, text=True, cwd=REPO, start_new_session=True
        )
        self.latest: dict[str, Any] = {}
        self.latencies: list[float] = []
        self.lock = threading.Lock()
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for raw in self.process.stdout:
            with contextlib.suppress(ValueError):
                line = json.loads(raw)
                with self.lock:
                    self.latest = line
                    self.latencies.extend(line.pop("latencies"))

    def take(self) -> tuple[dict[str, Any], list[float]]:
        """The latest counters and the latencies reported since the last call."""
        with self.lock:
            latencies, self.latencies = self.latencies, []
            return dict(self.latest), latencies

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=45)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.reader.join(timeout=5)


class Soak:
    """The measurements of one run and the report made of them."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.memory: list[dict[str, Any]] = []
        self.lags: list[dict[str, Any]] = []
        self.freshness: list[dict[str, Any]] = []
        self.intervals: list[dict[str, Any]] = []
        self.totals: dict[str, Any] = {}
        self.load_seconds = 0.0
        self.drain: dict[str, Any] = {}
        self.restarts: Counter[str] = Counter()
        self.interrupted = False
        self.notes: list[str] = []
        self.started = datetime.now(UTC).isoformat(timespec="seconds")
        self.learners = 0
        self._previous: dict[str, Any] = {}
        self._last_t = 0.0

    # -- recording ---------------------------------------------------------------------------

    def record_memory(self, stack: EmbeddedStack, t: float, phase: str, driver: int | None) -> dict[str, Any]:
        sample = {"t": round(t, 1), "phase": phase, **sample_memory(stack, driver)}
        if self.memory:
            before = self.memory[-1]["processes"]
            for label, now in sample["processes"].items():
                if label in before and label != DRIVER and before[label]["pid"] != now["pid"]:
                    self.restarts[label] += 1
        self.memory.append(sample)
        return sample

    def record_lag(self, stack: EmbeddedStack, t: float, phase: str) -> int | None:
        value = lag_ms(stack)
        self.lags.append({"t": round(t, 1), "phase": phase, "lag_ms": value})
        return value

    def record_interval(self, t: float, counters: dict[str, Any], latencies: list[float]) -> dict[str, Any]:
        # the driver's last line is stamped with the end of its schedule, which can be before
        # the lines it printed while waiting for the last answers
        t = max(t, self._last_t)
        before, seconds = self._previous, t - self._last_t

        def delta(key: str) -> int:
            return int(counters.get(key, 0)) - int(before.get(key, 0))

        latencies.sort()
        interval = {
            "t": round(t, 1),
            "seconds": round(seconds, 1),
            "sent": delta("sent"),
            "accepted": delta("accepted"),
            "rejected": delta("rejected"),
            "errors": delta("errors"),
            "not_sent_requests": delta("not_sent"),
            "accepted_per_s": round(delta("accepted") / seconds, 1) if seconds >= 0.5 else None,
            "sent_per_s": round(delta("sent") / seconds, 1) if seconds >= 0.5 else None,
            "requests": len(latencies),
            "p50_ms": round(percentile(latencies, 0.5), 1) if latencies else None,
            "p95_ms": round(percentile(latencies, 0.95), 1) if latencies else None,
            "max_ms": round(latencies[-1], 1) if latencies else None,
        }
        self.intervals.append(interval)
        self._previous, self._last_t = counters, t
        return interval

    # -- the run -----------------------------------------------------------------------------

    def run_load(self, stack: EmbeddedStack, spec_file: Path, probe_spec: dict[str, Any]) -> None:
        args = self.args
        self.record_lag(stack, 0.0, "start")
        start_sample = self.record_memory(stack, 0.0, "start", None)
        print(f"  start: stack PSS {_stack_total(start_sample, 'pss_mb'):,.0f} MB", flush=True)
        driver = Driver(stack.gateway, spec_file, args)
        began = time.monotonic()
        probe = Probe(stack, probe_spec, began, LAG_EVERY)
        self.freshness = probe.samples
        probe.start()
        next_sample, next_lag = began + args.sample_seconds, began + LAG_EVERY
        try:
            while driver.process.poll() is None:
                time.sleep(max(0.0, min(next_sample, next_lag) - time.monotonic()))
                now = time.monotonic()
                if now >= next_lag:
                    self.record_lag(stack, now - began, "load")
                    next_lag += LAG_EVERY
                if now >= next_sample and driver.process.poll() is None:
                    self._sample(stack, driver, now - began, "load")
                    next_sample += args.sample_seconds
        except KeyboardInterrupt:
            self.interrupted = True
            print("\ninterrupted: stopping the load and the stack", flush=True)
        finally:
            probe.halt.set()
            driver.stop()
            probe.join(timeout=15)
            self.load_seconds = time.monotonic() - began
        counters, latencies = driver.take()
        self.totals = counters
        if driver.process.returncode not in (0, None) and not self.interrupted:
            self.notes.append(f"the load driver exited with {driver.process.returncode}")
        # the load's time is the driver's: until its schedule ended (or it was stopped)
        load_t = float(counters.get("t", self.load_seconds))
        self.load_seconds = load_t
        if counters:
            self.record_interval(load_t, counters, latencies)
        if self.interrupted:
            return
        ended = time.monotonic() - began  # the last answers came after the schedule's end
        self.record_memory(stack, ended, "end", None)
        self._wait_caught_up(stack, ended)

    def _sample(self, stack: EmbeddedStack, driver: Driver, t: float, phase: str) -> None:
        counters, latencies = driver.take()
        sample = self.record_memory(stack, t, phase, driver.process.pid)
        interval = (
            self.record_interval(float(counters.get("t", t)), counters, latencies) if counters else None
        )
        lag = next((entry["lag_ms"] for entry in reversed(self.lags)), None)
        fresh = next((entry["ms"] for entry in reversed(self.freshness)), None)
        heaviest = sorted(
            ((label, usage["rss_mb"]) for label, usage in sample["processes"].items() if label != DRIVER),
            key=lambda item: -item[1],
        )[:3]
        rate = (
            f"accepted {interval['accepted_per_s']:,.1f}/s"
            if interval and interval["accepted_per_s"] is not None
            else "no counters yet"
        )
        errors = f"errors {interval['errors']}" if interval else ""
        p95 = f"p95 {interval['p95_ms']} ms" if interval and interval["p95_ms"] is not None else ""
        print(
            f"  {t:6.0f} s  {rate}  {errors}  {p95}  freshness {_ms(fresh)} (lag figure {_ms(lag)})"
            f"  stack PSS {_stack_total(sample, 'pss_mb'):,.0f} MB"
            f" (RSS: {', '.join(f'{label} {mb:,.0f}' for label, mb in heaviest)})",
            flush=True,
        )

    def _wait_caught_up(self, stack: EmbeddedStack, load_t: float) -> None:
        limit = min(600.0, max(60.0, self.args.seconds))
        began = time.monotonic()
        print(f"load done; waiting (at most {limit:.0f} s) for analytics to catch up", flush=True)
        try:
            while True:
                waited = time.monotonic() - began
                value = self.record_lag(stack, load_t + waited, "drain")
                if value is not None and value < CAUGHT_UP_MS:
                    self.drain = {"caught_up_after_s": round(waited, 1), "lag_ms": value}
                    break
                if waited > limit:
                    self.drain = {"caught_up_after_s": None, "lag_ms": value, "waited_s": round(waited, 1)}
                    break
                time.sleep(2.0)
            self.record_memory(stack, load_t + time.monotonic() - began, "drained", None)
        except KeyboardInterrupt:
            self.interrupted = True
            self.drain = {"caught_up_after_s": None, "interrupted": True}

    # -- the report --------------------------------------------------------------------------

    def summary(self) -> dict[str, dict[str, Any]]:
        """Per process: RSS at the start, after the warm-up, at the end, its maximum and growth."""
        load = [s for s in self.memory if s["phase"] in ("start", "load", "end")]
        if not load:
            return {}
        warm = next((s for s in load if s["t"] >= self.args.warm_up_seconds and s["phase"] != "start"), None)
        after = [s for s in load if warm is not None and s["t"] >= warm["t"]]
        labels = sorted(
            {label for s in load for label in s["processes"]},
            key=lambda label: (ORDER.index(label) if label in ORDER else len(ORDER), label),
        )
        result: dict[str, dict[str, Any]] = {}
        for label in labels:

            def value(sample: dict[str, Any] | None, key: str, label: str = label) -> float | None:
                usage = sample["processes"].get(label) if sample else None
                return float(usage[key]) if usage else None

            def points(key: str, label: str = label) -> list[tuple[float, float]]:
                return [(s["t"], float(s["processes"][label][key])) for s in after if label in s["processes"]]

            rss = [v for s in load if (v := value(s, "rss_mb")) is not None]
            having = [s for s in load if label in s["processes"]]
            last = having[-1]
            # CPU over the samples after the warm-up (or all of them in a shorter run)
            span_of = [s for s in after if label in s["processes"]]
            cpu_from, cpu_to = (span_of[0], span_of[-1]) if len(span_of) >= 2 else (having[0], last)
            cpu_a, cpu_b = value(cpu_from, "cpu_s"), value(cpu_to, "cpu_s")
            span = cpu_to["t"] - cpu_from["t"]
            result[label] = {
                "rss_start_mb": value(load[0], "rss_mb"),
                "rss_warm_mb": value(warm, "rss_mb"),
                "rss_end_mb": value(last, "rss_mb"),
                "rss_max_mb": max(rss) if rss else None,
                "rss_growth_mb_per_h": _round(slope_per_hour(points("rss_mb"))),
                "uss_end_mb": value(last, "uss_mb"),
                "uss_growth_mb_per_h": _round(slope_per_hour(points("uss_mb"))),
                "pss_end_mb": value(last, "pss_mb"),
                "pss_growth_mb_per_h": _round(slope_per_hour(points("pss_mb"))),
                "cpu_percent": (
                    round(max(0.0, cpu_b - cpu_a) * 100 / span, 1)
                    if cpu_a is not None and cpu_b is not None and span > 0
                    else None
                ),
                "processes_end": value(last, "processes"),
                "restarts": self.restarts.get(label, 0),
            }
        return result

    def verdict(self) -> tuple[int, list[str], dict[str, Any]]:
        totals, target = self.totals, self.args.rate
        seconds = max(1e-9, self.load_seconds)
        accepted, errors = int(totals.get("accepted", 0)), int(totals.get("errors", 0))
        achieved = accepted / seconds if totals else 0.0
        figures = {
            "target_events_per_s": target,
            "load_seconds": round(self.load_seconds, 1),
            "sent": int(totals.get("sent", 0)),
            "accepted": accepted,
            "rejected": int(totals.get("rejected", 0)),
            "errors": errors,
            "achieved_events_per_s": round(achieved, 1),
            "achieved_share_of_target": round(achieved / target, 3) if target else None,
        }
        problems = []
        if errors:
            problems.append(f"{errors:,} events errored (5xx answers or connection errors/timeouts)")
        if achieved < MIN_RATE_SHARE * target:
            problems.append(
                f"the accepted rate, {achieved:,.1f} events/s, is below {MIN_RATE_SHARE:.0%} of the target"
                f" {target:,.0f}/s (at least {MIN_RATE_SHARE * target:,.0f}/s needed)"
            )
        if self.interrupted:
            return 130, ["interrupted: the figures cover only the part that ran", *problems], figures
        return (1 if problems else 0), problems, figures

    def report(self) -> int:
        args = self.args
        summary = self.summary()
        status, problems, figures = self.verdict()
        print()
        if summary:
            self._print_memory(summary)
        totals = self.totals
        lag_values = sorted(
            entry["lag_ms"] for entry in self.lags if entry["phase"] == "load" and entry["lag_ms"] is not None
        )
        unknown = sum(1 for entry in self.lags if entry["phase"] == "load" and entry["lag_ms"] is None)
        rates = [i["accepted_per_s"] for i in self.intervals if i["seconds"] >= 0.5 * args.sample_seconds]
        print(
            f"\nload: {figures['load_seconds']:,.0f} s at a target of {args.rate:,.0f} events/s,"
            f" {self.learners} learners"
        )
        if totals:
            requests = totals.get("requests", {})
            events = totals.get("events", {})
            kinds = ", ".join(f"{k} {requests[k]:,} requests / {events.get(k, 0):,} events" for k in requests)
            print(f"  sent {figures['sent']:,} events in {sum(requests.values()):,} requests ({kinds})")
            print(
                f"  accepted {figures['accepted']:,}, rejected {figures['rejected']:,}"
                f" (4xx or refused items), errored {figures['errors']:,} (5xx, timeouts, connections)"
            )
            print(
                f"  achieved {figures['achieved_events_per_s']:,.1f} accepted events/s"
                f" = {figures['achieved_share_of_target'] or 0:.1%} of the target"
                + (
                    f"; per {args.sample_seconds:g} s interval min {min(rates):,.1f}, median"
                    f" {statistics.median(rates):,.1f}, max {max(rates):,.1f}"
                    if rates
                    else ""
                )
            )
            print(f"  answers: {dict(sorted(totals.get('statuses', {}).items()))}")
            if totals.get("failures"):
                print(f"  5xx answers by detail: {totals['failures']}")
            if totals.get("reasons"):
                print(f"  rejected by reason: {totals['reasons']}")
            if totals.get("not_sent"):
                missed = totals["not_sent"] * figures["sent"] / max(1, sum(requests.values()))
                print(
                    f"  not sent: {totals['not_sent']:,} requests (about {missed:,.0f} events):"
                    f" {args.max_in_flight} were in flight or no learner was free, the stack answered too"
                    " slowly for the schedule"
                )
            if totals.get("behind_s"):
                print(f"  the driver itself fell behind its schedule by {totals['behind_s']:,.1f} s in all")
            if totals.get("renewals"):
                print(f"  tokens renewed: {totals['renewals']}")
            latencies = [i for i in self.intervals if i["p95_ms"] is not None]
            if latencies:
                print(
                    "  request p50 per interval: median"
                    f" {statistics.median(i['p50_ms'] for i in latencies):,.1f} ms; p95 per interval: median"
                    f" {statistics.median(i['p95_ms'] for i in latencies):,.1f} ms,"
                    f" worst {max(i['p95_ms'] for i in latencies):,.1f} ms"
                )
        fresh = sorted(entry["ms"] for entry in self.freshness if entry["ms"] is not None)
        missed = Counter(str(entry.get("error")) for entry in self.freshness if entry["ms"] is None)
        figures.update(
            freshness_p50_ms=percentile(fresh, 0.5) if fresh else None,
            freshness_p95_ms=percentile(fresh, 0.95) if fresh else None,
            freshness_max_ms=fresh[-1] if fresh else None,
            lag_figure_p50_ms=percentile(lag_values, 0.5) if lag_values else None,
            lag_figure_max_ms=lag_values[-1] if lag_values else None,
        )
        if fresh:
            print(
                "freshness during the load (a probe report through the gateway until ClickHouse has it):"
                f" p50 {_ms(percentile(fresh, 0.5))}, p95 {_ms(percentile(fresh, 0.95))},"
                f" max {_ms(fresh[-1])} over {len(fresh)} probes"
                + (f"; failed: {dict(missed)}" if missed else "")
            )
        elif self.freshness:
            print(f"freshness: no probe was seen in ClickHouse ({dict(missed)})")
        if lag_values:
            print(
                "the projection's own lag figure (GET /api/analytics/freshness, every"
                f" {LAG_EVERY:g} s): p50 {_ms(percentile(lag_values, 0.5))}, max {_ms(lag_values[-1])}"
                f" over {len(lag_values)} readings" + (f" ({unknown} unknown)" if unknown else "")
            )
        elif self.lags:
            print(f"the projection's own lag figure: unknown ({unknown} readings without a value)")
        drained = next((sample for sample in self.memory if sample["phase"] == "drained"), None)
        if drained is not None:
            print(
                f"after the load ({drained['t']:,.0f} s):"
                f" stack PSS {_stack_total(drained, 'pss_mb'):,.0f} MB; RSS "
                + ", ".join(
                    f"{label} {usage['rss_mb']:,.0f}" for label, usage in drained["processes"].items()
                )
            )
        if self.drain.get("caught_up_after_s") is not None:
            print(f"  caught up {self.drain['caught_up_after_s']:,.1f} s after the load")
        elif self.drain and not self.drain.get("interrupted"):
            print(
                f"  NOT caught up {self.drain.get('waited_s', 0):,.0f} s after the load:"
                f" still {_ms(self.drain.get('lag_ms'))} behind"
            )
        if self.restarts:
            print(f"RESTARTED during the run (its memory starts again): {dict(self.restarts)}")
        for note in self.notes:
            print(f"note: {note}")
        self._write(summary, figures, problems, status)
        print()
        if status == 0:
            print(
                f"OK: no errors, {figures['achieved_events_per_s']:,.1f} events/s accepted"
                f" (target {args.rate:,.0f})"
            )
        else:
            for problem in problems:
                print(f"FAILED: {problem}" if not problem.startswith("interrupted") else problem.upper())
        return status

    def _print_memory(self, summary: dict[str, dict[str, Any]]) -> None:
        head = (
            "process",
            "RSS start",
            "warm-up",
            "end",
            "max",
            "growth/h",
            "USS end",
            "USS growth/h",
            "PSS end",
            "CPU %",
            "procs",
        )
        rows: list[tuple[str, ...]] = [head]
        keys = (
            "rss_start_mb",
            "rss_warm_mb",
            "rss_end_mb",
            "rss_max_mb",
            "rss_growth_mb_per_h",
            "uss_end_mb",
            "uss_growth_mb_per_h",
            "pss_end_mb",
        )
        totals: dict[str, float] = {}
        for label, figures in summary.items():
            if label != DRIVER:
                for key in (*keys, "cpu_percent"):
                    if figures[key] is not None:
                        totals[key] = totals.get(key, 0.0) + figures[key]
            rows.append(
                (
                    label + (f" ({figures['restarts']} restarts)" if figures["restarts"] else ""),
                    *(_mb(figures[key], signed=key.endswith("per_h")) for key in keys),
                    "-" if figures["cpu_percent"] is None else f"{figures['cpu_percent']:.0f}",
                    "-" if figures["processes_end"] is None else f"{figures['processes_end']:.0f}",
                )
            )
        rows.append(
            (
                "the stack (summed)",
                *(_mb(totals.get(key), signed=key.endswith("per_h")) for key in keys),
                f"{totals.get('cpu_percent', 0):.0f}",
                "",
            )
        )
        warm = self.args.warm_up_seconds
        print(
            f"memory in MB (RSS: resident set, shared pages counted in every process; USS: unique;"
            f" PSS: shared pages divided among their processes, so the summed PSS is what the stack"
            f" holds); growth per hour: least-squares slope of the samples after the {warm:g} s warm-up;"
            f" CPU: % of one core after the warm-up"
        )
        widths = [max(len(row[i]) for row in rows) for i in range(len(head))]
        for index, row in enumerate(rows):
            cells = [
                row[0].ljust(widths[0]),
                *(cell.rjust(w) for cell, w in zip(row[1:], widths[1:], strict=True)),
            ]
            print("  ".join(cells))
            if index == 0 or index == len(rows) - 2:
                print("  ".join("-" * width for width in widths))

    def _write(
        self, summary: dict[str, Any], figures: dict[str, Any], problems: list[str], status: int
    ) -> None:
        out: Path = self.args.out
        out.parent.mkdir(parents=True, exist_ok=True)
        if out.suffix == ".csv":
            with out.open("w", newline="") as handle:
                writer = csv.writer(handle)
                writer.writerow(
                    ["t_s", "phase", "process", "rss_mb", "uss_mb", "pss_mb", "cpu_s", "processes", "pid"]
                )
                for sample in self.memory:
                    for label, usage in sample["processes"].items():
                        writer.writerow(
                            [sample["t"], sample["phase"], label]
                            + [usage[k] for k in ("rss_mb", "uss_mb", "pss_mb", "cpu_s", "processes", "pid")]
                        )
        else:
            document = {
                "started": self.started,
                "arguments": {k: str(v) if isinstance(v, Path) else v for k, v in vars(self.args).items()},
                "machine": {
                    "cpus": os.cpu_count(),
                    "python": platform.python_version(),
                    "platform": platform.platform(),
                },
                "status": status,
                "problems": problems,
                "interrupted": self.interrupted,
                "figures": figures,
                "totals": {k: v for k, v in self.totals.items() if k != "latencies"},
                "drain": self.drain,
                "restarts": dict(self.restarts),
                "summary": summary,
                "intervals": self.intervals,
                "freshness": self.freshness,
                "lag": self.lags,
                "memory": self.memory,
            }
            out.write_text(json.dumps(document, indent=1) + "\n")
        print(f"\nsamples written to {out}")


def _stack_total(sample: dict[str, Any], key: str) -> float:
    return sum(float(usage[key]) for label, usage in sample["processes"].items() if label != DRIVER)


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


def _mb(value: float | None, *, signed: bool = False) -> str:
    if value is None:
        return "-"
    return f"{value:+,.1f}" if signed else f"{value:,.1f}"


def _ms(value: float | None) -> str:
    return "unknown" if value is None else f"{value:,.0f} ms"


def main() -> int:
    parser = argparse.ArgumentParser(
        prog="bench.soak", description=__doc__.splitlines()[0] if __doc__ else ""
    )
    parser.add_argument("--seconds", type=float, default=3600.0, help="how long the load runs (default 3600)")
    parser.add_argument("--rate", type=float, default=1000.0, help="events a second, all learners together")
    parser.add_argument(
        "--sample-seconds", type=float, default=30.0, help="memory sampling interval (default 30)"
    )
    parser.add_argument(
        "--warm-up-seconds",
        type=float,
        default=None,
        help="samples before this are left out of the growth (default: 300, or a sixth of a shorter run)",
    )
    parser.add_argument(
        "--learners", type=int, default=500, help="learners seeded and simulated (default 500)"
    )
    parser.add_argument(
        "--max-in-flight", type=int, default=256, help="requests outstanding at most (default 256)"
    )
    parser.add_argument(
        "--out", type=Path, default=RESULTS / "soak.json", help="the samples: .json (all) or .csv"
    )
    parser.add_argument("--port-offset", type=int, default=PORT_OFFSET, help="shift every port of the stack")
    parser.add_argument("--drive", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--base", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.drive:  # the load, in the process the soak starts
        spec = json.loads(args.drive.read_text())
        asyncio.run(drive(args.base, spec, args.rate, args.seconds, args.max_in_flight))
        return 0
    if args.rate <= 0 or args.seconds <= 0 or args.sample_seconds <= 0:
        parser.error("--rate, --seconds and --sample-seconds must be positive")
    if args.warm_up_seconds is None:
        args.warm_up_seconds = min(300.0, args.seconds / 6)
    # SIGTERM stops it like Ctrl-C: the load and the stack stopped, what was measured reported
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    soak = Soak(args)
    data_dir = Path(tempfile.mkdtemp(prefix="learnstream-soak-"))
    print(
        f"soak: {args.seconds:g} s at {args.rate:g} events/s, memory every {args.sample_seconds:g} s"
        f" (warm-up {args.warm_up_seconds:g} s), {args.learners} learners",
        flush=True,
    )
    try:
        with EmbeddedStack(data_dir, args.port_offset) as stack:
            idle = stack.idle_percent
            began = time.monotonic()
            print(f"seeding {COURSES} courses and {args.learners} learners", flush=True)
            spec = asyncio.run(seed(stack.gateway, args.learners))
            soak.learners = len(spec["learners"])
            print(
                f"  seeded in {time.monotonic() - began:.0f} s; waiting for the stack to settle", flush=True
            )
            stack.wait_quiet(idle)
            spec_file = data_dir / "soak-spec.json"
            spec_file.write_text(json.dumps(spec))
            print(f"load: {args.rate:g} events/s through {stack.gateway} for {args.seconds:g} s", flush=True)
            soak.run_load(stack, spec_file, spec["probe"])
            print("stopping the stack", flush=True)
    except KeyboardInterrupt:
        soak.interrupted = True
        print("\ninterrupted; the stack is stopped", flush=True)
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)
    return soak.report()


if __name__ == "__main__":
    sys.exit(main())

"""``ingest_events_per_s``, ``ingest_batch_events_per_s``, ``freshness_p50_ms`` and
``freshness_p99_ms``: tracking reports through the gateway until ClickHouse counts them.

Seeds an instructor, one published course of eight article lessons and its learners
through the public API (progress knows them at once: enrollments are its own). Then, from a
process of its own (``python -m bench.ingest send``), closed-loop clients send tracking
reports for a fixed time, each client as one learner with a view per lesson whose
cumulative seconds grow by ten a report (so each accepted report is one
``LessonTimeTracked``):

- **single**: ``POST /api/learner/track-lesson``, one report a request;
- **batch**: ``POST /api/learner/track-batch``, 1,000 reports a request (eight new views of
  125 heartbeats each, as an offline client uploads a session).

A phase's figure is end to end: the accepted reports divided by the time from its first
request until analytics' ClickHouse holds that many more ``LessonTimeTracked`` rows of the
course (counted through the analysts' read-only endpoint). The acceptance rate (the API
alone) and how long the projection took after the last request are reported beside it.

Freshness is measured during the single phase: a probe learner of a second course sends a
report a tenth of a second after its last one was seen and polls ClickHouse every 50 ms
until the new report's row is there (faster polling took enough of analytics' ClickHouse
to slow the projection it measures); the figure is the time from the report's acceptance
(the answer) to that moment.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import aiohttp

from bench.load import percentile
from bench.seeding import article_course, dev_token, published_course
from bench.stack import EmbeddedStack, json_of

SINGLE_TARGET = 5_000.0
BATCH_TARGET = 50_000.0
FRESHNESS_P99_TARGET = 1_000.0
BATCH_SIZE = 1_000
VIEWS_PER_BATCH = 8
STEP_SECONDS = 10


async def seed(base: str, learners: int) -> dict[str, Any]:
    """The course, its lessons and the enrolled learners' tokens; and the probe's."""
    async with aiohttp.ClientSession(base_url=base, timeout=aiohttp.ClientTimeout(total=60)) as http:

        async def token(role: str) -> str:
            return await dev_token(http, f"bench-ingest-{role}-{uuid.uuid4().hex[:10]}@example.com", role)

        teacher = await token("instructor")
        courses = [
            await published_course(http, teacher, article_course(title, lesson_seconds=600))
            for title in ("Ingest benchmark course", "Freshness probe course")
        ]
        limit = asyncio.Semaphore(16)

        async def learner(course: dict[str, Any]) -> str:
            async with limit:
                access = await token("student")
                headers = {"Authorization": f"Bearer {access}"}
                async with http.post(f"/api/courses/{course['id']}/enroll", headers=headers) as answer:
                    await json_of(answer)
                return access

        tokens = await asyncio.gather(*(learner(courses[0]) for _ in range(learners)))
        probe = await learner(courses[1])

    def lessons(course: dict[str, Any]) -> list[str]:
        return [lesson["id"] for section in course["sections"] for lesson in section["lessons"]]

    return {
        "course": courses[0]["id"],
        "lessons": lessons(courses[0]),
        "tokens": list(tokens),
        "probe_course": courses[1]["id"],
        "probe_lessons": lessons(courses[1]),
        "probe_token": probe,
    }


# --- the sender (a process of its own) -------------------------------------------------------------


async def send(base: str, spec: dict[str, Any], mode: str, clients: int, seconds: float) -> dict[str, Any]:
    """Closed-loop clients sending reports for ``seconds``; what was accepted and when."""
    accepted = 0
    statuses: Counter[int] = Counter()
    latencies: list[float] = []
    lessons = spec["lessons"]
    connector = aiohttp.TCPConnector(limit=clients)
    async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=120)) as http:
        first = time.time()
        stop = time.perf_counter() + seconds

        async def client(index: int) -> None:
            nonlocal accepted
            headers = {"Authorization": f"Bearer {spec['tokens'][index % len(spec['tokens'])]}"}
            views = {lesson: str(uuid.uuid4()) for lesson in lessons}
            spent = dict.fromkeys(lessons, 0)
            turn = index
            while time.perf_counter() < stop:
                if mode == "single":
                    lesson = lessons[turn % len(lessons)]
                    turn += 1
                    spent[lesson] += STEP_SECONDS
                    path = "/api/learner/track-lesson"
                    body: Any = _report(spec["course"], lesson, views[lesson], spent[lesson])
                else:
                    path, body = "/api/learner/track-batch", {"events": _batch(spec["course"], lessons, turn)}
                    turn += 1
                began = time.perf_counter()
                async with http.post(base + path, json=body, headers=headers) as answer:
                    answered = await answer.json(content_type=None)
                    statuses[answer.status] += 1
                latencies.append((time.perf_counter() - began) * 1000)
                if answer.status != 200:
                    continue
                if mode == "single":
                    accepted += 1
                else:
                    accepted += sum(1 for result in answered["results"] if not result.get("reason"))

        await asyncio.gather(*(client(i) for i in range(clients)))
        last = time.time()
    latencies.sort()
    return {
        "accepted": accepted,
        "requests": len(latencies),
        "statuses": {str(k): v for k, v in sorted(statuses.items())},
        "first_sent": first,
        "last_answered": last,
        "p50_ms": round(percentile(latencies, 0.5), 1),
        "p95_ms": round(percentile(latencies, 0.95), 1),
    }


def _report(course: str, lesson: str, view: str, spent: int) -> dict[str, Any]:
    return {"courseId": course, "lessonId": lesson, "viewId": view, "timeSpentSeconds": spent}


def _batch(course: str, lessons: list[str], turn: int) -> list[dict[str, Any]]:
    """An offline session: eight new views, 125 heartbeats each, cumulative seconds."""
    per_view = BATCH_SIZE // VIEWS_PER_BATCH
    reports = []
    for v in range(VIEWS_PER_BATCH):
        lesson, view = lessons[(turn + v) % len(lessons)], str(uuid.uuid4())
        reports += [_report(course, lesson, view, (beat + 1) * STEP_SECONDS) for beat in range(per_view)]
    return reports


# --- counting in ClickHouse -----------------------------------------------------------------------


class Counted:
    """``LessonTimeTracked`` rows of a course in analytics' ClickHouse (the analysts' endpoint)."""

    def __init__(self, analyst_url: str) -> None:
        self.url = analyst_url

    async def __call__(self, http: aiohttp.ClientSession, course: str) -> int:
        query = (
            "SELECT uniqExact(event_id) FROM learnstream.activity"
            " WHERE course_id = {c:UUID} AND name = 'LessonTimeTracked'"
        )
        async with http.post(self.url, params={"param_c": course}, data=query) as answer:
            text = await answer.text()
            if answer.status != 200:
                raise RuntimeError(f"ClickHouse answered {answer.status}: {text[:300]}")
            return int(text.strip())

    async def wait_for(
        self, http: aiohttp.ClientSession, course: str, at_least: int, timeout: float, every: float = 0.05
    ) -> float:
        """The wall-clock moment the count reached ``at_least``."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if await self(http, course) >= at_least:
                return time.time()
            await asyncio.sleep(every)
        raise RuntimeError(f"ClickHouse did not count {at_least} rows of course {course} in {timeout:.0f} s")


async def _probe(base: str, counted: Counted, spec: dict[str, Any], running: asyncio.Event) -> list[float]:
    """Freshness samples (ms) until ``running`` is cleared."""
    samples: list[float] = []
    headers = {"Authorization": f"Bearer {spec['probe_token']}"}
    view, spent = str(uuid.uuid4()), 0
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as http:
        seen = await counted(http, spec["probe_course"])
        while running.is_set():
            spent += STEP_SECONDS
            body = _report(spec["probe_course"], spec["probe_lessons"][0], view, spent)
            async with http.post(f"{base}/api/learner/track-lesson", json=body, headers=headers) as answer:
                await json_of(answer)
            accepted = time.time()
            visible = await counted.wait_for(http, spec["probe_course"], seen + 1, 60, every=0.05)
            samples.append((visible - accepted) * 1000)
            seen += 1
            await asyncio.sleep(0.1)
    return samples


async def _phase(
    stack: EmbeddedStack, spec_file: str, spec: dict[str, Any], mode: str, clients: int, seconds: float
) -> tuple[dict[str, Any], list[float]]:
    counted = Counted(f"http://127.0.0.1:{8123 + stack.port_offset}/")
    cpu_before = stack.cpu_seconds()
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as http:
        before = await counted(http, spec["course"])
        running = asyncio.Event()
        running.set()
        probe = (
            asyncio.create_task(_probe(stack.gateway, counted, spec, running)) if mode == "single" else None
        )
        command = [sys.executable, "-m", "bench.ingest", "send", stack.gateway, spec_file, mode]
        command += ["--clients", str(clients), "--seconds", str(seconds)]
        process = await asyncio.create_subprocess_exec(*command, stdout=subprocess.PIPE)
        output, _ = await process.communicate()
        if process.returncode:
            raise RuntimeError(f"the sender failed ({process.returncode})")
        sent: dict[str, Any] = json.loads(output.decode().strip().splitlines()[-1])
        running.clear()
        samples = await probe if probe else []
        counted_at = await counted.wait_for(http, spec["course"], before + sent["accepted"], timeout=1800)
    took = counted_at - sent["first_sent"]
    used = {name: spent - cpu_before.get(name, 0.0) for name, spent in stack.cpu_seconds().items()}
    sent["cpu_ms_per_report"] = {
        name: round(spent * 1000 / max(1, sent["accepted"]), 3)
        for name, spent in sorted(used.items(), key=lambda item: -item[1])
        if spent > 0.05
    }
    sent.update(
        end_to_end_per_s=round(sent["accepted"] / took, 1),
        accepted_per_s=round(sent["accepted"] / (sent["last_answered"] - sent["first_sent"]), 1),
        projected_after_last_answer_s=round(counted_at - sent["last_answered"], 2),
    )
    return sent, samples


def measure(stack: EmbeddedStack, *, quick: bool) -> dict[str, Any]:
    learners = 100 if quick else 500
    seconds = 10.0 if quick else 60.0
    single_clients, batch_clients = 64, 8
    idle = stack.idle_percent
    print(f"ingest: seeding {learners} learners of one course")
    spec = asyncio.run(seed(stack.gateway, learners))
    stack.wait_quiet(idle)
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as listing:
        json.dump(spec, listing)
    single, samples = asyncio.run(_phase(stack, listing.name, spec, "single", single_clients, seconds))
    print(f"  single reports, {single_clients} clients: {single}")
    stack.wait_quiet(idle)
    batch, _ = asyncio.run(_phase(stack, listing.name, spec, "batch", batch_clients, seconds))
    print(f"  batches of {BATCH_SIZE}, {batch_clients} clients: {batch}")
    Path(listing.name).unlink(missing_ok=True)
    samples.sort()
    p50, p99 = round(percentile(samples, 0.5), 1), round(percentile(samples, 0.99), 1)
    print(f"  freshness over {len(samples)} probes: p50 {p50} ms, p99 {p99} ms")
    single_workload = f"{single_clients} clients as {learners} learners, {seconds:g} s, one report a request"
    freshness_workload = f"{len(samples)} probes during the single-report load ({single_workload})"
    return {
        "ingest_events_per_s": {
            "value": single["end_to_end_per_s"],
            "target": f">= {SINGLE_TARGET:g}",
            "met": single["end_to_end_per_s"] >= SINGLE_TARGET,
            "workload": single_workload,
            "run": single,
        },
        "ingest_batch_events_per_s": {
            "value": batch["end_to_end_per_s"],
            "target": f">= {BATCH_TARGET:g}",
            "met": batch["end_to_end_per_s"] >= BATCH_TARGET,
            "workload": f"{batch_clients} clients as {learners} learners, {seconds:g} s,"
            f" {BATCH_SIZE} reports a request",
            "run": batch,
        },
        "freshness_p50_ms": {
            "value": p50,
            "target": "(p99 is the target)",
            "met": True,
            "workload": freshness_workload,
        },
        "freshness_p99_ms": {
            "value": p99,
            "target": f"<= {FRESHNESS_P99_TARGET:g} ms",
            "met": p99 <= FRESHNESS_P99_TARGET,
            "workload": freshness_workload,
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(prog="bench.ingest")
    commands = parser.add_subparsers(dest="command", required=True)
    sender = commands.add_parser("send", help="send reports (run by the benchmark in a process of its own)")
    sender.add_argument("base")
    sender.add_argument("spec")
    sender.add_argument("mode", choices=("single", "batch"))
    sender.add_argument("--clients", type=int, default=64)
    sender.add_argument("--seconds", type=float, default=20.0)
    args = parser.parse_args()
    spec = json.loads(Path(args.spec).read_text())
    random.seed(7)
    print(json.dumps(asyncio.run(send(args.base, spec, args.mode, args.clients, args.seconds))))


if __name__ == "__main__":
    main()

"""``instructor_dashboard_p95_ms`` and ``funnel_speedup_vs_postgres``: one course with a long
history behind it.

The workload generator (the one ``make run``'s demo data and the analytics tests use) makes
one course and its learners' four weeks: 120,000 learners in ``bench`` (about ten million
events, the target's scale), 5,000 in ``bench-quick`` (about 400,000). The course itself is created through
the public API by a real instructor, so every service knows it; the generated events are
then mapped onto its ids (course, lessons, quizzes, questions, instructor) and loaded into
analytics with its backfill import (``POST /api/analytics/import``), which writes them
through the projection's own path; pushing millions through the bus would make every
consumer group work them off first (see the ingest figures). The same learner events are
copied into PostgreSQL as the seeds designed their analytics: an ``activity_logs`` table
(user, action, entity, JSON metadata, time) with the seeds' indexes and one for the course.

- ``instructor_dashboard_p95_ms``: ``GET /api/instructor/courses/{id}/dashboard`` (what the
  course analytics page asks: stats with trends, funnel, heatmap, lessons, assistant usage,
  students at risk) through the gateway as the instructor, one client back to back, every
  request with ``Cache-Control: no-cache`` so that each answer is computed in full; ten
  clients are measured beside it. The same page asked without it (``kept``: analytics reuses
  an answer while nothing of the course changed, as on a reload of a course at rest) is
  reported beside it too; a course that is being written to ends every kept answer, so the
  full computation is the figure that counts.
- ``funnel_speedup_vs_postgres``: the completion funnel and the day-by-hour heatmap of the
  course's activity written as SQL over PostgreSQL's ``activity_logs`` and over ClickHouse
  (through the analysts' endpoint), the answers checked equal; the median of PostgreSQL's
  times divided by the median of ClickHouse's, same data, same run. ClickHouse answers from
  the read model the reports use (``course_learners``: one row per learner, activity by
  quarter hour); the same over its raw ``activity`` events is reported beside it
  (``clickhouse_events_ms``, ``speedup_events``).
"""

from __future__ import annotations

import asyncio
import json
import random
import statistics
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import aiohttp
import asyncpg

from bench.load import in_another_process
from bench.stack import EmbeddedStack, json_of
from learnstream.analytics.adapters.schema import ACTIVITY_EVENTS
from learnstream.devstack import demo
from learnstream.devstack.supervisor import POSTGRES_PORT
from learnstream.devstack.workload import stream
from learnstream.events import DomainEvent, encode, structured_json
from learnstream.events.chat import ChatSessionDeleted
from learnstream.events.identity import LearnerErasureRequested, UserProfileChanged, UserRegistered
from learnstream.events.progress import QuizSubmitted
from learnstream.runtime.settings import DEV_SERVICE_TOKEN

DASHBOARD_TARGET_MS = 100.0
SPEEDUP_TARGET = 20.0
CHUNK = 20_000
"""Events a backfill request carries."""
QUERY_RUNS = 7
PG_DATABASE = "bench_seed_design"

# the seeds' activity_logs (004), with a column-free course: the course id is in metadata
PG_SCHEMA = """
DROP TABLE IF EXISTS activity_logs;
CREATE TABLE activity_logs (
    id bigserial PRIMARY KEY,
    user_id uuid,
    action text NOT NULL,
    entity_type text,
    entity_id uuid,
    metadata jsonb,
    created_at timestamptz NOT NULL
);
"""
PG_INDEXES = """
CREATE INDEX idx_activity_user ON activity_logs (user_id);
CREATE INDEX idx_activity_action ON activity_logs (action);
CREATE INDEX idx_activity_created ON activity_logs (created_at);
CREATE INDEX idx_activity_course ON activity_logs ((metadata->>'course_id'));
ANALYZE activity_logs;
"""
PG_FUNNEL = """
WITH learners AS (
    SELECT user_id,
           bool_or(action = 'LessonStarted') AS started,
           max(CASE WHEN action = 'CourseMilestoneReached' THEN (metadata->>'milestone')::int ELSE 0 END)
               AS milestone,
           bool_or(action = 'CourseCompleted') AS completed
    FROM activity_logs
    WHERE metadata->>'course_id' = $1
    GROUP BY user_id
    HAVING bool_or(action = 'EnrollmentCreated')
)
SELECT count(*),
       count(*) FILTER (WHERE started),
       count(*) FILTER (WHERE milestone >= 25 OR completed),
       count(*) FILTER (WHERE milestone >= 50 OR completed),
       count(*) FILTER (WHERE milestone >= 75 OR completed),
       count(*) FILTER (WHERE completed)
FROM learners
"""
PG_HEATMAP = """
SELECT extract(isodow FROM created_at AT TIME ZONE 'UTC')::int AS day,
       extract(hour FROM created_at AT TIME ZONE 'UTC')::int AS hour,
       count(*)
FROM activity_logs
WHERE metadata->>'course_id' = $1
  AND action IN ('LessonStarted', 'LessonTimeTracked', 'VideoProgressed', 'LessonCompleted',
                  'QuizSubmitted', 'ChatMessageSent')
GROUP BY 1, 2
ORDER BY 1, 2
"""
CH_FUNNEL = """
SELECT count(), countIf(started), countIf(milestone >= 25 OR completed),
       countIf(milestone >= 50 OR completed), countIf(milestone >= 75 OR completed), countIf(completed)
FROM (
    SELECT learner_id,
           max(name = 'LessonStarted') AS started,
           maxIf(milestone, name = 'CourseMilestoneReached') AS milestone,
           max(name = 'CourseCompleted') AS completed
    FROM learnstream.activity FINAL
    WHERE course_id = {c:UUID}
    GROUP BY learner_id
    HAVING max(name = 'EnrollmentCreated')
)
FORMAT JSONCompact
"""
CH_HEATMAP = """
SELECT toDayOfWeek(time) AS day, toHour(time) AS hour, count()
FROM learnstream.activity FINAL
WHERE course_id = {c:UUID}
  AND name IN ('LessonStarted', 'LessonTimeTracked', 'VideoProgressed', 'LessonCompleted',
                'QuizSubmitted', 'ChatMessageSent')
GROUP BY day, hour
ORDER BY day, hour
FORMAT JSONCompact
"""
MODEL_FUNNEL = """
SELECT count(), countIf(first_started IS NOT NULL),
       countIf(milestone >= 25 OR completed_at IS NOT NULL),
       countIf(milestone >= 50 OR completed_at IS NOT NULL),
       countIf(milestone >= 75 OR completed_at IS NOT NULL),
       countIf(completed_at IS NOT NULL)
FROM learnstream.course_learners FINAL
WHERE course_id = {c:UUID} AND first_enrolled IS NOT NULL
FORMAT JSONCompact
"""
MODEL_HEATMAP = """
SELECT toDayOfWeek(slot) AS day, toHour(slot) AS hour, sum(n)
FROM (
    SELECT slot, sum(slot_events) AS n
    FROM learnstream.course_learners FINAL
    ARRAY JOIN slots.starts AS slot, slots.events AS slot_events
    WHERE course_id = {c:UUID}
    GROUP BY slot
)
GROUP BY day, hour
ORDER BY day, hour
FORMAT JSONCompact
"""


def _remap(event: DomainEvent, ids: dict[UUID, UUID]) -> DomainEvent | None:
    """The event about the API's course instead of the generated one; None when it is about a
    lesson the final outline no longer has."""
    lesson = getattr(event, "lesson_id", None)
    if lesson is not None and lesson not in ids:
        return None
    update: dict[str, Any] = {
        name: ids[value]
        for name in type(event).model_fields
        if isinstance(value := getattr(event, name), UUID) and value in ids
    }
    if isinstance(event, QuizSubmitted):
        update["question_results"] = [
            result.model_copy(update={"question_id": ids.get(result.question_id, result.question_id)})
            for result in event.question_results
        ]
    return event.model_copy(update=update) if update else event


def _pg_row(event: DomainEvent, course: UUID) -> tuple[Any, ...] | None:
    """The seeds' activity log row of a learner event of the course (None for other events)."""
    name = event.event_name()
    if name not in ACTIVITY_EVENTS or getattr(event, "course_id", None) != course:
        return None
    entity_type, entity = next(
        ((kind, value) for kind in ("lesson", "quiz") if (value := getattr(event, f"{kind}_id", None))),
        ("course", course),
    )
    metadata: dict[str, Any] = {"course_id": str(course)}
    if (milestone := getattr(event, "milestone", None)) is not None:
        metadata["milestone"] = milestone
    if (session := getattr(event, "session_id", None)) is not None:
        metadata["session_id"] = str(session)
    return (
        getattr(event, "learner_id", None),
        name,
        entity_type,
        entity,
        json.dumps(metadata),
        event.occurred_at,
    )


async def seed(stack: EmbeddedStack, learners: int) -> dict[str, Any]:
    """The course through the API, its history into analytics and PostgreSQL; what was made."""
    world = stream(11, learners=learners, courses=1, instructors=1, weeks=4, now=datetime.now(UTC))
    generated_course, generated_teacher = world.courses[0], world.instructors[0]
    async with aiohttp.ClientSession(
        base_url=stack.gateway, timeout=aiohttp.ClientTimeout(total=600)
    ) as http:
        api = demo.Api(http)
        token, teacher_id = await api.sign_in(
            f"bench-instructor-{random.getrandbits(32):x}@example.com",
            "instructor",
            generated_teacher.display_name,
            generated_teacher.timezone,
        )
        made = await demo.create_course(api, token, generated_course, random.Random(3))
    course = UUID(made.course_id)
    ids: dict[UUID, UUID] = {generated_course.course_id: course, generated_teacher.user_id: UUID(teacher_id)}
    for mapping in (made.lessons, made.quizzes, made.questions):
        ids.update({generated: UUID(created) for generated, created in mapping.items()})

    pg = await _pg_connect(stack)
    await pg.execute(PG_SCHEMA)
    forgotten = _Forgotten()
    sent = rows = 0
    started = time.monotonic()
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=3600)) as http:
        url = f"{stack.url('analytics')}/api/analytics/import"
        headers = {"X-Service-Token": DEV_SERVICE_TOKEN, "Content-Type": "application/x-ndjson"}
        in_flight: set[asyncio.Task[None]] = set()

        async def post(body: bytes, count: int) -> None:
            async with http.post(url, data=body, headers=headers) as answer:
                result = await json_of(answer)
            if result["refused"] or result["imported"] != count:
                raise RuntimeError(f"the import refused events: {result}")

        for lines, records in _chunks(world.events, ids, course, forgotten):
            if len(in_flight) >= 2:
                _done, in_flight = await asyncio.wait(in_flight, return_when=asyncio.FIRST_COMPLETED)
                for task in _done:
                    task.result()
            task = asyncio.create_task(post(b"\n".join(lines), len(lines)))
            in_flight.add(task)
            await pg.copy_records_to_table(
                "activity_logs",
                records=records,
                columns=["user_id", "action", "entity_type", "entity_id", "metadata", "created_at"],
            )
            sent += len(lines)
            rows += len(records)
            print(f"  loaded {sent:,} events ({time.monotonic() - started:.0f} s)", end="\r", flush=True)
        for pending in asyncio.as_completed(in_flight):
            await pending
    # what analytics does with an erasure and a deleted conversation, the seeds' design does too
    await pg.execute("DELETE FROM activity_logs WHERE user_id = ANY($1::uuid[])", sorted(forgotten.learners))
    await pg.execute(
        "DELETE FROM activity_logs WHERE metadata->>'session_id' = ANY($1::text[])",
        sorted(str(session) for session in forgotten.sessions),
    )
    await pg.execute(PG_INDEXES)
    await pg.close()
    seconds = time.monotonic() - started
    print(
        f"  loaded {sent:,} events into analytics and {rows:,} activity rows into PostgreSQL"
        f" in {seconds:.0f} s"
    )
    return {
        "course": str(course),
        "token": token,
        "events": sent,
        "pg_rows": rows,
        "load_seconds": round(seconds, 1),
    }


@dataclass
class _Forgotten:
    """Learners erased and conversations deleted in the history."""

    learners: set[UUID] = field(default_factory=set)
    sessions: set[UUID] = field(default_factory=set)


def _chunks(
    events: Iterator[DomainEvent], ids: dict[UUID, UUID], course: UUID, forgotten: _Forgotten
) -> Iterator[tuple[list[bytes], list[tuple[Any, ...]]]]:
    lines: list[bytes] = []
    records: list[tuple[Any, ...]] = []
    for generated in events:
        if isinstance(generated, LearnerErasureRequested):
            forgotten.learners.add(generated.user_id)
        elif isinstance(generated, ChatSessionDeleted):
            forgotten.sessions.add(generated.session_id)
        if generated.topic().endswith(".catalog"):
            continue  # the course the API made has its own catalog events
        if isinstance(generated, UserRegistered | UserProfileChanged) and generated.user_id in ids:
            continue  # the real instructor registered through the gateway
        event = _remap(generated, ids)
        if event is None:
            continue
        lines.append(structured_json(encode(event, source=f"/services/{event.context}")))
        if (row := _pg_row(event, course)) is not None:
            records.append(row)
        if len(lines) >= CHUNK:
            yield lines, records
            lines, records = [], []
    if lines:
        yield lines, records


async def _pg_connect(stack: EmbeddedStack) -> asyncpg.Connection:
    port = POSTGRES_PORT + stack.port_offset
    admin = await asyncpg.connect(host="127.0.0.1", port=port, user="postgres", database="postgres")
    exists = await admin.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", PG_DATABASE)
    if not exists:
        await admin.execute(f'CREATE DATABASE "{PG_DATABASE}"')
    await admin.close()
    return await asyncpg.connect(host="127.0.0.1", port=port, user="postgres", database=PG_DATABASE)


async def compare(stack: EmbeddedStack, course: str) -> dict[str, Any]:
    """The funnel and heatmap on both stores: equal answers, and each store's times."""
    pg = await _pg_connect(stack)
    analyst = f"http://127.0.0.1:{8123 + stack.port_offset}/"
    timings: dict[str, list[float]] = {"postgres": [], "clickhouse": [], "clickhouse_events": []}
    answers: dict[str, Any] = {}
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=600)) as http:

        async def clickhouse(query: str) -> list[list[Any]]:
            async with http.post(analyst, params={"param_c": course}, data=query) as answer:
                text = await answer.text()
                if answer.status != 200:
                    raise RuntimeError(f"ClickHouse answered {answer.status}: {text[:300]}")
            return [[int(cell) for cell in row] for row in json.loads(text)["data"]]

        for _ in range(QUERY_RUNS):
            began = time.perf_counter()
            pg_funnel = [list(row) for row in await pg.fetch(PG_FUNNEL, course)]
            pg_heatmap = [list(row) for row in await pg.fetch(PG_HEATMAP, course)]
            timings["postgres"].append(time.perf_counter() - began)
            began = time.perf_counter()
            model_funnel = await clickhouse(MODEL_FUNNEL)
            model_heatmap = await clickhouse(MODEL_HEATMAP)
            timings["clickhouse"].append(time.perf_counter() - began)
            began = time.perf_counter()
            ch_funnel = await clickhouse(CH_FUNNEL)
            ch_heatmap = await clickhouse(CH_HEATMAP)
            timings["clickhouse_events"].append(time.perf_counter() - began)
            answers = {
                "postgres": [pg_funnel, pg_heatmap],
                "clickhouse": [model_funnel, model_heatmap],
                "clickhouse_events": [ch_funnel, ch_heatmap],
            }
    await pg.close()
    if not answers["postgres"] == answers["clickhouse"] == answers["clickhouse_events"]:
        raise RuntimeError(f"PostgreSQL and ClickHouse disagree: {answers}")
    medians = {store: statistics.median(times) * 1000 for store, times in timings.items()}
    return {
        "postgres_ms": round(medians["postgres"], 1),
        "clickhouse_ms": round(medians["clickhouse"], 1),
        "speedup": round(medians["postgres"] / medians["clickhouse"], 1),
        "clickhouse_events_ms": round(medians["clickhouse_events"], 1),
        "speedup_events": round(medians["postgres"] / medians["clickhouse_events"], 1),
        "funnel": answers["clickhouse"][0][0],
        "runs": {store: [round(t * 1000, 1) for t in times] for store, times in timings.items()},
    }


def measure(stack: EmbeddedStack, *, quick: bool) -> dict[str, dict[str, Any]]:
    learners = 5_000 if quick else 120_000  # about 84 events a learner: ten million in all
    seconds = 10.0 if quick else 40.0
    print(f"instructor dashboard: one course with {learners:,} generated learners")
    made = asyncio.run(seed(stack, learners))
    print(f"  the stack worked off the loading in {stack.wait_quiet(stack.idle_percent):.0f} s more")
    url = f"{stack.gateway}/api/instructor/courses/{made['course']}/dashboard?period=30d"
    asyncio.run(_check_dashboard(url, made["token"]))
    with tempfile.NamedTemporaryFile("w", suffix=".tokens", delete=False) as listing:
        listing.write(made["token"])
    fresh = {"Cache-Control": "no-cache"}
    single = in_another_process(url, listing.name, 1, seconds, headers=fresh)
    print(f"  1 client back to back, computed in full: {single}")
    ten = in_another_process(url, listing.name, 10, seconds, headers=fresh)
    print(f"  10 clients back to back, computed in full: {ten}")
    kept = in_another_process(url, listing.name, 1, seconds)
    print(f"  1 client back to back, kept answers: {kept}")
    kept_ten = in_another_process(url, listing.name, 10, seconds)
    print(f"  10 clients back to back, kept answers: {kept_ten}")
    # answers the gateway gave up on are cancelled in analytics; whatever still runs ends first
    stack.wait_quiet(stack.idle_percent)
    compared = asyncio.run(compare(stack, made["course"]))
    print(f"  funnel and heatmap: {compared}")
    scale = f"{made['events']:,} events of {learners:,} learners in one course"
    if quick:
        scale += " (quick: the target is set at 10 million events of 100,000 learners)"
    return {
        "instructor_dashboard_p95_ms": {
            "value": single["p95_ms"],
            "target": f"<= {DASHBOARD_TARGET_MS:g} ms",
            "met": single["p95_ms"] <= DASHBOARD_TARGET_MS and set(single["statuses"]) == {"200"},
            "workload": f"{scale}; the course analytics page's request computed in full"
            f" (Cache-Control: no-cache), 1 client, {seconds:g} s",
            "seeding": made | {"token": "…"},
            "single_client": single,
            "ten_clients": ten,
            "kept_single_client": kept,
            "kept_ten_clients": kept_ten,
        },
        "funnel_speedup_vs_postgres": {
            "value": compared["speedup"],
            "target": f">= {SPEEDUP_TARGET:g}",
            "met": compared["speedup"] >= SPEEDUP_TARGET,
            "workload": f"{scale}; {made['pg_rows']:,} activity rows in PostgreSQL"
            f" (the seeds' activity_logs), median of {QUERY_RUNS}",
            **compared,
        },
    }


async def _check_dashboard(url: str, token: str) -> None:
    """The dashboard answers in full (no section unavailable) before it is timed."""
    async with aiohttp.ClientSession() as http:
        for _ in range(60):
            async with http.get(url, headers={"Authorization": f"Bearer {token}"}) as answer:
                body = await json_of(answer)
            if not body.get("unavailable") and (body.get("analytics") or {}).get("stats", {}).get(
                "totalStudents"
            ):
                return
            await asyncio.sleep(1)
    raise RuntimeError(f"the dashboard is not complete: unavailable {body.get('unavailable')}")

"""``learner_dashboard_p95_ms``: ``GET /api/learner/dashboard`` under 100 concurrent clients.

Seeds, through the public API, an instructor with three published courses and learners
enrolled in one to three of them, each with a month of offline tracking (lessons
completed on past days, so the activity chart has points); waits until analytics has
projected it; then runs :mod:`bench.load` with 100 closed-loop clients, each request as a
learner picked at random. A single client's figure is measured first, for the service
time without queueing.
"""

from __future__ import annotations

import asyncio
import random
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp

from bench.load import in_another_process
from bench.seeding import article_course, dev_token, published_course
from bench.stack import EmbeddedStack, json_of

TARGET_MS = 30.0
CLIENTS = 100
PACED_RATES = (25, 50, 75, 100)
"""Requests per second of the 100 clients together, in the paced runs (quick: 50 and 100)."""
QUICK_PACED_RATES = (50, 100)


async def seed(base: str, learners: int) -> list[str]:
    """The learners' access tokens, after their enrollments and tracking were accepted."""
    rng = random.Random(42)
    now = datetime.now(UTC)
    async with aiohttp.ClientSession(base_url=base, timeout=aiohttp.ClientTimeout(total=60)) as http:

        async def token(email: str, role: str) -> str:
            return await dev_token(http, email, role)

        instructor = await token(f"bench-teacher-{uuid.uuid4().hex[:6]}@example.com", "instructor")
        courses = [
            await published_course(
                http, instructor, article_course(f"Benchmark course {n}", lesson_seconds=300)
            )
            for n in range(3)
        ]

        limit = asyncio.Semaphore(16)
        tokens: list[str] = []

        async def learner(index: int) -> None:
            async with limit:
                access = await token(f"bench-learner-{index}-{uuid.uuid4().hex[:6]}@example.com", "student")
                headers = {"Authorization": f"Bearer {access}"}
                for course in rng.sample(courses, rng.randint(1, 3)):
                    async with http.post(f"/api/courses/{course['id']}/enroll", headers=headers) as answer:
                        await json_of(answer)
                    lessons = [lesson for section in course["sections"] for lesson in section["lessons"]]
                    done = lessons[: rng.randint(1, len(lessons))]
                    events = [
                        {
                            "courseId": course["id"],
                            "lessonId": lesson["id"],
                            "viewId": str(uuid.uuid4()),
                            "timeSpentSeconds": rng.randint(60, 900),
                            "completed": True,
                            "occurredAt": (now - timedelta(days=len(done) - i, minutes=rng.randint(0, 600)))
                            .isoformat()
                            .replace("+00:00", "Z"),
                        }
                        for i, lesson in enumerate(done)
                    ]
                    async with http.post(
                        "/api/learner/track-batch", json={"events": events}, headers=headers
                    ) as answer:
                        await json_of(answer)
                tokens.append(access)

        started = time.monotonic()
        for batch_start in range(0, learners, 100):
            await asyncio.gather(*(learner(i) for i in range(batch_start, min(learners, batch_start + 100))))
            print(f"  seeded {len(tokens)}/{learners} learners", end="\r", flush=True)
        print(f"  seeded {learners} learners in {time.monotonic() - started:.0f} s")
        await _wait_projected(http, tokens[-1])
    return tokens


async def _wait_projected(http: aiohttp.ClientSession, access: str, timeout: float = 120.0) -> None:
    """Until the last learner's activity shows in the dashboard (analytics has caught up)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        async with http.get(
            "/api/learner/dashboard", headers={"Authorization": f"Bearer {access}"}
        ) as answer:
            body = await json_of(answer)
        if any(point["timeSpent"] for point in body.get("activityData") or []):
            return
        await asyncio.sleep(1.0)
    raise RuntimeError("the seeded activity never reached the learner dashboard")


def measure(stack: EmbeddedStack, *, quick: bool) -> dict[str, Any]:
    learners = 300 if quick else 2000
    seconds = 8.0 if quick else 60.0
    idle = stack.idle_percent
    print(f"learner dashboard: the idle stack uses {idle:.0f} % of a core; seeding {learners} learners")
    tokens = asyncio.run(seed(stack.gateway, learners))
    print(f"  the stack worked off the seeding's events in {stack.wait_quiet(idle):.0f} s more")
    with tempfile.NamedTemporaryFile("w", suffix=".tokens", delete=False) as listing:
        listing.write("\n".join(tokens))
    url = f"{stack.gateway}/api/learner/dashboard"
    single = in_another_process(url, listing.name, 1, seconds / 2)
    print(f"  1 client back to back: {single}")
    loaded = in_another_process(url, listing.name, CLIENTS, seconds)
    print(f"  {CLIENTS} clients back to back: {loaded}")
    paced: dict[str, Any] = {}
    rates = QUICK_PACED_RATES if quick else PACED_RATES
    for rate in rates:
        paced[str(rate)] = in_another_process(url, listing.name, CLIENTS, seconds, rate)
        print(f"  {CLIENTS} clients, {rate} requests/s together: {paced[str(rate)]}")
    within = [rate for rate in rates if paced[str(rate)]["p95_ms"] <= TARGET_MS]
    return {
        "value": loaded["p95_ms"],
        "target": f"<= {TARGET_MS:g} ms",
        "met": loaded["p95_ms"] <= TARGET_MS,
        "workload": f"{CLIENTS} clients back to back over {learners} learners, {seconds:g} s",
        "single_client": single,
        "concurrent": loaded,
        "paced": paced,
        "highest_paced_rate_within_target": max(within) if within else None,
    }

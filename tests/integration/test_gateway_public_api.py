"""The gateway's public API over real HTTP with progress, chat, achievements and analytics behind
it: composed dashboards, gamification, live updates, the personal data export, erasure, and a
context being stopped.

The tests run in file order against one stack; the last one stops the analytics service.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any
from uuid import uuid4

import httpx
import pytest
from redis.asyncio import Redis

pytestmark = pytest.mark.integration

COURSE = {
    "title": "Composed course",
    "description": "Two lessons",
    "category": "testing",
    "difficulty": "beginner",
    "sections": [
        {
            "title": "One",
            "lessons": [
                {"title": "First", "contentType": "article", "durationSeconds": 60},
                {"title": "Second", "contentType": "article", "durationSeconds": 60},
            ],
        }
    ],
}


@dataclass
class World:
    teacher: dict[str, str]
    other_teacher: dict[str, str]
    learner: dict[str, str]
    course: dict[str, Any]

    @property
    def course_id(self) -> str:
        return str(self.course["id"])

    def lesson(self, index: int) -> str:
        return str(self.course["sections"][0]["lessons"][index]["id"])


async def publish_course(stack: Any, teacher: dict[str, str]) -> dict[str, Any]:
    created = await stack.http.post("/api/instructor/courses", json=COURSE, headers=teacher)
    assert created.status_code == 201, created.text
    course = created.json()
    published = await stack.http.post(f"/api/instructor/courses/{course['id']}/publish", headers=teacher)
    assert published.status_code == 200, published.text
    return dict(course)


async def track(
    stack: Any,
    who: dict[str, str],
    course_id: str,
    lesson_id: str,
    seconds: int,
    view_id: str | None = None,
) -> dict[str, Any]:
    body = {
        "courseId": course_id,
        "lessonId": lesson_id,
        "viewId": view_id or str(uuid4()),
        "timeSpentSeconds": seconds,
        "completed": True,
    }
    answer = await stack.http.post("/api/learner/track-lesson", json=body, headers=who)
    assert answer.status_code == 200, answer.text
    tracked: dict[str, Any] = answer.json()
    return tracked


async def eventually(probe: Any, *, timeout: float = 15.0, every: float = 0.1) -> Any:
    """Poll ``probe()`` until it returns something truthy."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        result = await probe()
        if result:
            return result
        assert asyncio.get_running_loop().time() < deadline, "condition not reached in time"
        await asyncio.sleep(every)


@pytest.fixture(scope="module")
async def world(stack: Any) -> World:
    teacher = await stack.token("instructor", name="Grace Teacher")
    other_teacher = await stack.token("instructor")
    learner = await stack.token("student", name="Ada Learner")
    course = await publish_course(stack, teacher)
    assert (await stack.http.post(f"/api/courses/{course['id']}/enroll", headers=learner)).status_code == 201
    world = World(teacher, other_teacher, learner, course)
    await track(stack, learner, world.course_id, world.lesson(0), 42)
    return world


async def test_the_learner_dashboard_gathers_every_context_and_names_the_missing_ones(
    stack: Any, world: World
) -> None:
    async def seen() -> dict[str, Any] | None:
        answer = await stack.http.get("/api/learner/dashboard", headers=world.learner)
        assert answer.status_code == 200, answer.text
        body: dict[str, Any] = answer.json()
        activity = body["activityData"] or []
        # lesson 50 XP, the first lesson ever 10, a day of learning 20
        return body if sum(day["timeSpent"] for day in activity) == 42 and body["xp"] == 80 else None

    dashboard = await eventually(seen)
    stats = dashboard["stats"]
    assert (stats["totalCourses"], stats["completedCourses"], stats["totalTimeSpent"]) == (1, 0, 42)
    assert stats["averageCompletion"] == 50.0
    assert len(dashboard["activityData"]) == 30
    [course] = dashboard["inProgressCourses"]
    assert course["courseId"] == world.course_id and course["nextLesson"]["lessonId"] == world.lesson(1)
    assert (stats["achievementsCount"], stats["currentStreak"], dashboard["xp"], dashboard["level"]) == (
        1,
        1,
        80,
        0,
    )
    [first] = dashboard["recentAchievements"]
    assert first["id"] == "first_course" and first["earnedAt"]
    assert dashboard["unavailable"] == {}

    ninety = await stack.http.get("/api/learner/dashboard", params={"days": 90}, headers=world.learner)
    assert len(ninety.json()["activityData"]) == 90
    assert (
        await stack.http.get("/api/learner/dashboard", params={"days": 7}, headers=world.learner)
    ).status_code == 422
    assert (await stack.http.get("/api/learner/dashboard")).status_code == 401


async def test_course_pages_are_composed_for_their_owner_only(stack: Any, world: World) -> None:
    page = await stack.http.get(f"/api/learner/course/{world.course_id}/progress", headers=world.learner)
    assert page.status_code == 200, page.text
    body = page.json()
    assert body["stats"]["lessonsCompleted"] == 1 and len(body["lessons"]) == 2
    assert body["conversations"] == [] and body["unavailable"] == {}
    stranger = await stack.token("student")
    for who in (stranger, world.teacher):
        answer = await stack.http.get(f"/api/learner/course/{world.course_id}/progress", headers=who)
        assert answer.status_code == 404
    unknown = await stack.http.get(f"/api/learner/course/{uuid4()}/progress", headers=world.learner)
    assert unknown.status_code == 404

    path = f"/api/instructor/courses/{world.course_id}/dashboard"

    async def projected() -> dict[str, Any] | None:
        # the page is served at once; its analytics sections fill in once the projection has the course
        mine = await stack.http.get(path, params={"period": "7d"}, headers=world.teacher)
        assert mine.status_code == 200, mine.text
        page: dict[str, Any] = mine.json()
        return page if not page["unavailable"] and page["analytics"]["stats"]["totalStudents"] == 1 else None

    dashboard = await eventually(projected, timeout=45)
    assert dashboard["course"]["title"] == "Composed course"
    assert dashboard["analytics"]["stats"]["totalStudents"] == 1
    assert [lesson["title"] for lesson in dashboard["lessons"]] == ["First", "Second"]
    assert isinstance(dashboard["atRisk"], list) and dashboard["assistant"]["totalQuestions"] == 0
    assert dashboard["atRiskTotal"] == len(dashboard["atRisk"])  # nobody is quiet for a week yet
    assert dashboard["unavailable"] == {}
    for who in (world.other_teacher, world.learner):
        assert (await stack.http.get(path, headers=who)).status_code == 404
    assert (
        await stack.http.get(f"/api/instructor/courses/{uuid4()}/dashboard", headers=world.teacher)
    ).status_code == 404
    bad = await stack.http.get(path, params={"period": "1y"}, headers=world.teacher)
    assert bad.status_code == 422

    creator = await stack.http.get("/api/creator/dashboard", params={"period": "30d"}, headers=world.teacher)
    assert creator.status_code == 200, creator.text
    figures = creator.json()
    assert figures["students"]["total"] == 1
    assert [c["id"] for c in figures["courses"]] == [world.course_id]
    other = (await stack.http.get("/api/creator/dashboard", headers=world.other_teacher)).json()
    assert other["students"]["total"] == 0 and other["courses"] == []
    assert (await stack.http.get("/api/creator/dashboard", headers=world.learner)).status_code == 404


@dataclass
class Listener:
    """One open ``/api/stream`` connection, collecting what arrives."""

    updates: list[dict[str, Any]] = field(default_factory=list)
    task: asyncio.Task[None] | None = None

    def kinds(self) -> list[str]:
        return [u["event"] for u in self.updates]


@contextlib.asynccontextmanager
async def listening(stack: Any, who: dict[str, str], last_id: str | None = None) -> AsyncIterator[Listener]:
    listener = Listener()
    connected = asyncio.Event()
    headers = {**who, **({"Last-Event-ID": last_id} if last_id else {})}

    async def run() -> None:
        async with (
            httpx.AsyncClient(base_url=stack.base_url, timeout=httpx.Timeout(10, read=60)) as http,
            http.stream("GET", "/api/stream", headers=headers) as response,
        ):
            assert response.status_code == 200
            assert response.headers["content-type"].startswith("text/event-stream")
            current: dict[str, Any] = {}
            async for line in response.aiter_lines():
                if line.startswith(": connected"):
                    connected.set()
                elif line.startswith(("id: ", "event: ")):
                    key, _, value = line.partition(": ")
                    current[key] = value
                elif line.startswith("data: "):
                    current["data"] = json.loads(line.removeprefix("data: "))
                elif line == "" and current:
                    listener.updates.append(current)
                    current = {}

    listener.task = asyncio.create_task(run())
    await asyncio.wait_for(connected.wait(), 10)
    try:
        yield listener
    finally:
        listener.task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await listener.task


async def test_live_updates_reach_the_learner_and_the_courses_instructor_only(
    stack: Any, world: World
) -> None:
    newcomer = await stack.token("student", name="Newcomer")
    async with (
        listening(stack, world.teacher) as teacher,
        listening(stack, world.other_teacher) as other,
        listening(stack, newcomer) as learner,
    ):
        assert (
            await stack.http.post(f"/api/courses/{world.course_id}/enroll", headers=newcomer)
        ).status_code == 201
        await track(stack, newcomer, world.course_id, world.lesson(0), 30)

        async def arrived() -> bool:
            return (
                "enrollment.created" in teacher.kinds()
                and len(learner.updates) >= 4
                and "achievement.unlocked" in learner.kinds()
            )

        await eventually(arrived)
        await asyncio.sleep(0.5)  # anything misrouted would have arrived by now
    [enrolled] = [u for u in teacher.updates if u["event"] == "enrollment.created"]
    assert enrolled["data"]["courseId"] == world.course_id
    assert enrolled["data"]["learnerName"] == "Newcomer"
    assert other.updates == []
    progressed = [u for u in learner.updates if u["event"] == "progress.changed"]
    changes = [u["data"]["change"] for u in progressed]
    assert changes[:2] == ["enrolled", "lessonCompleted"] and "milestoneReached" in changes
    completed = next(u for u in progressed if u["data"]["change"] == "lessonCompleted")
    assert completed["data"]["completionPercentage"] == 50.0
    [unlocked] = [u for u in learner.updates if u["event"] == "achievement.unlocked"]
    assert unlocked["data"]["achievementId"] == "first_course"
    assert unlocked["data"]["courseId"] == world.course_id

    # a client that reconnects with Last-Event-ID gets what it missed, once
    first_id = learner.updates[0]["id"]
    async with listening(stack, newcomer, last_id=first_id) as again:
        await eventually(lambda: _at_least(again, len(learner.updates) - 1))
        await asyncio.sleep(0.3)
    assert [u["id"] for u in again.updates] == [u["id"] for u in learner.updates[1:]]
    bad = await stack.http.get("/api/stream", headers={**newcomer, "Last-Event-ID": "robert'); DROP"})
    assert bad.status_code == 422


async def _at_least(listener: Listener, count: int) -> bool:
    return len(listener.updates) >= count


async def test_a_two_lesson_course_done_in_a_day_earns_its_badges_once_however_often_the_client_retried(
    stack: Any, world: World
) -> None:
    learner = await stack.token("student", name="Quick Learner")
    enroll = f"/api/courses/{world.course_id}/enroll"
    async with listening(stack, learner) as live:
        assert (await stack.http.post(enroll, headers=learner)).status_code == 201
        assert (await stack.http.post(enroll, headers=learner)).status_code in (200, 201, 409)
        views = [str(uuid4()), str(uuid4())]
        told: list[str] = []  # what tracking answers said was new
        for _ in range(3):  # a flaky connection: every report sent three times
            for index, view in enumerate(views):
                answer = await track(stack, learner, world.course_id, world.lesson(index), 60, view_id=view)
                told += [a["id"] for a in answer["newAchievements"]]

        async def settled() -> dict[str, Any] | None:
            answer = await stack.http.get("/api/learner/achievements", headers=learner)
            assert answer.status_code == 200, answer.text
            body: dict[str, Any] = answer.json()
            return body if body["xp"] >= 630 else None

        mine = await eventually(settled, timeout=30)
        await eventually(lambda: _unlocked(live, 3), timeout=15)
        await asyncio.sleep(0.5)  # a second announcement would have arrived by now
    # 2 lessons x 50, the first lesson 10, one day of learning 20, the course 500
    assert (mine["xp"], mine["level"], mine["currentStreak"]) == (630, 2, 1)
    earned = sorted(a["id"] for a in mine["earned"])
    assert earned == ["course_completed", "fast_learner", "first_course"]
    locked = {a["id"]: a["progress"] for a in mine["available"]}
    assert locked["streak_7"] == {"current": 1, "target": 7, "unit": "days", "percentage": 14.3}
    pushed = sorted(u["data"]["achievementId"] for u in live.updates if u["event"] == "achievement.unlocked")
    assert pushed == earned
    levels = [u["data"]["level"] for u in live.updates if u["event"] == "level.reached"]
    assert levels[-1:] == [2] and levels == sorted(set(levels))  # one per jump, never twice

    # tracking answers tell each of them once (those earned after the last report, in the next)
    heartbeat = await track(stack, learner, world.course_id, world.lesson(1), 60, view_id=views[1])
    told += [a["id"] for a in heartbeat["newAchievements"]]
    assert sorted(told) == earned
    again = await track(stack, learner, world.course_id, world.lesson(1), 60, view_id=views[1])
    assert again["newAchievements"] == [] and again["progress"]["completionPercentage"] == 100.0

    me = (await stack.http.get("/api/me", headers=learner)).json()
    for params in ({"period": "weekly"}, {"period": "all-time", "courseId": world.course_id}):

        async def placed(params: dict[str, str] = params) -> dict[str, Any] | None:
            board = await stack.http.get("/api/leaderboard", params=params, headers=learner)
            assert board.status_code == 200, board.text
            body: dict[str, Any] = board.json()
            # the name comes with the identity events, a topic consumed beside progress's
            named = [e for e in body["entries"] if e["displayName"] == "Quick Learner"]
            return body if named else None

        board = await eventually(placed)
        entry = next(e for e in board["entries"] if e["learnerId"] == me["id"])
        assert (entry["xp"], entry["displayName"], entry["isMe"]) == (630, "Quick Learner", True)
        assert board["me"]["xp"] == 630
    xp = (await stack.http.get("/api/learner/xp", headers=learner)).json()
    assert sum(award["amount"] for award in xp["awards"]) == 630 and len(xp["awards"]) == 5
    bad = await stack.http.get("/api/leaderboard", params={"period": "daily"}, headers=learner)
    assert bad.status_code == 422 and bad.headers["content-type"].startswith("application/problem+json")


async def _unlocked(listener: Listener, count: int) -> bool:
    return sum(1 for u in listener.updates if u["event"] == "achievement.unlocked") >= count


async def test_the_data_export_gathers_what_every_context_holds(stack: Any, world: World) -> None:
    async def complete_enough() -> dict[str, Any] | None:
        answer = await stack.http.get("/api/me/data-export", headers=world.learner)
        assert answer.status_code == 200, answer.text
        body: dict[str, Any] = answer.json()
        events = {e["name"] for e in (body["analytics"] or {}).get("events", [])}
        return body if "LessonCompleted" in events else None

    export = await eventually(complete_enough)
    assert export["account"]["fullName"] == "Ada Learner"
    [enrollment] = export["progress"]["enrollments"]
    assert enrollment["courseId"] == world.course_id and enrollment["timeSpentSeconds"] == 42
    assert len(export["progress"]["lessons"]) == 1
    assert sum(day["timeSpent"] for day in export["analytics"]["activityByDay"]) == 42
    assert export["complete"] is True
    assert export["chat"] == {"conversations": []}
    assert export["achievements"]["xp"] == 80
    reasons = sorted(award["reason"] for award in export["achievements"]["ledger"])
    assert reasons == ["daily_activity", "first_lesson", "lesson_completed"]
    assert export["unavailable"] == {}
    assert export["exports"] == {"exports": []}


async def test_erasure_forgets_the_account_and_reports_each_contexts_confirmation(stack: Any) -> None:
    address = f"forget-{uuid4().hex[:6]}@example.com"
    registered = await stack.http.post(
        "/api/auth/register",
        json={"email": address, "password": "correct horse battery", "fullName": "Forget Me"},
    )
    assert registered.status_code == 201
    me = {"Authorization": f"Bearer {registered.json()['accessToken']}"}
    teacher = await stack.token("instructor")
    course = await publish_course(stack, teacher)
    assert (await stack.http.post(f"/api/courses/{course['id']}/enroll", headers=me)).status_code == 201
    await track(stack, me, course["id"], course["sections"][0]["lessons"][0]["id"], 12)

    erased = await stack.http.delete("/api/me", headers=me)
    assert erased.status_code == 202, erased.text
    request = erased.json()
    assert request["status"] == "pending" and set(request["contexts"]) == {
        "progress",
        "chat",
        "achievements",
        "analytics",
        "exports",
    }
    assert (await stack.http.get("/api/me", headers=me)).status_code == 401
    redis = Redis.from_url(stack.gateway_settings.redis_url)
    assert not await redis.exists(f"learnstream:live:{registered.json()['user']['id']}")
    await redis.aclose()
    login = await stack.http.post(
        "/api/auth/login", json={"email": address, "password": "correct horse battery"}
    )
    assert login.status_code == 401

    async def confirmed() -> dict[str, Any] | None:
        answer = await stack.http.get(request["statusUrl"])  # no token: the account is gone
        assert answer.status_code == 200, answer.text
        body: dict[str, Any] = answer.json()
        done = {n for n, c in body["contexts"].items() if c["status"] == "confirmed"}
        return body if {"progress", "chat", "achievements", "analytics", "exports"} <= done else None

    status = await eventually(confirmed, timeout=30, every=0.5)
    assert status["status"] != "pending"
    assert (await stack.http.get(f"/api/erasures/{uuid4()}")).status_code == 404
    again = await stack.http.post(
        "/api/auth/register",
        json={"email": address, "password": "another horse battery", "fullName": "New Person"},
    )
    assert again.status_code == 201


async def test_a_stopped_context_leaves_its_sections_unavailable_and_the_rest_served(
    stack: Any, world: World
) -> None:
    await stack.stop("analytics")
    dashboard = await stack.http.get("/api/learner/dashboard", headers=world.learner)
    assert dashboard.status_code == 200, dashboard.text
    body = dashboard.json()
    # the learner's page needs no analytics (its activity chart is progress's)
    assert body["stats"]["totalCourses"] == 1 and len(body["activityData"]) == 30
    assert body["unavailable"] == {} and body["xp"] == 80

    path = f"/api/instructor/courses/{world.course_id}/dashboard"
    page = await stack.http.get(path, headers=world.teacher)
    assert page.status_code == 200, page.text
    assert page.json()["course"]["title"] == "Composed course" and page.json()["analytics"] is None
    assert set(page.json()["unavailable"]) == {"analytics", "lessons", "atRisk", "assistant"}
    # the course's owner is still checked (by progress) while analytics is down
    assert (await stack.http.get(path, headers=world.other_teacher)).status_code == 404

    creator = (await stack.http.get("/api/creator/dashboard", headers=world.teacher)).json()
    assert creator["students"] is None and [c["id"] for c in creator["courses"]] == [world.course_id]

    forwarded = await stack.http.get(
        f"/api/instructor/courses/{world.course_id}/analytics", headers=world.teacher
    )
    assert forwarded.status_code == 503
    assert forwarded.headers["content-type"].startswith("application/problem+json")
    assert forwarded.headers["Retry-After"] == "5"
    health = (await stack.http.get("/health")).json()
    assert health["services"]["analytics"] != "ok" and health["services"]["progress"] == "ok"

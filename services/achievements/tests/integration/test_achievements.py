"""XP, levels, streaks, achievements and leaderboards from real events on the real broker:
awarded once however often an event comes, in the learner's own calendar, and the
leaderboards rebuilt from the ledger equal to what was written live."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4
from zoneinfo import ZoneInfo

import pytest

from learnstream.achievements.adapters.leaderboards import window
from learnstream.devstack.testing import events_on
from learnstream.events import DomainEvent
from learnstream.events.achievements import (
    AchievementUnlocked,
    LearnerAchievementsErased,
    LevelReached,
    StreakBroken,
    StreakExtended,
    XpAwarded,
)
from learnstream.events.chat import ChatMessageSent
from learnstream.events.identity import LearnerErasureRequested
from learnstream.events.progress import (
    CourseCompleted,
    EnrollmentCreated,
    LessonCompleted,
    LessonTimeTracked,
    QuizSubmitted,
)
from learnstream.runtime.settings import DEV_SERVICE_TOKEN

from .conftest import AchievementsApi

pytestmark = pytest.mark.integration

TOPIC = "learnstream.achievements"


def enrollment(learner: UUID, course: UUID, at: datetime | None = None) -> EnrollmentCreated:
    at = at or datetime.now(UTC)
    return EnrollmentCreated(
        learner_id=learner, enrollment_id=uuid4(), course_id=course, enrolled_at=at, occurred_at=at
    )


def completion(
    learner: UUID, course: UUID, at: datetime | None = None, lesson: UUID | None = None
) -> LessonCompleted:
    return LessonCompleted(
        learner_id=learner,
        course_id=course,
        lesson_id=lesson or uuid4(),
        total_seconds_spent=300,
        completion_percentage=50,
        occurred_at=at or datetime.now(UTC),
    )


def course_done(learner: UUID, course: UUID, days: int = 0, at: datetime | None = None) -> CourseCompleted:
    return CourseCompleted(
        learner_id=learner,
        course_id=course,
        enrollment_id=uuid4(),
        days_to_complete=days,
        total_seconds_spent=600,
        occurred_at=at or datetime.now(UTC),
    )


def ids(achievements: list[dict[str, Any]]) -> list[str]:
    return sorted(a["id"] for a in achievements)


def named(events: list[DomainEvent], kind: type) -> list[Any]:
    return [event for event in events if isinstance(event, kind)]


async def test_a_two_lesson_course_completed_the_day_of_enrolling_however_often_redelivered(
    achievements: AchievementsApi,
) -> None:
    learner = await achievements.learner()
    course = await achievements.course()
    story: list[DomainEvent] = [
        enrollment(learner, course),
        completion(learner, course),
        completion(learner, course),
        course_done(learner, course, days=0),
    ]
    for _ in range(3):  # every event delivered three times
        await achievements.publish(*story)

    overview = await achievements.until(learner, lambda o: o["xp"] >= 630)
    assert ids(overview["earned"]) == ["course_completed", "fast_learner", "first_course"]
    assert (overview["xp"], overview["level"]) == (630, 2)
    assert (overview["levelStartsAtXp"], overview["nextLevelAtXp"]) == (400, 900)
    assert overview["currentStreak"] == 1
    assert all(a["courseId"] == str(course) for a in overview["earned"])
    locked = {a["id"]: a["progress"] for a in overview["available"]}
    assert locked["streak_7"] == {"current": 1, "target": 7, "unit": "days", "percentage": 14.3}
    assert locked["bookworm"]["current"] == 1

    # the bus carries each outcome once: 50 + 10 + 20 + 50 + 500
    events = await events_on(
        achievements.infra, TOPIC, str(learner), until=lambda seen: len(named(seen, AchievementUnlocked)) >= 3
    )
    await asyncio.sleep(1)  # anything published twice would be there by now
    events = await events_on(
        achievements.infra, TOPIC, str(learner), until=lambda seen: len(seen) >= len(events)
    )
    awards = named(events, XpAwarded)
    assert sorted(a.amount for a in awards) == [10, 20, 50, 50, 500]
    assert Counter(a.reason for a in awards) == Counter(
        {"lesson_completed": 2, "first_lesson": 1, "daily_activity": 1, "course_completed": 1}
    )
    assert max(a.total_xp for a in awards) == 630
    assert sorted(e.achievement_id for e in named(events, AchievementUnlocked)) == [
        "course_completed",
        "fast_learner",
        "first_course",
    ]
    assert [e.level for e in named(events, LevelReached)] == [1, 2]
    assert [e.current_streak_days for e in named(events, StreakExtended)] == [1]

    board = await achievements.get("/api/leaderboard", learner, params={"period": "weekly", "limit": 100})
    mine = [entry for entry in board["entries"] if entry["learnerId"] == str(learner)]
    assert mine and mine[0]["xp"] == 630 and mine[0]["isMe"] and mine[0]["displayName"] == "Ada"
    assert board["me"]["xp"] == 630
    in_course = await achievements.get(
        "/api/leaderboard", learner, params={"period": "all-time", "courseId": str(course)}
    )
    assert [(e["learnerId"], e["xp"], e["rank"]) for e in in_course["entries"]] == [(str(learner), 630, 1)]

    ledger = await achievements.get("/api/learner/xp", learner)
    assert sum(a["amount"] for a in ledger["awards"]) == 630
    assert {a["causedByEventId"] for a in ledger["awards"]} <= {str(e.event_id) for e in story}


async def test_the_state_after_three_deliveries_is_the_state_after_one(achievements: AchievementsApi) -> None:
    learner = await achievements.learner(timezone="Europe/Paris")
    course = await achievements.course()
    quiz, lesson = uuid4(), uuid4()
    story: list[DomainEvent] = [
        enrollment(learner, course),
        completion(learner, course, lesson=lesson),
        completion(learner, course, lesson=lesson),  # the same lesson reported again: no more XP
        QuizSubmitted(
            learner_id=learner,
            course_id=course,
            lesson_id=lesson,
            quiz_id=quiz,
            attempt_number=1,
            score_percentage=100,
            passed=True,
            question_results=[],
        ),
        LessonTimeTracked(
            learner_id=learner, course_id=course, lesson_id=lesson, view_id=uuid4(), seconds=120
        ),
        ChatMessageSent(
            learner_id=learner, session_id=uuid4(), message_id=uuid4(), course_id=course, text="Why?"
        ),
    ]
    await achievements.publish(*story)
    await achievements.until(learner, lambda o: o["xp"] == 50 + 10 + 20 + 100 + 50)
    once = await achievements.settled(learner)
    exported_once = await achievements.get("/api/me/data-export", learner)

    await achievements.publish(*story, *story)
    await asyncio.sleep(2)
    assert await achievements.settled(learner) == once
    assert await achievements.get("/api/me/data-export", learner) == exported_once
    assert exported_once["days"][0]["seconds"] == 120
    assert exported_once["days"][0]["lessonsCompleted"] == 1


async def test_night_owl_counts_the_learners_own_evening(achievements: AchievementsApi) -> None:
    tokyo = await achievements.learner(timezone="Asia/Tokyo")
    london = await achievements.learner(timezone="UTC")
    course = await achievements.course()
    evening_in_tokyo = datetime(2026, 11, 20, 14, 30, tzinfo=UTC)  # 23:30 in Tokyo
    for learner in (tokyo, london):
        await achievements.publish(
            *(completion(learner, course, evening_in_tokyo + timedelta(days=n)) for n in range(10))
        )
    owl = await achievements.until(tokyo, lambda o: "night_owl" in ids(o["earned"]))
    assert owl["longestStreak"] == 10
    assert "streak_7" in ids(owl["earned"])
    day = await achievements.until(london, lambda o: o["xp"] >= 10 * 70 + 10)
    assert "night_owl" not in ids(day["earned"])
    assert {a["id"]: a["progress"]["current"] for a in day["available"]}["night_owl"] == 0


async def test_a_streak_counts_local_days_across_a_dst_change_and_breaks_once(
    achievements: AchievementsApi,
) -> None:
    learner = await achievements.learner(timezone="America/New_York")
    course = await achievements.course()
    new_york = ZoneInfo("America/New_York")
    # evenings of 7, 8 and 9 March 2026 in New York; clocks sprang forward in the night of
    # the 8th. In UTC terms these are the 8th, the 9th and the 9th again: a streak of two.
    evenings = [
        datetime(2026, 3, 7, 20, 0, tzinfo=new_york),
        datetime(2026, 3, 8, 23, 30, tzinfo=new_york),
        datetime(2026, 3, 9, 19, 0, tzinfo=new_york),
    ]
    assert [e.astimezone(UTC).day for e in evenings] == [8, 9, 9]
    for evening in evenings:
        await achievements.publish(completion(learner, course, evening.astimezone(UTC)))
    overview = await achievements.until(learner, lambda o: o["longestStreak"] == 3)
    assert overview["lastActiveDate"] == "2026-03-09"
    assert overview["currentStreak"] == 0  # today is long after 9 March
    assert (
        sum(
            1
            for a in (await achievements.get("/api/learner/xp", learner))["awards"]
            if a["reason"] == "daily_activity"
        )
        == 3
    )

    # the daily check ends the streak once, however often it runs
    await achievements.service.break_streaks()
    await achievements.service.break_streaks()
    events = await events_on(
        achievements.infra, TOPIC, str(learner), until=lambda seen: bool(named(seen, StreakBroken))
    )
    extended = named(events, StreakExtended)
    assert [(e.local_date.isoformat(), e.current_streak_days) for e in extended] == [
        ("2026-03-07", 1),
        ("2026-03-08", 2),
        ("2026-03-09", 3),
    ]
    await asyncio.sleep(0.5)
    events = await events_on(
        achievements.infra, TOPIC, str(learner), until=lambda seen: len(seen) >= len(events)
    )
    broken = named(events, StreakBroken)
    assert [(e.previous_streak_days, e.local_date.isoformat()) for e in broken] == [(3, "2026-03-10")]


async def test_marathon_curious_mind_quiz_xp_and_subject_master(achievements: AchievementsApi) -> None:
    learner = await achievements.learner()
    category = f"data-{uuid4().hex[:6]}"
    courses = [await achievements.course(category) for _ in range(3)]
    lesson = uuid4()
    quiz = uuid4()
    await achievements.publish(
        *(
            LessonTimeTracked(
                learner_id=learner, course_id=courses[0], lesson_id=lesson, view_id=uuid4(), seconds=3_000
            )
            for _ in range(5)
        ),
        *(
            ChatMessageSent(
                learner_id=learner, session_id=uuid4(), message_id=uuid4(), course_id=courses[0], text="?"
            )
            for _ in range(50)
        ),
        *(
            QuizSubmitted(
                learner_id=learner,
                course_id=courses[0],
                lesson_id=lesson,
                quiz_id=quiz,
                attempt_number=attempt,
                score_percentage=score,
                passed=score >= 70,
                question_results=[],
            )
            for attempt, score in ((1, 40.0), (2, 80.0), (3, 100.0), (4, 100.0))
        ),
        *(course_done(learner, course, days=30) for course in courses),
    )
    # chat, progress and catalog topics are consumed side by side: wait for all of them
    wanted = {"marathon", "curious_mind", "course_completed", "subject_master"}
    overview = await achievements.until(learner, lambda o: wanted <= set(ids(o["earned"])))
    assert "fast_learner" not in ids(overview["earned"])
    # quiz: passed once (100) and perfect once (50), whatever the retakes; three courses (1500)
    assert overview["xp"] == 100 + 50 + 3 * 500


async def test_new_achievements_are_announced_once(achievements: AchievementsApi) -> None:
    learner = await achievements.learner()
    course = await achievements.course()
    await achievements.publish(enrollment(learner, course))
    await achievements.until(learner, lambda o: bool(o["earned"]))
    first = await achievements.call("POST", "/api/learner/achievements/announce", learner)
    assert first.status_code == 200
    assert ids(first.json()["newAchievements"]) == ["first_course"]
    again = await achievements.call("POST", "/api/learner/achievements/announce", learner)
    assert again.json() == {"newAchievements": []}


async def test_leaderboard_periods_turn_at_monday_and_the_first_midnight_utc(
    achievements: AchievementsApi,
) -> None:
    course = await achievements.course()
    boards = achievements.service.leaderboards
    now = datetime.now(UTC)
    second = timedelta(seconds=1)
    for period in ("weekly", "monthly"):
        learner = await achievements.learner(name=f"Boundary {period}")
        turn = window(period, now).start
        assert turn is not None
        before, after = turn - second, turn + second
        await achievements.publish(completion(learner, course, before), completion(learner, course, after))
        await achievements.until(learner, lambda o: o["xp"] == 50 + 10 + 20 + 50 + 20)

        async def xp_in(period: Any, at: datetime, learner: UUID = learner) -> int | None:
            board = await boards.top(period, course_id=None, limit=100, me=learner, now=at)
            return board["me"]["xp"] if board["me"] else None

        assert await xp_in(period, before) == 50 + 10 + 20
        assert await xp_in(period, after) == 50 + 20
        assert await xp_in("all-time", after) == 150
    assert await xp_in("weekly", now + timedelta(weeks=1)) is None


async def test_the_leaderboards_rebuilt_from_the_ledger_equal_the_live_ones(
    achievements: AchievementsApi,
) -> None:
    course = await achievements.course()
    learners = [await achievements.learner(name=f"L{n}") for n in range(4)]
    for n, learner in enumerate(learners):
        await achievements.publish(*(completion(learner, course) for _ in range(n + 1)))
    for n, learner in enumerate(learners):  # each learner's events may be on another partition
        await achievements.until(learner, lambda o, n=n: o["xp"] == (n + 1) * 50 + 10 + 20)
    boards = achievements.service.leaderboards

    async def snapshot() -> dict[str, dict[str, float]]:
        return {key: await boards.board(key) for key in await boards.keys()}

    live = await snapshot()
    assert live
    answer = await achievements.http.post(
        "/internal/leaderboards/rebuild", headers={"X-Service-Token": DEV_SERVICE_TOKEN}
    )
    assert answer.status_code == 200, answer.text
    assert await snapshot() == live
    assert set(answer.json()["boards"]) == set(live)
    # after Redis lost everything, the rebuild brings the same boards back
    await boards.redis.delete(*live, boards.built_marker)
    await achievements.service.rebuild_leaderboards()
    assert await snapshot() == live
    refused = await achievements.http.post("/internal/leaderboards/rebuild")
    assert refused.status_code == 401


async def test_an_erased_learner_leaves_no_xp_and_no_place(achievements: AchievementsApi) -> None:
    learner = await achievements.learner(name="Erased")
    course = await achievements.course()
    await achievements.publish(enrollment(learner, course), completion(learner, course))
    await achievements.until(learner, lambda o: o["xp"] == 80)
    request = uuid4()
    await achievements.publish(LearnerErasureRequested(user_id=learner, request_id=request))
    await events_on(
        achievements.infra,
        TOPIC,
        str(learner),
        until=lambda seen: any(
            isinstance(e, LearnerAchievementsErased) and e.request_id == request for e in seen
        ),
    )
    overview = await achievements.get("/api/learner/achievements", learner)
    assert (overview["xp"], overview["earned"]) == (0, [])
    board = await achievements.get("/api/leaderboard", learner, params={"period": "all-time", "limit": 100})
    assert str(learner) not in {e["learnerId"] for e in board["entries"]}
    assert board["me"] is None
    exported = await achievements.get("/api/me/data-export", learner)
    assert exported["ledger"] == [] and exported["days"] == []


async def test_bad_requests_say_what_is_wrong(achievements: AchievementsApi) -> None:
    learner = uuid4()
    bad = await achievements.call("GET", "/api/leaderboard", learner, params={"period": "daily"})
    assert bad.status_code == 422
    assert bad.headers["content-type"].startswith("application/problem+json")
    assert "period" in bad.text
    too_many = await achievements.call("GET", "/api/leaderboard", learner, params={"limit": 1000})
    assert too_many.status_code == 422
    anonymous = await achievements.http.get("/api/learner/achievements")
    assert anonymous.status_code == 401
    newcomer = await achievements.get("/api/learner/achievements", learner)
    assert (newcomer["xp"], newcomer["level"], newcomer["earned"]) == (0, 0, [])
    assert len(newcomer["available"]) >= 12

"""The learner's activity per local day (the dashboard's chart): exact, in the learner's own
time zone as the identity context announced it, and gone with the learner on erasure."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any
from uuid import UUID, uuid4
from zoneinfo import ZoneInfo

import pytest

from learnstream.devstack.testing import Infra, publish
from learnstream.events import DomainEvent
from learnstream.events.identity import LearnerErasureRequested, UserProfileChanged, UserRegistered

from .conftest import ProgressApi, PublishedCourse

pytestmark = pytest.mark.integration


async def announce(infra: Infra, *events: DomainEvent) -> None:
    """Publish identity events as the gateway does."""
    await publish(infra, *events, source="/learnstream/gateway")


async def activity(progress: ProgressApi, learner: tuple[UUID, str], **params: Any) -> dict[str, Any]:
    answer = await progress.call("GET", "/api/learner/activity", learner, params=params)
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


async def in_time_zone(progress: ProgressApi, learner: tuple[UUID, str], zone: str) -> dict[str, Any]:
    for _ in range(200):
        body = await activity(progress, learner)
        if body["timezone"] == zone:
            return body
        await asyncio.sleep(0.1)
    raise AssertionError(f"the learner's time zone never became {zone}")


def report(course: PublishedCourse, lesson: int, seconds: int, view: str) -> dict[str, Any]:
    return {
        "courseId": str(course.id),
        "lessonId": str(course.lesson(lesson)),
        "viewId": view,
        "timeSpentSeconds": seconds,
        "completed": lesson != 1,
    }


def a_zone_on_another_date(now: datetime) -> str:
    """A time zone whose date differs from UTC's right now (UTC+14 late in the UTC day,
    UTC-10 early in it), so the test tells local days from UTC days whenever it runs."""
    return "Pacific/Kiritimati" if now.hour >= 10 else "Pacific/Honolulu"


async def test_days_are_the_learners_own_and_retries_add_nothing(
    progress: ProgressApi, published: PublishedCourse, learner: tuple[UUID, str], infra: Infra
) -> None:
    learner_id, _ = learner
    zone = a_zone_on_another_date(datetime.now(UTC))
    await announce(
        infra, UserRegistered(user_id=learner_id, role="student", display_name="Aiko", timezone=zone)
    )
    before = await in_time_zone(progress, learner, zone)
    assert len(before["activityData"]) == 30 and all(d["timeSpent"] == 0 for d in before["activityData"])

    await progress.call("POST", f"/api/courses/{published.id}/enroll", learner)
    batch = {"events": [report(published, 0, 600, str(uuid4())), report(published, 2, 300, str(uuid4()))]}
    for _ in range(3):  # an offline client retrying the same reports
        sent = await progress.call("POST", "/api/learner/track-batch", learner, json=batch)
        assert sent.status_code == 200, sent.text
        assert sent.json()["accepted"] == 2, sent.text
    done = datetime.now(UTC)

    local = await activity(progress, learner)
    assert local["activityData"][-1] == {
        "date": done.astimezone(ZoneInfo(zone)).date().isoformat(),
        "timeSpent": 900,
        "lessonsCompleted": 2,
    }
    assert sum(d["timeSpent"] for d in local["activityData"]) == 900

    # the same learner in UTC: the same activity on the UTC date
    await announce(infra, UserProfileChanged(user_id=learner_id, timezone="UTC"))
    in_utc = await in_time_zone(progress, learner, "UTC")
    assert {d["date"]: d["timeSpent"] for d in in_utc["activityData"] if d["timeSpent"]} == {
        done.date().isoformat(): 900
    }
    assert done.date() != done.astimezone(ZoneInfo(zone)).date()
    assert len((await activity(progress, learner, days=90))["activityData"]) == 90
    refused = await progress.call("GET", "/api/learner/activity", learner, params={"days": 7})
    assert refused.status_code == 422


async def test_another_learner_sees_only_their_own_and_erasure_forgets_it(
    progress: ProgressApi, published: PublishedCourse, learner: tuple[UUID, str], infra: Infra
) -> None:
    learner_id, _ = learner
    await progress.call("POST", f"/api/courses/{published.id}/enroll", learner)
    sent = await progress.call(
        "POST",
        "/api/learner/track-batch",
        learner,
        json={"events": [report(published, 0, 120, str(uuid4()))]},
    )
    assert sent.status_code == 200, sent.text
    assert sum(d["timeSpent"] for d in (await activity(progress, learner))["activityData"]) == 120
    stranger = (uuid4(), "student")
    assert sum(d["timeSpent"] for d in (await activity(progress, stranger))["activityData"]) == 0

    await announce(infra, LearnerErasureRequested(user_id=learner_id, request_id=uuid4()))
    for _ in range(200):
        if sum(d["timeSpent"] for d in (await activity(progress, learner))["activityData"]) == 0:
            return
        await asyncio.sleep(0.1)
    raise AssertionError("the erased learner's activity is still there")

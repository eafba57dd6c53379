"""Simultaneous reports of one learner never double count or complete twice."""

from __future__ import annotations

import asyncio
from uuid import uuid4

import pytest

from .conftest import ProgressApi, PublishedCourse
from .test_api import event_types

pytestmark = pytest.mark.integration


async def test_two_simultaneous_completions_of_a_lesson_give_one_lesson_completed(
    progress: ProgressApi, published: PublishedCourse, learner
) -> None:  # type: ignore[no-untyped-def]
    enrollment = (await progress.call("POST", f"/api/courses/{published.id}/enroll", learner)).json()["id"]
    report = {"courseId": str(published.id), "lessonId": str(published.lesson(0)), "completed": True}

    responses = await asyncio.gather(
        *(
            progress.call(
                "POST",
                "/api/learner/track-lesson",
                learner,
                json={**report, "viewId": str(uuid4()), "timeSpentSeconds": 30},
            )
            for _ in range(2)
        )
    )

    assert [r.status_code for r in responses] == [200, 200]
    events = await event_types(progress, f"enrollment-{enrollment}")
    assert events.count("LessonCompleted") == 1
    assert events.count("LessonStarted") == 1
    assert events.count("CourseMilestoneReached") == 1  # 1 of 4 lessons: 25 %


async def test_a_burst_of_concurrent_heartbeats_counts_each_second_once(
    progress: ProgressApi, published: PublishedCourse, learner
) -> None:  # type: ignore[no-untyped-def]
    await progress.call("POST", f"/api/courses/{published.id}/enroll", learner)
    view = str(uuid4())
    report = {"courseId": str(published.id), "lessonId": str(published.lesson(2)), "viewId": view}
    seconds = [s for s in range(10, 210, 10) for _ in range(2)]  # every heartbeat sent twice, in any order

    responses = await asyncio.gather(
        *(
            progress.call(
                "POST", "/api/learner/track-lesson", learner, json={**report, "timeSpentSeconds": s}
            )
            for s in seconds
        )
    )

    assert {r.status_code for r in responses} == {200}
    page = (await progress.call("GET", f"/api/learner/course/{published.id}/progress", learner)).json()
    assert page["lessons"][2]["timeSpentSeconds"] == 200


async def test_simultaneous_first_enrollments_create_one_enrollment(
    progress: ProgressApi, published: PublishedCourse, learner
) -> None:  # type: ignore[no-untyped-def]
    responses = await asyncio.gather(
        *(progress.call("POST", f"/api/courses/{published.id}/enroll", learner) for _ in range(4))
    )

    assert sorted(r.status_code for r in responses) == [200, 200, 200, 201]
    assert len({r.json()["id"] for r in responses}) == 1

"""End to end over the real broker: what the service publishes, and erasure on request.

Another team reads ``learnstream.progress`` with a plain Kafka consumer and sees each
fact once, in order, as CloudEvents; an erasure request on ``learnstream.identity``
removes the learner and is confirmed on the bus.
"""

from __future__ import annotations

from uuid import UUID, uuid4

import pytest
from sqlalchemy import text

from learnstream.devstack.testing import Infra, events_on, publish
from learnstream.events.identity import LearnerErasureRequested
from learnstream.runtime.db import create_engine

from .conftest import ProgressApi, PublishedCourse

pytestmark = pytest.mark.integration


async def events_of(infra: Infra, learner: UUID, until: str, timeout: float = 30.0) -> list[str]:
    """Event names on ``learnstream.progress`` keyed by ``learner``, read until ``until`` appears."""
    seen = await events_on(
        infra,
        "learnstream.progress",
        str(learner),
        until=lambda events: any(e.event_name() == until for e in events),
        timeout=timeout,
    )
    return [event.event_name() for event in seen]


async def test_an_outside_consumer_sees_each_fact_once(
    progress: ProgressApi, published: PublishedCourse, learner, infra: Infra
) -> None:  # type: ignore[no-untyped-def]
    learner_id, _ = learner
    await progress.call("POST", f"/api/courses/{published.id}/enroll", learner)
    report = {"courseId": str(published.id), "lessonId": str(published.lesson(0)), "viewId": str(uuid4())}
    for seconds, completed in ((20, False), (20, False), (40, True), (40, True)):
        await progress.call(
            "POST",
            "/api/learner/track-lesson",
            learner,
            json={**report, "timeSpentSeconds": seconds, "completed": completed},
        )

    seen = await events_of(infra, learner_id, until="CourseMilestoneReached")

    assert seen == [
        "EnrollmentCreated",
        "LessonStarted",
        "LessonTimeTracked",
        "LessonTimeTracked",
        "LessonCompleted",
        "CourseMilestoneReached",
    ]


async def test_an_erasure_request_removes_the_learner_and_is_confirmed(
    progress: ProgressApi, published: PublishedCourse, learner, instructor, infra: Infra
) -> None:  # type: ignore[no-untyped-def]
    learner_id, _ = learner
    await progress.call("POST", f"/api/courses/{published.id}/enroll", learner)
    await progress.call(
        "POST",
        "/api/learner/track-lesson",
        learner,
        json={
            "courseId": str(published.id),
            "lessonId": str(published.lesson(0)),
            "viewId": str(uuid4()),
            "timeSpentSeconds": 9,
        },
    )
    await progress.call(
        "POST",
        f"/api/instructor/students/{learner_id}/notes",
        instructor,
        json={"courseId": str(published.id), "note": "Ask about pandas"},
    )

    request = LearnerErasureRequested(user_id=learner_id, request_id=uuid4(), actor_id=learner_id)
    await publish(infra, request, source="/learnstream/gateway")
    seen = await events_of(infra, learner_id, until="LearnerProgressErased", timeout=60)

    assert seen[-1] == "LearnerProgressErased"
    page = await progress.call("GET", f"/api/learner/course/{published.id}/progress", learner)
    assert page.status_code == 404
    engine = create_engine(progress.settings.database_url, pool_size=1)
    try:
        async with engine.connect() as conn:
            left = await conn.scalar(
                text(
                    "SELECT (SELECT count(*) FROM enrollments WHERE learner_id = :l)"
                    " + (SELECT count(*) FROM instructor_notes WHERE learner_id = :l)"
                    " + (SELECT count(*) FROM event_store WHERE data->>'learner_id' = :s"
                    "    AND event_type NOT LIKE '%LearnerProgressErased%')"
                ),
                {"l": learner_id, "s": str(learner_id)},
            )
    finally:
        await engine.dispose()
    assert left == 0

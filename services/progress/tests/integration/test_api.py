"""The progress service's HTTP API as the gateway uses it, against real PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import UUID, uuid4

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text

from learnstream.progress.entrypoints import http
from learnstream.runtime.db import create_engine
from learnstream.runtime.settings import DEV_SERVICE_TOKEN

from .conftest import ProgressApi, PublishedCourse, course_body

pytestmark = pytest.mark.integration


async def event_types(progress: ProgressApi, stream_prefix: str) -> list[str]:
    engine = create_engine(progress.settings.database_url, pool_size=1)
    try:
        async with engine.connect() as conn:
            rows = await conn.execute(
                text("SELECT event_type FROM event_store WHERE stream_id LIKE :p ORDER BY global_position"),
                {"p": f"{stream_prefix}%"},
            )
            return [row[0].split(".")[2] for row in rows]
    finally:
        await engine.dispose()


async def test_an_instructor_creates_a_course_and_gets_every_id(progress: ProgressApi, instructor) -> None:  # type: ignore[no-untyped-def]
    response = await progress.call("POST", "/api/instructor/courses", instructor, json=course_body())

    assert response.status_code == 201
    course = response.json()
    assert course["status"] == "draft"
    assert course["lessonCount"] == 4
    lessons = [lesson for section in course["sections"] for lesson in section["lessons"]]
    assert all(UUID(section["id"]) for section in course["sections"])
    assert all(UUID(lesson["id"]) for lesson in lessons)
    quiz = lessons[3]["quiz"]
    assert UUID(quiz["id"]) and all(UUID(q["id"]) for q in quiz["questions"])
    assert quiz["questions"][0]["correctIndex"] == 1  # the owner sees the answer key
    assert await event_types(progress, f"course-{course['id']}") == [
        "CourseCreated",
        "CourseStructureChanged",
        "LessonContentChanged",
        "LessonContentChanged",
    ]


async def test_invalid_outlines_are_refused_with_field_paths(progress: ProgressApi, instructor) -> None:  # type: ignore[no-untyped-def]
    body = course_body()
    body["title"] = "   "
    body["sections"].append({"title": "Empty", "lessons": []})
    body["sections"][1]["lessons"][1]["quiz"]["questions"][0]["correctIndex"] = 5
    body["sections"][0]["lessons"][0]["order"] = 1
    body["sections"][0]["lessons"][1]["order"] = 1

    response = await progress.call("POST", "/api/instructor/courses", instructor, json=body)

    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    fields = {error["field"] for error in response.json()["errors"]}
    assert fields == {
        "title",
        "sections[2].lessons",
        "sections[1].lessons[1].quiz.questions[0].correctIndex",
        "sections[0].lessons[1].order",
    }


async def test_learners_see_no_answer_keys_and_no_drafts(
    progress: ProgressApi, published: PublishedCourse, instructor, learner
) -> None:  # type: ignore[no-untyped-def]
    draft = (
        await progress.call("POST", "/api/instructor/courses", instructor, json=course_body("Draft"))
    ).json()

    seen = await progress.call("GET", f"/api/courses/{published.id}", learner)
    hidden = await progress.call("GET", f"/api/courses/{draft['id']}", learner)

    assert seen.status_code == 200
    questions = seen.json()["sections"][1]["lessons"][1]["quiz"]["questions"]
    assert [q["correctIndex"] for q in questions] == [None, None]
    assert hidden.status_code == 404


async def test_another_instructor_cannot_edit_the_course_and_learns_nothing_of_it(
    progress: ProgressApi, published: PublishedCourse
) -> None:
    stranger = (uuid4(), "instructor")
    response = await progress.call(
        "PUT", f"/api/instructor/courses/{published.id}", stranger, json=course_body()
    )
    unknown = await progress.call("PUT", f"/api/instructor/courses/{uuid4()}", stranger, json=course_body())
    assert response.status_code == unknown.status_code == 404
    assert response.json()["detail"] == f"no course {published.id}"


async def test_enrolling_twice_returns_the_same_enrollment(
    progress: ProgressApi, published: PublishedCourse, learner
) -> None:  # type: ignore[no-untyped-def]
    first = await progress.call("POST", f"/api/courses/{published.id}/enroll", learner)
    second = await progress.call("POST", f"/api/courses/{published.id}/enroll", learner)

    assert (first.status_code, second.status_code) == (201, 200)
    assert first.json()["id"] == second.json()["id"]


async def test_time_is_exact_under_retries_and_out_of_order_heartbeats(
    progress: ProgressApi, published: PublishedCourse, learner
) -> None:  # type: ignore[no-untyped-def]
    await progress.call("POST", f"/api/courses/{published.id}/enroll", learner)
    view = str(uuid4())
    report = {"courseId": str(published.id), "lessonId": str(published.lesson(0)), "viewId": view}

    for seconds in (30, 30, 60, 45, 60, 90, 90):  # a retry, a late heartbeat, duplicates
        response = await progress.call(
            "POST", "/api/learner/track-lesson", learner, json={**report, "timeSpentSeconds": seconds}
        )
        assert response.status_code == 200, response.text
    other_view = {**report, "viewId": str(uuid4()), "timeSpentSeconds": 15}
    last = await progress.call("POST", "/api/learner/track-lesson", learner, json=other_view)

    assert last.json()["progress"]["lessonTimeSpentSeconds"] == 105
    page = await progress.call("GET", f"/api/learner/course/{published.id}/progress", learner)
    assert page.json()["stats"]["totalTimeSpentSeconds"] == 105


async def test_tracking_without_enrollment_or_outside_the_course_is_refused(
    progress: ProgressApi, published: PublishedCourse, learner
) -> None:  # type: ignore[no-untyped-def]
    report = {"courseId": str(published.id), "lessonId": str(published.lesson(0)), "viewId": str(uuid4())}
    not_enrolled = await progress.call(
        "POST", "/api/learner/track-lesson", learner, json={**report, "timeSpentSeconds": 5}
    )
    await progress.call("POST", f"/api/courses/{published.id}/enroll", learner)
    foreign_lesson = await progress.call(
        "POST",
        "/api/learner/track-lesson",
        learner,
        json={**report, "lessonId": str(uuid4()), "timeSpentSeconds": 5},
    )
    negative = await progress.call(
        "POST", "/api/learner/track-lesson", learner, json={**report, "timeSpentSeconds": -1}
    )
    too_long = await progress.call(
        "POST", "/api/learner/track-lesson", learner, json={**report, "timeSpentSeconds": 50_000}
    )

    assert not_enrolled.status_code == 404
    assert "not enrolled" in not_enrolled.json()["detail"]
    assert foreign_lesson.status_code == 422
    assert foreign_lesson.json()["reason"] == "lesson_not_in_course"
    assert negative.status_code == 422
    assert negative.json()["errors"][0]["field"] == "timeSpentSeconds"
    assert too_long.status_code == 422
    assert too_long.json()["reason"] == "time_over_cap"


async def test_a_learner_completes_the_course_through_every_kind_of_lesson(
    progress: ProgressApi, published: PublishedCourse, learner
) -> None:  # type: ignore[no-untyped-def]
    await progress.call("POST", f"/api/courses/{published.id}/enroll", learner)
    base = {"courseId": str(published.id), "timeSpentSeconds": 10}

    article = {**base, "lessonId": str(published.lesson(0)), "viewId": str(uuid4()), "completed": True}
    for _ in range(3):
        await progress.call("POST", "/api/learner/track-lesson", learner, json=article)
    video = {**base, "lessonId": str(published.lesson(1)), "viewId": str(uuid4())}
    seek = await progress.call(
        "POST",
        "/api/learner/track-lesson",
        learner,
        json={**video, "videoPositionSeconds": 99, "completed": True},
    )
    watched = await progress.call(
        "POST",
        "/api/learner/track-lesson",
        learner,
        json={
            **video,
            "timeSpentSeconds": 100,
            "videoPositionSeconds": 96,
            "watchedRanges": [[0, 50], [40, 96]],
        },
    )
    await progress.call(
        "POST",
        "/api/learner/track-lesson",
        learner,
        json={**base, "lessonId": str(published.lesson(2)), "viewId": str(uuid4()), "completed": True},
    )
    failed = await progress.call(
        "POST", f"/api/learner/quizzes/{published.quiz_id}/attempts", learner, json={"answers": [0, 0]}
    )
    passed = await progress.call(
        "POST", f"/api/learner/quizzes/{published.quiz_id}/attempts", learner, json={"answers": [1, 1]}
    )

    assert seek.json()["progress"]["lessonCompleted"] is False
    assert seek.json()["notices"]
    assert watched.json()["progress"] == {
        "completionPercentage": 50.0,
        "lessonCompleted": True,
        "courseCompleted": False,
        "lessonTimeSpentSeconds": 100,
        "resumePositionSeconds": 96,
        "watchedPercentage": 96.0,
    }
    assert failed.status_code == 201 and failed.json()["passed"] is False
    assert [r["correctIndex"] for r in failed.json()["results"]] == [None, None]
    assert passed.json()["passed"] is True and passed.json()["attemptNumber"] == 2
    assert passed.json()["completionPercentage"] == 100.0

    page = (await progress.call("GET", f"/api/learner/course/{published.id}/progress", learner)).json()
    assert page["enrollment"]["status"] == "completed"
    assert [m["completionPercentage"] for m in page["moduleProgress"]] == [100.0, 100.0]
    assert page["lessons"][3]["quiz"]["attempts"] == 2
    enrollment = page["enrollment"]["id"]
    events = await event_types(progress, f"enrollment-{enrollment}")
    assert events.count("LessonCompleted") == 4
    assert events.count("CourseMilestoneReached") == 3
    assert events.count("CourseCompleted") == 1
    assert events.count("QuizSubmitted") == 2


async def test_an_offline_batch_accepts_and_rejects_item_by_item(
    progress: ProgressApi, published: PublishedCourse, learner
) -> None:  # type: ignore[no-untyped-def]
    await progress.call("POST", f"/api/courses/{published.id}/enroll", learner)
    view = str(uuid4())
    good = {"courseId": str(published.id), "lessonId": str(published.lesson(2)), "viewId": view}
    events = [
        {**good, "timeSpentSeconds": 20},
        {**good, "timeSpentSeconds": "soon"},
        {**good, "timeSpentSeconds": 40},
        {**good, "lessonId": str(uuid4()), "timeSpentSeconds": 5},
        {**good, "timeSpentSeconds": 40},
        {**good, "courseId": str(uuid4()), "timeSpentSeconds": 5},
        {**good, "timeSpentSeconds": 70, "completed": True},
    ]

    response = await progress.call("POST", "/api/learner/track-batch", learner, json={"events": events})

    assert response.status_code == 200
    body = response.json()
    assert (body["accepted"], body["rejected"]) == (4, 3)
    assert [r.get("reason") for r in body["results"]] == [
        None,
        "invalid",
        None,
        "lesson_not_in_course",
        None,
        "course_not_found",
        None,
    ]
    assert body["results"][6]["progress"]["lessonTimeSpentSeconds"] == 70
    assert body["results"][6]["progress"]["lessonCompleted"] is True


async def test_a_batch_over_the_limit_is_refused(progress: ProgressApi, learner) -> None:  # type: ignore[no-untyped-def]
    response = await progress.call("POST", "/api/learner/track-batch", learner, json={"events": [{}] * 1001})
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "events"


async def test_requests_without_the_service_credential_are_refused(progress: ProgressApi) -> None:
    response = await progress.http.get("/api/courses")
    assert response.status_code == 401


async def test_demo_data_may_backdate_an_enrollment_and_an_offline_quiz_keeps_its_moment(
    progress: ProgressApi, published: PublishedCourse, learner
) -> None:  # type: ignore[no-untyped-def]
    # given a learner enrolled ten days ago (dev and test stacks accept a moment for demo data)
    now = datetime.now(UTC)
    enrolled_at = now - timedelta(days=10)
    path = f"/api/courses/{published.id}/enroll"
    response = await progress.call("POST", path, learner, json={"enrolledAt": enrolled_at.isoformat()})
    assert response.status_code == 201, response.text
    assert datetime.fromisoformat(response.json()["enrolledAt"]) == enrolled_at

    # when the quiz was passed offline three days later
    taken = enrolled_at + timedelta(days=3)
    attempt = await progress.call(
        "POST",
        f"/api/learner/quizzes/{published.quiz_id}/attempts",
        learner,
        json={"answers": [1, 1], "occurredAt": taken.isoformat()},
    )
    assert attempt.status_code == 201, attempt.text

    # then the quiz lesson counts as completed then, not now
    view = (await progress.call("GET", f"/api/learner/course/{published.id}/progress", learner)).json()
    quiz_lesson = next(lesson for lesson in view["lessons"] if lesson["quiz"])
    # (events keep milliseconds)
    assert abs(datetime.fromisoformat(quiz_lesson["completedAt"]) - taken) < timedelta(milliseconds=1)


@pytest.mark.parametrize(
    ("field", "days", "reason"), [("enrolledAt", 31, "too_old"), ("enrolledAt", -1, "occurred_in_future")]
)
async def test_an_enrollment_moment_outside_the_offline_window_is_refused(
    progress: ProgressApi, published: PublishedCourse, learner, field, days, reason
) -> None:  # type: ignore[no-untyped-def]
    moment = datetime.now(UTC) - timedelta(days=days)
    response = await progress.call(
        "POST", f"/api/courses/{published.id}/enroll", learner, json={field: moment.isoformat()}
    )
    assert response.status_code == 422
    assert response.json()["reason"] == reason
    assert field in response.json()["detail"]


async def test_outside_dev_mode_an_enrollment_cannot_name_its_moment(
    progress: ProgressApi, published: PublishedCourse, learner
) -> None:  # type: ignore[no-untyped-def]
    # the routes as a production stack builds them, over the same service
    production = FastAPI()
    production.include_router(
        http.build_router(progress.app.state.progress, DEV_SERVICE_TOKEN, backdating=False)
    )
    http.install_error_handlers(production)
    user, role = learner
    headers = {"X-Service-Token": DEV_SERVICE_TOKEN, "X-Actor-Id": str(user), "X-Actor-Role": role}
    transport = httpx.ASGITransport(app=production)
    async with httpx.AsyncClient(transport=transport, base_url="http://progress") as client:
        response = await client.post(
            f"/api/courses/{published.id}/enroll",
            headers=headers,
            json={"enrolledAt": (datetime.now(UTC) - timedelta(days=2)).isoformat()},
        )
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "enrolledAt"
    # nothing was enrolled by the refused request
    view = await progress.call("GET", f"/api/learner/course/{published.id}/progress", learner)
    assert view.status_code == 404

"""Read models the progress service serves: what the learner screens show.

Reads go straight to the snapshot tables (no locks, no aggregates) and combine them
with the course outline; the results are plain dicts the HTTP layer turns into its
response models.
"""

from __future__ import annotations

from datetime import datetime, time, timedelta
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from learnstream.progress.adapters.courses import CourseRepository
from learnstream.progress.adapters.enrollments import EnrollmentRepository
from learnstream.progress.domain.catalog import Course, Lesson
from learnstream.progress.domain.enrollment import Enrollment
from learnstream.runtime.actors import Actor
from learnstream.runtime.timezones import LearnerTimeZones

PACE_BOUNDS = (0.5, 3.0)
"""How far a learner's own pace may scale the estimate of the time a course still needs."""


def course_summary(course: Course, enrollment_count: int | None = None) -> dict[str, Any]:
    return {
        "id": course.course_id,
        "instructor_id": course.instructor_id,
        "title": course.title,
        "description": course.description,
        "category": course.category,
        "difficulty": course.difficulty,
        "status": course.status,
        "lesson_count": course.lesson_count,
        "total_duration_seconds": course.total_duration_seconds,
        "created_at": course.created_at,
        "published_at": course.published_at,
        "enrollment_count": enrollment_count,
    }


def course_detail(course: Course, viewer: Actor | None) -> dict[str, Any]:
    """The course with its outline; answer keys only for its instructor and admins."""
    with_answers = viewer is not None and viewer.owns(course.instructor_id)
    return {
        **course_summary(course),
        "sections": [
            {
                "id": section.section_id,
                "title": section.title,
                "order": s_index,
                "lessons": [
                    _lesson_detail(lesson, l_index, with_answers)
                    for l_index, lesson in enumerate(section.lessons)
                ],
            }
            for s_index, section in enumerate(course.sections)
        ],
    }


def _lesson_detail(lesson: Lesson, order: int, with_answers: bool) -> dict[str, Any]:
    quiz = lesson.quiz
    return {
        "id": lesson.lesson_id,
        "title": lesson.title,
        "order": order,
        "content_type": lesson.content_type,
        "duration_seconds": lesson.duration_seconds,
        "body": lesson.body,
        "quiz": None
        if quiz is None
        else {
            "id": quiz.quiz_id,
            "passing_score": quiz.passing_score,
            "max_attempts": quiz.max_attempts,
            "questions": [
                {
                    "id": q.question_id,
                    "text": q.text,
                    "options": list(q.options),
                    "correct_index": q.correct_index if with_answers else None,
                }
                for q in quiz.questions
            ],
        },
    }


async def list_courses(
    session: AsyncSession,
    courses: CourseRepository,
    *,
    viewer: Actor | None,
    limit: int,
    offset: int,
    mine: bool = False,
    category: str | None = None,
    difficulty: str | None = None,
    search: str | None = None,
) -> dict[str, Any]:
    """Published courses, or with ``mine`` the caller's own in every status; newest first."""
    where = ["true"]
    params: dict[str, Any] = {"limit": limit, "offset": offset}
    if mine and viewer is not None:
        where.append("c.instructor_id = :me")
        params["me"] = viewer.user_id
    else:
        where.append("c.status = 'published'")
    if category:
        where.append("c.category = :category")
        params["category"] = category
    if difficulty:
        where.append("c.difficulty = :difficulty")
        params["difficulty"] = difficulty
    if search:
        where.append("c.title ILIKE :search")
        params["search"] = "%" + search.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    condition = " AND ".join(where)
    total = await session.scalar(text(f"SELECT count(*) FROM courses c WHERE {condition}"), params)
    rows = (
        await session.execute(
            text(
                "SELECT c.course_id, (SELECT count(*) FROM enrollments e WHERE e.course_id = c.course_id"
                f" AND e.status <> 'cancelled') AS enrolled FROM courses c WHERE {condition}"
                " ORDER BY coalesce(c.published_at, c.created_at) DESC, c.course_id"
                " LIMIT :limit OFFSET :offset"
            ),
            params,
        )
    ).all()
    loaded = await courses.get_many(session, [row.course_id for row in rows])
    items = [course_summary(loaded[row.course_id], row.enrolled) for row in rows]
    return {"courses": items, "total": int(total or 0), "limit": limit, "offset": offset}


def enrollment_view(enrollment: Enrollment) -> dict[str, Any]:
    return {
        "id": enrollment.enrollment_id,
        "course_id": enrollment.course_id,
        "learner_id": enrollment.learner_id,
        "status": enrollment.status,
        "enrolled_at": enrollment.enrolled_at,
        "completed_at": enrollment.completed_at,
        "cancelled_at": enrollment.cancelled_at,
        "last_accessed_at": enrollment.last_accessed_at,
        "last_lesson_id": enrollment.last_lesson_id,
        "completion_percentage": round(enrollment.completion_percentage, 1),
    }


async def course_progress(
    session: AsyncSession,
    enrollments: EnrollmentRepository,
    course: Course,
    learner_id: UUID,
    *,
    now: datetime,
) -> dict[str, Any] | None:
    """Everything the course progress page shows, or None when the learner is not enrolled."""
    enrollment = (await enrollments.load(session, learner_id, [course.course_id])).get(course.course_id)
    if enrollment is None:
        return None
    lessons = []
    modules = []
    completed_seconds = 0
    completed_duration = 0
    for s_index, section in enumerate(course.sections):
        done = 0
        seconds = 0
        for lesson in section.lessons:
            progress = enrollment.lessons.get(lesson.lesson_id)
            status = "not_started"
            if progress and progress.completed_at:
                status = "completed"
                done += 1
                completed_seconds += progress.seconds_spent
                completed_duration += lesson.duration_seconds
            elif progress and progress.started_at:
                status = "in_progress"
            seconds += progress.seconds_spent if progress else 0
            quiz_record = enrollment.quizzes.get(lesson.quiz.quiz_id) if lesson.quiz else None
            lessons.append(
                {
                    "lesson_id": lesson.lesson_id,
                    "section_id": section.section_id,
                    "title": lesson.title,
                    "content_type": lesson.content_type,
                    "duration_seconds": lesson.duration_seconds,
                    "status": status,
                    "time_spent_seconds": progress.seconds_spent if progress else 0,
                    "started_at": progress.started_at if progress else None,
                    "completed_at": progress.completed_at if progress else None,
                    "last_viewed_at": progress.last_viewed_at if progress else None,
                    "video_position_seconds": progress.video_position
                    if progress and lesson.content_type == "video"
                    else None,
                    "watched_percentage": progress.watched_percentage if progress else None,
                    "quiz": None
                    if lesson.quiz is None
                    else {
                        "quiz_id": lesson.quiz.quiz_id,
                        "attempts": quiz_record.attempts if quiz_record else 0,
                        "best_score": quiz_record.best_score if quiz_record else None,
                        "passed": quiz_record.passed if quiz_record else False,
                        "max_attempts": lesson.quiz.max_attempts,
                    },
                }
            )
        total = len(section.lessons)
        modules.append(
            {
                "section_id": section.section_id,
                "title": section.title,
                "order": s_index,
                "lessons_completed": done,
                "total_lessons": total,
                "completion_percentage": round(done * 100 / total, 1) if total else 0.0,
                "time_spent_seconds": seconds,
            }
        )
    completed = [
        p for p in enrollment.lessons.values() if p.completed_at and p.lesson_id in course.lesson_ids
    ]
    done_count = len(completed)
    total_seconds = enrollment.total_seconds
    weeks = (
        max(1.0, (now - enrollment.enrolled_at).total_seconds() / (7 * 86400))
        if enrollment.enrolled_at
        else 1.0
    )
    remaining = _remaining_seconds(course, enrollment)
    pace = completed_seconds / completed_duration if completed_duration else 1.0
    pace = min(max(pace, PACE_BOUNDS[0]), PACE_BOUNDS[1])
    next_lesson = _next_lesson(course, enrollment)
    return {
        "course": course_summary(course),
        "enrollment": enrollment_view(enrollment),
        "module_progress": modules,
        "lessons": lessons,
        "next_lesson": {"lesson_id": next_lesson.lesson_id, "title": next_lesson.title}
        if next_lesson
        else None,
        "stats": {
            "total_time_spent_seconds": total_seconds,
            "lessons_completed": done_count,
            "total_lessons": course.lesson_count,
            "completion_percentage": round(enrollment.completion_in(course), 1),
            "average_time_per_lesson_seconds": round(completed_seconds / done_count) if done_count else 0,
            "fastest_lesson_seconds": min(
                (p.seconds_spent for p in completed if p.seconds_spent), default=None
            ),
            "estimated_seconds_to_completion": round(remaining * pace),
            "lessons_per_week": round(done_count / weeks, 2),
        },
    }


def _remaining_seconds(course: Course, enrollment: Enrollment) -> int:
    remaining = 0
    for lesson in course.lessons():
        progress = enrollment.lessons.get(lesson.lesson_id)
        if progress is None or progress.completed_at is None:
            remaining += lesson.duration_seconds
    return remaining


def _next_lesson(course: Course, enrollment: Enrollment) -> Lesson | None:
    """Where "Continue" leads: the last lesson viewed if unfinished, else the next unfinished one."""
    ordered = list(course.lessons())

    def unfinished(lesson: Lesson) -> bool:
        progress = enrollment.lessons.get(lesson.lesson_id)
        return progress is None or progress.completed_at is None

    start = 0
    if enrollment.last_lesson_id is not None:
        for index, lesson in enumerate(ordered):
            if lesson.lesson_id == enrollment.last_lesson_id:
                start = index
                break
    for lesson in ordered[start:] + ordered[:start]:
        if unfinished(lesson):
            return lesson
    return None


async def learner_courses(
    session: AsyncSession,
    courses: CourseRepository,
    enrollments: EnrollmentRepository,
    learner_id: UUID,
    *,
    status: str | None,
    limit: int,
    offset: int,
) -> dict[str, Any]:
    """The learner's enrollments with their course, most recently accessed first."""
    where = "learner_id = :l" + (" AND status = :status" if status else " AND status <> 'cancelled'")
    params: dict[str, Any] = {"l": learner_id, "status": status, "limit": limit, "offset": offset}
    total = await session.scalar(text(f"SELECT count(*) FROM enrollments WHERE {where}"), params)
    course_ids = list(
        await session.scalars(
            text(
                f"SELECT course_id FROM enrollments WHERE {where}"
                " ORDER BY coalesce(last_accessed_at, enrolled_at) DESC, course_id"
                " LIMIT :limit OFFSET :offset"
            ),
            params,
        )
    )
    loaded = await enrollments.load(session, learner_id, course_ids)
    outlines = await courses.get_many(session, course_ids)
    items = []
    for course_id in course_ids:
        course, enrollment = outlines[course_id], loaded[course_id]
        next_lesson = _next_lesson(course, enrollment)
        items.append(
            {
                **enrollment_view(enrollment),
                "completion_percentage": round(enrollment.completion_in(course), 1),
                "course": course_summary(course),
                "lessons_completed": enrollment.completed_lessons(course),
                "total_lessons": course.lesson_count,
                "time_spent_seconds": enrollment.total_seconds,
                "time_remaining_seconds": _remaining_seconds(course, enrollment),
                "next_lesson": {"lesson_id": next_lesson.lesson_id, "title": next_lesson.title}
                if next_lesson
                else None,
            }
        )
    return {"courses": items, "total": int(total or 0), "limit": limit, "offset": offset}


async def learner_summary(session: AsyncSession, learner_id: UUID) -> dict[str, Any]:
    """The dashboard's progress figures across all the learner's courses."""
    row = (
        await session.execute(
            text(
                "SELECT count(*) AS courses, count(*) FILTER (WHERE status = 'completed') AS completed,"
                " count(*) FILTER (WHERE status = 'active') AS in_progress,"
                " coalesce(sum(total_seconds), 0) AS seconds,"
                " coalesce(avg(completion_percentage), 0) AS average,"
                " max(last_accessed_at) AS last_active"
                " FROM enrollments WHERE learner_id = :l AND status <> 'cancelled'"
            ),
            {"l": learner_id},
        )
    ).one()
    return {
        "total_courses": row.courses,
        "completed_courses": row.completed,
        "in_progress_courses": row.in_progress,
        "total_time_spent_seconds": int(row.seconds),
        "average_completion": round(float(row.average), 1),
        "last_active_at": row.last_active,
    }


async def learner_activity(
    session: AsyncSession, learners: LearnerTimeZones, learner_id: UUID, *, days: int, now: datetime
) -> dict[str, Any]:
    """The learner's time spent and lessons completed per local day, the last ``days`` days
    up to today in their time zone (days without activity included, as zeros)."""
    timezone = await learners.time_zone(session, learner_id)
    try:
        zone = ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        timezone, zone = "UTC", ZoneInfo("UTC")
    today = now.astimezone(zone).date()
    first = today - timedelta(days=days - 1)
    since = datetime.combine(first, time.min, tzinfo=zone)
    rows = await session.execute(
        text(
            "SELECT (bucket AT TIME ZONE :tz)::date AS day, sum(seconds) AS seconds,"
            " sum(lessons_completed) AS completed FROM learner_activity"
            " WHERE learner_id = :l AND bucket >= :since AND bucket <= :now GROUP BY day"
        ),
        {"tz": timezone, "l": learner_id, "since": since, "now": now},
    )
    per_day = {row.day: (int(row.seconds), int(row.completed)) for row in rows}
    return {
        "days": days,
        "timezone": timezone,
        "activity_data": [
            {
                "date": day,
                "time_spent": per_day.get(day, (0, 0))[0],
                "lessons_completed": per_day.get(day, (0, 0))[1],
            }
            for day in (first + timedelta(days=i) for i in range(days))
        ],
    }


async def notes(session: AsyncSession, course_id: UUID, learner_id: UUID) -> list[dict[str, Any]]:
    rows = await session.execute(
        text(
            "SELECT note_id, instructor_id, body, created_at FROM instructor_notes"
            " WHERE course_id = :c AND learner_id = :l ORDER BY created_at DESC LIMIT 200"
        ),
        {"c": course_id, "l": learner_id},
    )
    return [
        {"id": r.note_id, "instructor_id": r.instructor_id, "note": r.body, "created_at": r.created_at}
        for r in rows
    ]


async def learner_data_export(session: AsyncSession, learner_id: UUID) -> dict[str, Any]:
    """Everything this context stores about the learner (their right of access): enrollments,
    per-lesson progress, viewing sessions, quiz attempts with answers, and instructors' notes."""

    async def rows(sql: str) -> list[dict[str, Any]]:
        result = await session.execute(text(sql), {"l": learner_id})
        return [_camel(dict(row._mapping)) for row in result]

    scope = "FROM enrollments e JOIN courses c USING (course_id)"
    return {
        "enrollments": await rows(
            "SELECT e.enrollment_id, e.course_id, c.title AS course_title, e.status, e.enrolled_at,"
            " e.completed_at, e.cancelled_at, e.last_accessed_at, e.completion_percentage,"
            f" e.total_seconds AS time_spent_seconds {scope} WHERE e.learner_id = :l ORDER BY e.enrolled_at"
        ),
        "lessons": await rows(
            "SELECT e.course_id, p.lesson_id, p.started_at, p.last_viewed_at, p.completed_at,"
            " p.seconds_spent, p.watched AS watched_ranges, p.video_position AS video_position_seconds"
            " FROM lesson_progress p JOIN enrollments e USING (enrollment_id)"
            " WHERE e.learner_id = :l ORDER BY e.course_id, p.started_at"
        ),
        "viewingSessions": await rows(
            "SELECT e.course_id, v.lesson_id, v.view_id, v.seconds FROM lesson_views v"
            " JOIN enrollments e USING (enrollment_id) WHERE e.learner_id = :l ORDER BY e.course_id"
        ),
        "quizAttempts": await rows(
            "SELECT e.course_id, q.quiz_id, q.attempt_number, q.score_percentage, q.passed, q.answers,"
            " q.submitted_at FROM quiz_attempts q JOIN enrollments e USING (enrollment_id)"
            " WHERE e.learner_id = :l ORDER BY q.submitted_at"
        ),
        "instructorNotes": await rows(
            "SELECT course_id, note_id, body, created_at FROM instructor_notes"
            " WHERE learner_id = :l ORDER BY created_at"
        ),
    }


def _camel(row: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for key, value in row.items():
        head, *rest = key.split("_")
        name = head + "".join(part.title() for part in rest)
        out[name] = value.isoformat().replace("+00:00", "Z") if isinstance(value, datetime) else value
    return out

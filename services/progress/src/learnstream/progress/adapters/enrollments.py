"""The enrollment repository: loads an aggregate's snapshot, saves it with its events.

Loading locks the enrollment row (``FOR UPDATE``), so concurrent reports of one
learner in one course queue up instead of both deciding from the same state: two
simultaneous completions of a lesson give one ``LessonCompleted``. Saving appends
the recorded events to the enrollment's stream (the store's version check is the
second line of defence) and writes the changed parts of the snapshot in a few
set-based statements, whatever the number of reports in the batch.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from learnstream.events import DomainEvent
from learnstream.events.progress import LessonCompleted, LessonTimeTracked
from learnstream.progress.domain.catalog import Course
from learnstream.progress.domain.enrollment import Enrollment, LessonProgress, QuizRecord, View
from learnstream.runtime.eventstore import EventStore, StoredEvent


def stream_id(enrollment_id: UUID) -> str:
    return f"enrollment-{enrollment_id}"


_ENROLLMENT_COLUMNS = (
    "enrollment_id, learner_id, course_id, status, version, enrolled_at, completed_at, cancelled_at,"
    " last_accessed_at, last_lesson_id, completion_percentage, milestones"
)


class EnrollmentRepository:
    """Enrollment aggregates in the service's database, next to their event streams."""

    def __init__(self, store: EventStore) -> None:
        self._store = store

    async def lock(
        self,
        session: AsyncSession,
        learner_id: UUID,
        course_ids: Iterable[UUID],
        *,
        with_quizzes: bool = False,
    ) -> dict[UUID, Enrollment]:
        """The learner's enrollments in ``course_ids``, locked, in a fixed order (no deadlocks).

        Quiz records are loaded only when asked for: tracking, the hot path, never reads them.
        """
        return await self._load(session, learner_id, course_ids, " FOR UPDATE", with_quizzes=with_quizzes)

    async def load(
        self, session: AsyncSession, learner_id: UUID, course_ids: Iterable[UUID]
    ) -> dict[UUID, Enrollment]:
        """The learner's enrollments in ``course_ids``, for reading (no lock)."""
        return await self._load(session, learner_id, course_ids, "", with_quizzes=True)

    async def _load(
        self,
        session: AsyncSession,
        learner_id: UUID,
        course_ids: Iterable[UUID],
        lock: str,
        *,
        with_quizzes: bool,
    ) -> dict[UUID, Enrollment]:
        ordered = sorted(set(course_ids))
        rows = (
            await session.execute(
                text(
                    f"SELECT {_ENROLLMENT_COLUMNS} FROM enrollments"
                    f" WHERE learner_id = :l AND course_id = ANY(:c) ORDER BY course_id{lock}"
                ),
                {"l": learner_id, "c": ordered},
            )
        ).all()
        enrollments = {row.course_id: _enrollment(row) for row in rows}
        if not enrollments:
            return {}
        by_id = {e.enrollment_id: e for e in enrollments.values()}
        lessons = await session.execute(
            text(
                "SELECT enrollment_id, lesson_id, started_at, last_viewed_at, completed_at, seconds_spent,"
                " watched, video_position, video_duration FROM lesson_progress WHERE enrollment_id = ANY(:e)"
            ),
            {"e": list(by_id)},
        )
        for row in lessons:
            by_id[row.enrollment_id].lessons[row.lesson_id] = LessonProgress(
                lesson_id=row.lesson_id,
                started_at=row.started_at,
                last_viewed_at=row.last_viewed_at,
                completed_at=row.completed_at,
                seconds_spent=row.seconds_spent,
                watched=tuple((int(a), int(b)) for a, b in row.watched),
                video_position=row.video_position,
                video_duration=row.video_duration,
            )
        if with_quizzes:
            quizzes = await session.execute(
                text(
                    "SELECT enrollment_id, quiz_id, max(attempt_number) AS attempts,"
                    " max(score_percentage) AS best, bool_or(passed) AS passed"
                    " FROM quiz_attempts WHERE enrollment_id = ANY(:e) GROUP BY enrollment_id, quiz_id"
                ),
                {"e": list(by_id)},
            )
            for row in quizzes:
                by_id[row.enrollment_id].quizzes[row.quiz_id] = QuizRecord(
                    row.quiz_id, int(row.attempts), float(row.best), bool(row.passed)
                )
        return enrollments

    async def load_views(
        self, session: AsyncSession, enrollment: Enrollment, view_ids: Iterable[UUID]
    ) -> None:
        """Load the views a decision is about to look at into the aggregate."""
        wanted = [v for v in set(view_ids) if v not in enrollment.views]
        if not wanted:
            return
        rows = await session.execute(
            text(
                "SELECT view_id, lesson_id, seconds FROM lesson_views"
                " WHERE enrollment_id = :e AND view_id = ANY(:v)"
            ),
            {"e": enrollment.enrollment_id, "v": wanted},
        )
        for row in rows:
            enrollment.views[row.view_id] = View(row.view_id, row.lesson_id, row.seconds)

    async def save(self, session: AsyncSession, enrollment: Enrollment) -> list[StoredEvent]:
        """Append what the aggregate recorded and write its snapshot; in the caller's transaction."""
        if not enrollment.pending:
            return []
        expected = enrollment.version - len(enrollment.pending)
        attempts = list(enrollment.new_attempts)
        changed_lessons = [enrollment.lessons[i] for i in enrollment.changed_lessons]
        changed_views = [enrollment.views[i] for i in enrollment.changed_views]
        events = enrollment.saved()
        stored = await self._store.append(session, stream_id(enrollment.enrollment_id), expected, events)
        await self._write_enrollment(session, enrollment, created=expected == 0)
        await self._add_activity(session, enrollment, events)
        if changed_lessons:
            await session.execute(
                text(
                    "INSERT INTO lesson_progress (enrollment_id, lesson_id, started_at, last_viewed_at,"
                    " completed_at, seconds_spent, watched, video_position, video_duration)"
                    " SELECT :e, r.lesson_id, r.started_at, r.last_viewed_at, r.completed_at,"
                    " r.seconds_spent, r.watched, r.video_position, r.video_duration"
                    " FROM jsonb_to_recordset(CAST(:rows AS jsonb))"
                    " AS r(lesson_id uuid, started_at timestamptz,"
                    " last_viewed_at timestamptz, completed_at timestamptz, seconds_spent integer,"
                    " watched jsonb, video_position integer, video_duration integer)"
                    " ON CONFLICT (enrollment_id, lesson_id) DO UPDATE SET"
                    " started_at = EXCLUDED.started_at, last_viewed_at = EXCLUDED.last_viewed_at,"
                    " completed_at = EXCLUDED.completed_at, seconds_spent = EXCLUDED.seconds_spent,"
                    " watched = EXCLUDED.watched, video_position = EXCLUDED.video_position,"
                    " video_duration = EXCLUDED.video_duration"
                ),
                {
                    "e": enrollment.enrollment_id,
                    "rows": _json(
                        {
                            "lesson_id": p.lesson_id,
                            "started_at": p.started_at,
                            "last_viewed_at": p.last_viewed_at,
                            "completed_at": p.completed_at,
                            "seconds_spent": p.seconds_spent,
                            "watched": [list(r) for r in p.watched],
                            "video_position": p.video_position,
                            "video_duration": p.video_duration,
                        }
                        for p in changed_lessons
                    ),
                },
            )
        if changed_views:
            await session.execute(
                text(
                    "INSERT INTO lesson_views (enrollment_id, view_id, lesson_id, seconds)"
                    " SELECT :e, r.view_id, r.lesson_id, r.seconds"
                    " FROM jsonb_to_recordset(CAST(:rows AS jsonb))"
                    " AS r(view_id uuid, lesson_id uuid, seconds integer)"
                    " ON CONFLICT (enrollment_id, view_id) DO UPDATE SET seconds = EXCLUDED.seconds"
                ),
                {
                    "e": enrollment.enrollment_id,
                    "rows": _json(
                        {"view_id": v.view_id, "lesson_id": v.lesson_id, "seconds": v.seconds}
                        for v in changed_views
                    ),
                },
            )
        if attempts:
            await session.execute(
                text(
                    "INSERT INTO quiz_attempts (enrollment_id, quiz_id, attempt_number, lesson_id,"
                    " score_percentage, passed, answers, results, submitted_at)"
                    " SELECT :e, r.quiz_id, r.attempt_number, r.lesson_id, r.score, r.passed, r.answers,"
                    " r.results, r.submitted_at FROM jsonb_to_recordset(CAST(:rows AS jsonb)) AS r("
                    " quiz_id uuid, attempt_number integer, lesson_id uuid, score real, passed boolean,"
                    " answers jsonb, results jsonb, submitted_at timestamptz)"
                ),
                {
                    "e": enrollment.enrollment_id,
                    "rows": _json(
                        {
                            "quiz_id": a.event.quiz_id,
                            "attempt_number": a.event.attempt_number,
                            "lesson_id": a.event.lesson_id,
                            "score": a.event.score_percentage,
                            "passed": a.event.passed,
                            "answers": list(a.answers),
                            "results": [r.correct for r in a.event.question_results],
                            "submitted_at": a.event.occurred_at,
                        }
                        for a in attempts
                    ),
                },
            )
        return stored

    async def _add_activity(
        self, session: AsyncSession, enrollment: Enrollment, events: Iterable[DomainEvent]
    ) -> None:
        """Add the time and completions among ``events`` to the learner's quarter hours."""
        buckets: dict[datetime, list[int]] = defaultdict(lambda: [0, 0])
        for event in events:
            if isinstance(event, LessonTimeTracked):
                buckets[_quarter_hour(event.occurred_at)][0] += event.seconds
            elif isinstance(event, LessonCompleted):
                buckets[_quarter_hour(event.occurred_at)][1] += 1
        if not buckets:
            return
        await session.execute(
            text(
                "INSERT INTO learner_activity (enrollment_id, learner_id, bucket, seconds, lessons_completed)"
                " SELECT :e, :l, r.bucket, r.seconds, r.completed"
                " FROM jsonb_to_recordset(CAST(:rows AS jsonb))"
                " AS r(bucket timestamptz, seconds integer, completed integer)"
                " ON CONFLICT (enrollment_id, bucket) DO UPDATE SET"
                " seconds = learner_activity.seconds + EXCLUDED.seconds,"
                " lessons_completed = learner_activity.lessons_completed + EXCLUDED.lessons_completed"
            ),
            {
                "e": enrollment.enrollment_id,
                "l": enrollment.learner_id,
                "rows": _json(
                    {"bucket": bucket, "seconds": seconds, "completed": completed}
                    for bucket, (seconds, completed) in buckets.items()
                ),
            },
        )

    async def _write_enrollment(self, session: AsyncSession, e: Enrollment, *, created: bool) -> None:
        params: dict[str, Any] = {
            "id": e.enrollment_id,
            "learner": e.learner_id,
            "course": e.course_id,
            "status": e.status,
            "version": e.version,
            "enrolled_at": e.enrolled_at,
            "completed_at": e.completed_at,
            "cancelled_at": e.cancelled_at,
            "last_accessed_at": e.last_accessed_at,
            "last_lesson_id": e.last_lesson_id,
            "pct": e.completion_percentage,
            "milestones": sorted(e.milestones),
            "seconds": e.total_seconds,
        }
        if created:
            await session.execute(
                text(
                    "INSERT INTO enrollments (enrollment_id, learner_id, course_id, status, version,"
                    " enrolled_at, completed_at, cancelled_at, last_accessed_at, last_lesson_id,"
                    " completion_percentage, milestones, total_seconds)"
                    " VALUES (:id, :learner, :course, :status, :version,"
                    " :enrolled_at, :completed_at, :cancelled_at, :last_accessed_at, :last_lesson_id, :pct,"
                    " :milestones, :seconds)"
                ),
                params,
            )
            return
        await session.execute(
            text(
                "UPDATE enrollments SET status = :status, version = :version, enrolled_at = :enrolled_at,"
                " completed_at = :completed_at, cancelled_at = :cancelled_at,"
                " last_accessed_at = :last_accessed_at, last_lesson_id = :last_lesson_id,"
                " completion_percentage = :pct, milestones = :milestones, total_seconds = :seconds"
                " WHERE enrollment_id = :id"
            ),
            params,
        )

    async def add_note(
        self,
        session: AsyncSession,
        *,
        note_id: UUID,
        enrollment: Enrollment,
        instructor_id: UUID,
        body: str,
        at: Any,
    ) -> None:
        await session.execute(
            text(
                "INSERT INTO instructor_notes (note_id, enrollment_id, course_id, learner_id, instructor_id,"
                " body, created_at) VALUES (:n, :e, :c, :l, :i, :b, :at)"
            ),
            {
                "n": note_id,
                "e": enrollment.enrollment_id,
                "c": enrollment.course_id,
                "l": enrollment.learner_id,
                "i": instructor_id,
                "b": body,
                "at": at,
            },
        )

    async def recompute_completion(self, session: AsyncSession, course: Course) -> None:
        """Refresh every enrollment's completion after the course's outline changed."""
        await session.execute(
            text(
                "UPDATE enrollments e SET completion_percentage = (SELECT count(*) FROM lesson_progress p"
                " WHERE p.enrollment_id = e.enrollment_id AND p.completed_at IS NOT NULL"
                " AND p.lesson_id = ANY(:lessons)) * 100.0 / :n"
                " WHERE e.course_id = :c AND e.status <> 'completed'"
            ),
            {"lessons": list(course.lesson_ids), "n": max(1, course.lesson_count), "c": course.course_id},
        )

    async def erase_learner(self, session: AsyncSession, learner_id: UUID) -> int:
        """Delete every trace of the learner: snapshots, notes and their events; how many enrollments."""
        ids = list(
            await session.scalars(
                text("SELECT enrollment_id FROM enrollments WHERE learner_id = :l FOR UPDATE"),
                {"l": learner_id},
            )
        )
        if not ids:
            return 0
        # the events go too, or the relay's replay after a broker loss would publish them again
        await session.execute(
            text("DELETE FROM event_store WHERE stream_id = ANY(:s)"), {"s": [stream_id(i) for i in ids]}
        )
        await session.execute(text("DELETE FROM enrollments WHERE enrollment_id = ANY(:e)"), {"e": ids})
        return len(ids)


def _enrollment(row: Any) -> Enrollment:
    return Enrollment(
        enrollment_id=row.enrollment_id,
        learner_id=row.learner_id,
        course_id=row.course_id,
        version=row.version,
        status=row.status,
        enrolled_at=row.enrolled_at,
        completed_at=row.completed_at,
        cancelled_at=row.cancelled_at,
        last_accessed_at=row.last_accessed_at,
        last_lesson_id=row.last_lesson_id,
        completion_percentage=float(row.completion_percentage),
        milestones=set(row.milestones or ()),
    )


def _quarter_hour(moment: datetime) -> datetime:
    return moment.replace(minute=moment.minute - moment.minute % 15, second=0, microsecond=0)


def _json(rows: Iterable[dict[str, Any]]) -> str:
    return json.dumps(list(rows), default=str, separators=(",", ":"))

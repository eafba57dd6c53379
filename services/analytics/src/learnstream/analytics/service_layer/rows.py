"""Row-level answers for exports: every student, question and quiz attempt of a course or
of all an instructor's courses, unpaged.

The public reports page and cap their lists; an export needs all rows at once, and asking
page by page would cost one report per hundred students. These answers are served only
on the internal API (the gateway does not pass them on), to the exports service acting
as the requester, with the same ownership checks as the reports.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import Any
from uuid import UUID

import orjson

from learnstream.analytics.service_layer.base import IN_WINDOW, fallback_name, iso, ms, r1, utc
from learnstream.analytics.service_layer.periods import window
from learnstream.analytics.service_layer.platform import Reports as PlatformReports
from learnstream.analytics.service_layer.students import AT_RISK_ORDER, STUDENT_OUT

COURSE_STUDENT_FIELDS = (*STUDENT_OUT, "lessonsStarted", "reasons", "details")
"""What an export is given of each student of a course unless it names the fields."""


class Reports(PlatformReports):
    """Every analytics answer, with the unpaged rows exports need."""

    async def courses_of(self, instructor_id: UUID) -> list[dict[str, Any]]:
        """The instructor's courses (every status), oldest first."""
        rows = await self._rows(
            "SELECT course_id, title, status, created_at FROM {db}.course_profiles"
            " WHERE instructor_id = {i:UUID} ORDER BY created_at, course_id",
            i=instructor_id,
        )
        return [{"id": str(r[0]), "title": r[1], "status": r[2], "createdAt": iso(utc(r[3]))} for r in rows]

    async def _scope(
        self,
        course_id: UUID | None,
        instructor_id: UUID,
        *,
        now: datetime,
        period: str | None,
        start_date: date | None,
        end_date: date | None,
        tz: str | None,
    ) -> tuple[list[UUID], dict[UUID, str], tuple[int, int]]:
        """The courses asked about, their titles, and the window as epoch milliseconds."""
        if course_id is not None:
            course, tz_name, win, _ = await self._course_window(
                course_id, now=now, tz=tz, period=period, start_date=start_date, end_date=end_date
            )
            return [course.id], {course.id: course.title}, (ms(win.start), ms(win.end))
        courses = await self.courses_of(instructor_id)
        ids = [UUID(c["id"]) for c in courses]
        titles = {UUID(c["id"]): c["title"] for c in courses}
        if period == "all" or (period is None and start_date is None):
            return ids, titles, (0, ms(now))
        tz_name = await self._tz(tz, instructor_id)
        win = window(
            now=now, tz=tz_name, period=period, start_date=start_date, end_date=end_date, first_event=None
        )
        return ids, titles, (ms(win.start), ms(win.end))

    async def all_course_students(
        self,
        course_id: UUID,
        *,
        now: datetime,
        fields: Sequence[str] = COURSE_STUDENT_FIELDS,
        file_format: str = "json",
        at_risk: bool = False,
        limit: int | None = None,
    ) -> bytes:
        """Every student of the course (or the first ``limit``), by name, or only those at
        risk, the longest quiet first: ``{"course", "students"[, "total"]}`` as JSON, or the
        rows as CSV (:meth:`_course_learners_file`). With a ``limit`` the JSON says how many
        there are in all (``total``)."""
        course = await self.course(course_id)
        where, order = ("atRisk", AT_RISK_ORDER) if at_risk else ("1", "lower_name, id")
        head = orjson.dumps({"id": str(course.id), "title": course.title})
        if limit is not None and file_format == "json":
            rows, total = await self._course_learners(
                course_id, now, fields=fields, where=where, order=order, limit=limit
            )
            return orjson.dumps({"course": orjson.Fragment(head), "total": total, "students": rows})
        body = await self._course_learners_file(
            course_id, now, fields=fields, file_format=file_format, where=where, order=order, limit=limit
        )
        if file_format == "csv":
            return body
        return b'{"course":' + head + b',"students":' + body + b"}"

    async def all_creator_students(
        self, instructor_id: UUID, *, now: datetime, **filters: Any
    ) -> dict[str, Any]:
        """Every learner of the instructor's courses matching the creator list's filters."""
        answer = await self.creator_students(instructor_id, now=now, limit=10**9, offset=0, **filters)
        return {"students": answer["students"], "tiers": answer["tiers"]}

    async def creator_progress(self, instructor_id: UUID, *, now: datetime) -> dict[str, Any]:
        """Per learner and course of the instructor: progress, videos watched, last activity."""
        pairs = [p for p in await self._instructor_pairs(instructor_id, now) if p["enrolled"]]
        names = await self._learner_names(instructor_id)
        titles = {UUID(c["id"]): c["title"] for c in await self.courses_of(instructor_id)}
        rows = [
            {
                "studentId": str(p["learner"]),
                "name": names.get(p["learner"]) or fallback_name(p["learner"]),
                "courseId": str(p["course"]),
                "course": titles.get(p["course"], ""),
                "progress": r1(p["progress"]) or 0.0,
                "videosWatched": len(p["videos"]),
                "enrolledAt": iso(p["first_enrolled"]),
                "lastActive": iso(p["last_activity"]),
            }
            for p in pairs
        ]
        rows.sort(key=lambda r: (r["name"].casefold(), r["studentId"], r["course"]))
        return {"progress": rows}

    async def questions(
        self, course_id: UUID | None, instructor_id: UUID, *, now: datetime, **window_args: Any
    ) -> dict[str, Any]:
        """Every question asked of the assistant in the courses and window, oldest first,
        with whether it was answered and how the reply was rated."""
        courses, titles, (start, end) = await self._scope(course_id, instructor_id, now=now, **window_args)
        if not courses:
            return {"questions": []}
        rows = await self._rows(
            f"""
            SELECT q.time, q.learner_id, u.display_name, q.course_id, l.lesson_title, q.text,
                   r.answered, h.rated, h.helpful
            FROM (
                SELECT time, learner_id, course_id, lesson_id, message_id, text FROM {{db}}.activity FINAL
                WHERE course_id IN {{cs:Array(UUID)}} AND name = 'ChatMessageSent' AND {IN_WINDOW}
            ) AS q
            LEFT JOIN (
                SELECT ref_id AS question, any(message_id) AS reply, max(flag) AS answered
                FROM {{db}}.activity FINAL
                WHERE course_id IN {{cs:Array(UUID)}} AND name = 'AssistantReplied'
                GROUP BY ref_id
            ) AS r ON r.question = q.message_id
            LEFT JOIN (
                SELECT message_id AS reply, 1 AS rated, argMax(flag, time) AS helpful
                FROM {{db}}.activity FINAL
                WHERE course_id IN {{cs:Array(UUID)}} AND name = 'AssistantReplyRated'
                GROUP BY message_id
            ) AS h ON h.reply = r.reply
            LEFT JOIN {{db}}.user_profiles AS u ON u.user_id = q.learner_id
            LEFT JOIN {{db}}.current_lessons AS l ON l.lesson_id = q.lesson_id AND l.course_id = q.course_id
            ORDER BY q.time, q.message_id
            """,
            cs=courses,
            s=start,
            e=end,
        )
        return {
            "questions": [
                {
                    "askedAt": iso(utc(r[0])),
                    "studentId": str(r[1]),
                    "name": r[2] or fallback_name(r[1]),
                    "courseId": str(r[3]),
                    "course": titles.get(r[3], ""),
                    "lesson": r[4] or "",
                    "question": r[5],
                    "answered": bool(r[6]),
                    "helpful": None if not r[7] else bool(r[8]),
                }
                for r in rows
            ]
        }

    async def quiz_attempts(
        self, course_id: UUID | None, instructor_id: UUID, *, now: datetime, **window_args: Any
    ) -> dict[str, Any]:
        """Every graded quiz attempt in the courses and window, oldest first."""
        courses, titles, (start, end) = await self._scope(course_id, instructor_id, now=now, **window_args)
        if not courses:
            return {"attempts": []}
        rows = await self._rows(
            f"""
            SELECT a.time, a.learner_id, u.display_name, a.course_id, l.lesson_title, a.quiz_id,
                   a.attempt, a.value, a.flag, length(a.question_correct), arraySum(a.question_correct)
            FROM (
                SELECT time, learner_id, course_id, lesson_id, quiz_id, attempt, value, flag,
                       question_correct, event_id
                FROM {{db}}.activity FINAL
                WHERE course_id IN {{cs:Array(UUID)}} AND name = 'QuizSubmitted' AND {IN_WINDOW}
            ) AS a
            LEFT JOIN {{db}}.user_profiles AS u ON u.user_id = a.learner_id
            LEFT JOIN {{db}}.current_lessons AS l ON l.lesson_id = a.lesson_id AND l.course_id = a.course_id
            ORDER BY a.time, a.event_id
            """,
            cs=courses,
            s=start,
            e=end,
        )
        return {
            "attempts": [
                {
                    "submittedAt": iso(utc(r[0])),
                    "studentId": str(r[1]),
                    "name": r[2] or fallback_name(r[1]),
                    "courseId": str(r[3]),
                    "course": titles.get(r[3], ""),
                    "quiz": r[4] or "",
                    "quizId": str(r[5]),
                    "attempt": int(r[6]),
                    "score": r1(float(r[7])) or 0.0,
                    "passed": bool(r[8]),
                    "questions": int(r[9]),
                    "correct": int(r[10]),
                }
                for r in rows
            ]
        }

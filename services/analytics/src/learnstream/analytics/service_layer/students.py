"""A course's students: the list, who is at risk and why, one student's story, and what
they ask the assistant."""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import date, datetime, timedelta
from typing import Any
from uuid import UUID

from learnstream.analytics.adapters.schema import EPOCH, LEARNER_MODEL
from learnstream.analytics.domain.errors import NotFound
from learnstream.analytics.domain.topics import STOP_WORDS, keywords
from learnstream.analytics.service_layer.base import (
    ACTIVITY,
    ACTIVITY_SQL,
    IN_WINDOW,
    LATEST_ENROLLMENT,
    LATEST_PROGRESS,
    MODEL,
    ZERO,
    Lesson,
    fallback_name,
    iso,
    ms,
    r1,
    ratio,
    utc,
)
from learnstream.analytics.service_layer.course import CourseReports
from learnstream.analytics.service_layer.periods import zone

STUDENT_OUT = (
    "id",
    "name",
    "progress",
    "timeSpent",
    "lastActive",
    "enrolledAt",
    "completedAt",
    "status",
    "atRisk",
)
"""A student of the course as the students list shows one."""
AT_RISK_OUT = ("id", "name", "reason", "reasons", "details", "lastActive", "progress")
AT_RISK_ORDER = "last_active, id"
"""The at-risk list: the longest quiet first."""
LEARNER_FIELDS = frozenset((*STUDENT_OUT, *AT_RISK_OUT, "lessonsStarted"))
"""What :func:`learners_sql` answers of each student, by the name the API gives it."""
CSV_CELLS = {
    "atRisk": "if(s.atRisk, 'yes', 'no')",
    "reasons": "arrayStringConcat(s.reasons, '; ')",
    "completedAt": "ifNull(s.completedAt, '')",
}
"""How a field is written in the CSV rows of an export (yes/no, "a; b", empty for none):
the exports service writes its own CSV cells the same way."""
ISO = "concat(replaceOne(toString({}), ' ', 'T'), 'Z')"
"""A DateTime64(3, 'UTC') as ISO 8601 with milliseconds and Z, as :func:`iso` writes it."""


def learners_sql(*, one: bool = False, modelled: bool = False) -> str:
    """Every student of course ``{c}`` enrolled at ``{now}`` (only ``{learner}`` when ``one``):
    progress, time, activity, status and the at-risk reasons with their details in words.

    The definitions are ``docs/analytics.md``'s, with the thresholds as parameters
    (:meth:`StudentReports._learner_parameters`); the answer's columns are named as the API
    names them, plus ``lower_name``, ``last_active``, ``enrolled_at`` and ``completed_at``
    to sort by. Worked out in ClickHouse, so a course of 100,000 students costs one query
    and no Python loop; from the read model when it holds everything before ``{now}``
    (``modelled``), otherwise from the events.
    """
    only = " AND learner_id = {learner:UUID}" if one else ""
    source = _LEARNERS_MODEL.replace("{only}", only) if modelled else _learners_events(only)
    return f"""
    WITH fromUnixTimestamp64Milli({{now:Int64}}, 'UTC') AS now_, 86400000 AS day_ms,
         (SELECT (groupArray(toString(qz.quiz_id)), groupArray(ls.lesson_title))
          FROM {{db}}.current_quizzes AS qz
          INNER JOIN {{db}}.current_lessons AS ls
              ON ls.lesson_id = qz.lesson_id AND ls.course_id = qz.course_id
          WHERE qz.course_id = {{c:UUID}}) AS quiz_titles,
         (SELECT (groupArray(toString(lesson_id)), groupArray(lesson_title))
          FROM {{db}}.current_lessons WHERE course_id = {{c:UUID}}) AS lesson_titles
    SELECT toString(l.learner_id) AS id,
           if(u.display_name != '', u.display_name,
              concat('Learner ', substring(toString(l.learner_id), 1, 8))) AS name,
           lowerUTF8(name) AS lower_name,
           round(l.progress, 1) AS progress,
           toUInt32(l.time_spent) AS timeSpent,
           l.last_active AS last_active,
           l.enrolled_at AS enrolled_at,
           if(l.completed, l.completed_at, NULL) AS completed_at,
           {ISO.format("l.last_active")} AS lastActive,
           {ISO.format("l.enrolled_at")} AS enrolledAt,
           if(l.completed, {ISO.format("l.completed_at")}, NULL) AS completedAt,
           dateDiff('millisecond', l.last_active, now_) AS idle_ms,
           dateDiff('millisecond', l.last_progress, now_) AS still_ms,
           multiIf(l.completed, 'completed', idle_ms <= {{inactive:UInt32}} * day_ms, 'active', 'inactive')
               AS status,
           NOT l.completed AND idle_ms > {{inactive:UInt32}} * day_ms AS inactive,
           NOT l.completed AND still_ms > {{stuck:UInt32}} * day_ms AS stuck,
           if(l.completed, [], arrayConcat(l.quiz_texts, l.question_texts)) AS struggles,
           arrayConcat(if(inactive, ['inactive'], []), if(stuck, ['stuck'], []),
                       if(notEmpty(struggles), ['struggling'], [])) AS reasons,
           reasons[1] AS reason,
           toBool(notEmpty(reasons)) AS atRisk,
           arrayStringConcat(arrayConcat(
               if(inactive, [concat('No activity for ', toString(intDiv(idle_ms, day_ms)), ' days')], []),
               if(stuck, [concat('No lesson completed for ', toString(intDiv(still_ms, day_ms)), ' days at ',
                                 toString(progress), '% progress')], []),
               struggles), '; ') AS details,
           toUInt32(l.started_lessons) AS lessonsStarted
    {source}
    LEFT JOIN {{db}}.user_profiles AS u ON u.user_id = l.learner_id
    WHERE l.enrolled
    """


def _learners_events(only: str) -> str:
    """The students' figures with their quiz and question struggles in words, from the events."""
    return f"""
    FROM (
        SELECT l.*, q.texts AS quiz_texts, a.texts AS question_texts
        FROM (
        SELECT learner_id,
               {LATEST_ENROLLMENT}) AS enrolled,
               minIf(time, name = 'EnrollmentCreated') AS enrolled_at,
               countIf(name = 'CourseCompleted') > 0 AS completed,
               minIf(time, name = 'CourseCompleted') AS completed_at,
               if(completed, 100., {LATEST_PROGRESS})) AS progress,
               sumIf(seconds, name = 'LessonTimeTracked') AS time_spent,
               if(countIf(name IN {ACTIVITY_SQL}) > 0,
                  maxIf(time, name IN {ACTIVITY_SQL}), enrolled_at) AS last_active,
               if(countIf(name = 'LessonCompleted') > 0, maxIf(time, name = 'LessonCompleted'),
                  enrolled_at) AS last_progress,
               uniqExactIf(lesson_id, name = 'LessonStarted') AS started_lessons
        FROM {{db}}.activity FINAL
        WHERE course_id = {{c:UUID}} AND time < now_{only}
        GROUP BY learner_id
    ) AS l
    LEFT JOIN (
        SELECT f.learner_id AS learner_id,
               arraySort(groupArray(concat('Failed the quiz of "', if(t.found, t.title, 'a quiz'), '" ',
                                           toString(f.fails), ' times without passing'))) AS texts
        FROM (
            SELECT learner_id, quiz_id,
                   countIf(flag = 0) AS fails, maxIf(time, flag = 0) AS last_fail,
                   countIf(flag = 1) AS passes, maxIf(time, flag = 1) AS last_pass
            FROM {{db}}.activity FINAL
            WHERE course_id = {{c:UUID}} AND name = 'QuizSubmitted' AND time < now_{only}
            GROUP BY learner_id, quiz_id
            HAVING fails >= {{fails:UInt32}} AND (passes = 0 OR last_pass < last_fail)
        ) AS f
        LEFT JOIN (
            SELECT qz.quiz_id AS quiz_id, ls.lesson_title AS title, 1 AS found
            FROM {{db}}.current_quizzes AS qz
            INNER JOIN {{db}}.current_lessons AS ls
                ON ls.lesson_id = qz.lesson_id AND ls.course_id = qz.course_id
            WHERE qz.course_id = {{c:UUID}}
        ) AS t ON t.quiz_id = f.quiz_id
        GROUP BY f.learner_id
    ) AS q ON q.learner_id = l.learner_id
    LEFT JOIN (
        SELECT k.learner_id AS learner_id,
               arraySort(groupArray(concat('Asked the assistant ', toString(k.asked), ' questions about "',
                                           if(t.found, t.title, 'one lesson'), '" in ',
                                           toString({{window:UInt32}}), ' days'))) AS texts
        FROM (
            SELECT learner_id, lesson_id, count() AS asked
            FROM {{db}}.activity FINAL
            WHERE course_id = {{c:UUID}} AND name = 'ChatMessageSent'
              AND lesson_id != toUUID({{zero:String}})
              AND time >= now_ - toIntervalDay({{window:UInt32}}) AND time < now_{only}
            GROUP BY learner_id, lesson_id
            HAVING asked >= {{questions:UInt32}}
        ) AS k
        LEFT JOIN (
            SELECT lesson_id, lesson_title AS title, 1 AS found
            FROM {{db}}.current_lessons WHERE course_id = {{c:UUID}}
        ) AS t ON t.lesson_id = k.lesson_id
        GROUP BY k.learner_id
    ) AS a ON a.learner_id = l.learner_id
    ) AS l"""


_LEARNERS_MODEL = f"""
    FROM (
        SELECT l.*, q.texts AS quiz_texts, a.texts AS question_texts
        FROM (
            SELECT learner_id,
                   enrolled,
                   ifNull(first_enrolled, {EPOCH}) AS enrolled_at,
                   m.completed_at IS NOT NULL AS completed,
                   ifNull(m.completed_at, {EPOCH}) AS completed_at,
                   progress,
                   seconds AS time_spent,
                   ifNull(m.last_active, enrolled_at) AS last_active,
                   ifNull(last_completion, enrolled_at) AS last_progress,
                   started_lessons
            FROM {{db}}.{LEARNER_MODEL} AS m FINAL
            WHERE course_id = {{c:UUID}}{{only}}
        ) AS l
        LEFT JOIN (
            SELECT learner_id, arraySort(arrayMap(
                       f -> concat('Failed the quiz of "',
                                   transform(toString(f.1), quiz_titles.1, quiz_titles.2, 'a quiz'),
                                   '" ', toString(f.2), ' times without passing'),
                       arrayFilter(f -> f.2 >= {{fails:UInt32}} AND (f.4 = 0 OR f.5 < f.3), quizzes)))
                       AS texts
            FROM {{db}}.{LEARNER_MODEL} FINAL
            WHERE course_id = {{c:UUID}} AND arrayExists(f -> f.2 >= {{fails:UInt32}}, quizzes){{only}}
        ) AS q ON q.learner_id = l.learner_id
        LEFT JOIN (
            SELECT learner_id,
                   arrayFilter((lesson, time) -> lesson != toUUID({{zero:String}})
                                                 AND time >= now_ - toIntervalDay({{window:UInt32}}),
                               questions.lesson, questions.time) AS recent,
                   arraySort(arrayMap(
                       k -> concat('Asked the assistant ', toString(k.2), ' questions about "',
                                   transform(toString(k.1), lesson_titles.1, lesson_titles.2, 'one lesson'),
                                   '" in ', toString({{window:UInt32}}), ' days'),
                       arrayFilter(k -> k.2 >= {{questions:UInt32}}, arrayMap(
                           lesson -> (lesson, countEqual(recent, lesson)), arrayDistinct(recent))))) AS texts
            FROM {{db}}.{LEARNER_MODEL} FINAL
            WHERE course_id = {{c:UUID}} AND length(questions.time) >= {{questions:UInt32}}{{only}}
        ) AS a ON a.learner_id = l.learner_id
    ) AS l"""
"""The same from the read model (which holds nothing at or after ``now``), with the course's
quiz and lesson titles looked up from arrays (``quiz_titles``, ``lesson_titles`` of the WITH).
The struggles are worked out only for the learners with enough attempts or questions to
struggle at all (most learners have neither), in joins of their own."""


_ASSISTANT_EVENTS = {
    "totals": f"""
        SELECT countIf(name = 'ChatMessageSent'),
               uniqExactIf(learner_id, name = 'ChatMessageSent'),
               countIf(name = 'AssistantReplied'),
               countIf(name = 'AssistantReplied' AND flag = 0)
        FROM {{db}}.activity FINAL
        WHERE course_id = {{c:UUID}} AND {IN_WINDOW}
    """,
    "ratings": f"""
        SELECT count(), countIf(helpful)
        FROM (
            SELECT message_id, argMax(flag, (time, 1 - flag)) = 1 AS helpful
            FROM {{db}}.activity FINAL
            WHERE course_id = {{c:UUID}} AND name = 'AssistantReplyRated' AND {IN_WINDOW}
            GROUP BY message_id
        )
    """,
    "topics": f"""
        SELECT word, count() AS questions
        FROM {{db}}.activity FINAL
        ARRAY JOIN arrayDistinct(arrayFilter(
            w -> lengthUTF8(w) >= 3 AND NOT has({{stop:Array(String)}}, w),
            extractAll(lowerUTF8(text), '\\p{{L}}+'))) AS word
        WHERE course_id = {{c:UUID}} AND name = 'ChatMessageSent' AND {IN_WINDOW}
        GROUP BY word
        ORDER BY questions DESC, word ASC
        LIMIT 10
    """,
    "recent": f"""
        SELECT a.text, a.learner_id, u.display_name, a.lesson_id, a.time
        FROM (
            SELECT text, learner_id, lesson_id, time, event_id
            FROM {{db}}.activity FINAL
            WHERE course_id = {{c:UUID}} AND name = 'ChatMessageSent' AND {IN_WINDOW}
            ORDER BY time DESC, event_id DESC
            LIMIT 10
        ) AS a
        LEFT JOIN {{db}}.user_profiles AS u ON u.user_id = a.learner_id
        ORDER BY a.time DESC, a.event_id DESC
    """,
    "by_lesson_hour": f"""
        SELECT lesson_id, toHour(time, {{tz:String}}) AS hour, count()
        FROM {{db}}.activity FINAL
        WHERE course_id = {{c:UUID}} AND name = 'ChatMessageSent' AND {IN_WINDOW}
        GROUP BY lesson_id, hour
    """,
}
"""The assistant-usage queries of a course and window, from the events."""

_WINDOWED = """
    WITH fromUnixTimestamp64Milli({s:Int64}, 'UTC') AS s_, fromUnixTimestamp64Milli({e:Int64}, 'UTC') AS e_"""


def _asked(*fields: str) -> str:
    """The course's questions in the window (read model), one row each with ``learner_id``
    and the ``fields`` named (``time``, ``event_id``, ``lesson``, ``text``, ``words``): only
    those parts of the rows' questions are read."""
    joined = ", ".join(f"questions.{field} AS {field}" for field in ("time", *fields))
    return f"""{_WINDOWED}
    SELECT learner_id, {", ".join(("time", *fields))}
    FROM {MODEL}
    ARRAY JOIN {joined}
    WHERE course_id = {{c:UUID}} AND time >= s_ AND time < e_"""


_ASSISTANT_MODEL = {
    "totals": f"""{_WINDOWED}
        SELECT sum(asked), countIf(asked > 0),
               sum(length(answers)), sum(arrayCount(x -> x.2 = 0, answers))
        FROM (
            SELECT arrayCount(t -> t >= s_ AND t < e_, questions.time) AS asked,
                   arrayFilter(x -> x.1 >= s_ AND x.1 < e_, replies) AS answers
            FROM {MODEL}
            WHERE course_id = {{c:UUID}}
        )
    """,
    "ratings": f"""{_WINDOWED}
        SELECT count(), countIf(helpful)
        FROM (
            SELECT rating.2 AS message_id, argMax(rating.3, (rating.1, 1 - rating.3)) = 1 AS helpful
            FROM {MODEL}
            ARRAY JOIN arrayFilter(x -> x.1 >= s_ AND x.1 < e_, ratings) AS rating
            WHERE course_id = {{c:UUID}}
            GROUP BY message_id
        )
    """,
    "topics": f"""
        SELECT word, count() AS questions
        FROM ({_asked("words")})
        ARRAY JOIN words AS word
        WHERE NOT has({{stop:Array(String)}}, word)
        GROUP BY word
        ORDER BY questions DESC, word ASC
        LIMIT 10
    """,
    "recent": f"""
        SELECT a.text, a.learner_id, u.display_name, a.lesson, a.time
        FROM ({_asked("event_id", "lesson", "text")} ORDER BY time DESC, event_id DESC LIMIT 10) AS a
        LEFT JOIN {{db}}.user_profiles AS u ON u.user_id = a.learner_id
        ORDER BY a.time DESC, a.event_id DESC
    """,
    "by_lesson_hour": f"""
        SELECT lesson, toHour(time, {{tz:String}}) AS hour, count()
        FROM ({_asked("lesson")})
        GROUP BY lesson, hour
    """,
}
"""The same from the read model: the questions, replies and ratings each learner's row keeps."""


def _field(name: str) -> str:
    if name not in LEARNER_FIELDS:
        raise ValueError(f"no student field {name!r}")
    return name


class StudentReports(CourseReports):
    """A course's students and their assistant questions."""

    # -- students ----------------------------------------------------------------------------------

    async def _course_learners(
        self,
        course_id: UUID,
        now: datetime,
        *,
        fields: Sequence[str] = STUDENT_OUT,
        where: str = "1",
        order: str = "lower_name, id",
        limit: int | None = None,
        offset: int = 0,
        learner: UUID | None = None,
        **parameters: Any,
    ) -> tuple[list[dict[str, Any]], int]:
        """The course's students (enrolled at ``now``) that match ``where``, in ``order``: the
        ``fields`` asked of each, and how many match in all (whatever ``limit`` keeps)."""
        source = learners_sql(one=learner is not None, modelled=await self._modelled(course_id, now))
        rows = await self._rows(
            f"SELECT {', '.join(_field(name) for name in fields)}, count() OVER () AS total"
            f" FROM ({source}) WHERE {where} ORDER BY {order}"
            + ("" if limit is None else f" LIMIT {int(limit)} OFFSET {int(offset)}"),
            **self._learner_parameters(course_id, now, learner),
            **parameters,
        )
        return [dict(zip(fields, row[:-1], strict=True)) for row in rows], (int(rows[0][-1]) if rows else 0)

    async def _course_learners_file(
        self,
        course_id: UUID,
        now: datetime,
        *,
        fields: Sequence[str],
        file_format: str,
        where: str = "1",
        order: str = "lower_name, id",
        limit: int | None = None,
    ) -> bytes:
        """The course's students as ClickHouse writes them: a JSON array of objects
        (``file_format="json"``), or CSV with a header of the field names and the cells
        of :data:`CSV_CELLS` (``"csv"``). Nothing is handed row by row to Python."""
        if file_format == "csv":
            cells = ", ".join(f"{CSV_CELLS.get(_field(name), 's.' + name)} AS {name}" for name in fields)
            tail = "SETTINGS output_format_csv_crlf_end_of_line = 1 FORMAT CSVWithNames"
        else:
            cells = ", ".join(_field(name) for name in fields)
            tail = "SETTINGS output_format_json_array_of_rows = 1 FORMAT JSONEachRow"
        modelled = await self._modelled(course_id, now)
        sql = (
            f"SELECT {cells} FROM (SELECT * FROM ({learners_sql(modelled=modelled)}) WHERE {where}"
            f" ORDER BY {order}{'' if limit is None else f' LIMIT {int(limit)}'}) AS s {tail}"
        )
        return await self.ch.raw_query(
            sql.replace("{db}", self.db), parameters=self._learner_parameters(course_id, now, None)
        )

    def _learner_parameters(self, course_id: UUID, now: datetime, learner: UUID | None) -> dict[str, Any]:
        limits = self.thresholds
        return {
            "c": course_id,
            "now": ms(now),
            "learner": learner or ZERO,
            "inactive": limits.inactive_days,
            "stuck": limits.stuck_days,
            "fails": limits.quiz_failures,
            "questions": limits.questions,
            "window": limits.window_days,
            "zero": str(ZERO),
        }

    async def students(
        self,
        course_id: UUID,
        *,
        now: datetime,
        sort: str = "progress",
        filter: str = "all",
        search: str | None = None,
        page: int = 1,
        limit: int = 20,
    ) -> dict[str, Any]:
        await self.course(course_id)
        where = {
            "all": "1",
            "active": "status = 'active'",
            "completed": "status = 'completed'",
            "atRisk": "atRisk",
        }[filter]
        if search:
            where += " AND positionCaseInsensitiveUTF8(name, {needle:String}) > 0"
        order = {
            "progress": "progress DESC, id",
            "recent": "last_active DESC, id",
            "name": "lower_name, id",
            "timeSpent": "timeSpent DESC, id",
            "fastest": "completed_at IS NULL, dateDiff('millisecond', enrolled_at, completed_at), id",
        }[sort]
        learners, total = await self._course_learners(
            course_id,
            now,
            fields=STUDENT_OUT,
            where=where,
            order=order,
            limit=limit,
            offset=(page - 1) * limit,
            needle=search or "",
        )
        if not learners and page > 1:  # past the last page: the count comes from the first
            _, total = await self._course_learners(
                course_id, now, fields=("id",), where=where, limit=1, needle=search or ""
            )
        return {
            "students": learners,
            "pagination": {"total": total, "page": page, "limit": limit, "pages": math.ceil(total / limit)},
            "freshness": await self.freshness(now),
        }

    async def at_risk(self, course_id: UUID, *, now: datetime, limit: int | None = None) -> dict[str, Any]:
        await self.course(course_id)
        learners, total = await self._course_learners(
            course_id, now, fields=AT_RISK_OUT, where="atRisk", order=AT_RISK_ORDER, limit=limit
        )
        return {
            "students": learners,
            "total": total,
            "thresholds": {
                "inactiveDays": self.thresholds.inactive_days,
                "stuckDays": self.thresholds.stuck_days,
                "quizFailures": self.thresholds.quiz_failures,
                "questions": self.thresholds.questions,
                "windowDays": self.thresholds.window_days,
            },
            "freshness": await self.freshness(now),
        }

    async def student_detail(self, course_id: UUID, student_id: UUID, *, now: datetime) -> dict[str, Any]:
        await self.course(course_id)
        found, _ = await self._course_learners(
            course_id,
            now,
            fields=(*STUDENT_OUT, "reasons", "details"),
            learner=student_id,
        )
        if not found:
            raise NotFound(f"student {student_id} is not enrolled in course {course_id}")
        student = found[0]
        tz = await self.timezone_of(student_id)
        lessons = await self.lessons_of(course_id)
        titles = {lesson.id: lesson.title for lesson in lessons}
        rows = await self._rows(
            """
            SELECT name, time, lesson_id, view_id, quiz_id, seconds, value, milestone, attempt, flag, text,
                   session_id
            FROM {db}.activity FINAL
            WHERE course_id = {c:UUID} AND learner_id = {l:UUID}
              AND time < fromUnixTimestamp64Milli({now:Int64}, 'UTC')
            ORDER BY time, event_id
            """,
            c=course_id,
            l=student_id,
            now=ms(now),
        )
        return {
            "student": {"id": str(student_id), "name": student["name"], "timezone": tz},
            "enrollment": {
                "enrolledAt": student["enrolledAt"],
                "status": student["status"],
                "progress": student["progress"],
                "completedAt": student["completedAt"],
                "lastActive": student["lastActive"],
                "atRisk": student["atRisk"],
                "reasons": student["reasons"],
                "details": student["details"],
            },
            **_learner_story(rows, lessons, titles, tz, now),
            "freshness": await self.freshness(now),
        }

    # -- assistant ---------------------------------------------------------------------------------

    async def ai_analytics(
        self,
        course_id: UUID,
        *,
        now: datetime,
        period: str | None = "all",
        start_date: date | None = None,
        end_date: date | None = None,
        tz: str | None = None,
    ) -> dict[str, Any]:
        _, tz, win, modelled = await self._course_window(
            course_id, now=now, tz=tz, period=period or "all", start_date=start_date, end_date=end_date
        )
        params = {"c": course_id, "s": ms(win.start), "e": ms(win.end), "tz": tz}
        queries = _ASSISTANT_MODEL if modelled else _ASSISTANT_EVENTS
        totals = await self._rows(queries["totals"], **params)
        ratings = await self._rows(queries["ratings"], **params)
        topics = await self._rows(queries["topics"], stop=sorted(STOP_WORDS), **params)
        recent = await self._rows(queries["recent"], **params)
        by_lesson_hour = await self._rows(queries["by_lesson_hour"], **params)
        lessons = await self.lessons_of(course_id)
        titles = {lesson.id: lesson.title for lesson in lessons}
        drop = await self._drop_off(course_id, lessons, modelled) if lessons else {}
        per_lesson: dict[UUID, int] = {}
        per_hour = [0] * 24
        for lesson_id, hour, count in by_lesson_hour:
            per_lesson[lesson_id] = per_lesson.get(lesson_id, 0) + int(count)
            per_hour[int(hour)] += int(count)
        questions, askers, replies, unanswered = (int(v) for v in totals[0])
        rated, helpful = (int(v) for v in ratings[0])
        students = await self._students_at(course_id, win.end, modelled)
        return {
            "totalQuestions": questions,
            "studentsAsking": askers,
            "questionsPerStudent": r1(questions / students) if students else 0.0,
            "topTopics": [{"topic": word, "count": int(count)} for word, count in topics],
            "recentQuestions": [
                {
                    "question": text,
                    "studentId": str(learner_id),
                    "student": name or fallback_name(learner_id),
                    "lessonId": str(lesson_id) if lesson_id != ZERO else None,
                    "lessonTitle": titles.get(lesson_id),
                    "timestamp": iso(at),
                }
                for text, learner_id, name, lesson_id, at in recent
            ],
            "unansweredRate": ratio(unanswered, replies),
            "satisfactionRate": ratio(helpful, rated),
            "ratings": rated,
            "questionsPerLesson": [
                {
                    "lessonId": str(lesson.id),
                    "title": lesson.title,
                    "questions": per_lesson.get(lesson.id, 0),
                    "dropOffRate": ratio(drop.get(lesson.id, (0, 0))[1], drop.get(lesson.id, (0, 0))[0]),
                }
                for lesson in lessons
            ],
            "questionsByHour": per_hour,
            "period": {"start": iso(win.start), "end": iso(win.end), "timezone": tz},
            "freshness": await self.freshness(now),
        }


def _learner_story(
    rows: Sequence[Sequence[Any]], lessons: list[Lesson], titles: dict[UUID, str], tz: str, now: datetime
) -> dict[str, Any]:
    """Timeline, lesson breakdown, stats and assistant summary of one learner in one course."""
    tzinfo = zone(tz)
    timeline: list[dict[str, Any]] = []
    per_lesson: dict[UUID, dict[str, Any]] = {}
    questions_per_day: dict[date, int] = {}
    questions: list[tuple[datetime, str]] = []
    active_days: set[date] = set()
    hours = [0] * 24
    views: set[UUID] = set()
    total_seconds = 0
    for name, at, lesson_id, view_id, _quiz, seconds, value, milestone, attempt, flag, text, _ in rows:
        at = utc(at)
        local = at.astimezone(tzinfo)
        title = titles.get(lesson_id)
        if name in ACTIVITY:
            active_days.add(local.date())
            hours[local.hour] += 1
        if lesson_id in titles and name in (
            "LessonStarted",
            "LessonTimeTracked",
            "VideoProgressed",
            "LessonCompleted",
        ):
            entry = per_lesson.setdefault(
                lesson_id, {"views": set(), "seconds": 0, "completed": None, "last": at}
            )
            entry["last"] = max(entry["last"], at)
            if name == "LessonCompleted":
                entry["completed"] = entry["completed"] or at
            elif view_id != ZERO:
                entry["views"].add(view_id)
        if name == "LessonTimeTracked":
            total_seconds += int(seconds)
            views.add(view_id)
            if lesson_id in per_lesson:
                per_lesson[lesson_id]["seconds"] += int(seconds)
        if name == "LessonStarted":
            timeline.append(
                {"type": "lessonStarted", "at": iso(at), "lessonId": str(lesson_id), "title": title}
            )
        elif name == "LessonCompleted":
            timeline.append(
                {"type": "lessonCompleted", "at": iso(at), "lessonId": str(lesson_id), "title": title}
            )
        elif name == "QuizSubmitted":
            timeline.append(
                {
                    "type": "quizSubmitted",
                    "at": iso(at),
                    "lessonId": str(lesson_id),
                    "title": title,
                    "attempt": int(attempt),
                    "score": r1(float(value)),
                    "passed": bool(flag),
                }
            )
        elif name == "CourseMilestoneReached":
            timeline.append({"type": "milestone", "at": iso(at), "milestone": int(milestone)})
        elif name == "CourseCompleted":
            timeline.append({"type": "courseCompleted", "at": iso(at)})
        elif name == "EnrollmentCreated":
            timeline.append({"type": "enrolled", "at": iso(at)})
        elif name == "InstructorNoteAdded":
            timeline.append({"type": "note", "at": iso(at)})
        elif name == "ChatMessageSent":
            questions_per_day[local.date()] = questions_per_day.get(local.date(), 0) + 1
            questions.append((at, text))
    for day, count in questions_per_day.items():
        first = min(at for at, _ in questions if at.astimezone(tzinfo).date() == day)
        timeline.append({"type": "questionsAsked", "date": day.isoformat(), "at": iso(first), "count": count})
    timeline.sort(key=lambda item: item["at"])
    today = now.astimezone(tzinfo).date()
    streak, day = 0, today if today in active_days else today - timedelta(days=1)
    while day in active_days:
        streak += 1
        day -= timedelta(days=1)
    breakdown = []
    for lesson in lessons:
        seen = per_lesson.get(lesson.id)
        status = "not_started" if seen is None else ("completed" if seen["completed"] else "in_progress")
        breakdown.append(
            {
                "lessonId": str(lesson.id),
                "title": lesson.title,
                "sectionTitle": lesson.section_title,
                "status": status,
                "timeSpent": seen["seconds"] if seen else 0,
                "views": len(seen["views"]) if seen else 0,
                "lastAccessed": iso(seen["last"]) if seen else None,
            }
        )
    topic_counts: dict[str, int] = {}
    for _, text in questions:
        for word in keywords(text):
            topic_counts[word] = topic_counts.get(word, 0) + 1
    top_topics = sorted(topic_counts.items(), key=lambda item: (-item[1], item[0]))[:5]
    completed = sum(1 for item in breakdown if item["status"] == "completed")
    return {
        "progressTimeline": timeline,
        "lessonProgress": breakdown,
        "stats": {
            "totalTime": total_seconds,
            "lessonsCompleted": completed,
            "totalLessons": len(lessons),
            "questionsAsked": len(questions),
            "currentStreak": streak,
            "averageSessionDuration": r1(total_seconds / len(views)) if views else 0.0,
            "mostActiveHour": max(range(24), key=lambda h: (hours[h], -h)) if any(hours) else None,
        },
        "aiChatSummary": {
            "totalQuestions": len(questions),
            "commonTopics": [word for word, _ in top_topics],
            "recentQuestions": [text for _, text in sorted(questions, reverse=True)[:5]],
        },
    }

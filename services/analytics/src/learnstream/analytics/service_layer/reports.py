"""Every analytics answer, computed in ClickHouse from the projected events.

The definitions are those of ``docs/analytics.md``; each query reads the tables of
:mod:`learnstream.analytics.adapters.schema` with ``FINAL`` (one row per event id).
Times travel as epoch milliseconds and come back as UTC; day and hour buckets are
computed by ClickHouse in the time zone the caller resolved.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from uuid import UUID

from learnstream.analytics.adapters.clickhouse import ClickHouse
from learnstream.analytics.domain.errors import NotFound
from learnstream.analytics.domain.topics import STOP_WORDS, keywords
from learnstream.analytics.service_layer.periods import Window, local_midnight, window, zone
from learnstream.runtime.projection import BatchProjection

ACTIVITY = (
    "LessonStarted",
    "LessonTimeTracked",
    "VideoProgressed",
    "LessonCompleted",
    "QuizSubmitted",
    "ChatMessageSent",
)
_ACTIVITY_SQL = "(" + ", ".join(f"'{name}'" for name in ACTIVITY) + ")"
_VIEWING_SQL = "('LessonStarted', 'LessonTimeTracked', 'VideoProgressed')"
_IN_WINDOW = (
    "time >= fromUnixTimestamp64Milli({s:Int64}, 'UTC') AND time < fromUnixTimestamp64Milli({e:Int64}, 'UTC')"
)
_ENROLLING_SQL = "name IN ('EnrollmentCreated', 'EnrollmentCancelled')"
_LATEST_ENROLLMENT = (
    "argMaxIf(name = 'EnrollmentCreated', (time, name = 'EnrollmentCancelled'), " + _ENROLLING_SQL
)
_LATEST_PROGRESS = "argMaxIf(value, (time, value), name = 'LessonCompleted'"
ZERO = UUID(int=0)
SEGMENT_SECONDS = 5
FUNNEL = (
    ("enrolled", "Enrolled"),
    ("started", "Started"),
    ("progress25", "25% complete"),
    ("progress50", "50% complete"),
    ("progress75", "75% complete"),
    ("completed", "Completed"),
)
STATS = (
    "totalStudents",
    "activeStudents",
    "averageProgress",
    "totalTimeSpent",
    "completionRate",
    "averageTimeToComplete",
)
DAY_NAMES = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


def ms(moment: datetime) -> int:
    """Epoch milliseconds, the way times are passed to ClickHouse."""
    return int(moment.timestamp() * 1000)


def r1(value: float | None) -> float | None:
    """One decimal, for percentages and averages (``None`` stays ``None``)."""
    if value is None or math.isnan(value):
        return None
    return round(value, 1)


def ratio(part: float, whole: float) -> float:
    """``part / whole`` in percent with one decimal; 0 when there is nothing to divide by."""
    return round(part * 100 / whole, 1) if whole else 0.0


def change(current: float | None, previous: float | None) -> float | None:
    if current is None or previous is None or previous == 0:
        return None
    return round((current - previous) * 100 / previous, 1)


def utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def iso(value: datetime | None) -> str | None:
    return utc(value).isoformat(timespec="milliseconds").replace("+00:00", "Z") if value else None


def fallback_name(user_id: UUID | str) -> str:
    return f"Learner {str(user_id).replace('-', '')[:8]}"


@dataclass(frozen=True)
class Thresholds:
    """When a learner counts as at risk (see ``docs/analytics.md``)."""

    inactive_days: int = 7
    stuck_days: int = 14
    quiz_failures: int = 3
    questions: int = 5
    window_days: int = 14


@dataclass(frozen=True)
class Course:
    id: UUID
    instructor_id: UUID
    title: str
    category: str
    difficulty: str
    status: str
    created_at: datetime


@dataclass(frozen=True)
class Lesson:
    id: UUID
    title: str
    section_title: str
    position: int
    content_type: str
    duration: int


class Reports:
    """The analytics queries; every answer carries the projection's freshness."""

    def __init__(self, clickhouse: ClickHouse, projection: BatchProjection, thresholds: Thresholds) -> None:
        self.ch = clickhouse
        self.projection = projection
        self.thresholds = thresholds

    @property
    def db(self) -> str:
        return f"`{self.ch.database}`"

    async def _rows(self, sql: str, **parameters: Any) -> Sequence[Sequence[Any]]:
        return await self.ch.query_rows(sql.replace("{db}", self.db), parameters)

    async def freshness(self, now: datetime | None = None) -> dict[str, Any]:
        state = await self.projection.freshness(now)
        return {"lagMs": state.lag_ms, "asOf": iso(state.as_of)}

    # -- reference data ----------------------------------------------------------------------

    async def course(self, course_id: UUID) -> Course:
        rows = await self._rows(
            "SELECT course_id, instructor_id, title, category, difficulty, status, created_at"
            " FROM {db}.course_profiles WHERE course_id = {c:UUID}",
            c=course_id,
        )
        if not rows:
            raise NotFound(f"course {course_id} not found")
        row = rows[0]
        return Course(row[0], row[1], row[2], row[3], row[4], row[5], utc(row[6]))

    async def timezone_of(self, user_id: UUID) -> str:
        rows = await self._rows(
            "SELECT timezone FROM {db}.user_profiles WHERE user_id = {u:UUID}",
            u=user_id,
        )
        name = rows[0][0] if rows else "UTC"
        try:
            zone(name)
        except Exception:
            return "UTC"
        return str(name)

    async def _tz(self, override: str | None, owner: UUID) -> str:
        if override:
            zone(override)
            return override
        return await self.timezone_of(owner)

    async def lessons_of(self, course_id: UUID) -> list[Lesson]:
        rows = await self._rows(
            "SELECT lesson_id, lesson_title, section_title, position, content_type, duration"
            " FROM {db}.current_lessons WHERE course_id = {c:UUID} ORDER BY position",
            c=course_id,
        )
        return [Lesson(r[0], r[1], r[2], int(r[3]), r[4], int(r[5])) for r in rows]

    async def _first_event(self, course: Course) -> datetime:
        rows = await self._rows(
            "SELECT min(time), count() FROM {db}.activity WHERE course_id = {c:UUID}", c=course.id
        )
        first = course.created_at
        if rows and rows[0][1]:
            first = min(first, utc(rows[0][0]))
        return first

    async def _window(
        self,
        course: Course,
        *,
        now: datetime,
        tz: str,
        period: str | None,
        start_date: date | None,
        end_date: date | None,
    ) -> Window:
        first = await self._first_event(course) if period == "all" else None
        return window(
            now=now, tz=tz, period=period, start_date=start_date, end_date=end_date, first_event=first
        )

    # -- course analytics -----------------------------------------------------------------------

    async def course_analytics(
        self,
        course_id: UUID,
        *,
        now: datetime,
        period: str | None = "30d",
        start_date: date | None = None,
        end_date: date | None = None,
        tz: str | None = None,
    ) -> dict[str, Any]:
        course = await self.course(course_id)
        tz = await self._tz(tz, course.instructor_id)
        win = await self._window(
            course, now=now, tz=tz, period=period, start_date=start_date, end_date=end_date
        )
        summary = await self._course_summary(course_id, win)
        return {
            "course": {"id": str(course.id), "title": course.title, "status": course.status},
            "period": {
                "start": iso(win.start),
                "end": iso(win.end),
                "previousStart": iso(win.previous_start),
                "timezone": tz,
            },
            "stats": summary["stats"],
            "trends": await self._trends(course_id, win),
            "funnelData": summary["funnel"],
            "activityHeatmap": await self._heatmap(course_id, win),
            "progressDistribution": summary["distribution"],
            "freshness": await self.freshness(now),
        }

    async def _course_summary(self, course_id: UUID, win: Window) -> dict[str, Any]:
        has_previous = win.previous_start is not None
        previous_start = win.previous_start or win.start
        buckets = ", ".join(
            f"countIf(enrolled_e AND least(toUInt8(floor(progress_e / 10)), 9) = {i})" for i in range(10)
        )
        rows = await self._rows(
            f"""
            WITH fromUnixTimestamp64Milli({{e:Int64}}, 'UTC') AS e_,
                 fromUnixTimestamp64Milli({{s:Int64}}, 'UTC') AS s_,
                 fromUnixTimestamp64Milli({{ps:Int64}}, 'UTC') AS ps_
            SELECT
                countIf(enrolled_e), countIf(enrolled_s),
                countIf(enrolled_e AND active_w), countIf(enrolled_s AND active_p),
                sumIf(progress_e, enrolled_e), sumIf(progress_s, enrolled_s),
                sum(time_w), sum(time_p),
                countIf(enrolled_e AND completed_e), countIf(enrolled_s AND completed_s),
                sum(days_w), sum(done_w), sum(days_p), sum(done_p),
                countIf(cohort), countIf(cohort AND started),
                countIf(cohort AND (milestone >= 25 OR completed_e)),
                countIf(cohort AND (milestone >= 50 OR completed_e)),
                countIf(cohort AND (milestone >= 75 OR completed_e)),
                countIf(cohort AND completed_e),
                {buckets}
            FROM (
                SELECT
                    learner_id,
                    {_LATEST_ENROLLMENT} AND time < e_) AS enrolled_e,
                    {_LATEST_ENROLLMENT} AND time < s_) AS enrolled_s,
                    countIf(name = 'CourseCompleted' AND time < e_) > 0 AS completed_e,
                    countIf(name = 'CourseCompleted' AND time < s_) > 0 AS completed_s,
                    if(completed_e, 100., {_LATEST_PROGRESS} AND time < e_)) AS progress_e,
                    if(completed_s, 100., {_LATEST_PROGRESS} AND time < s_)) AS progress_s,
                    countIf(name IN {_ACTIVITY_SQL} AND time >= s_ AND time < e_) > 0 AS active_w,
                    countIf(name IN {_ACTIVITY_SQL} AND time >= ps_ AND time < s_) > 0 AS active_p,
                    sumIf(seconds, name = 'LessonTimeTracked' AND time >= s_ AND time < e_) AS time_w,
                    sumIf(seconds, name = 'LessonTimeTracked' AND time >= ps_ AND time < s_) AS time_p,
                    sumIf(days, name = 'CourseCompleted' AND time >= s_ AND time < e_) AS days_w,
                    countIf(name = 'CourseCompleted' AND time >= s_ AND time < e_) AS done_w,
                    sumIf(days, name = 'CourseCompleted' AND time >= ps_ AND time < s_) AS days_p,
                    countIf(name = 'CourseCompleted' AND time >= ps_ AND time < s_) AS done_p,
                    minIf(time, name = 'EnrollmentCreated') AS first_enrolled,
                    enrolled_e AND first_enrolled >= s_ AND first_enrolled < e_ AS cohort,
                    countIf(name = 'LessonStarted' AND time < e_) > 0 AS started,
                    maxIf(milestone, name = 'CourseMilestoneReached' AND time < e_) AS milestone
                FROM {{db}}.activity FINAL
                WHERE course_id = {{c:UUID}}
                GROUP BY learner_id
            )
            """,
            c=course_id,
            e=ms(win.end),
            s=ms(win.start),
            ps=ms(previous_start),
        )
        row = [float(v) if not isinstance(v, int) else v for v in rows[0]]
        (students_e, students_s, active_e, active_s, progress_e, progress_s) = row[0:6]
        (time_w, time_p, completed_e, completed_s, days_w, done_w, days_p, done_p) = row[6:14]
        funnel_counts = [int(v) for v in row[14:20]]
        distribution = [int(v) for v in row[20:30]]
        current = {
            "totalStudents": int(students_e),
            "activeStudents": int(active_e),
            "averageProgress": r1(progress_e / students_e) if students_e else 0.0,
            "totalTimeSpent": int(time_w),
            "completionRate": ratio(completed_e, students_e),
            "averageTimeToComplete": r1(days_w / done_w) if done_w else None,
        }
        previous: dict[str, Any] = {
            "totalStudents": int(students_s),
            "activeStudents": int(active_s),
            "averageProgress": r1(progress_s / students_s) if students_s else 0.0,
            "totalTimeSpent": int(time_p),
            "completionRate": ratio(completed_s, students_s),
            "averageTimeToComplete": r1(days_p / done_p) if done_p else None,
        }
        if not has_previous:
            previous = dict.fromkeys(STATS)
        stats: dict[str, Any] = dict(current)
        stats["previous"] = previous
        stats["change"] = {name: change(current[name], previous[name]) for name in STATS}
        funnel = []
        for index, ((stage, label), count) in enumerate(zip(FUNNEL, funnel_counts, strict=True)):
            before = funnel_counts[index - 1] if index else count
            funnel.append(
                {
                    "stage": stage,
                    "label": label,
                    "count": count,
                    "percentage": ratio(count, funnel_counts[0]),
                    "dropOff": ratio(before - count, before) if index else 0.0,
                }
            )
        return {
            "stats": stats,
            "funnel": funnel,
            "distribution": [
                {"range": f"{i * 10}-{i * 10 + 10}", "min": i * 10, "max": i * 10 + 10, "count": count}
                for i, count in enumerate(distribution)
            ],
        }

    async def _trends(self, course_id: UUID, win: Window) -> dict[str, Any]:
        days = win.days
        # per learner, the transitions of "enrolled" and "enrolled and completed" over time
        transitions = await self._rows(
            """
            SELECT toDate(ev.1, {tz:String}) AS day, sum(d1), sum(d2)
            FROM (
                SELECT
                    learner_id,
                    arraySort(x -> (x.1, x.2), groupArray((time,
                        multiIf(name = 'EnrollmentCreated', 0, name = 'CourseCompleted', 1, 2)))) AS evs,
                    arrayFill(k -> k != 1, arrayMap(x -> x.2, evs)) AS latest,
                    arrayCumSum(arrayMap(x -> toUInt32(x.2 = 1), evs)) AS completions,
                    arrayMap(k -> toInt32(k = 0), latest) AS s1,
                    arrayMap((k, c) -> toInt32(k = 0 AND c > 0), latest, completions) AS s2,
                    arrayPopFront(arrayDifference(arrayPushFront(s1, 0))) AS delta1,
                    arrayPopFront(arrayDifference(arrayPushFront(s2, 0))) AS delta2
                FROM {db}.activity FINAL
                WHERE course_id = {c:UUID}
                  AND name IN ('EnrollmentCreated', 'EnrollmentCancelled', 'CourseCompleted')
                  AND time < fromUnixTimestamp64Milli({e:Int64}, 'UTC')
                GROUP BY learner_id
            )
            ARRAY JOIN evs AS ev, delta1 AS d1, delta2 AS d2
            GROUP BY day
            ORDER BY day
            """,
            c=course_id,
            e=ms(win.end),
            tz=win.tz,
        )
        daily = await self._rows(
            f"""
            SELECT toDate(time, {{tz:String}}) AS day,
                   countIf(name = 'EnrollmentCreated'),
                   uniqExactIf(learner_id, name IN {_ACTIVITY_SQL}),
                   countIf(name = 'CourseCompleted')
            FROM {{db}}.activity FINAL
            WHERE course_id = {{c:UUID}}
              AND time >= fromUnixTimestamp64Milli({{s:Int64}}, 'UTC')
              AND time < fromUnixTimestamp64Milli({{e:Int64}}, 'UTC')
            GROUP BY day
            """,
            c=course_id,
            s=ms(win.start),
            e=ms(win.end),
            tz=win.tz,
        )
        per_day = {row[0]: row[1:] for row in daily}
        changes = {row[0]: (int(row[1]), int(row[2])) for row in transitions}
        first = days[0] if days else None
        enrolled = completed = 0
        for day, (d1, d2) in changes.items():
            if first is not None and day < first:
                enrolled += d1
                completed += d2
        enrollment, engagement, completion = [], [], []
        for day in days:
            d1, d2 = changes.get(day, (0, 0))
            enrolled += d1
            completed += d2
            new, active, completions = per_day.get(day, (0, 0, 0))
            label = day.isoformat()
            enrollment.append({"date": label, "count": int(new), "total": enrolled})
            engagement.append({"date": label, "active": int(active)})
            completion.append(
                {"date": label, "rate": ratio(completed, enrolled), "completions": int(completions)}
            )
        return {"enrollmentData": enrollment, "engagementData": engagement, "completionData": completion}

    async def _heatmap(self, course_id: UUID, win: Window) -> list[dict[str, Any]]:
        rows = await self._rows(
            f"""
            SELECT toDayOfWeek(time, 0, {{tz:String}}) AS dow, toHour(time, {{tz:String}}) AS hour,
                   count(), sumIf(seconds, name = 'LessonTimeTracked')
            FROM {{db}}.activity FINAL
            WHERE course_id = {{c:UUID}} AND name IN {_ACTIVITY_SQL}
              AND time >= fromUnixTimestamp64Milli({{s:Int64}}, 'UTC')
              AND time < fromUnixTimestamp64Milli({{e:Int64}}, 'UTC')
            GROUP BY dow, hour
            """,
            c=course_id,
            s=ms(win.start),
            e=ms(win.end),
            tz=win.tz,
        )
        cells = {(int(r[0]), int(r[1])): (int(r[2]), int(r[3])) for r in rows}
        return [
            {
                "dayOfWeek": dow,
                "day": DAY_NAMES[dow - 1],
                "hour": hour,
                "value": cells.get((dow, hour), (0, 0))[0],
                "timeSpent": cells.get((dow, hour), (0, 0))[1],
            }
            for dow in range(1, 8)
            for hour in range(24)
        ]

    # -- lessons, videos, quizzes -----------------------------------------------------------------

    async def lesson_analytics(self, course_id: UUID, *, now: datetime) -> dict[str, Any]:
        await self.course(course_id)
        lessons = await self.lessons_of(course_id)
        return {
            "lessons": await self._lesson_rows(course_id, lessons),
            "freshness": await self.freshness(now),
        }

    async def _lesson_rows(self, course_id: UUID, lessons: list[Lesson]) -> list[dict[str, Any]]:
        if not lessons:
            return []
        per_lesson = await self._rows(
            f"""
            SELECT lesson_id,
                   uniqExactIf(view_id, name IN {_VIEWING_SQL}),
                   uniqExactIf(learner_id, name IN {_VIEWING_SQL}),
                   uniqExactIf(learner_id, name = 'LessonCompleted'),
                   sumIf(seconds, name = 'LessonTimeTracked'),
                   countIf(name = 'ChatMessageSent')
            FROM {{db}}.activity FINAL
            WHERE course_id = {{c:UUID}} AND lesson_id IN {{lessons:Array(UUID)}}
            GROUP BY lesson_id
            """,
            c=course_id,
            lessons=[lesson.id for lesson in lessons],
        )
        drop = await self._drop_off(course_id, lessons)
        stats = {row[0]: row[1:] for row in per_lesson}
        result = []
        for lesson in lessons:
            views, viewers, completions, seconds, questions = stats.get(lesson.id, (0, 0, 0, 0, 0))
            base, dropped = drop.get(lesson.id, (0, 0))
            result.append(
                {
                    "id": str(lesson.id),
                    "title": lesson.title,
                    "sectionTitle": lesson.section_title,
                    "position": lesson.position,
                    "contentType": lesson.content_type,
                    "views": int(views),
                    "viewers": int(viewers),
                    "completions": int(completions),
                    "completionRate": ratio(completions, viewers),
                    "averageTimeSpent": r1(seconds / viewers) if viewers else 0.0,
                    "dropOffRate": ratio(dropped, base),
                    "questions": int(questions),
                }
            )
        return result

    async def _drop_off(self, course_id: UUID, lessons: list[Lesson]) -> dict[UUID, tuple[int, int]]:
        """Per lesson: learners who completed the previous step, and those of them who never
        completed this lesson (the first lesson's previous step is enrolling)."""
        previous = [ZERO] + [lesson.id for lesson in lessons[:-1]]
        rows = await self._rows(
            """
            SELECT pair.2 AS lesson,
                   countIf(if(pair.1 = toUUID('00000000-0000-0000-0000-000000000000'),
                              enrolled, has(done, pair.1))) AS base,
                   countIf(if(pair.1 = toUUID('00000000-0000-0000-0000-000000000000'),
                              enrolled, has(done, pair.1)) AND NOT has(done, pair.2)) AS dropped
            FROM (
                SELECT learner_id,
                       groupUniqArrayIf(lesson_id, name = 'LessonCompleted') AS done,
                       countIf(name = 'EnrollmentCreated') > 0 AS enrolled
                FROM {db}.activity FINAL
                WHERE course_id = {c:UUID}
                GROUP BY learner_id
            )
            ARRAY JOIN arrayZip({previous:Array(UUID)}, {lessons:Array(UUID)}) AS pair
            GROUP BY lesson
            """,
            c=course_id,
            previous=previous,
            lessons=[lesson.id for lesson in lessons],
        )
        return {row[0]: (int(row[1]), int(row[2])) for row in rows}

    async def video_analytics(self, course_id: UUID, *, now: datetime) -> dict[str, Any]:
        await self.course(course_id)
        videos = [lesson for lesson in await self.lessons_of(course_id) if lesson.content_type == "video"]
        if not videos:
            return {"videos": [], "freshness": await self.freshness(now)}
        ids = [video.id for video in videos]
        summary = await self._rows(
            """
            SELECT lesson_id, countIf(watched), countIf(watched AND done), sumIf(best, watched),
                   max(length)
            FROM (
                SELECT learner_id, lesson_id,
                       countIf(name = 'VideoProgressed') > 0 AS watched,
                       countIf(name = 'LessonCompleted') > 0 AS done,
                       maxIf(value, name = 'VideoProgressed') AS best,
                       maxIf(duration, name = 'VideoProgressed') AS length
                FROM {db}.activity FINAL
                WHERE course_id = {c:UUID} AND lesson_id IN {lessons:Array(UUID)}
                  AND name IN ('VideoProgressed', 'LessonCompleted')
                GROUP BY learner_id, lesson_id
            )
            GROUP BY lesson_id
            """,
            c=course_id,
            lessons=ids,
        )
        segments = await self._rows(
            f"""
            SELECT lesson_id, segment, uniqExact(learner_id)
            FROM {{db}}.activity FINAL
            ARRAY JOIN ranges AS watched
            ARRAY JOIN range(intDiv(watched.1, {SEGMENT_SECONDS}),
                             intDiv(watched.2 - 1, {SEGMENT_SECONDS}) + 1) AS segment
            WHERE course_id = {{c:UUID}} AND name = 'VideoProgressed' AND lesson_id IN {{lessons:Array(UUID)}}
              AND watched.2 > watched.1
            GROUP BY lesson_id, segment
            """,
            c=course_id,
            lessons=ids,
        )
        by_video = {row[0]: row[1:] for row in summary}
        viewers_at: dict[tuple[UUID, int], int] = {(r[0], int(r[1])): int(r[2]) for r in segments}
        result = []
        for video in videos:
            viewers, completed, best_sum, reported = by_video.get(video.id, (0, 0, 0.0, 0))
            duration = video.duration or int(reported or 0)
            count = math.ceil(duration / SEGMENT_SECONDS)
            result.append(
                {
                    "id": str(video.id),
                    "title": video.title,
                    "duration": duration,
                    "viewers": int(viewers),
                    "completionRate": ratio(completed, viewers),
                    "averageWatchPercentage": r1(best_sum / viewers) if viewers else 0.0,
                    "segments": [
                        {
                            "start": k * SEGMENT_SECONDS,
                            "end": (k + 1) * SEGMENT_SECONDS,
                            "viewers": viewers_at.get((video.id, k), 0),
                        }
                        for k in range(count)
                    ],
                }
            )
        return {"videos": result, "freshness": await self.freshness(now)}

    async def quiz_analytics(self, course_id: UUID, *, now: datetime) -> dict[str, Any]:
        await self.course(course_id)
        lessons = {lesson.id: lesson for lesson in await self.lessons_of(course_id)}
        quizzes = await self._rows(
            "SELECT quiz_id, lesson_id, question_ids, passing_score FROM {db}.current_quizzes"
            " WHERE course_id = {c:UUID}",
            c=course_id,
        )
        quizzes = sorted(
            (q for q in quizzes if q[1] in lessons), key=lambda q: (lessons[q[1]].position, str(q[0]))
        )
        if not quizzes:
            return {"quizzes": [], "hardestQuestions": [], "freshness": await self.freshness(now)}
        ids = [q[0] for q in quizzes]
        per_quiz = await self._rows(
            """
            SELECT quiz_id,
                   uniqExact((learner_id, attempt)),
                   uniqExact(learner_id),
                   uniqExactIf(learner_id, flag = 1),
                   uniqExactIf(learner_id, attempt = 1),
                   uniqExactIf(learner_id, attempt = 1 AND flag = 1),
                   sum(value), count()
            FROM {db}.activity FINAL
            WHERE course_id = {c:UUID} AND name = 'QuizSubmitted' AND quiz_id IN {quizzes:Array(UUID)}
            GROUP BY quiz_id
            """,
            c=course_id,
            quizzes=ids,
        )
        per_question = await self._rows(
            """
            SELECT quiz_id, question, count(), sum(correct)
            FROM {db}.activity FINAL
            ARRAY JOIN question_ids AS question, question_correct AS correct
            WHERE course_id = {c:UUID} AND name = 'QuizSubmitted' AND quiz_id IN {quizzes:Array(UUID)}
            GROUP BY quiz_id, question
            """,
            c=course_id,
            quizzes=ids,
        )
        stats = {row[0]: row[1:] for row in per_quiz}
        answers = {(row[0], row[1]): (int(row[2]), int(row[3])) for row in per_question}
        result, questions = [], []
        for order, (quiz_id, lesson_id, question_ids, passing_score) in enumerate(quizzes):
            attempts, learners, passed, first, first_passed, score_sum, scored = stats.get(
                quiz_id, (0, 0, 0, 0, 0, 0.0, 0)
            )
            result.append(
                {
                    "id": str(quiz_id),
                    "lessonId": str(lesson_id),
                    "lessonTitle": lessons[lesson_id].title,
                    "passingScore": int(passing_score),
                    "attempts": int(attempts),
                    "learners": int(learners),
                    "passRate": ratio(passed, learners),
                    "firstAttemptPassRate": ratio(first_passed, first),
                    "averageScore": r1(score_sum / scored) if scored else 0.0,
                }
            )
            for position, question_id in enumerate(question_ids, start=1):
                answered, correct = answers.get((quiz_id, question_id), (0, 0))
                if answered:
                    questions.append((correct / answered, -answered, order, position, quiz_id, question_id))
        questions.sort(key=lambda q: q[:4])
        hardest = [
            {
                "quizId": str(quiz_id),
                "lessonTitle": lessons[quizzes[order][1]].title,
                "questionId": str(question_id),
                "position": position,
                "answered": -negative_answered,
                "correctRate": ratio(share * -negative_answered, -negative_answered),
            }
            for share, negative_answered, order, position, quiz_id, question_id in questions[:5]
        ]
        return {"quizzes": result, "hardestQuestions": hardest, "freshness": await self.freshness(now)}

    # -- students ----------------------------------------------------------------------------------

    async def _course_learners(self, course_id: UUID, now: datetime) -> list[dict[str, Any]]:
        """Every student of the course (enrolled at ``now``) with progress, activity and risk."""
        limits = self.thresholds
        rows = await self._rows(
            f"""
            WITH fromUnixTimestamp64Milli({{now:Int64}}, 'UTC') AS now_
            SELECT l.learner_id, u.display_name, l.progress, l.time_spent, l.last_active, l.enrolled_at,
                   l.completed_at, l.completed, l.last_progress, q.quizzes, a.lessons, l.started_lessons
            FROM (
                SELECT learner_id,
                       {_LATEST_ENROLLMENT}) AS enrolled,
                       minIf(time, name = 'EnrollmentCreated') AS enrolled_at,
                       countIf(name = 'CourseCompleted') > 0 AS completed,
                       minIf(time, name = 'CourseCompleted') AS completed_at,
                       if(completed, 100., {_LATEST_PROGRESS})) AS progress,
                       sumIf(seconds, name = 'LessonTimeTracked') AS time_spent,
                       if(countIf(name IN {_ACTIVITY_SQL}) > 0,
                          maxIf(time, name IN {_ACTIVITY_SQL}), enrolled_at) AS last_active,
                       if(countIf(name = 'LessonCompleted') > 0, maxIf(time, name = 'LessonCompleted'),
                          enrolled_at) AS last_progress,
                       uniqExactIf(lesson_id, name = 'LessonStarted') AS started_lessons
                FROM {{db}}.activity FINAL
                WHERE course_id = {{c:UUID}} AND time < now_
                GROUP BY learner_id
            ) AS l
            LEFT JOIN (
                SELECT learner_id, groupArray((quiz_id, fails)) AS quizzes
                FROM (
                    SELECT learner_id, quiz_id,
                           countIf(flag = 0) AS fails, maxIf(time, flag = 0) AS last_fail,
                           countIf(flag = 1) AS passes, maxIf(time, flag = 1) AS last_pass
                    FROM {{db}}.activity FINAL
                    WHERE course_id = {{c:UUID}} AND name = 'QuizSubmitted' AND time < now_
                    GROUP BY learner_id, quiz_id
                    HAVING fails >= {{fails:UInt32}} AND (passes = 0 OR last_pass < last_fail)
                )
                GROUP BY learner_id
            ) AS q ON q.learner_id = l.learner_id
            LEFT JOIN (
                SELECT learner_id, groupArray((lesson_id, asked)) AS lessons
                FROM (
                    SELECT learner_id, lesson_id, count() AS asked
                    FROM {{db}}.activity FINAL
                    WHERE course_id = {{c:UUID}} AND name = 'ChatMessageSent'
                      AND lesson_id != toUUID({{zero:String}})
                      AND time >= now_ - toIntervalDay({{window:UInt32}}) AND time < now_
                    GROUP BY learner_id, lesson_id
                    HAVING asked >= {{questions:UInt32}}
                )
                GROUP BY learner_id
            ) AS a ON a.learner_id = l.learner_id
            LEFT JOIN {{db}}.user_profiles AS u ON u.user_id = l.learner_id
            WHERE l.enrolled
            """,
            c=course_id,
            now=ms(now),
            fails=limits.quiz_failures,
            questions=limits.questions,
            window=limits.window_days,
            zero=str(ZERO),
        )
        lessons = {lesson.id: lesson for lesson in await self.lessons_of(course_id)}
        quiz_lessons = await self._quiz_lessons(course_id)
        learners = []
        for row in rows:
            (learner_id, display_name, progress, time_spent, last_active, enrolled_at) = row[0:6]
            (completed_at, completed, last_progress, quizzes, asked, started) = row[6:12]
            learner = {
                "id": learner_id,
                "name": display_name or fallback_name(learner_id),
                "progress": r1(float(progress)) or 0.0,
                "timeSpent": int(time_spent),
                "lastActive": utc(last_active),
                "enrolledAt": utc(enrolled_at),
                "completedAt": utc(completed_at) if completed else None,
                "lessonsStarted": int(started),
            }
            reasons, details = [], []
            if not completed:
                idle = (now - utc(last_active)).days
                if now - utc(last_active) > timedelta(days=limits.inactive_days):
                    reasons.append("inactive")
                    details.append(f"No activity for {idle} days")
                if now - utc(last_progress) > timedelta(days=limits.stuck_days):
                    reasons.append("stuck")
                    details.append(
                        f"No lesson completed for {(now - utc(last_progress)).days} days"
                        f" at {learner['progress']:g}% progress"
                    )
                struggles = []
                for quiz_id, fails in quizzes or []:
                    title = quiz_lessons.get(quiz_id, "a quiz")
                    struggles.append(f'Failed the quiz of "{title}" {int(fails)} times without passing')
                for lesson_id, count in asked or []:
                    title = lessons[lesson_id].title if lesson_id in lessons else "one lesson"
                    struggles.append(
                        f'Asked the assistant {int(count)} questions about "{title}"'
                        f" in {limits.window_days} days"
                    )
                if struggles:
                    reasons.append("struggling")
                    details += struggles
            learner["reasons"] = reasons
            learner["details"] = "; ".join(details)
            learner["atRisk"] = bool(reasons)
            if completed:
                learner["status"] = "completed"
            elif now - utc(last_active) <= timedelta(days=limits.inactive_days):
                learner["status"] = "active"
            else:
                learner["status"] = "inactive"
            learners.append(learner)
        return learners

    async def _quiz_lessons(self, course_id: UUID) -> dict[UUID, str]:
        rows = await self._rows(
            "SELECT q.quiz_id, l.lesson_title FROM {db}.current_quizzes AS q"
            " INNER JOIN {db}.current_lessons AS l ON l.lesson_id = q.lesson_id AND l.course_id = q.course_id"
            " WHERE q.course_id = {c:UUID}",
            c=course_id,
        )
        return {row[0]: row[1] for row in rows}

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
        learners = await self._course_learners(course_id, now)
        if filter == "active":
            learners = [s for s in learners if s["status"] == "active"]
        elif filter == "completed":
            learners = [s for s in learners if s["status"] == "completed"]
        elif filter == "atRisk":
            learners = [s for s in learners if s["atRisk"]]
        if search:
            needle = search.casefold()
            learners = [s for s in learners if needle in s["name"].casefold()]
        order = {
            "progress": lambda s: (-s["progress"], str(s["id"])),
            "recent": lambda s: (-s["lastActive"].timestamp(), str(s["id"])),
            "name": lambda s: (s["name"].casefold(), str(s["id"])),
            "timeSpent": lambda s: (-s["timeSpent"], str(s["id"])),
            "fastest": lambda s: (
                s["completedAt"] is None,
                (s["completedAt"] - s["enrolledAt"]).total_seconds() if s["completedAt"] else 0,
                str(s["id"]),
            ),
        }[sort]
        learners.sort(key=order)
        total = len(learners)
        chunk = learners[(page - 1) * limit : page * limit]
        return {
            "students": [_student_out(s) for s in chunk],
            "pagination": {"total": total, "page": page, "limit": limit, "pages": math.ceil(total / limit)},
            "freshness": await self.freshness(now),
        }

    async def at_risk(self, course_id: UUID, *, now: datetime) -> dict[str, Any]:
        await self.course(course_id)
        learners = [s for s in await self._course_learners(course_id, now) if s["atRisk"]]
        learners.sort(key=lambda s: (s["lastActive"], str(s["id"])))
        return {
            "students": [
                {
                    "id": str(s["id"]),
                    "name": s["name"],
                    "reason": s["reasons"][0],
                    "reasons": s["reasons"],
                    "details": s["details"],
                    "lastActive": iso(s["lastActive"]),
                    "progress": s["progress"],
                }
                for s in learners
            ],
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
        learners = {s["id"]: s for s in await self._course_learners(course_id, now)}
        student = learners.get(student_id)
        if student is None:
            raise NotFound(f"student {student_id} is not enrolled in course {course_id}")
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
                "enrolledAt": iso(student["enrolledAt"]),
                "status": student["status"],
                "progress": student["progress"],
                "completedAt": iso(student["completedAt"]),
                "lastActive": iso(student["lastActive"]),
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
        course = await self.course(course_id)
        tz = await self._tz(tz, course.instructor_id)
        win = await self._window(
            course, now=now, tz=tz, period=period or "all", start_date=start_date, end_date=end_date
        )
        window_sql = _IN_WINDOW
        params = {"c": course_id, "s": ms(win.start), "e": ms(win.end), "tz": tz}
        totals = await self._rows(
            f"""
            SELECT countIf(name = 'ChatMessageSent'),
                   uniqExactIf(learner_id, name = 'ChatMessageSent'),
                   countIf(name = 'AssistantReplied'),
                   countIf(name = 'AssistantReplied' AND flag = 0)
            FROM {{db}}.activity FINAL
            WHERE course_id = {{c:UUID}} AND {window_sql}
            """,
            **params,
        )
        ratings = await self._rows(
            f"""
            SELECT count(), countIf(helpful)
            FROM (
                SELECT message_id, argMax(flag, (time, 1 - flag)) = 1 AS helpful
                FROM {{db}}.activity FINAL
                WHERE course_id = {{c:UUID}} AND name = 'AssistantReplyRated' AND {window_sql}
                GROUP BY message_id
            )
            """,
            **params,
        )
        topics = await self._rows(
            f"""
            SELECT word, count() AS questions
            FROM {{db}}.activity FINAL
            ARRAY JOIN arrayDistinct(arrayFilter(
                w -> lengthUTF8(w) >= 3 AND NOT has({{stop:Array(String)}}, w),
                extractAll(lowerUTF8(text), '\\p{{L}}+'))) AS word
            WHERE course_id = {{c:UUID}} AND name = 'ChatMessageSent' AND {window_sql}
            GROUP BY word
            ORDER BY questions DESC, word ASC
            LIMIT 10
            """,
            stop=sorted(STOP_WORDS),
            **params,
        )
        recent = await self._rows(
            f"""
            SELECT a.text, a.learner_id, u.display_name, a.lesson_id, a.time
            FROM {{db}}.activity AS a FINAL
            LEFT JOIN {{db}}.user_profiles AS u ON u.user_id = a.learner_id
            WHERE a.course_id = {{c:UUID}} AND a.name = 'ChatMessageSent'
              AND {window_sql.replace("time", "a.time")}
            ORDER BY a.time DESC, a.event_id DESC
            LIMIT 10
            """,
            **params,
        )
        by_lesson_hour = await self._rows(
            f"""
            SELECT lesson_id, toHour(time, {{tz:String}}) AS hour, count()
            FROM {{db}}.activity FINAL
            WHERE course_id = {{c:UUID}} AND name = 'ChatMessageSent' AND {window_sql}
            GROUP BY lesson_id, hour
            """,
            **params,
        )
        lessons = await self.lessons_of(course_id)
        titles = {lesson.id: lesson.title for lesson in lessons}
        drop = await self._drop_off(course_id, lessons) if lessons else {}
        per_lesson: dict[UUID, int] = {}
        per_hour = [0] * 24
        for lesson_id, hour, count in by_lesson_hour:
            per_lesson[lesson_id] = per_lesson.get(lesson_id, 0) + int(count)
            per_hour[int(hour)] += int(count)
        questions, askers, replies, unanswered = (int(v) for v in totals[0])
        rated, helpful = (int(v) for v in ratings[0])
        students = (await self._course_summary(course_id, win))["stats"]["totalStudents"]
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

    # -- creator, admin, learner ------------------------------------------------------------------

    async def _instructor_pairs(self, instructor_id: UUID, now: datetime) -> list[dict[str, Any]]:
        """Per learner and course of the instructor: enrollment, progress, videos and activity."""
        rows = await self._rows(
            f"""
            WITH fromUnixTimestamp64Milli({{now:Int64}}, 'UTC') AS now_
            SELECT learner_id, course_id,
                   {_LATEST_ENROLLMENT}) AS enrolled,
                   minIf(time, name = 'EnrollmentCreated') AS first_enrolled,
                   if(countIf(name = 'CourseCompleted') > 0, 100., {_LATEST_PROGRESS})) AS progress,
                   groupUniqArrayIf(lesson_id, name = 'VideoProgressed') AS videos,
                   maxIf(time, name IN {_ACTIVITY_SQL}) AS last_activity,
                   countIf(name IN {_ACTIVITY_SQL}) > 0 AS ever_active
            FROM {{db}}.activity FINAL
            WHERE course_id IN (SELECT course_id FROM {{db}}.course_profiles WHERE instructor_id = {{i:UUID}})
              AND time < now_
            GROUP BY learner_id, course_id
            HAVING countIf(name = 'EnrollmentCreated') > 0
            """,
            i=instructor_id,
            now=ms(now),
        )
        return [
            {
                "learner": row[0],
                "course": row[1],
                "enrolled": bool(row[2]),
                "first_enrolled": utc(row[3]),
                "progress": float(row[4]),
                "videos": set(row[5]),
                "last_activity": utc(row[6]) if row[7] else None,
            }
            for row in rows
        ]

    async def creator_students(
        self,
        instructor_id: UUID,
        *,
        now: datetime,
        status: str = "all",
        progress: str | None = None,
        last_active: str | None = None,
        search: str | None = None,
        sort_by: str = "lastActive",
        sort_order: str | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> dict[str, Any]:
        pairs = await self._instructor_pairs(instructor_id, now)
        learners: dict[UUID, list[dict[str, Any]]] = {}
        for pair in pairs:
            learners.setdefault(pair["learner"], []).append(pair)
        current = {learner: rows for learner, rows in learners.items() if any(p["enrolled"] for p in rows)}
        names = await self._names(list(current))
        xp = await self._xp(instructor_id, list(current), now)
        students = []
        for learner, rows in current.items():
            enrolled = [p for p in rows if p["enrolled"]]
            first = min(p["first_enrolled"] for p in rows)
            activity = [p["last_activity"] for p in rows if p["last_activity"] is not None]
            last = max(activity) if activity else first
            videos = len(set().union(*(p["videos"] for p in rows)))
            average = sum(p["progress"] for p in enrolled) / len(enrolled)
            students.append(
                {
                    "id": str(learner),
                    "name": names.get(learner) or fallback_name(learner),
                    "courses": len(enrolled),
                    "progress": r1(average) or 0.0,
                    "videosWatched": videos,
                    "lastActive": iso(last),
                    "firstEnrolledAt": iso(first),
                    "tier": engagement_tier(now, last, first, videos, average),
                    "xp": xp.get(learner, 0),
                    "_last": last,
                }
            )
        tiers = {tier: 0 for tier in TIERS}
        for student in students:
            tiers[student["tier"]] += 1
        if status == "active":
            students = [st for st in students if now - st["_last"] <= timedelta(days=7)]
        elif status == "at-risk":
            students = [st for st in students if st["tier"] == "at_risk"]
        elif status == "inactive":
            students = [st for st in students if st["tier"] == "inactive"]
        if progress:
            low, high = PROGRESS_BUCKETS[progress]
            students = [st for st in students if low <= round(st["progress"]) <= high]
        if last_active:
            days = LAST_ACTIVE_DAYS[last_active]
            if last_active == "inactive":
                students = [st for st in students if now - st["_last"] > timedelta(days=days)]
            else:
                students = [st for st in students if now - st["_last"] <= timedelta(days=days)]
        if search:
            needle = search.casefold()
            students = [st for st in students if needle in st["name"].casefold()]
        descending = (sort_order or ("asc" if sort_by == "name" else "desc")) == "desc"
        key = {
            "name": lambda st: st["name"].casefold(),
            "progress": lambda st: st["progress"],
            "lastActive": lambda st: st["_last"],
            "xp": lambda st: st["xp"],
        }[sort_by]
        students.sort(key=lambda st: st["id"])
        students.sort(key=key, reverse=descending)
        total = len(students)
        page = students[offset : offset + limit]
        for student in page:
            student.pop("_last")
        return {
            "students": page,
            "total": total,
            "page": offset // limit + 1,
            "pageSize": limit,
            "hasMore": offset + limit < total,
            "tiers": tiers,
            "freshness": await self.freshness(now),
        }

    async def _names(self, users: list[UUID]) -> dict[UUID, str]:
        if not users:
            return {}
        rows = await self._rows(
            "SELECT user_id, display_name FROM {db}.user_profiles WHERE user_id IN {u:Array(UUID)}", u=users
        )
        return {row[0]: row[1] for row in rows if row[1]}

    async def _xp(self, instructor_id: UUID, users: list[UUID], now: datetime) -> dict[UUID, int]:
        """XP the learners earned in the instructor's courses."""
        if not users:
            return {}
        rows = await self._rows(
            "SELECT learner_id, sum(value) FROM {db}.activity FINAL"
            " WHERE name = 'XpAwarded' AND learner_id IN {u:Array(UUID)}"
            " AND course_id IN (SELECT course_id FROM {db}.course_profiles WHERE instructor_id = {i:UUID})"
            " AND time < fromUnixTimestamp64Milli({now:Int64}, 'UTC') GROUP BY learner_id",
            u=users,
            i=instructor_id,
            now=ms(now),
        )
        return {row[0]: int(row[1]) for row in rows}

    async def creator_dashboard(
        self, instructor_id: UUID, *, now: datetime, period: str | None = "30d", tz: str | None = None
    ) -> dict[str, Any]:
        tz = await self._tz(tz, instructor_id)
        win = window(now=now, tz=tz, period=period or "30d", start_date=None, end_date=None, first_event=None)
        assert win.previous_start is not None
        pairs = await self._instructor_pairs(instructor_id, now)
        enrolled_now = {p["learner"] for p in pairs if p["enrolled"]}
        first_enrollment: dict[UUID, datetime] = {}
        for pair in pairs:
            known = first_enrollment.get(pair["learner"])
            first_enrollment[pair["learner"]] = (
                min(known, pair["first_enrolled"]) if known else pair["first_enrolled"]
            )
        current = [p for p in pairs if p["enrolled"]]
        courses = "course_id IN (SELECT course_id FROM {db}.course_profiles WHERE instructor_id = {i:UUID})"
        params = {
            "i": instructor_id,
            "s": ms(win.start),
            "e": ms(win.end),
            "ps": ms(win.previous_start),
            "tz": tz,
        }
        in_window = _IN_WINDOW
        before_end = "time < fromUnixTimestamp64Milli({e:Int64}, 'UTC')"
        before_start = "time < fromUnixTimestamp64Milli({s:Int64}, 'UTC')"
        in_previous = "time >= fromUnixTimestamp64Milli({ps:Int64}, 'UTC') AND " + before_start
        totals = await self._rows(
            f"""
            SELECT
                uniqExactIf((learner_id, lesson_id), name = 'VideoProgressed' AND {in_window}),
                uniqExactIf((learner_id, quiz_id), name = 'QuizSubmitted' AND flag = 1 AND {in_window}),
                sumIf(seconds, name = 'LessonTimeTracked' AND {in_window}),
                uniqExactIf(view_id, name IN {_VIEWING_SQL} AND {in_window}),
                countIf(name = 'ChatMessageSent' AND {in_window}),
                countIf(name = 'AssistantReplied' AND flag = 1 AND {in_window}),
                countIf(name = 'EnrollmentCreated' AND {in_window}),
                countIf(name = 'EnrollmentCreated' AND {in_previous})
            FROM {{db}}.activity FINAL
            WHERE {courses}
            """,
            **params,
        )
        actives = await self._rows(
            f"""
            SELECT countIf(enrolled_e AND active_w), countIf(enrolled_s AND active_p)
            FROM (
                SELECT learner_id, max(enrolled_e) AS enrolled_e, max(enrolled_s) AS enrolled_s,
                       max(active_w) AS active_w, max(active_p) AS active_p
                FROM (
                    SELECT learner_id, course_id,
                           {_LATEST_ENROLLMENT} AND {before_end}) AS enrolled_e,
                           {_LATEST_ENROLLMENT} AND {before_start}) AS enrolled_s,
                           countIf(name IN {_ACTIVITY_SQL} AND {in_window}) > 0 AS active_w,
                           countIf(name IN {_ACTIVITY_SQL} AND {in_previous}) > 0 AS active_p
                    FROM {{db}}.activity FINAL
                    WHERE {courses}
                    GROUP BY learner_id, course_id
                )
                GROUP BY learner_id
            )
            """,
            **params,
        )
        daily = await self._rows(
            f"""
            SELECT toDate(time, {{tz:String}}) AS day, uniqExact(learner_id)
            FROM {{db}}.activity FINAL
            WHERE {courses} AND name IN {_ACTIVITY_SQL} AND {in_window}
            GROUP BY day
            """,
            **params,
        )
        hours = await self._rows(
            f"""
            SELECT toHour(time, {{tz:String}}) AS hour, count() AS activity
            FROM {{db}}.activity FINAL
            WHERE {courses} AND name IN {_ACTIVITY_SQL} AND {in_window}
            GROUP BY hour
            ORDER BY activity DESC, hour ASC
            LIMIT 3
            """,
            **params,
        )
        ratings = await self._rows(
            f"""
            SELECT count(), countIf(helpful)
            FROM (
                SELECT message_id, argMax(flag, (time, 1 - flag)) = 1 AS helpful
                FROM {{db}}.activity FINAL
                WHERE {courses} AND name = 'AssistantReplyRated' AND {in_window}
                GROUP BY message_id
            )
            """,
            **params,
        )
        top = await self._rows(
            f"""
            SELECT trimBoth(replaceRegexpAll(lowerUTF8(text), '\\s+', ' ')) AS question, count() AS asked
            FROM {{db}}.activity FINAL
            WHERE {courses} AND name = 'ChatMessageSent' AND {in_window}
            GROUP BY question
            ORDER BY asked DESC, question ASC
            LIMIT 5
            """,
            **params,
        )
        videos, quizzes, seconds, views, asked, answered, new_window, new_before = (int(v) for v in totals[0])
        active, active_before = (int(v) for v in actives[0])
        month_ago = now - timedelta(days=30)
        per_day = {row[0]: int(row[1]) for row in daily}
        rated, helpful = (int(v) for v in ratings[0])
        return {
            "students": {
                "total": len(enrolled_now),
                "active": active,
                "activePercentage": ratio(active, len(enrolled_now)),
                "newThisMonth": sum(1 for t in first_enrollment.values() if t >= month_ago),
                "trends": {"active": change(active, active_before), "new": change(new_window, new_before)},
            },
            "progress": {
                "avgCompletion": r1(sum(p["progress"] for p in current) / len(current)) if current else 0.0,
                "videosWatched": int(videos),
                "quizzesPassed": int(quizzes),
            },
            "engagement": {
                "dailyActiveUsers": [{"date": d.isoformat(), "count": per_day.get(d, 0)} for d in win.days],
                "peakHours": [{"hour": int(hour), "activity": int(count)} for hour, count in hours],
                "avgSessionTime": r1(int(seconds) / int(views) / 60) if views else 0.0,
            },
            "support": {
                "questionsAsked": int(asked),
                "aiAnswered": int(answered),
                "satisfactionRate": ratio(helpful, rated),
                "topQuestions": [{"question": q, "count": int(n)} for q, n in top],
            },
            "period": {"start": iso(win.start), "end": iso(win.end), "timezone": tz},
            "freshness": await self.freshness(now),
        }

    async def admin_overview(self, *, now: datetime, period: str | None = "30d") -> dict[str, Any]:
        win = window(
            now=now, tz="UTC", period=period or "30d", start_date=None, end_date=None, first_event=None
        )
        params = {"now": ms(now), "s": ms(win.start), "e": ms(win.end)}
        in_window = _IN_WINDOW
        actives = await self._rows(
            f"""
            WITH fromUnixTimestamp64Milli({{now:Int64}}, 'UTC') AS now_
            SELECT uniqExactIf(learner_id, time >= now_ - INTERVAL 1 DAY),
                   uniqExactIf(learner_id, time >= now_ - INTERVAL 7 DAY),
                   uniqExactIf(learner_id, time >= now_ - INTERVAL 30 DAY)
            FROM {{db}}.activity FINAL
            WHERE name IN {_ACTIVITY_SQL} AND time < now_ AND time >= now_ - INTERVAL 30 DAY
            """,
            **params,
        )
        registered = await self._rows(
            f"SELECT count() FROM {{db}}.events FINAL WHERE name = 'UserRegistered' AND {in_window}", **params
        )
        completion = await self._rows(
            f"""
            WITH fromUnixTimestamp64Milli({{now:Int64}}, 'UTC') AS now_
            SELECT countIf(enrolled), countIf(enrolled AND completed)
            FROM (
                SELECT learner_id, course_id, {_LATEST_ENROLLMENT} AND time < now_) AS enrolled,
                       countIf(name = 'CourseCompleted' AND time < now_) > 0 AS completed
                FROM {{db}}.activity FINAL
                WHERE name IN ('EnrollmentCreated', 'EnrollmentCancelled', 'CourseCompleted')
                GROUP BY learner_id, course_id
            )
            """,
            **params,
        )
        per_course = await self._rows(
            f"""
            SELECT a.course_id, c.title, c.instructor_id,
                   countIf(a.name = 'EnrollmentCreated') AS enrollments,
                   countIf(a.name = 'CourseCompleted') AS completions,
                   uniqExactIf(a.learner_id, a.name IN {_ACTIVITY_SQL}) AS active,
                   groupUniqArrayIf(a.learner_id, a.name IN {_ACTIVITY_SQL}) AS learners
            FROM {{db}}.activity AS a FINAL
            INNER JOIN {{db}}.course_profiles AS c ON c.course_id = a.course_id
            WHERE {in_window.replace("time", "a.time")}
            GROUP BY a.course_id, c.title, c.instructor_id
            """,
            **params,
        )
        daily = await self._rows(
            f"""
            SELECT toDate(time, 'UTC') AS day, uniqExact(learner_id)
            FROM {{db}}.activity FINAL
            WHERE name IN {_ACTIVITY_SQL} AND {in_window}
            GROUP BY day
            """,
            **params,
        )
        dau, wau, mau = (int(v) for v in actives[0])
        current, completed = (int(v) for v in completion[0])
        enrollments = sum(int(row[3]) for row in per_course)
        top_courses = sorted(per_course, key=lambda row: (-int(row[3]), str(row[0])))[:5]
        instructors: dict[UUID, dict[str, Any]] = {}
        for course_id, _, instructor, _, _, _, learners in per_course:
            entry = instructors.setdefault(instructor, {"courses": set(), "learners": set()})
            entry["courses"].add(course_id)
            entry["learners"].update(learners)
        names = await self._names(list(instructors))
        top_instructors = sorted(instructors.items(), key=lambda kv: (-len(kv[1]["learners"]), str(kv[0])))[
            :5
        ]
        per_day = {row[0]: int(row[1]) for row in daily}
        return {
            "dau": dau,
            "wau": wau,
            "mau": mau,
            "dauMauRatio": ratio(dau, mau),
            "newUsers": int(registered[0][0]),
            "enrollments": enrollments,
            "completionRate": ratio(completed, current),
            "dailyActiveUsers": [{"date": d.isoformat(), "count": per_day.get(d, 0)} for d in win.days],
            "topCourses": [
                {
                    "id": str(row[0]),
                    "title": row[1],
                    "instructorId": str(row[2]),
                    "enrollments": int(row[3]),
                    "completions": int(row[4]),
                    "activeLearners": int(row[5]),
                }
                for row in top_courses
            ],
            "topInstructors": [
                {
                    "id": str(instructor),
                    "name": names.get(instructor) or fallback_name(instructor),
                    "courses": len(entry["courses"]),
                    "activeLearners": len(entry["learners"]),
                }
                for instructor, entry in top_instructors
            ],
            "period": {"start": iso(win.start), "end": iso(win.end), "timezone": "UTC"},
            "freshness": await self.freshness(now),
        }

    async def learner_activity(self, learner_id: UUID, *, now: datetime, days: int = 30) -> dict[str, Any]:
        tz = await self.timezone_of(learner_id)
        today = now.astimezone(zone(tz)).date()
        first = today - timedelta(days=days - 1)
        rows = await self._rows(
            """
            SELECT toDate(time, {tz:String}) AS day,
                   sumIf(seconds, name = 'LessonTimeTracked'), countIf(name = 'LessonCompleted')
            FROM {db}.activity FINAL
            WHERE learner_id = {l:UUID} AND name IN ('LessonTimeTracked', 'LessonCompleted')
              AND time >= fromUnixTimestamp64Milli({s:Int64}, 'UTC')
              AND time < fromUnixTimestamp64Milli({now:Int64}, 'UTC')
            GROUP BY day
            """,
            l=learner_id,
            tz=tz,
            s=ms(local_midnight(first, tz)),
            now=ms(now),
        )
        per_day = {row[0]: (int(row[1]), int(row[2])) for row in rows}
        points = [first + timedelta(days=i) for i in range(days)]
        return {
            "days": days,
            "timezone": tz,
            "activityData": [
                {
                    "date": day.isoformat(),
                    "timeSpent": per_day.get(day, (0, 0))[0],
                    "lessonsCompleted": per_day.get(day, (0, 0))[1],
                }
                for day in points
            ],
            "freshness": await self.freshness(now),
        }


TIERS = ("highly_engaged", "engaged", "moderate", "low_engagement", "at_risk", "inactive")
PROGRESS_BUCKETS = {"0-25": (0, 25), "26-50": (26, 50), "51-75": (51, 75), "76-100": (76, 100)}
LAST_ACTIVE_DAYS = {"today": 1, "week": 7, "month": 30, "inactive": 30}


def engagement_tier(
    now: datetime, last_active: datetime, first_enrolled: datetime, videos: int, progress: float
) -> str:
    """The creator-dashboard seed's engagement tier, first match wins."""
    if last_active < now - timedelta(days=14):
        return "inactive"
    if last_active < now - timedelta(days=7):
        return "at_risk"
    if videos < 3 and first_enrolled < now - timedelta(days=7):
        return "low_engagement"
    if videos >= 10 and progress >= 75:
        return "highly_engaged"
    if videos >= 5:
        return "engaged"
    return "moderate"


def _student_out(s: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": str(s["id"]),
        "name": s["name"],
        "progress": s["progress"],
        "timeSpent": s["timeSpent"],
        "lastActive": iso(s["lastActive"]),
        "enrolledAt": iso(s["enrolledAt"]),
        "completedAt": iso(s["completedAt"]),
        "status": s["status"],
        "atRisk": s["atRisk"],
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
        timeline.append({"type": "questionsAsked", "date": day.isoformat(), "count": count})
    timeline.sort(key=lambda item: item.get("at") or item["date"])
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


__all__ = ["STOP_WORDS", "Reports", "Thresholds"]

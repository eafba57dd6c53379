"""Course analytics: stats with changes, trends, funnel, heatmap, progress distribution;
lessons with drop-off, videos by 5-second segment, quizzes and their hardest questions."""

from __future__ import annotations

import math
from datetime import date, datetime
from typing import Any
from uuid import UUID

from learnstream.analytics.service_layer.base import (
    ACTIVITY_SQL,
    DAY_NAMES,
    ENROLLING_SQL,
    FUNNEL,
    LATEST_ENROLLMENT,
    LATEST_PROGRESS,
    MAX_SEGMENTS,
    SEGMENT_SECONDS,
    STATS,
    VIEWING_SQL,
    ZERO,
    Lesson,
    ReportsBase,
    change,
    iso,
    ms,
    r1,
    ratio,
)
from learnstream.analytics.service_layer.periods import Window


class CourseReports(ReportsBase):
    """One course's analytics for its instructor."""

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
        course, tz, win = await self._course_window(
            course_id, now=now, tz=tz, period=period, start_date=start_date, end_date=end_date
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
                    {LATEST_ENROLLMENT} AND time < e_) AS enrolled_e,
                    {LATEST_ENROLLMENT} AND time < s_) AS enrolled_s,
                    countIf(name = 'CourseCompleted' AND time < e_) > 0 AS completed_e,
                    countIf(name = 'CourseCompleted' AND time < s_) > 0 AS completed_s,
                    if(completed_e, 100., {LATEST_PROGRESS} AND time < e_)) AS progress_e,
                    if(completed_s, 100., {LATEST_PROGRESS} AND time < s_)) AS progress_s,
                    countIf(name IN {ACTIVITY_SQL} AND time >= s_ AND time < e_) > 0 AS active_w,
                    countIf(name IN {ACTIVITY_SQL} AND time >= ps_ AND time < s_) > 0 AS active_p,
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
        current = _stats(students_e, active_e, progress_e, time_w, completed_e, days_w, done_w)
        previous = _stats(students_s, active_s, progress_s, time_p, completed_s, days_p, done_p)
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

    async def _students_at(self, course_id: UUID, instant: datetime) -> int:
        """How many learners are enrolled in the course at ``instant``."""
        rows = await self._rows(
            f"""
            WITH fromUnixTimestamp64Milli({{e:Int64}}, 'UTC') AS e_
            SELECT countIf(enrolled)
            FROM (
                SELECT learner_id, {LATEST_ENROLLMENT} AND time < e_) AS enrolled
                FROM {{db}}.activity FINAL
                WHERE course_id = {{c:UUID}} AND {ENROLLING_SQL}
                GROUP BY learner_id
            )
            """,
            c=course_id,
            e=ms(instant),
        )
        return int(rows[0][0])

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
                   uniqExactIf(learner_id, name IN {ACTIVITY_SQL}),
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
            WHERE course_id = {{c:UUID}} AND name IN {ACTIVITY_SQL}
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
                   uniqExactIf(view_id, name IN {VIEWING_SQL}),
                   uniqExactIf(learner_id, name IN {VIEWING_SQL}),
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
            ARRAY JOIN range(least(intDiv(watched.1, {SEGMENT_SECONDS}), {MAX_SEGMENTS}),
                             least(intDiv(watched.2 - 1, {SEGMENT_SECONDS}) + 1, {MAX_SEGMENTS})) AS segment
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
            count = min(math.ceil(duration / SEGMENT_SECONDS), MAX_SEGMENTS)
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


def _stats(
    students: float,
    active: float,
    progress: float,
    seconds: float,
    completed: float,
    days: float,
    done: float,
) -> dict[str, Any]:
    """The six stats of one instant (or window) from their sums."""
    return {
        "totalStudents": int(students),
        "activeStudents": int(active),
        "averageProgress": r1(progress / students) if students else 0.0,
        "totalTimeSpent": int(seconds),
        "completionRate": ratio(completed, students),
        "averageTimeToComplete": r1(days / done) if done else None,
    }

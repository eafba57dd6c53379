"""Course analytics: stats with changes, trends, funnel, heatmap, progress distribution;
lessons with drop-off, videos by 5-second segment, quizzes and their hardest questions."""

from __future__ import annotations

import math
from datetime import date, datetime
from typing import Any
from uuid import UUID

from learnstream.analytics.adapters.schema import EPOCH
from learnstream.analytics.service_layer.base import (
    ACTIVITY_SQL,
    DAY_NAMES,
    ENROLLING_SQL,
    FUNNEL,
    LATEST_ENROLLMENT,
    LATEST_PROGRESS,
    MAX_SEGMENTS,
    MODEL,
    NEVER,
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

_SUMMARY_EVENTS = f"""
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
"""
"""Per learner, the figures of the stats and the funnel, from the events."""

_SUMMARY_MODEL = f"""
    SELECT
        enrolled AS enrolled_e,
        ifNull(first_enrolled, {NEVER}) AS since,
        since < s_ AND if(enrollments[-1].1 < s_, enrolled,
                          arrayFilter(x -> x.1 < s_, enrollments)[-1].2 = 0) AS enrolled_s,
        completed_at IS NOT NULL AS completed_e,
        ifNull(completed_at, {NEVER}) < s_ AS completed_s,
        progress AS progress_e,
        if(completed_s, 100., if(ifNull(last_completion, {NEVER}) < s_, lesson_completions[-1].2,
                                 arrayLast(x -> x.1 < s_, lesson_completions).2)) AS progress_s,
        ifNull(last_active, {EPOCH}) AS last_, ifNull(first_active, {NEVER}) AS first_,
        last_ >= s_ AND last_ < e_ AS active_w,
        first_ < s_ AND last_ >= ps_ AND arrayExists(k -> k >= ps_ AND k < s_, slots.starts) AS active_p,
        if(first_ >= s_, seconds, arraySum((k, v) -> if(k >= s_, v, 0), slots.starts, slots.seconds))
            AS time_w,
        if(first_ >= s_, 0, arraySum((k, v) -> if(k >= ps_ AND k < s_, v, 0), slots.starts, slots.seconds))
            AS time_p,
        arraySum(x -> if(x.1 >= s_, x.2, 0), course_completions) AS days_w,
        arrayCount(x -> x.1 >= s_, course_completions) AS done_w,
        arraySum(x -> if(x.1 >= ps_ AND x.1 < s_, x.2, 0), course_completions) AS days_p,
        arrayCount(x -> x.1 >= ps_ AND x.1 < s_, course_completions) AS done_p,
        enrolled_e AND since >= s_ AS cohort,
        first_started IS NOT NULL AS started,
        milestone
    FROM {MODEL}
    WHERE course_id = {{c:UUID}}
"""
"""The same from the read model, which holds everything before the window's end."""


_DAILY_MODEL = f"""
    WITH fromUnixTimestamp64Milli({{s:Int64}}, 'UTC') AS s_
    SELECT item.1 AS day, sum(item.2), sum(item.3), sum(item.4)
    FROM (
        SELECT arrayConcat(
            arrayMap(x -> (toDate(x.1, {{tz:String}}), 1, 0, 0),
                     arrayFilter(x -> x.2 = 0 AND x.1 >= s_, enrollments)),
            arrayMap(d -> (d, 0, 1, 0), arrayDistinct(arrayMap(k -> toDate(k, {{tz:String}}),
                                                               arrayFilter(k -> k >= s_, slots.starts)))),
            arrayMap(x -> (toDate(x.1, {{tz:String}}), 0, 0, 1),
                     arrayFilter(x -> x.1 >= s_, course_completions))
        ) AS items
        FROM {MODEL}
        WHERE course_id = {{c:UUID}} AND last_event >= s_
    )
    ARRAY JOIN items AS item
    GROUP BY day
"""
"""Per local day of the window: enrollments, active learners and completions (read model)."""

_HEATMAP_MODEL = f"""
    SELECT toDayOfWeek(slot, 0, {{tz:String}}) AS dow, toHour(slot, {{tz:String}}) AS hour, sum(n), sum(spent)
    FROM (
        SELECT slot, sum(slot_events) AS n, sum(slot_seconds) AS spent
        FROM {MODEL}
        ARRAY JOIN slots.starts AS slot, slots.events AS slot_events, slots.seconds AS slot_seconds
        WHERE course_id = {{c:UUID}} AND slot >= fromUnixTimestamp64Milli({{s:Int64}}, 'UTC')
        GROUP BY slot
    )
    GROUP BY dow, hour
"""
"""Activity events and seconds per local weekday and hour of the window (read model): a
quarter hour lies in one local hour in every time zone."""


_LESSONS_MODEL = f"""
    SELECT lesson, sum(views) AS views_, count() AS viewers_, toUInt64(0) AS completions_,
           sum(spent) AS seconds_, toUInt64(0) AS questions_
    FROM {MODEL}
    ARRAY JOIN lessons.ids AS lesson, lessons.views AS views, lessons.seconds AS spent
    WHERE course_id = {{c:UUID}} AND lesson IN {{lessons:Array(UUID)}}
    GROUP BY lesson
    UNION ALL
    SELECT lesson, toUInt64(0) AS views_, toUInt64(0) AS viewers_, toUInt64(0) AS completions_,
           toUInt64(0) AS seconds_, count() AS questions_
    FROM {MODEL}
    ARRAY JOIN questions.lesson AS lesson
    WHERE course_id = {{c:UUID}} AND lesson IN {{lessons:Array(UUID)}}
    GROUP BY lesson
"""
"""Per lesson: views, viewers, seconds and questions (read model; one row per lesson and
source, summed by lesson). Completions come with the drop-off."""

_COMPLETIONS_MODEL = f"""
    SELECT bitOr(toUInt64(first_enrolled IS NOT NULL),
                 arraySum(arrayMap(p -> bitShiftLeft(toUInt64(1), p), arrayDistinct(arrayFilter(
                     p -> p > 0, arrayMap(l -> indexOf({{lessons:Array(UUID)}}, l), done_lessons))))))
               AS reached,
           count()
    FROM {MODEL}
    WHERE course_id = {{c:UUID}}
    GROUP BY reached
"""
"""The learners by which steps they reached (read model): bit 0 enrolled, bit k the k-th
lesson of the outline completed (a lesson no longer in it counts nowhere). Progress is
mostly in order, so there are few distinct sets however many learners there are."""
MASKED_LESSONS = 63
"""Lessons the bit sets cover; a longer outline is counted lesson by lesson."""

_COMPLETIONS_BY_LESSON = f"""
    SELECT lesson, count() AS completed,
           countIf(has(done_lessons, {{following:Array(UUID)}}[indexOf({{lessons:Array(UUID)}}, lesson)]))
               AS next_too
    FROM {MODEL}
    ARRAY JOIN done_lessons AS lesson
    WHERE course_id = {{c:UUID}} AND lesson IN {{lessons:Array(UUID)}}
    GROUP BY lesson
    UNION ALL
    SELECT toUUID('00000000-0000-0000-0000-000000000000') AS lesson,
           countIf(first_enrolled IS NOT NULL) AS completed,
           countIf(first_enrolled IS NOT NULL AND has(done_lessons, {{first:UUID}})) AS next_too
    FROM {MODEL}
    WHERE course_id = {{c:UUID}}
"""
"""The same per lesson, for an outline longer than :data:`MASKED_LESSONS`."""


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
        course, tz, win, modelled = await self._course_window(
            course_id, now=now, tz=tz, period=period, start_date=start_date, end_date=end_date
        )
        summary = await self._course_summary(course_id, win, modelled)
        return {
            "course": {"id": str(course.id), "title": course.title, "status": course.status},
            "period": {
                "start": iso(win.start),
                "end": iso(win.end),
                "previousStart": iso(win.previous_start),
                "timezone": tz,
            },
            "stats": summary["stats"],
            "trends": await self._trends(course_id, win, modelled),
            "funnelData": summary["funnel"],
            "activityHeatmap": await self._heatmap(course_id, win, modelled),
            "progressDistribution": summary["distribution"],
            "freshness": await self.freshness(now),
        }

    async def _course_summary(self, course_id: UUID, win: Window, modelled: bool = False) -> dict[str, Any]:
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
            FROM ({_SUMMARY_MODEL if modelled else _SUMMARY_EVENTS})
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

    async def _students_at(self, course_id: UUID, instant: datetime, modelled: bool = False) -> int:
        """How many learners are enrolled in the course at ``instant`` (the read model: now)."""
        if modelled:
            rows = await self._rows(
                f"SELECT countIf(enrolled) FROM {MODEL} WHERE course_id = {{c:UUID}}", c=course_id
            )
            return int(rows[0][0])
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

    async def _trends(self, course_id: UUID, win: Window, modelled: bool = False) -> dict[str, Any]:
        days = win.days
        # per learner, the transitions of "enrolled" and "enrolled and completed" over time:
        # their enrollments (0), completions (1) and cancellations (2) before the end
        if modelled:
            learner_events = """arraySort(x -> (x.1, x.2), arrayConcat(
                        arrayMap(x -> (x.1, toUInt8(x.2 * 2)), enrollments),
                        arrayMap(x -> (x.1, toUInt8(1)), course_completions))) AS evs"""
            source = f"FROM {MODEL} WHERE course_id = {{c:UUID}}"
        else:
            learner_events = """arraySort(x -> (x.1, x.2), groupArray((time,
                        multiIf(name = 'EnrollmentCreated', 0, name = 'CourseCompleted', 1, 2)))) AS evs"""
            source = """FROM {db}.activity FINAL
                WHERE course_id = {c:UUID}
                  AND name IN ('EnrollmentCreated', 'EnrollmentCancelled', 'CourseCompleted')
                  AND time < fromUnixTimestamp64Milli({e:Int64}, 'UTC')
                GROUP BY learner_id"""
        transitions = await self._rows(
            f"""
            SELECT toDate(ev.1, {{tz:String}}) AS day, sum(d1), sum(d2)
            FROM (
                SELECT
                    {learner_events},
                    arrayFill(k -> k != 1, arrayMap(x -> x.2, evs)) AS latest,
                    arrayCumSum(arrayMap(x -> toUInt32(x.2 = 1), evs)) AS completions,
                    arrayMap(k -> toInt32(k = 0), latest) AS s1,
                    arrayMap((k, c) -> toInt32(k = 0 AND c > 0), latest, completions) AS s2,
                    arrayPopFront(arrayDifference(arrayPushFront(s1, 0))) AS delta1,
                    arrayPopFront(arrayDifference(arrayPushFront(s2, 0))) AS delta2
                {source}
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
            _DAILY_MODEL
            if modelled
            else f"""
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

    async def _heatmap(self, course_id: UUID, win: Window, modelled: bool = False) -> list[dict[str, Any]]:
        rows = await self._rows(
            _HEATMAP_MODEL
            if modelled
            else f"""
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
            "lessons": await self._lesson_rows(course_id, lessons, await self._modelled(course_id, now)),
            "freshness": await self.freshness(now),
        }

    async def _lesson_rows(
        self, course_id: UUID, lessons: list[Lesson], modelled: bool = False
    ) -> list[dict[str, Any]]:
        if not lessons:
            return []
        per_lesson = await self._rows(
            _LESSONS_MODEL
            if modelled
            else f"""
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
        stats: dict[UUID, list[int]] = {}
        for row in per_lesson:  # one row per lesson, or (read model) one per lesson and source
            sums = stats.setdefault(row[0], [0] * 5)
            for index, value in enumerate(row[1:]):
                sums[index] += int(value)
        if modelled:
            reached = await self._reached(course_id, lessons)
            for lesson in lessons:
                stats.setdefault(lesson.id, [0] * 5)[2] = reached.get(lesson.id, (0, 0))[0]
            drop = _drop_off_of(lessons, reached)
        else:
            drop = await self._drop_off(course_id, lessons)
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

    async def _drop_off(
        self, course_id: UUID, lessons: list[Lesson], modelled: bool = False
    ) -> dict[UUID, tuple[int, int]]:
        """Per lesson: learners who completed the previous step, and those of them who never
        completed this lesson (the first lesson's previous step is enrolling)."""
        if modelled:
            return _drop_off_of(lessons, await self._reached(course_id, lessons))
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

    async def _reached(self, course_id: UUID, lessons: list[Lesson]) -> dict[UUID, tuple[int, int]]:
        """Per lesson (read model): learners who completed it, and those of them who completed
        the next one too; under the zero id, learners who enrolled and those of them who
        completed the first lesson."""
        ids = [lesson.id for lesson in lessons]
        if len(ids) > MASKED_LESSONS:
            rows = await self._rows(
                _COMPLETIONS_BY_LESSON, c=course_id, lessons=ids, following=[*ids[1:], ZERO], first=ids[0]
            )
            return {row[0]: (int(row[1]), int(row[2])) for row in rows}
        steps = [ZERO, *ids]  # bit k of a set is steps[k]
        reached = dict.fromkeys(steps, (0, 0))
        for mask, learners in await self._rows(_COMPLETIONS_MODEL, c=course_id, lessons=ids):
            for k, step in enumerate(steps):
                if mask >> k & 1:
                    completed, next_too = reached[step]
                    reached[step] = (completed + learners, next_too + learners * (mask >> (k + 1) & 1))
        return reached

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


def _drop_off_of(lessons: list[Lesson], reached: dict[UUID, tuple[int, int]]) -> dict[UUID, tuple[int, int]]:
    """The drop-off of each lesson from :meth:`CourseReports._reached`: the learners who
    completed the step before it, and those of them who did not complete it."""
    result = {}
    for step, lesson in zip([ZERO, *(x.id for x in lessons[:-1])], lessons, strict=True):
        before, both = reached.get(step, (0, 0))
        result[lesson.id] = (before, before - both)
    return result

"""Across courses: the creator dashboard and students with engagement tiers, the admin
overview, and a learner's own activity."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from learnstream.analytics.service_layer.base import (
    ACTIVITY_SQL,
    IN_WINDOW,
    LATEST_ENROLLMENT,
    LATEST_PROGRESS,
    VIEWING_SQL,
    change,
    fallback_name,
    iso,
    ms,
    r1,
    ratio,
    utc,
)
from learnstream.analytics.service_layer.periods import local_midnight, window, zone
from learnstream.analytics.service_layer.students import StudentReports

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


class Reports(StudentReports):
    """Every analytics answer; each carries the projection's freshness."""

    # -- creator, admin, learner ------------------------------------------------------------------

    async def _instructor_pairs(self, instructor_id: UUID, now: datetime) -> list[dict[str, Any]]:
        """Per learner and course of the instructor: enrollment, progress, videos and activity."""
        rows = await self._rows(
            f"""
            WITH fromUnixTimestamp64Milli({{now:Int64}}, 'UTC') AS now_
            SELECT learner_id, course_id,
                   {LATEST_ENROLLMENT}) AS enrolled,
                   minIf(time, name = 'EnrollmentCreated') AS first_enrolled,
                   if(countIf(name = 'CourseCompleted') > 0, 100., {LATEST_PROGRESS})) AS progress,
                   groupUniqArrayIf(lesson_id, name = 'VideoProgressed') AS videos,
                   maxIf(time, name IN {ACTIVITY_SQL}) AS last_activity,
                   countIf(name IN {ACTIVITY_SQL}) > 0 AS ever_active
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
        names = await self._learner_names(instructor_id)
        xp = await self._xp(instructor_id, now)
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

    async def _learner_names(self, instructor_id: UUID) -> dict[UUID, str]:
        """The known names of everyone with activity in the instructor's courses (selected in
        ClickHouse: a list of 100,000 ids as a query parameter takes half a minute to bind)."""
        rows = await self._rows(
            "SELECT user_id, display_name FROM {db}.user_profiles WHERE display_name != ''"
            " AND user_id IN (SELECT learner_id FROM {db}.activity WHERE course_id IN"
            " (SELECT course_id FROM {db}.course_profiles WHERE instructor_id = {i:UUID}))",
            i=instructor_id,
        )
        return {row[0]: row[1] for row in rows}

    async def _xp(self, instructor_id: UUID, now: datetime) -> dict[UUID, int]:
        """XP each learner earned in the instructor's courses."""
        rows = await self._rows(
            "SELECT learner_id, sum(value) FROM {db}.activity FINAL"
            " WHERE name = 'XpAwarded'"
            " AND course_id IN (SELECT course_id FROM {db}.course_profiles WHERE instructor_id = {i:UUID})"
            " AND time < fromUnixTimestamp64Milli({now:Int64}, 'UTC') GROUP BY learner_id",
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
        in_window = IN_WINDOW
        before_end = "time < fromUnixTimestamp64Milli({e:Int64}, 'UTC')"
        before_start = "time < fromUnixTimestamp64Milli({s:Int64}, 'UTC')"
        in_previous = "time >= fromUnixTimestamp64Milli({ps:Int64}, 'UTC') AND " + before_start
        totals = await self._rows(
            f"""
            SELECT
                uniqExactIf((learner_id, lesson_id), name = 'VideoProgressed' AND {in_window}),
                uniqExactIf((learner_id, quiz_id), name = 'QuizSubmitted' AND flag = 1 AND {in_window}),
                sumIf(seconds, name = 'LessonTimeTracked' AND {in_window}),
                uniqExactIf(view_id, name IN {VIEWING_SQL} AND {in_window}),
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
                           {LATEST_ENROLLMENT} AND {before_end}) AS enrolled_e,
                           {LATEST_ENROLLMENT} AND {before_start}) AS enrolled_s,
                           countIf(name IN {ACTIVITY_SQL} AND {in_window}) > 0 AS active_w,
                           countIf(name IN {ACTIVITY_SQL} AND {in_previous}) > 0 AS active_p
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
            WHERE {courses} AND name IN {ACTIVITY_SQL} AND {in_window}
            GROUP BY day
            """,
            **params,
        )
        hours = await self._rows(
            f"""
            SELECT toHour(time, {{tz:String}}) AS hour, count() AS activity
            FROM {{db}}.activity FINAL
            WHERE {courses} AND name IN {ACTIVITY_SQL} AND {in_window}
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
        in_window = IN_WINDOW
        actives = await self._rows(
            f"""
            WITH fromUnixTimestamp64Milli({{now:Int64}}, 'UTC') AS now_
            SELECT uniqExactIf(learner_id, time >= now_ - INTERVAL 1 DAY),
                   uniqExactIf(learner_id, time >= now_ - INTERVAL 7 DAY),
                   uniqExactIf(learner_id, time >= now_ - INTERVAL 30 DAY)
            FROM {{db}}.activity FINAL
            WHERE name IN {ACTIVITY_SQL} AND time < now_ AND time >= now_ - INTERVAL 30 DAY
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
                SELECT learner_id, course_id, {LATEST_ENROLLMENT} AND time < now_) AS enrolled,
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
            SELECT a.course_id, c.title, c.instructor_id, a.enrollments, a.completions, a.active, a.learners
            FROM (
                SELECT course_id,
                       countIf(name = 'EnrollmentCreated') AS enrollments,
                       countIf(name = 'CourseCompleted') AS completions,
                       uniqExactIf(learner_id, name IN {ACTIVITY_SQL}) AS active,
                       groupUniqArrayIf(learner_id, name IN {ACTIVITY_SQL}) AS learners
                FROM {{db}}.activity FINAL
                WHERE {in_window}
                GROUP BY course_id
            ) AS a
            INNER JOIN {{db}}.course_profiles AS c ON c.course_id = a.course_id
            """,
            **params,
        )
        daily = await self._rows(
            f"""
            SELECT toDate(time, 'UTC') AS day, uniqExact(learner_id)
            FROM {{db}}.activity FINAL
            WHERE name IN {ACTIVITY_SQL} AND {in_window}
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

    async def learner_data_export(self, learner_id: UUID, *, now: datetime) -> dict[str, Any]:
        """What the analytics store holds about the learner: their events by type, and their
        time and completed lessons per local day, over all time."""
        tz = await self.timezone_of(learner_id)
        counts = await self._rows(
            "SELECT name, count(), min(time), max(time) FROM {db}.events FINAL"
            " WHERE subject = {l:String} GROUP BY name ORDER BY name",
            l=str(learner_id),
        )
        days = await self._rows(
            """
            SELECT toDate(time, {tz:String}) AS day,
                   sumIf(seconds, name = 'LessonTimeTracked'), countIf(name = 'LessonCompleted')
            FROM {db}.activity FINAL
            WHERE learner_id = {l:UUID} AND name IN ('LessonTimeTracked', 'LessonCompleted')
            GROUP BY day ORDER BY day
            """,
            l=learner_id,
            tz=tz,
        )
        return {
            "timezone": tz,
            "events": [
                {
                    "name": row[0],
                    "count": int(row[1]),
                    "firstAt": iso(utc(row[2])),
                    "lastAt": iso(utc(row[3])),
                }
                for row in counts
            ],
            "activityByDay": [
                {"date": row[0].isoformat(), "timeSpent": int(row[1]), "lessonsCompleted": int(row[2])}
                for row in days
            ],
            "freshness": await self.freshness(now),
        }

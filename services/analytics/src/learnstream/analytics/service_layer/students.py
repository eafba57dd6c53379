"""A course's students: the list, who is at risk and why, one student's story, and what
they ask the assistant."""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import date, datetime, timedelta
from typing import Any
from uuid import UUID

from learnstream.analytics.domain.errors import NotFound
from learnstream.analytics.domain.topics import STOP_WORDS, keywords
from learnstream.analytics.service_layer.base import (
    ACTIVITY,
    ACTIVITY_SQL,
    IN_WINDOW,
    LATEST_ENROLLMENT,
    LATEST_PROGRESS,
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


class StudentReports(CourseReports):
    """A course's students and their assistant questions."""

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
        _, tz, win = await self._course_window(
            course_id, now=now, tz=tz, period=period or "all", start_date=start_date, end_date=end_date
        )
        window_sql = IN_WINDOW
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
            FROM (
                SELECT text, learner_id, lesson_id, time, event_id
                FROM {{db}}.activity FINAL
                WHERE course_id = {{c:UUID}} AND name = 'ChatMessageSent' AND {window_sql}
                ORDER BY time DESC, event_id DESC
                LIMIT 10
            ) AS a
            LEFT JOIN {{db}}.user_profiles AS u ON u.user_id = a.learner_id
            ORDER BY a.time DESC, a.event_id DESC
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
        students = await self._students_at(course_id, win.end)
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

"""Gathering an export's data from analytics, as the requester, into a :class:`Report`."""

from __future__ import annotations

import asyncio
import itertools
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import UUID

from learnstream.exports.adapters.analytics import AnalyticsClient
from learnstream.exports.adapters.formats import count_csv_rows
from learnstream.exports.domain.exports import (
    COURSE_REPORT,
    PDF_TABLE_ROWS,
    Column,
    ExportSpec,
    Report,
    Table,
    recommendations,
)

COURSE = "/api/instructor/courses/{}"
EXPORT_STUDENTS = "/internal/exports/students"

STUDENT_COLUMNS = (
    Column("name", "Student"),
    Column("id", "Student id"),
    Column("progress", "Progress", "percent"),
    Column("timeSpent", "Time spent (s)", "seconds"),
    Column("lessonsStarted", "Lessons started", "int"),
    Column("status", "Status"),
    Column("atRisk", "At risk", "bool"),
    Column("reasons", "Risk reasons"),
    Column("enrolledAt", "Enrolled", "datetime"),
    Column("lastActive", "Last active", "datetime"),
    Column("completedAt", "Completed", "datetime"),
)
LESSON_COLUMNS = (
    Column("position", "#", "int"),
    Column("sectionTitle", "Section"),
    Column("title", "Lesson"),
    Column("contentType", "Type"),
    Column("views", "Views", "int"),
    Column("viewers", "Viewers", "int"),
    Column("completions", "Completions", "int"),
    Column("completionRate", "Completion rate", "percent"),
    Column("averageTimeSpent", "Average time (s)", "float"),
    Column("dropOffRate", "Drop-off", "percent"),
    Column("questions", "Assistant questions", "int"),
)
FUNNEL_COLUMNS = (
    Column("label", "Stage"),
    Column("count", "Students", "int"),
    Column("percentage", "Of enrolled", "percent"),
    Column("dropOff", "Drop-off from previous", "percent"),
)
VIDEO_COLUMNS = (
    Column("title", "Video"),
    Column("duration", "Length (s)", "seconds"),
    Column("viewers", "Viewers", "int"),
    Column("completionRate", "Completion rate", "percent"),
    Column("averageWatchPercentage", "Average watched", "percent"),
    Column("dropOffAt", "Most viewers lost at (s)", "int"),
)
QUIZ_COLUMNS = (
    Column("lessonTitle", "Quiz"),
    Column("passingScore", "Pass mark", "percent"),
    Column("attempts", "Attempts", "int"),
    Column("learners", "Learners", "int"),
    Column("passRate", "Pass rate", "percent"),
    Column("firstAttemptPassRate", "First-attempt pass rate", "percent"),
    Column("averageScore", "Average score", "percent"),
)
QUESTION_COLUMNS = (
    Column("askedAt", "Asked", "datetime"),
    Column("name", "Student"),
    Column("course", "Course"),
    Column("lesson", "Lesson"),
    Column("question", "Question"),
    Column("answered", "Answered", "bool"),
    Column("helpful", "Rated helpful", "bool"),
)
AT_RISK_COLUMNS = (
    Column("name", "Student"),
    Column("reasons", "Reasons"),
    Column("details", "Details"),
    Column("progress", "Progress", "percent"),
    Column("lastActive", "Last active", "datetime"),
)
SECTION_TITLES = {
    "students": "Students",
    "lessons": "Lesson performance",
    "funnel": "Completion funnel",
    "videos": "Videos",
    "quizzes": "Quizzes",
    "questions": "Assistant questions",
    "at_risk": "Students at risk",
}


def _hours(seconds: float | int | None) -> str:
    return f"{(seconds or 0) / 3600:,.1f} h"


def _change(stats: dict[str, Any], key: str) -> str:
    value = (stats.get("change") or {}).get(key)
    return "" if value is None else f" ({value:+g}% vs previous period)"


def _parse(moment: str | None) -> datetime | None:
    return datetime.fromisoformat(moment.replace("Z", "+00:00")) if moment else None


def _drop_off_at(video: dict[str, Any]) -> int | None:
    """Where a video loses the most viewers from one 5-second segment to the next."""
    segments = video.get("segments") or []
    worst, at = 0, None
    for before, after in itertools.pairwise(segments):
        lost = before["viewers"] - after["viewers"]
        if lost > worst:
            worst, at = lost, after["start"]
    return at


class ReportBuilder:
    """Builds the Report of an export from analytics answers asked as the requester."""

    def __init__(self, analytics: AnalyticsClient) -> None:
        self.analytics = analytics

    async def build(self, spec: ExportSpec, actor: tuple[UUID, str], now: datetime, workdir: Path) -> Report:
        """The report ``spec`` asks for, as of ``now``; rows too many to hold go to files in
        ``workdir`` (which the caller removes once the report is rendered)."""
        if spec.export_type == COURSE_REPORT:
            assert spec.course_id is not None
            return await self.course_report(spec, actor, now, workdir)
        return await self.creator_export(spec, actor, now)

    def _window(self, spec: ExportSpec) -> dict[str, Any]:
        if spec.date_range:
            return {"startDate": spec.date_range[0].isoformat(), "endDate": spec.date_range[1].isoformat()}
        return {"period": "all"}

    async def _students(
        self,
        spec: ExportSpec,
        actor: tuple[UUID, str],
        at: str,
        columns: tuple[Column, ...],
        *,
        at_risk: bool,
        whole: bool,
        workdir: Path,
    ) -> dict[str, Any]:
        """A course's students (or those at risk) with ``columns``: every row when ``whole``
        (as a CSV file analytics writes, for a CSV export), otherwise the PDF's first rows
        and how many there are."""
        params: dict[str, Any] = {
            "courseId": spec.course_id,
            "now": at,
            "fields": ",".join(column.key for column in columns),
            "atRisk": "true" if at_risk else None,
        }
        if whole and spec.format == "csv":
            source = workdir / ("at-risk.csv" if at_risk else "students.csv")
            await self.analytics.download(EXPORT_STUDENTS, actor, source, format="csv", **params)
            return {
                "students": [],
                "total": await asyncio.to_thread(count_csv_rows, source),
                "source": source,
            }
        limit = None if whole and spec.format != "pdf" else PDF_TABLE_ROWS
        answer = await self.analytics.get(EXPORT_STUDENTS, actor, limit=limit, **params)
        return {"students": answer["students"], "total": answer.get("total", len(answer["students"]))}

    async def course_report(
        self, spec: ExportSpec, actor: tuple[UUID, str], now: datetime, workdir: Path
    ) -> Report:
        base = COURSE.format(spec.course_id)
        window = self._window(spec)
        wanted = set(spec.sections)
        pdf = spec.format == "pdf"
        at = now.isoformat()
        get = self.analytics.get
        # asked side by side: each answer is a separate report in analytics
        calls: dict[str, Any] = {"analytics": get(f"{base}/analytics", actor, now=at, **window)}
        if wanted & {"lessons", "summary"} or pdf:
            calls["lessons"] = get(f"{base}/lessons/analytics", actor, now=at)
        if "videos" in wanted:
            calls["videos"] = get(f"{base}/videos/analytics", actor, now=at)
        if "quizzes" in wanted:
            calls["quizzes"] = get(f"{base}/quizzes/analytics", actor, now=at)
        if "students" in wanted:
            calls["students"] = self._students(
                spec, actor, at, STUDENT_COLUMNS, at_risk=False, whole=True, workdir=workdir
            )
        if wanted & {"at_risk", "summary"} or pdf:
            calls["at_risk"] = self._students(
                spec, actor, at, AT_RISK_COLUMNS, at_risk=True, whole="at_risk" in wanted, workdir=workdir
            )
        if "summary" in wanted or pdf:
            calls["ai"] = get(f"{base}/ai-analytics", actor, now=at, **window)
        if "questions" in wanted:
            calls["questions"] = get(
                "/internal/exports/questions", actor, courseId=spec.course_id, now=at, **window
            )
        answers = dict(zip(calls, await asyncio.gather(*calls.values()), strict=True))
        analytics = answers["analytics"]
        course = analytics["course"]
        period = analytics["period"]
        stats = analytics["stats"]
        lessons = answers.get("lessons", {}).get("lessons", [])
        at_risk = answers.get("at_risk", {"students": [], "total": 0})
        ai = answers.get("ai", {})
        tables: list[Table] = []
        for name in spec.sections:
            if name == "summary":
                continue
            if name in ("students", "at_risk"):
                rows, total, source = (
                    answers[name]["students"],
                    answers[name]["total"],
                    answers[name].get("source"),
                )
            else:
                rows, total, source = self._section_rows(name, answers, analytics), None, None
            columns = {
                "students": STUDENT_COLUMNS,
                "lessons": LESSON_COLUMNS,
                "funnel": FUNNEL_COLUMNS,
                "videos": VIDEO_COLUMNS,
                "quizzes": QUIZ_COLUMNS,
                "questions": QUESTION_COLUMNS,
                "at_risk": AT_RISK_COLUMNS,
            }[name]
            tables.append(Table(name, SECTION_TITLES[name], columns, rows, total, source))
        figures: list[tuple[str, str]] = []
        if "summary" in wanted or pdf:
            figures = [
                ("Students", f"{stats['totalStudents']:,}{_change(stats, 'totalStudents')}"),
                ("Active students", f"{stats['activeStudents']:,}{_change(stats, 'activeStudents')}"),
                ("Average progress", f"{stats['averageProgress']:g}%{_change(stats, 'averageProgress')}"),
                ("Completion rate", f"{stats['completionRate']:g}%{_change(stats, 'completionRate')}"),
                ("Time spent", f"{_hours(stats['totalTimeSpent'])}{_change(stats, 'totalTimeSpent')}"),
                (
                    "Average days to complete",
                    "none completed yet"
                    if stats.get("averageTimeToComplete") is None
                    else f"{stats['averageTimeToComplete']:g}",
                ),
                ("Students at risk", f"{at_risk['total']:,}"),
                ("Assistant questions", f"{ai.get('totalQuestions', 0):,}"),
                ("Unanswered questions", f"{ai.get('unansweredRate', 0):g}%"),
                ("Helpful replies (rated)", f"{ai.get('satisfactionRate', 0):g}%"),
            ]
        if "summary" in wanted:
            tables.insert(
                0,
                Table(
                    "summary",
                    "Summary",
                    (Column("label", "Figure"), Column("value", "Value")),
                    [{"label": label, "value": value} for label, value in figures],
                ),
            )
        start, end = _parse(period.get("start")), _parse(period.get("end"))
        return Report(
            title=f"Course report: {course['title']}",
            subtitle=f"Time zone {period.get('timezone', 'UTC')}; data as of {now:%Y-%m-%d %H:%M} UTC",
            generated_at=now,
            period=(start, end) if start and end else None,
            tables=tables,
            figures=figures,
            charts={
                "trends": analytics.get("trends") or {},
                "funnel": analytics.get("funnelData") or [],
                "heatmap": analytics.get("activityHeatmap") or [],
                "distribution": analytics.get("progressDistribution") or [],
            }
            if pdf
            else {},
            recommendations=recommendations(
                analytics.get("funnelData") or [], lessons, at_risk["total"], stats["totalStudents"], ai
            )
            if ("summary" in wanted or pdf)
            else [],
            at_risk=at_risk["students"],
        )

    def _section_rows(
        self, name: str, answers: dict[str, Any], analytics: dict[str, Any]
    ) -> list[dict[str, Any]]:
        if name == "lessons":
            return list(answers["lessons"]["lessons"])
        if name == "funnel":
            return list(analytics.get("funnelData") or [])
        if name == "videos":
            return [{**video, "dropOffAt": _drop_off_at(video)} for video in answers["videos"]["videos"]]
        if name == "quizzes":
            return list(answers["quizzes"]["quizzes"])
        if name == "questions":
            return list(answers["questions"]["questions"])
        raise ValueError(f"unknown section {name}")

    async def creator_export(self, spec: ExportSpec, actor: tuple[UUID, str], now: datetime) -> Report:
        get = self.analytics.get
        at = now.isoformat()
        filters = spec.filters
        window = (
            {"startDate": filters["startDate"], "endDate": filters["endDate"]}
            if "startDate" in filters
            else {"period": "all"}
        )
        kind = spec.export_type
        title = {
            "students": "Students",
            "progress": "Progress per course",
            "chat": "Assistant questions",
            "analytics": "Dashboard snapshot",
            "quiz_results": "Quiz results",
            "videos": "Videos",
        }[kind]
        tables: list[Table] = []
        figures: list[tuple[str, str]] = []
        columns: tuple[Column, ...]
        if kind == "students":
            answer = await get(
                "/internal/exports/students",
                actor,
                now=at,
                status=filters.get("status"),
                progress=filters.get("progress"),
                search=filters.get("search"),
            )
            columns = (
                Column("name", "Student"),
                Column("id", "Student id"),
                Column("courses", "Courses", "int"),
                Column("progress", "Average progress", "percent"),
                Column("videosWatched", "Videos watched", "int"),
                Column("xp", "XP", "int"),
                Column("tier", "Engagement tier"),
                Column("firstEnrolledAt", "First enrolled", "datetime"),
                Column("lastActive", "Last active", "datetime"),
            )
            tables.append(Table("students", title, columns, answer["students"]))
            figures = [(f"Tier {tier}", f"{count:,}") for tier, count in answer["tiers"].items()]
        elif kind == "progress":
            answer = await get("/internal/exports/progress", actor, now=at)
            rows = answer["progress"]
            if "courseId" in filters:
                rows = [row for row in rows if row["courseId"] == filters["courseId"]]
            columns = (
                Column("name", "Student"),
                Column("course", "Course"),
                Column("progress", "Progress", "percent"),
                Column("videosWatched", "Videos watched", "int"),
                Column("enrolledAt", "Enrolled", "datetime"),
                Column("lastActive", "Last active", "datetime"),
                Column("studentId", "Student id"),
                Column("courseId", "Course id"),
            )
            tables.append(Table("progress", title, columns, rows))
        elif kind == "chat":
            answer = await get(
                "/internal/exports/questions", actor, now=at, courseId=filters.get("courseId"), **window
            )
            tables.append(Table("chat", title, QUESTION_COLUMNS, answer["questions"]))
        elif kind == "quiz_results":
            answer = await get(
                "/internal/exports/quiz-attempts", actor, now=at, courseId=filters.get("courseId"), **window
            )
            columns = (
                Column("submittedAt", "Submitted", "datetime"),
                Column("name", "Student"),
                Column("course", "Course"),
                Column("quiz", "Quiz"),
                Column("attempt", "Attempt", "int"),
                Column("score", "Score", "percent"),
                Column("passed", "Passed", "bool"),
                Column("correct", "Correct answers", "int"),
                Column("questions", "Questions", "int"),
                Column("studentId", "Student id"),
            )
            tables.append(Table("quiz_results", title, columns, answer["attempts"]))
        elif kind == "videos":
            courses = (await get("/internal/exports/courses", actor))["courses"]
            if "courseId" in filters:
                courses = [c for c in courses if c["id"] == filters["courseId"]]
            answers = await asyncio.gather(
                *(get(f"{COURSE.format(c['id'])}/videos/analytics", actor, now=at) for c in courses)
            )
            rows = [
                {**video, "course": c["title"], "dropOffAt": _drop_off_at(video)}
                for c, answer in zip(courses, answers, strict=True)
                for video in answer["videos"]
            ]
            tables.append(Table("videos", title, (Column("course", "Course"), *VIDEO_COLUMNS), rows))
        else:  # analytics: the creator dashboard as it is now
            answer = await get("/api/creator/dashboard", actor, now=at, period=filters.get("period", "30d"))
            students, progress = answer["students"], answer["progress"]
            engagement, support = answer["engagement"], answer["support"]
            figures = [
                ("Students", f"{students['total']:,}"),
                ("Active students", f"{students['active']:,} ({students['activePercentage']:g}%)"),
                ("New this month", f"{students['newThisMonth']:,}"),
                ("Average completion", f"{progress['avgCompletion']:g}%"),
                ("Videos watched", f"{progress['videosWatched']:,}"),
                ("Quizzes passed", f"{progress['quizzesPassed']:,}"),
                ("Average session", f"{engagement.get('avgSessionTime', 0):g} min"),
                ("Questions asked", f"{support['questionsAsked']:,}"),
                ("Answered by the assistant", f"{support['aiAnswered']:,}"),
                ("Helpful replies (rated)", f"{support['satisfactionRate']:g}%"),
            ]
            tables.append(
                Table(
                    "analytics",
                    "Dashboard figures",
                    (Column("label", "Figure"), Column("value", "Value")),
                    [{"label": label, "value": value} for label, value in figures],
                )
            )
            daily = engagement.get("dailyActiveUsers") or []
            if daily:
                keys = [k for k in daily[0] if isinstance(daily[0][k], int | float) or k == "date"]
                tables.append(
                    Table(
                        "daily_active",
                        "Daily active students",
                        tuple(
                            Column(k, k[:1].upper() + k[1:], "text" if k == "date" else "int") for k in keys
                        ),
                        daily,
                    )
                )
        scope = f"Course {spec.course_id}" if spec.course_id else "All your courses"
        return Report(
            title=f"{title} export",
            subtitle=f"{scope}; data as of {now.astimezone(UTC):%Y-%m-%d %H:%M} UTC",
            generated_at=now,
            period=None,
            tables=tables,
            figures=figures,
        )

"""Composed pages: the learner dashboard, a learner's course page, the instructor's course
dashboard, the creator dashboard and the personal data export.

Each gathers its sections from the contexts in parallel (:mod:`..service_layer.composition`);
a section whose context failed is ``null`` and named in ``unavailable`` with the reason.
"""

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Query, Request

from learnstream.gateway.service_layer.composition import Composed, Composer, Section
from learnstream.runtime.actors import Actor
from learnstream.runtime.problems import Problem

UNAVAILABLE_DOC = "Sections whose context could not answer, with the reason; those sections are null."
AT_RISK_SHOWN = 10
"""Students at risk the course page's dashboard carries (the longest quiet; ``atRiskTotal`` counts all)."""

DASHBOARD_EXAMPLE = {
    "stats": {
        "totalCourses": 3,
        "completedCourses": 1,
        "totalTimeSpent": 18_240,
        "achievementsCount": 4,
        "currentStreak": 5,
        "averageCompletion": 61.7,
    },
    "inProgressCourses": [
        {"courseId": "…", "course": {"title": "Python 101"}, "nextLesson": {"title": "Loops"}}
    ],
    "recentAchievements": [
        {"id": "first_course", "title": "First steps", "earnedAt": "2026-11-20T09:12:00Z"}
    ],
    "activityData": [{"date": "2026-11-21", "timeSpent": 1800, "lessonsCompleted": 2}],
    "level": 2,
    "xp": 630,
    "unavailable": {},
}


def _owner_check(body: dict[str, Any], actor: Actor) -> bool:
    return actor.is_admin or body.get("instructorId") == str(actor.user_id)


def _unavailable(composed: Composed) -> dict[str, str]:
    return dict(composed.unavailable)


def learner_dashboard(composed: Composed) -> dict[str, Any]:
    progress = composed.get("progress")
    summary = progress["summary"] if progress else None
    courses = progress["courses"] if progress else None
    activity = progress["activity"] if progress else None
    achievements = composed.get("achievements")
    earned = list(achievements.get("earned") or []) if achievements else None
    recent = (
        sorted(earned, key=lambda a: a.get("earnedAt") or "", reverse=True)[:5]
        if earned is not None
        else None
    )
    return {
        "stats": {
            "totalCourses": summary["totalCourses"] if summary else None,
            "completedCourses": summary["completedCourses"] if summary else None,
            "totalTimeSpent": summary["totalTimeSpentSeconds"] if summary else None,
            "achievementsCount": len(earned) if earned is not None else None,
            "currentStreak": achievements.get("currentStreak") if achievements else None,
            "averageCompletion": summary["averageCompletion"] if summary else None,
        },
        "inProgressCourses": courses["courses"] if courses else None,
        "recentAchievements": recent,
        "activityData": activity["activityData"] if activity else None,
        "level": achievements.get("level") if achievements else None,
        "xp": achievements.get("xp") if achievements else None,
        "unavailable": _unavailable(composed),
    }


def build_pages_router(
    composer: Composer, reads: Any, account: Callable[[UUID], Awaitable[dict[str, Any]]]
) -> APIRouter:
    """The composed routes; ``reads`` is the authenticated, rate-limited caller dependency and
    ``account`` gives the caller's account as the gateway stores it."""
    router = APIRouter()
    Reader = Annotated[Actor, reads]

    @router.get(
        "/api/learner/dashboard",
        tags=["learner"],
        summary="The learner's dashboard: stats, continue learning, activity, achievements, XP",
        responses={200: {"content": {"application/json": {"example": DASHBOARD_EXAMPLE}}}},
    )
    async def dashboard(
        actor: Reader,
        days: Annotated[int, Query(description="Days of activity to chart: 30 or 90.")] = 30,
    ) -> dict[str, Any]:
        """Gathered from progress (one call) and achievements in parallel; a context that
        fails leaves its fields null and is named in ``unavailable``."""
        if days not in (30, 90):
            raise Problem(
                422,
                "Invalid request",
                f"days must be 30 or 90; got {days}",
                errors=[{"field": "days", "message": "must be 30 or 90"}],
            )
        composed = await composer.compose(
            actor,
            [
                Section(
                    "progress", "progress", "/api/learner/overview", [("days", str(days)), ("limit", "6")]
                ),
                Section("achievements", "achievements", "/api/learner/achievements"),
            ],
        )
        return learner_dashboard(composed)

    @router.get(
        "/api/learner/course/{course_id}/progress",
        tags=["learner"],
        summary="The learner's progress in one course, with its assistant conversations",
    )
    async def course_progress(course_id: UUID, actor: Reader) -> dict[str, Any]:
        """Modules, lessons, time, pace and estimate from progress (404 unless enrolled), and the
        latest assistant conversations about the course from chat."""
        composed = await composer.compose(
            actor,
            [
                Section("progress", "progress", f"/api/learner/course/{course_id}/progress", guard=True),
                Section(
                    "conversations",
                    "chat",
                    "/api/chat/sessions",
                    [("courseId", str(course_id)), ("limit", "5")],
                ),
            ],
        )
        chat = composed.get("conversations")
        return {
            **composed.sections["progress"],
            "conversations": chat.get("sessions") if chat else None,
            "unavailable": _unavailable(composed),
        }

    @router.get(
        "/api/instructor/courses/{course_id}/dashboard",
        tags=["instructor"],
        summary="Everything the instructor's course page shows, in one answer",
    )
    async def instructor_dashboard(course_id: UUID, actor: Reader, request: Request) -> dict[str, Any]:
        """The course (progress) with its analytics, lessons, students needing help and assistant
        usage (analytics); own courses only. Takes the analytics route's period parameters.
        Analytics reuses an answer while nothing of the course changed (at most 30 s for one
        about now); ``Cache-Control: no-cache`` asks for every section computed afresh."""
        if not actor.can_teach:
            raise Problem(404, "Not found", f"{request.url.path} is not a route for a {actor.role}")
        window = [(k, v) for k, v in request.query_params.multi_items() if k in _WINDOW]
        base = f"/api/instructor/courses/{course_id}"
        composed = await composer.compose(
            actor,
            [
                Section("course", "progress", f"/api/courses/{course_id}", guard=True, check=_owner_check),
                Section("analytics", "analytics", f"{base}/analytics", window, validates=True),
                Section("lessons", "analytics", f"{base}/lessons/analytics", window),
                Section("atRisk", "analytics", f"{base}/students/at-risk", [("limit", str(AT_RISK_SHOWN))]),
                Section("assistant", "analytics", f"{base}/ai-analytics", window),
            ],
            cache_control=request.headers.get("cache-control"),
        )
        at_risk = composed.get("atRisk")
        lessons = composed.get("lessons")
        return {
            "course": composed.get("course"),
            "analytics": composed.get("analytics"),
            "lessons": lessons.get("lessons") if lessons else None,
            "atRisk": at_risk.get("students") if at_risk else None,
            "atRiskTotal": at_risk.get("total") if at_risk else None,
            "assistant": composed.get("assistant"),
            "unavailable": _unavailable(composed),
        }

    @router.get(
        "/api/creator/dashboard",
        tags=["creator"],
        summary="Across all of the instructor's courses: students, progress, engagement, support",
    )
    async def creator_dashboard(actor: Reader, request: Request) -> dict[str, Any]:
        """Figures from analytics and the instructor's course list from progress."""
        if not actor.can_teach:
            raise Problem(404, "Not found", f"{request.url.path} is not a route for a {actor.role}")
        composed = await composer.compose(
            actor,
            [
                Section(
                    "figures",
                    "analytics",
                    "/api/creator/dashboard",
                    list(request.query_params.multi_items()),
                    validates=True,  # a bad period is the caller's 422, not an unavailable section
                ),
                Section("courses", "progress", "/api/instructor/courses", [("limit", "100")]),
            ],
        )
        figures = composed.get("figures") or {}
        courses = composed.get("courses")
        unavailable = _unavailable(composed)
        if "figures" in unavailable:
            unavailable = {
                **{k: unavailable["figures"] for k in ("students", "progress", "engagement", "support")},
                **{k: v for k, v in unavailable.items() if k != "figures"},
            }
        return {
            "students": figures.get("students"),
            "progress": figures.get("progress"),
            "engagement": figures.get("engagement"),
            "support": figures.get("support"),
            **{
                k: v for k, v in figures.items() if k not in ("students", "progress", "engagement", "support")
            },
            "courses": courses.get("courses") if courses else None,
            "unavailable": unavailable,
        }

    @router.get(
        "/api/me/data-export",
        tags=["identity"],
        summary="Everything the platform holds about the caller, from every context",
    )
    async def data_export(actor: Reader, request: Request) -> dict[str, Any]:
        """Each context contributes what it stores about the caller; a context that cannot
        answer is named in ``unavailable`` (ask again later for a complete copy)."""
        composed = await composer.compose(
            actor,
            [
                Section(name, name, "/api/me/data-export")
                for name in ("progress", "chat", "achievements", "analytics", "exports")
            ],
        )
        return {
            "exportedAt": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
            "userId": str(actor.user_id),
            "account": await account(actor.user_id),
            **composed.sections,
            "complete": not composed.unavailable,
            "unavailable": _unavailable(composed),
        }

    return router


_WINDOW = ("period", "startDate", "endDate", "timezone")

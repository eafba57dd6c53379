"""HTTP routes of the analytics service: the internal API behind the gateway's analytics routes.

Paths mirror the gateway contract (``spec/API.md``); the gateway forwards them with
its service credential and the caller in ``X-Actor-Id`` / ``X-Actor-Role``. An
instructor reaches only their own courses; an unknown course and someone else's
answer the same 404, so ids cannot be probed. ``now`` evaluates a report as of an
earlier instant (reproducible reports and tests); the gateway does not forward it.
"""

from datetime import UTC, date, datetime
from typing import Annotated, Any, Literal
from uuid import UUID

from fastapi import APIRouter, FastAPI, Query, Request
from fastapi.responses import JSONResponse

from learnstream.analytics.adapters.warehouse import Warehouse
from learnstream.analytics.domain.errors import InvalidQuery, NotFound
from learnstream.analytics.service_layer.reports import Course, Reports
from learnstream.runtime.actors import Actor, actor_dependency, require_service_token
from learnstream.runtime.problems import Problem, problem_response
from learnstream.runtime.projection import BatchProjection

PeriodParam = Annotated[
    Literal["7d", "30d", "90d", "all"] | None,
    Query(description="7d, 30d, 90d (default) or all; ignored when startDate and endDate are given."),
]
StartDate = Annotated[
    date | None, Query(alias="startDate", description="First local day of a custom range (inclusive).")
]
EndDate = Annotated[
    date | None, Query(alias="endDate", description="Last local day of a custom range (inclusive).")
]
TimezoneParam = Annotated[
    str | None, Query(description="IANA time zone for days and hours; default: the instructor's.")
]
NowParam = Annotated[
    datetime | None, Query(description="Evaluate as of this instant (ISO 8601 with offset); default: now.")
]


def _now(value: datetime | None) -> datetime:
    if value is None:
        return datetime.now(UTC)
    if value.tzinfo is None:
        raise InvalidQuery("now", "now must carry a time zone offset, e.g. 2026-11-22T10:00:00Z")
    return value.astimezone(UTC)


def build_router(
    reports: Reports, warehouse: Warehouse, projection: BatchProjection, service_token: str
) -> APIRouter:
    """The routes, bound to ``reports``; callers authenticate with ``service_token``."""
    router = APIRouter(tags=["analytics"])
    CurrentActor = Annotated[Actor, actor_dependency(service_token)]

    async def own_course(actor: Actor, course_id: UUID) -> Course:
        try:
            course = await reports.course(course_id)
        except NotFound:
            raise NotFound(f"course {course_id} not found") from None
        if not actor.owns(course.instructor_id):
            raise NotFound(f"course {course_id} not found")
        return course

    # --- instructor: one course ------------------------------------------------------------------

    @router.get("/api/instructor/courses/{course_id}/analytics")
    async def course_analytics(
        course_id: UUID,
        actor: CurrentActor,
        period: PeriodParam = None,
        start_date: StartDate = None,
        end_date: EndDate = None,
        timezone: TimezoneParam = None,
        now: NowParam = None,
    ) -> dict[str, Any]:
        """Stats with change vs the previous period, trends, funnel, heatmap, progress distribution."""
        await own_course(actor, course_id)
        return await reports.course_analytics(
            course_id,
            now=_now(now),
            period=period,
            start_date=start_date,
            end_date=end_date,
            tz=timezone,
        )

    @router.get("/api/instructor/courses/{course_id}/lessons/analytics")
    async def lesson_analytics(course_id: UUID, actor: CurrentActor, now: NowParam = None) -> dict[str, Any]:
        """Per lesson of the outline: views, completions, completion rate, time, drop-off, questions."""
        await own_course(actor, course_id)
        return await reports.lesson_analytics(course_id, now=_now(now))

    @router.get("/api/instructor/courses/{course_id}/videos/analytics")
    async def video_analytics(course_id: UUID, actor: CurrentActor, now: NowParam = None) -> dict[str, Any]:
        """Per video lesson: viewers, completion rate, average watch %, viewers per 5-second segment."""
        await own_course(actor, course_id)
        return await reports.video_analytics(course_id, now=_now(now))

    @router.get("/api/instructor/courses/{course_id}/quizzes/analytics")
    async def quiz_analytics(course_id: UUID, actor: CurrentActor, now: NowParam = None) -> dict[str, Any]:
        """Pass rates per quiz and the hardest questions."""
        await own_course(actor, course_id)
        return await reports.quiz_analytics(course_id, now=_now(now))

    # --- operations -------------------------------------------------------------------------------

    @router.get("/api/analytics/freshness", dependencies=[require_service_token(service_token)])
    async def freshness() -> dict[str, Any]:
        """How far behind the bus the projection is."""
        return await reports.freshness()

    @router.post("/api/analytics/rebuild", dependencies=[require_service_token(service_token)])
    async def rebuild() -> dict[str, Any]:
        """Re-derive every table from the stored events (the raw ``events`` table)."""
        async with projection.lock:
            events = await warehouse.rebuild()
        return {"rebuilt": True, "events": events}

    return router


def install_error_handlers(app: FastAPI) -> None:
    """Answer report errors as problem+json."""

    @app.exception_handler(InvalidQuery)
    async def invalid_query(request: Request, exc: InvalidQuery) -> JSONResponse:
        return problem_response(
            422,
            "Invalid query",
            exc.message,
            instance=request.url.path,
            errors=[{"field": exc.field, "message": exc.message}],
        )

    @app.exception_handler(NotFound)
    async def not_found(request: Request, exc: NotFound) -> JSONResponse:
        return problem_response(404, "Not found", str(exc), instance=request.url.path)


__all__ = ["Problem", "build_router", "install_error_handlers"]

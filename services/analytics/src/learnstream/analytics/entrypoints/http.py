"""HTTP routes of the analytics service: the internal API behind the gateway's analytics routes.

Paths mirror the gateway contract (``spec/API.md``); the gateway forwards them with
its service credential and the caller in ``X-Actor-Id`` / ``X-Actor-Role``. An
instructor reaches only their own courses; an unknown course and someone else's
answer the same 404, so ids cannot be probed. ``now`` evaluates a report as of an
earlier instant (reproducible reports and tests); the gateway does not forward it.
"""

from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Annotated, Any, Literal
from uuid import UUID

import orjson
from fastapi import APIRouter, Depends, FastAPI, Query, Request
from fastapi.responses import JSONResponse, Response

from learnstream.analytics.adapters.warehouse import Warehouse
from learnstream.analytics.domain.errors import InvalidQuery, NotFound
from learnstream.analytics.service_layer import backfill
from learnstream.analytics.service_layer.answers import Answers
from learnstream.analytics.service_layer.base import iso
from learnstream.analytics.service_layer.periods import within_range
from learnstream.analytics.service_layer.reports import Course, Reports
from learnstream.analytics.service_layer.rows import COURSE_STUDENT_FIELDS
from learnstream.analytics.service_layer.students import LEARNER_FIELDS
from learnstream.runtime.actors import Actor, actor_dependency, require_service_token
from learnstream.runtime.problems import Problem, problem_response
from learnstream.runtime.projection import BatchProjection

KEPT_COURSES = 10_000
"""Most courses whose profile is kept for the check of who may see a kept answer."""
KEPT_AT_RISK = 100
"""The longest at-risk list whose answer is kept (the course page asks for 10)."""
IMPORT_PATH = "/api/analytics/import"
"""The backfill import: its body is read as a stream, so the body cap does not apply."""

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
    return within_range("now", value.astimezone(UTC))


@dataclass(frozen=True)
class ReportWindow:
    """The window parameters of a course report, as the report methods take them."""

    now: datetime
    period: str | None
    start_date: date | None
    end_date: date | None
    tz: str | None
    given_now: datetime | None = None
    """``now`` as the request gave it (None: the report is about the present)."""

    def args(self) -> dict[str, Any]:
        """The report methods' keyword arguments."""
        return {name: value for name, value in asdict(self).items() if name != "given_now"}

    def key(self) -> tuple[Any, ...]:
        """What tells kept answers apart (:mod:`..service_layer.answers`)."""
        return (self.given_now, self.period, self.start_date, self.end_date, self.tz)


def report_window(
    period: PeriodParam = None,
    start_date: StartDate = None,
    end_date: EndDate = None,
    timezone: TimezoneParam = None,
    now: NowParam = None,
) -> ReportWindow:
    return ReportWindow(_now(now), period, start_date, end_date, timezone, now)


WindowParams = Annotated[ReportWindow, Depends(report_window)]


def _json_default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return float(value)
    raise TypeError(f"{type(value).__name__} is not JSON")


def encode(answer: Any) -> bytes:
    """An answer as JSON (orjson: row sets run to 100,000 students, about ten times faster)."""
    return orjson.dumps(answer, default=_json_default, option=orjson.OPT_NON_STR_KEYS)


def _json(body: bytes) -> Response:
    return Response(body, media_type="application/json")


def build_router(
    reports: Reports,
    warehouse: Warehouse,
    projection: BatchProjection,
    service_token: str,
    answers: Answers | None = None,
) -> APIRouter:
    """The routes, bound to ``reports``; callers authenticate with ``service_token``. The course
    page's reports are kept in ``answers`` (none kept without it)."""
    router = APIRouter(tags=["analytics"])
    CurrentActor = Annotated[Actor, actor_dependency(service_token)]
    kept = answers or Answers(max_age=0)
    courses: dict[UUID, tuple[int, Course]] = {}
    """Courses as last read, with their number of catalog rows then (the fingerprint's first)."""

    def _may_see(actor: Actor, course: Course) -> None:
        if not actor.can_teach or not actor.owns(course.instructor_id):
            raise NotFound(f"course {course.id} not found")

    async def own_course(actor: Actor, course_id: UUID) -> Course:
        course = await reports.course(course_id)  # NotFound for an unknown course
        _may_see(actor, course)
        return course

    async def course_answer(
        request: Request,
        actor: Actor,
        course_id: UUID,
        key: tuple[Any, ...],
        given_now: datetime | None,
        compute: Callable[[], Awaitable[dict[str, Any]]],
    ) -> Response:
        """A course report's answer, kept while the course's data holds (:mod:`..answers`)."""
        fingerprint = await reports.fingerprint(course_id)
        known = courses.get(course_id)
        if known is None or known[0] != fingerprint[0]:  # its catalog rows changed
            known = (fingerprint[0], await reports.course(course_id))  # NotFound for an unknown course
            if len(courses) >= KEPT_COURSES:
                courses.clear()
            courses[course_id] = known
        _may_see(actor, known[1])

        async def encoded() -> bytes:
            return encode(await compute())

        body = await kept.get(
            (request.url.path, course_id, *key),
            fingerprint,
            encoded,
            moving=given_now is None,
            fresh="no-cache" in request.headers.get("cache-control", "").lower(),
        )
        return _json(body)

    Report = Callable[..., Awaitable[dict[str, Any]]]

    async def windowed(
        request: Request, actor: Actor, course_id: UUID, window: ReportWindow, report: Report
    ) -> Response:
        """A kept answer of a report over a window (``period`` or a custom range)."""
        return await course_answer(
            request,
            actor,
            course_id,
            window.key(),
            window.given_now,
            lambda: report(course_id, **window.args()),
        )

    async def at_moment(
        request: Request, actor: Actor, course_id: UUID, now: datetime | None, report: Report
    ) -> Response:
        """A kept answer of a report about one moment (now, or ``now`` when given)."""
        at = _now(now)
        return await course_answer(request, actor, course_id, (now,), now, lambda: report(course_id, now=at))

    # --- instructor: one course ------------------------------------------------------------------

    @router.get("/api/instructor/courses/{course_id}/analytics")
    async def course_analytics(
        course_id: UUID,
        actor: CurrentActor,
        window: WindowParams,
        request: Request,
    ) -> Response:
        """Stats with change vs the previous period, trends, funnel, heatmap, progress distribution."""
        return await windowed(request, actor, course_id, window, reports.course_analytics)

    @router.get("/api/instructor/courses/{course_id}/lessons/analytics")
    async def lesson_analytics(
        course_id: UUID, actor: CurrentActor, request: Request, now: NowParam = None
    ) -> Response:
        """Per lesson of the outline: views, completions, completion rate, time, drop-off, questions."""
        return await at_moment(request, actor, course_id, now, reports.lesson_analytics)

    @router.get("/api/instructor/courses/{course_id}/videos/analytics")
    async def video_analytics(
        course_id: UUID, actor: CurrentActor, request: Request, now: NowParam = None
    ) -> Response:
        """Per video lesson: viewers, completion rate, average watch %, viewers per 5-second segment."""
        return await at_moment(request, actor, course_id, now, reports.video_analytics)

    @router.get("/api/instructor/courses/{course_id}/quizzes/analytics")
    async def quiz_analytics(
        course_id: UUID, actor: CurrentActor, request: Request, now: NowParam = None
    ) -> Response:
        """Pass rates per quiz and the hardest questions."""
        return await at_moment(request, actor, course_id, now, reports.quiz_analytics)

    @router.get("/api/instructor/courses/{course_id}/students")
    async def students(
        course_id: UUID,
        actor: CurrentActor,
        sort: Annotated[
            Literal["progress", "recent", "name", "timeSpent", "fastest"],
            Query(description="progress, recent (last active), name, timeSpent or fastest (to complete)."),
        ] = "progress",
        filter: Annotated[
            Literal["all", "active", "completed", "atRisk"], Query(description="Which students to list.")
        ] = "all",
        search: Annotated[str | None, Query(max_length=200, description="Part of the name.")] = None,
        page: Annotated[int, Query(ge=1, le=10_000)] = 1,
        limit: Annotated[int, Query(ge=1, le=100, description="Page size (at most 100).")] = 20,
        now: NowParam = None,
    ) -> dict[str, Any]:
        """The course's students with progress, time, last activity, status and risk flag."""
        await own_course(actor, course_id)
        return await reports.students(
            course_id, now=_now(now), sort=sort, filter=filter, search=search, page=page, limit=limit
        )

    @router.get("/api/instructor/courses/{course_id}/students/at-risk")
    async def at_risk(
        course_id: UUID,
        actor: CurrentActor,
        request: Request,
        now: NowParam = None,
        limit: Annotated[
            int | None, Query(ge=1, le=100_000, description="Only the first this many (the longest quiet)")
        ] = None,
    ) -> Response:
        """Students who are inactive, stuck or struggling, with the reason in words, the longest
        quiet first; ``total`` says how many there are in all."""
        at = _now(now)
        if limit is None or limit > KEPT_AT_RISK:  # a long list is not kept (memory)
            await own_course(actor, course_id)
            return _json(encode(await reports.at_risk(course_id, now=at, limit=limit)))
        return await course_answer(
            request,
            actor,
            course_id,
            (now, limit),
            now,
            lambda: reports.at_risk(course_id, now=at, limit=limit),
        )

    @router.get("/api/instructor/courses/{course_id}/students/{student_id}")
    async def student_detail(
        course_id: UUID, student_id: UUID, actor: CurrentActor, now: NowParam = None
    ) -> dict[str, Any]:
        """One student: timeline, lesson breakdown, stats and assistant summary."""
        await own_course(actor, course_id)
        return await reports.student_detail(course_id, student_id, now=_now(now))

    @router.get("/api/instructor/courses/{course_id}/ai-analytics")
    async def ai_analytics(
        course_id: UUID,
        actor: CurrentActor,
        window: WindowParams,
        request: Request,
    ) -> Response:
        """Assistant usage: questions, topics, recent questions, unanswered and satisfaction rates."""
        return await windowed(request, actor, course_id, window, reports.ai_analytics)

    # --- creator, admin, learner ----------------------------------------------------------------

    def instructor_of(actor: Actor, instructor_id: UUID | None) -> UUID:
        if instructor_id is not None and instructor_id != actor.user_id:
            if not actor.is_admin:
                raise Problem(403, "Forbidden", "Only admins may look at another instructor's dashboard.")
            return instructor_id
        if not actor.can_teach:
            raise Problem(403, "Forbidden", "The creator dashboard is for instructors.")
        return actor.user_id

    InstructorParam = Annotated[
        UUID | None, Query(alias="instructorId", description="Admins only: whose dashboard.")
    ]

    @router.get("/api/creator/dashboard")
    async def creator_dashboard(
        actor: CurrentActor,
        period: Annotated[Literal["7d", "30d", "90d"], Query(description="7d, 30d or 90d.")] = "30d",
        timezone: TimezoneParam = None,
        instructor_id: InstructorParam = None,
        now: NowParam = None,
    ) -> dict[str, Any]:
        """Students, progress, engagement and assistant support across the instructor's courses."""
        return await reports.creator_dashboard(
            instructor_of(actor, instructor_id), now=_now(now), period=period, tz=timezone
        )

    @router.get("/api/creator/students")
    async def creator_students(
        actor: CurrentActor,
        status: Annotated[Literal["all", "active", "at-risk", "inactive"], Query()] = "all",
        progress: Annotated[Literal["0-25", "26-50", "51-75", "76-100"] | None, Query()] = None,
        last_active: Annotated[
            Literal["today", "week", "month", "inactive"] | None, Query(alias="lastActive")
        ] = None,
        search: Annotated[str | None, Query(max_length=200)] = None,
        sort_by: Annotated[
            Literal["name", "progress", "lastActive", "xp"], Query(alias="sortBy")
        ] = "lastActive",
        sort_order: Annotated[Literal["asc", "desc"] | None, Query(alias="sortOrder")] = None,
        limit: Annotated[int, Query(ge=1, le=200, description="Page size (at most 200).")] = 50,
        offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
        instructor_id: InstructorParam = None,
        now: NowParam = None,
    ) -> dict[str, Any]:
        """Every learner of the instructor's courses with progress, videos, XP and engagement tier."""
        return await reports.creator_students(
            instructor_of(actor, instructor_id),
            now=_now(now),
            status=status,
            progress=progress,
            last_active=last_active,
            search=search,
            sort_by=sort_by,
            sort_order=sort_order,
            limit=limit,
            offset=offset,
        )

    @router.get("/api/admin/analytics/overview")
    async def admin_overview(
        actor: CurrentActor,
        period: Annotated[Literal["7d", "30d", "90d"], Query(description="7d, 30d or 90d.")] = "30d",
        now: NowParam = None,
    ) -> dict[str, Any]:
        """DAU, WAU, MAU, new users, enrollments, completion rate, top courses and instructors."""
        if not actor.is_admin:
            raise Problem(403, "Forbidden", "The platform overview is for admins.")
        return await reports.admin_overview(now=_now(now), period=period)

    @router.get("/api/learner/activity")
    async def learner_activity(
        actor: CurrentActor,
        days: Annotated[int, Query(description="30 or 90 days.")] = 30,
        now: NowParam = None,
    ) -> dict[str, Any]:
        """Time spent and lessons completed per local day of the caller."""
        if days not in (30, 90):
            raise InvalidQuery("days", f"days must be 30 or 90; got {days}")
        return await reports.learner_activity(actor.user_id, now=_now(now), days=days)

    @router.get("/api/me/data-export")
    async def data_export(actor: CurrentActor) -> dict[str, Any]:
        """What the analytics store holds about the caller (the gateway's data export gathers it)."""
        return await reports.learner_data_export(actor.user_id, now=datetime.now(UTC))

    # --- rows for exports (internal: the gateway does not pass these on) --------------------------

    def scope_of(actor: Actor, instructor_id: UUID | None) -> UUID:
        if instructor_id is None and actor.is_admin:
            raise InvalidQuery("instructorId", "an admin names the instructor whose courses to export")
        return instructor_of(actor, instructor_id)

    async def rows_scope(actor: Actor, course_id: UUID | None, instructor_id: UUID | None) -> UUID:
        """The instructor whose rows are asked for: the course's owner, or the actor's scope."""
        if course_id is not None:
            return (await own_course(actor, course_id)).instructor_id
        return scope_of(actor, instructor_id)

    CourseParam = Annotated[UUID | None, Query(alias="courseId", description="One course; default: all.")]

    @router.get("/internal/exports/courses")
    async def export_courses(actor: CurrentActor, instructor_id: InstructorParam = None) -> dict[str, Any]:
        """The instructor's courses (any status)."""
        return {"courses": await reports.courses_of(scope_of(actor, instructor_id))}

    @router.get("/internal/exports/students")
    async def export_students(
        actor: CurrentActor,
        course_id: CourseParam = None,
        status: Annotated[Literal["all", "active", "at-risk", "inactive"], Query()] = "all",
        progress: Annotated[Literal["0-25", "26-50", "51-75", "76-100"] | None, Query()] = None,
        search: Annotated[str | None, Query(max_length=200)] = None,
        instructor_id: InstructorParam = None,
        now: NowParam = None,
        file_format: Annotated[
            Literal["json", "csv"],
            Query(alias="format", description="One course: the rows as JSON, or as CSV."),
        ] = "json",
        fields: Annotated[
            str | None,
            Query(description="One course: the fields of each student, comma-separated, in this order."),
        ] = None,
        at_risk: Annotated[
            bool,
            Query(alias="atRisk", description="One course: only those at risk, longest quiet first."),
        ] = False,
        limit: Annotated[
            int | None, Query(ge=1, le=100_000, description="One course: at most this many (and the total).")
        ] = None,
    ) -> Response:
        """Every student of one course, or of all the instructor's courses (with the creator filters)."""
        if course_id is not None:
            await own_course(actor, course_id)
            names = COURSE_STUDENT_FIELDS if fields is None else tuple(fields.split(","))
            unknown = sorted(set(names) - LEARNER_FIELDS)
            if unknown or not names:
                raise InvalidQuery(
                    "fields",
                    f"unknown fields {', '.join(unknown)}; known: {', '.join(sorted(LEARNER_FIELDS))}",
                )
            body = await reports.all_course_students(
                course_id, now=_now(now), fields=names, file_format=file_format, at_risk=at_risk, limit=limit
            )
            media = "text/csv; charset=utf-8" if file_format == "csv" else "application/json"
            return Response(body, media_type=media)
        instructor = scope_of(actor, instructor_id)
        answer = await reports.all_creator_students(
            instructor, now=_now(now), status=status, progress=progress, search=search
        )
        return _rows_response(answer)

    @router.get("/internal/exports/progress")
    async def export_progress(
        actor: CurrentActor, instructor_id: InstructorParam = None, now: NowParam = None
    ) -> Response:
        """Per student and course of the instructor: progress, videos watched, last activity."""
        answer = await reports.creator_progress(scope_of(actor, instructor_id), now=_now(now))
        return _rows_response(answer)

    @router.get("/internal/exports/questions")
    async def export_questions(
        actor: CurrentActor,
        window: WindowParams,
        course_id: CourseParam = None,
        instructor_id: InstructorParam = None,
    ) -> Response:
        """Every question asked of the assistant in the window, answered or not, and its rating."""
        instructor = await rows_scope(actor, course_id, instructor_id)
        answer = await reports.questions(course_id, instructor, **window.args())
        return _rows_response(answer)

    @router.get("/internal/exports/quiz-attempts")
    async def export_quiz_attempts(
        actor: CurrentActor,
        window: WindowParams,
        course_id: CourseParam = None,
        instructor_id: InstructorParam = None,
    ) -> Response:
        """Every graded quiz attempt in the window."""
        instructor = await rows_scope(actor, course_id, instructor_id)
        answer = await reports.quiz_attempts(course_id, instructor, **window.args())
        return _rows_response(answer)

    # --- operations -------------------------------------------------------------------------------

    @router.get("/api/analytics/freshness", dependencies=[require_service_token(service_token)])
    async def freshness() -> dict[str, Any]:
        """How far behind the bus the projection is."""
        return await reports.freshness()

    @router.get("/api/analytics/erasures/{request_id}", dependencies=[require_service_token(service_token)])
    async def erasure(request_id: UUID) -> dict[str, Any]:
        """Whether an erasure request has been applied to the analytics store (404 until then)."""
        erased_at = await reports.erasure(request_id)
        if erased_at is None:
            raise Problem(404, "Not found", f"erasure request {request_id} has not been applied here")
        return {"requestId": str(request_id), "erasedAt": iso(erased_at)}

    @router.post(
        IMPORT_PATH,
        dependencies=[require_service_token(service_token)],
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {"application/x-ndjson": {"schema": {"type": "string"}}},
                "description": "One event a line in the CloudEvents JSON format.",
            }
        },
    )
    async def import_events(request: Request) -> dict[str, Any]:
        """Backfill: write events from an archive as if they came off the bus (deduplicated by
        id, erased learners' dropped). Lines that are not events of the catalog are refused,
        the first twenty reported with their line number; the others are written."""

        # an archive of the topics holds personal fields sealed, as the bus does
        result = await backfill.import_lines(
            request.stream(), warehouse.write, projection.lock, projection.reveal
        )
        return asdict(result)

    @router.post("/api/analytics/rebuild", dependencies=[require_service_token(service_token)])
    async def rebuild(
        source: Annotated[
            Literal["events", "topics"],
            Query(
                alias="from",
                description="events: re-derive every table from the stored raw events (fast); "
                "topics: empty everything and read the topics again from their first offset.",
            ),
        ] = "events",
    ) -> dict[str, Any]:
        """Rebuild every projection from scratch; writes pause meanwhile, nothing is lost."""
        async with projection.lock:
            if source == "events":
                events = await warehouse.rebuild()
                return {"from": source, "events": events}
            await warehouse.clear()
            partitions = await projection.replay()
        return {"from": source, "partitions": partitions}

    return router


def _rows_response(answer: dict[str, Any]) -> Response:
    return _json(encode(answer))


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

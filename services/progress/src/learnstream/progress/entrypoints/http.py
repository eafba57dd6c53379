"""HTTP routes of the progress service: the internal API behind the gateway's catalog and learner routes.

Paths mirror the gateway contract (``spec/API.md``) so the gateway forwards them
as they are, adding the caller in ``X-Actor-Id`` / ``X-Actor-Role`` next to its
service credential. Each route translates the request, calls one service-layer
method, and returns.
"""

from typing import Annotated, Any, Literal
from uuid import UUID

from fastapi import APIRouter, FastAPI, Query, Request, Response
from fastapi.responses import JSONResponse
from pydantic import ValidationError

from learnstream.progress.domain.enrollment import TrackResult
from learnstream.progress.domain.errors import (
    Conflict,
    DomainError,
    FieldError,
    Forbidden,
    InvalidInput,
    NotFound,
    Rejected,
)
from learnstream.progress.entrypoints.schemas import (
    CourseIn,
    CourseListOut,
    CourseOut,
    CourseProgressOut,
    EnrollIn,
    EnrollmentOut,
    LearnerActivityOut,
    LearnerCoursesOut,
    LearnerOverviewOut,
    LearnerSummaryOut,
    NoteIn,
    NoteOut,
    NotesOut,
    QuizAttemptIn,
    QuizAttemptOut,
    TrackBatchIn,
    TrackBatchOut,
    TrackLessonIn,
    TrackOut,
)
from learnstream.progress.service_layer import views
from learnstream.progress.service_layer.services import ProgressService
from learnstream.runtime.actors import Actor, actor_dependency
from learnstream.runtime.problems import field_path, problem_response

# a course the caller is not enrolled in answers like one that does not exist, so ids cannot be probed
_REJECTION_STATUS = {"course_not_found": 404, "not_enrolled": 404}


def build_router(service: ProgressService, service_token: str, *, backdating: bool = False) -> APIRouter:
    """The routes, bound to ``service``; callers authenticate with ``service_token``.
    ``backdating`` (dev mode) lets an enrollment name its moment, for demo data."""
    router = APIRouter(tags=["progress"])
    CurrentActor = Annotated[Actor, actor_dependency(service_token)]
    Limit = Annotated[int, Query(ge=1, le=100, description="Page size (at most 100).")]
    Offset = Annotated[int, Query(ge=0, le=100_000, description="Items to skip.")]

    # --- catalog ----------------------------------------------------------------------------

    @router.post("/api/instructor/courses", status_code=201, response_model=CourseOut)
    async def create_course(body: CourseIn, actor: CurrentActor) -> dict[str, Any]:
        """Create a draft course with its whole outline; every id is returned."""
        course = await service.create_course(actor, body.draft())
        return views.course_detail(course, actor)

    @router.put("/api/instructor/courses/{course_id}", response_model=CourseOut)
    async def replace_course(course_id: UUID, body: CourseIn, actor: CurrentActor) -> dict[str, Any]:
        """Replace a course's details and outline; items sent with their id keep it."""
        course = await service.replace_course(actor, course_id, body.draft())
        return views.course_detail(course, actor)

    @router.post("/api/instructor/courses/{course_id}/publish", response_model=CourseOut)
    async def publish_course(course_id: UUID, actor: CurrentActor) -> dict[str, Any]:
        """Open a course for enrollment (publishing twice changes nothing)."""
        return views.course_detail(await service.publish_course(actor, course_id), actor)

    @router.post("/api/instructor/courses/{course_id}/archive", response_model=CourseOut)
    async def archive_course(course_id: UUID, actor: CurrentActor) -> dict[str, Any]:
        """Close a course to new learners; enrolled learners keep access."""
        return views.course_detail(await service.archive_course(actor, course_id), actor)

    @router.get("/api/instructor/courses", response_model=CourseListOut)
    async def my_courses(actor: CurrentActor, limit: Limit = 20, offset: Offset = 0) -> dict[str, Any]:
        """The caller's own courses in every status, newest first."""
        async with service.sessions() as session:
            return await views.list_courses(
                session, service.courses, viewer=actor, mine=True, limit=limit, offset=offset
            )

    @router.get("/api/courses", response_model=CourseListOut)
    async def list_courses(
        actor: CurrentActor,
        limit: Limit = 20,
        offset: Offset = 0,
        category: Annotated[str | None, Query(max_length=100)] = None,
        difficulty: Literal["beginner", "intermediate", "advanced"] | None = None,
        q: Annotated[str | None, Query(max_length=200, description="Words of the title.")] = None,
    ) -> dict[str, Any]:
        """Published courses, newest first."""
        async with service.sessions() as session:
            return await views.list_courses(
                session,
                service.courses,
                viewer=actor,
                category=category,
                difficulty=difficulty,
                search=q,
                limit=limit,
                offset=offset,
            )

    @router.get("/api/courses/{course_id}", response_model=CourseOut)
    async def get_course(course_id: UUID, actor: CurrentActor) -> dict[str, Any]:
        """A course with its outline (answer keys only for its instructor)."""
        return views.course_detail(await service.course_for(actor, course_id), actor)

    # --- enrollments ---------------------------------------------------------------------------

    @router.post("/api/courses/{course_id}/enroll", response_model=EnrollmentOut, status_code=201)
    async def enroll(
        course_id: UUID, actor: CurrentActor, response: Response, body: EnrollIn | None = None
    ) -> dict[str, Any]:
        """Enroll the caller; 201 when enrolled now, 200 with the same enrollment when already enrolled."""
        enrolled_at = body.enrolled_at if body is not None else None
        if enrolled_at is not None and not backdating:
            raise InvalidInput(
                [FieldError("enrolledAt", "is accepted in dev mode only (demo data); leave it out")]
            )
        enrollment, created = await service.enroll(actor.user_id, course_id, enrolled_at)
        if not created:
            response.status_code = 200
        return views.enrollment_view(enrollment)

    @router.delete("/api/courses/{course_id}/enroll", response_model=EnrollmentOut)
    async def cancel_enrollment(course_id: UUID, actor: CurrentActor) -> dict[str, Any]:
        """Leave a course before completing it; progress is kept if the learner comes back."""
        return views.enrollment_view(await service.cancel(actor.user_id, course_id))

    @router.get("/api/learner/courses", response_model=LearnerCoursesOut)
    async def learner_courses(
        actor: CurrentActor,
        status: Literal["active", "completed", "cancelled"] | None = None,
        limit: Limit = 20,
        offset: Offset = 0,
    ) -> dict[str, Any]:
        """The caller's courses with progress, next lesson and time left; last accessed first."""
        async with service.sessions() as session:
            return await views.learner_courses(
                session,
                service.courses,
                service.enrollments,
                actor.user_id,
                status=status,
                limit=limit,
                offset=offset,
            )

    @router.get("/api/me/data-export")
    async def data_export(actor: CurrentActor) -> dict[str, Any]:
        """What the progress context stores about the caller (the gateway's data export gathers it)."""
        async with service.sessions() as session:
            return await views.learner_data_export(session, actor.user_id)

    @router.get("/api/learner/summary", response_model=LearnerSummaryOut)
    async def learner_summary(actor: CurrentActor) -> dict[str, Any]:
        """The caller's progress figures across courses (the dashboard's stats)."""
        async with service.sessions() as session:
            return await views.learner_summary(session, actor.user_id)

    Days = Annotated[int, Query(description="Days of activity to chart: 30 or 90.")]

    def check_days(days: int) -> None:
        if days not in (30, 90):
            raise InvalidInput([FieldError("days", f"must be 30 or 90; got {days}")])

    @router.get("/api/learner/activity", response_model=LearnerActivityOut)
    async def learner_activity(actor: CurrentActor, days: Days = 30) -> dict[str, Any]:
        """The caller's time spent and lessons completed per day, in their own time zone."""
        check_days(days)
        async with service.sessions() as session:
            return await views.learner_activity(
                session, service.learners, actor.user_id, days=days, now=service.now()
            )

    @router.get("/api/learner/overview", response_model=LearnerOverviewOut)
    async def learner_overview(actor: CurrentActor, days: Days = 30, limit: Limit = 6) -> dict[str, Any]:
        """Summary, active courses (``limit``) and activity in one answer: the gateway's dashboard
        asks once instead of three times."""
        check_days(days)
        async with service.sessions() as session:
            return {
                "summary": await views.learner_summary(session, actor.user_id),
                "courses": await views.learner_courses(
                    session,
                    service.courses,
                    service.enrollments,
                    actor.user_id,
                    status="active",
                    limit=limit,
                    offset=0,
                ),
                "activity": await views.learner_activity(
                    session, service.learners, actor.user_id, days=days, now=service.now()
                ),
            }

    @router.get("/api/learner/course/{course_id}/progress", response_model=CourseProgressOut)
    async def course_progress(course_id: UUID, actor: CurrentActor) -> dict[str, Any]:
        """The caller's progress in one course: modules, lessons, time and pace."""
        course = await service.course_for(actor, course_id)
        async with service.sessions() as session:
            progress = await views.course_progress(
                session, service.enrollments, course, actor.user_id, now=service.now()
            )
        if progress is None:
            raise NotFound(f"you are not enrolled in course {course_id}")
        return progress

    # --- tracking and quizzes ---------------------------------------------------------------------

    @router.post("/api/learner/track-lesson", response_model=TrackOut)
    async def track_lesson(body: TrackLessonIn, actor: CurrentActor) -> dict[str, Any]:
        """Record a lesson view, time (cumulative per viewId), video ranges or a completion."""
        [result] = await service.track(actor.user_id, [body.item()])
        if isinstance(result, Rejected):
            raise result
        return {"success": True, "progress": _progress(result), "notices": list(result.notices)}

    @router.post("/api/learner/track-batch", response_model=TrackBatchOut)
    async def track_batch(body: TrackBatchIn, actor: CurrentActor) -> dict[str, Any]:
        """Record up to 1,000 reports of an offline client in one go; each is accepted or rejected alone."""
        parsed: list[tuple[int, TrackLessonIn]] = []
        results: dict[int, dict[str, Any]] = {}
        for index, raw in enumerate(body.events):
            try:
                parsed.append((index, TrackLessonIn.model_validate(raw)))
            except ValidationError as exc:
                detail = "; ".join(f"{field_path(e['loc'])}: {e['msg']}" for e in exc.errors()[:5])
                results[index] = {"index": index, "status": "rejected", "reason": "invalid", "detail": detail}
        outcomes = await service.track(actor.user_id, [item.item() for _, item in parsed]) if parsed else []
        for (index, _), outcome in zip(parsed, outcomes, strict=True):
            if isinstance(outcome, Rejected):
                results[index] = {
                    "index": index,
                    "status": "rejected",
                    "reason": outcome.reason,
                    "detail": str(outcome),
                }
            else:
                results[index] = {"index": index, "status": "accepted", "progress": _progress(outcome)}
        ordered = [results[i] for i in range(len(body.events))]
        accepted = sum(1 for r in ordered if r["status"] == "accepted")
        return {"accepted": accepted, "rejected": len(ordered) - accepted, "results": ordered}

    @router.post("/api/learner/quizzes/{quiz_id}/attempts", response_model=QuizAttemptOut, status_code=201)
    async def submit_quiz(quiz_id: UUID, body: QuizAttemptIn, actor: CurrentActor) -> dict[str, Any]:
        """Grade an attempt on the server; passing completes the quiz lesson."""
        result = await service.submit_quiz(actor.user_id, quiz_id, tuple(body.answers), body.occurred_at)
        return {
            "quiz_id": result.quiz_id,
            "attempt_number": result.attempt_number,
            "score": result.score_percentage,
            "passed": result.passed,
            "passing_score": result.passing_score,
            "attempts_left": result.attempts_left,
            "results": [
                {
                    "question_id": q.question_id,
                    "selected_index": q.selected_index,
                    "correct": q.correct,
                    "correct_index": q.correct_index,
                }
                for q in result.questions
            ],
            "lesson_completed": result.lesson_completed,
            "completion_percentage": result.completion_percentage,
        }

    # --- instructor notes ---------------------------------------------------------------------------

    @router.post("/api/instructor/students/{student_id}/notes", response_model=NoteOut, status_code=201)
    async def add_note(student_id: UUID, body: NoteIn, actor: CurrentActor) -> dict[str, Any]:
        """Write a private note about a learner of one of the caller's courses."""
        note_id, at = await service.add_note(actor, student_id, body.course_id, body.note)
        return {"id": note_id, "instructor_id": actor.user_id, "note": body.note, "created_at": at}

    @router.get("/api/instructor/courses/{course_id}/students/{student_id}/notes", response_model=NotesOut)
    async def list_notes(course_id: UUID, student_id: UUID, actor: CurrentActor) -> dict[str, Any]:
        """Notes about a learner in one of the caller's courses, newest first."""
        async with service.sessions() as session:
            await service.own_student(session, actor, course_id, student_id)
            return {"notes": await views.notes(session, course_id, student_id)}

    return router


def _progress(result: TrackResult) -> dict[str, Any]:
    return {
        "completion_percentage": result.completion_percentage,
        "lesson_completed": result.lesson_completed,
        "course_completed": result.course_completed,
        "lesson_time_spent_seconds": result.lesson_time_spent_seconds,
        "resume_position_seconds": result.resume_position_seconds,
        "watched_percentage": result.watched_percentage,
    }


def install_error_handlers(app: FastAPI) -> None:
    """Answer domain errors as problem+json with the status their kind means."""

    @app.exception_handler(DomainError)
    async def domain_error(request: Request, exc: DomainError) -> JSONResponse:
        instance = request.url.path
        if isinstance(exc, InvalidInput):
            errors = [{"field": e.field, "message": e.message} for e in exc.errors]
            return problem_response(422, "Invalid request", str(exc), instance=instance, errors=errors)
        if isinstance(exc, Rejected):
            status = _REJECTION_STATUS.get(exc.reason, 422)
            return problem_response(status, "Report rejected", str(exc), instance=instance, reason=exc.reason)
        status, title = {
            NotFound: (404, "Not found"),
            Forbidden: (403, "Forbidden"),
            Conflict: (409, "Conflict"),
        }.get(type(exc), (400, "Bad request"))
        return problem_response(status, title, str(exc), instance=instance)

"""The public routes the gateway passes on to the context that owns them.

Each context checks ownership itself (it owns the data: an instructor's course, a
learner's enrollment) from the actor the gateway names; the gateway authenticates the
caller, checks roles where a route is for one role only, and turns a context that is
down into a 503 for that request.
"""

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Request, Response

from learnstream.gateway.adapters.services import ContextServices, Unavailable
from learnstream.runtime.actors import Actor
from learnstream.runtime.problems import Problem


@dataclass(frozen=True)
class Route:
    method: str
    path: str
    service: str
    summary: str
    roles: tuple[str, ...] = ("student", "instructor", "admin")


TEACHING = ("instructor", "admin")

ROUTES: tuple[Route, ...] = (
    Route("POST", "/api/instructor/courses", "progress", "Create a course with its outline", TEACHING),
    Route("GET", "/api/instructor/courses", "progress", "The instructor's courses", TEACHING),
    Route("PUT", "/api/instructor/courses/{course_id}", "progress", "Replace a course's outline", TEACHING),
    Route("POST", "/api/instructor/courses/{course_id}/publish", "progress", "Publish a course", TEACHING),
    Route("POST", "/api/instructor/courses/{course_id}/archive", "progress", "Archive a course", TEACHING),
    Route("GET", "/api/courses", "progress", "Published courses"),
    Route("GET", "/api/courses/{course_id}", "progress", "One course"),
    Route("POST", "/api/courses/{course_id}/enroll", "progress", "Enroll in a course"),
    Route("DELETE", "/api/courses/{course_id}/enroll", "progress", "Leave a course"),
    Route("GET", "/api/learner/courses", "progress", "The caller's courses (continue learning)"),
    Route("POST", "/api/learner/track-lesson", "progress", "Report time, video and completion of a lesson"),
    Route("POST", "/api/learner/track-batch", "progress", "Report many offline tracking events"),
    Route("POST", "/api/learner/quizzes/{quiz_id}/attempts", "progress", "Submit a quiz attempt"),
    Route("GET", "/api/learner/course/{course_id}/progress", "progress", "The caller's progress in a course"),
    Route(
        "POST", "/api/instructor/students/{student_id}/notes", "progress", "Note about a student", TEACHING
    ),
    Route("GET", "/api/learner/activity", "analytics", "The caller's activity per day"),
    Route("GET", "/api/instructor/courses/{course_id}/analytics", "analytics", "Course analytics", TEACHING),
    Route("GET", "/api/instructor/courses/{course_id}/lessons/analytics", "analytics", "Lessons", TEACHING),
    Route("GET", "/api/instructor/courses/{course_id}/videos/analytics", "analytics", "Videos", TEACHING),
    Route("GET", "/api/instructor/courses/{course_id}/quizzes/analytics", "analytics", "Quizzes", TEACHING),
    Route(
        "GET", "/api/instructor/courses/{course_id}/students", "analytics", "A course's students", TEACHING
    ),
    Route(
        "GET",
        "/api/instructor/courses/{course_id}/students/at-risk",
        "analytics",
        "Students at risk",
        TEACHING,
    ),
    Route(
        "GET",
        "/api/instructor/courses/{course_id}/students/{student_id}",
        "analytics",
        "One student",
        TEACHING,
    ),
    Route(
        "GET", "/api/instructor/courses/{course_id}/ai-analytics", "analytics", "Assistant usage", TEACHING
    ),
    Route("GET", "/api/creator/dashboard", "analytics", "Across the instructor's courses", TEACHING),
    Route("GET", "/api/creator/students", "analytics", "Every student of the instructor", TEACHING),
    Route("GET", "/api/admin/analytics/overview", "analytics", "Platform overview", ("admin",)),
)

_PASSED_ON = {"content-type", "retry-after", "location"}


def build_forwarding_router(services: ContextServices, current_actor: Any) -> APIRouter:
    """One route per entry of :data:`ROUTES`, authenticated by ``current_actor``."""
    router = APIRouter()

    def endpoint(route: Route) -> Callable[..., Awaitable[Response]]:
        async def forward(request: Request, actor: Annotated[Actor, current_actor]) -> Response:
            if actor.role not in route.roles:
                # a role that never reaches this route: the same answer as an unknown object
                raise Problem(404, "Not found", f"{request.url.path} is not a route for a {actor.role}")
            body = await request.body() if route.method in ("POST", "PUT", "PATCH") else None
            try:
                answer = await services.forward(
                    route.service,
                    route.method,
                    request.url.path,
                    actor=(str(actor.user_id), actor.role),
                    params=list(request.query_params.multi_items()),
                    body=body or None,
                )
            except Unavailable as exc:
                raise Problem(503, "Service unavailable", f"{exc}; try again shortly") from exc
            headers = {k: v for k, v in answer.headers.items() if k.lower() in _PASSED_ON}
            return Response(answer.content, status_code=answer.status_code, headers=headers)

        return forward

    for route in ROUTES:
        router.add_api_route(
            route.path,
            endpoint(route),
            methods=[route.method],
            summary=route.summary,
            tags=[route.service],
        )
    return router

"""The public routes the gateway passes on to the context that owns them.

Each context checks ownership itself (it owns the data: an instructor's course, a
learner's enrollment) from the actor the gateway names; the gateway authenticates the
caller, checks roles where a route is for one role only, and turns a context that is
down into a 503 for that request.
"""

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, Any, Literal

import aiohttp
from fastapi import APIRouter, Request, Response
from fastapi.responses import StreamingResponse
from starlette.background import BackgroundTask

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
    limit: Literal["reads", "tracking", "public"] = "reads"
    """The caller's rate limit; ``public``: no token, counted per address (signed links)."""
    timeout: float | None = None
    """Read timeout for this route when longer than the default (streamed assistant replies)."""
    announces: bool = False
    """A successful JSON answer gains ``newAchievements``: what the learner earned since last told."""


TEACHING = ("instructor", "admin")
COURSE = "/api/instructor/courses/{course_id}"

ROUTES: tuple[Route, ...] = (
    # catalog and enrollment (progress)
    Route("POST", "/api/instructor/courses", "progress", "Create a course with its outline", TEACHING),
    Route("GET", "/api/instructor/courses", "progress", "The instructor's courses", TEACHING),
    Route("PUT", COURSE, "progress", "Replace a course's outline", TEACHING),
    Route("POST", f"{COURSE}/publish", "progress", "Publish a course", TEACHING),
    Route("POST", f"{COURSE}/archive", "progress", "Archive a course", TEACHING),
    Route("GET", "/api/courses", "progress", "Published courses"),
    Route("GET", "/api/courses/{course_id}", "progress", "One course"),
    Route("POST", "/api/courses/{course_id}/enroll", "progress", "Enroll in a course"),
    Route("DELETE", "/api/courses/{course_id}/enroll", "progress", "Leave a course"),
    # the learner's progress
    Route("GET", "/api/learner/courses", "progress", "The caller's courses (continue learning)"),
    Route("GET", "/api/learner/summary", "progress", "The caller's progress figures across courses"),
    Route(
        "POST",
        "/api/learner/track-lesson",
        "progress",
        "Report time, video and completion of a lesson",
        limit="tracking",
        announces=True,
    ),
    Route(
        "POST",
        "/api/learner/track-batch",
        "progress",
        "Report many offline tracking events",
        limit="tracking",
    ),
    Route("POST", "/api/learner/quizzes/{quiz_id}/attempts", "progress", "Submit a quiz attempt"),
    Route("GET", "/api/learner/activity", "progress", "The caller's time and lessons completed per day"),
    # gamification (achievements)
    Route("GET", "/api/learner/achievements", "achievements", "Earned and locked achievements, XP, streak"),
    Route("GET", "/api/leaderboard", "achievements", "Weekly, monthly or all-time leaderboard"),
    Route("GET", "/api/learner/xp", "achievements", "The caller's XP awards, newest first"),
    # assistant chat
    Route("GET", "/api/chat/sessions", "chat", "The caller's conversations, newest activity first"),
    Route("POST", "/api/chat/sessions", "chat", "Start a conversation about a course"),
    Route("PATCH", "/api/chat/sessions/{session_id}", "chat", "Rename a conversation"),
    Route("DELETE", "/api/chat/sessions/{session_id}", "chat", "Delete a conversation"),
    Route("GET", "/api/chat/sessions/{session_id}/messages", "chat", "A conversation's messages"),
    Route(
        "POST",
        "/api/chat/sessions/{session_id}/messages",
        "chat",
        "Ask the assistant (Accept: text/event-stream streams the reply)",
        timeout=120.0,
    ),
    Route("GET", "/api/chat/search", "chat", "Search the caller's conversations and messages"),
    Route("POST", "/api/chat/messages/{message_id}/rating", "chat", "Rate an assistant reply"),
    # instructor (own courses only; the owning context checks)
    Route(
        "POST", "/api/instructor/students/{student_id}/notes", "progress", "Note about a student", TEACHING
    ),
    Route("GET", f"{COURSE}/students/{{student_id}}/notes", "progress", "Notes about a student", TEACHING),
    Route("GET", f"{COURSE}/analytics", "analytics", "Course analytics", TEACHING),
    Route("GET", f"{COURSE}/lessons/analytics", "analytics", "Lessons", TEACHING),
    Route("GET", f"{COURSE}/videos/analytics", "analytics", "Videos", TEACHING),
    Route("GET", f"{COURSE}/quizzes/analytics", "analytics", "Quizzes", TEACHING),
    Route("GET", f"{COURSE}/students", "analytics", "A course's students", TEACHING),
    Route("GET", f"{COURSE}/students/at-risk", "analytics", "Students at risk", TEACHING),
    Route("GET", f"{COURSE}/students/{{student_id}}", "analytics", "One student", TEACHING),
    Route("GET", f"{COURSE}/ai-analytics", "analytics", "Assistant usage", TEACHING),
    Route("POST", f"{COURSE}/export", "exports", "Export a course's report", TEACHING),
    # creator and admin
    Route("GET", "/api/creator/students", "analytics", "Every student of the instructor", TEACHING),
    Route("POST", "/api/creator/export", "exports", "Export across the instructor's courses", TEACHING),
    Route("GET", "/api/admin/analytics/overview", "analytics", "Platform overview", ("admin",)),
    # exports
    Route("GET", "/api/exports", "exports", "The export audit log (yours; admins: anyone's)"),
    Route("GET", "/api/exports/{export_id}", "exports", "An export's status and download link"),
    Route(
        "GET",
        "/api/exports/{export_id}/download",
        "exports",
        "Download an export's file (the signed link is the permission; no token)",
        limit="public",
        timeout=120.0,
    ),
    # certificates (exports)
    Route("GET", "/api/learner/certificates", "exports", "The caller's certificates of completion"),
    Route(
        "GET",
        "/api/learner/courses/{course_id}/certificate",
        "exports",
        "The caller's certificate of a completed course (PDF)",
    ),
    Route(
        "GET",
        "/api/certificates/{verification_id}",
        "exports",
        "Verify a certificate by the id printed on it (no token)",
        limit="public",
    ),
)

_PASSED_ON = {"content-type", "retry-after", "location", "cache-control", "content-disposition"}
ANNOUNCE = ("achievements", "POST", "/api/learner/achievements/announce")
"""Where the gateway asks what the learner earned since last told (service, method, path)."""
ANNOUNCE_TIMEOUT = 0.5
"""Seconds the achievements service gets to say what is new; after that the answer goes
without (``newAchievements`` is then empty, and they are told next time or pushed on
``/api/stream``)."""


async def new_achievements(services: ContextServices, actor: Actor) -> list[Any]:
    """What the learner earned and was not told yet, marked as told; [] when the achievements
    service cannot say in time (tracking never waits on or fails for gamification)."""
    try:
        answer = await services.forward(
            *ANNOUNCE,
            actor=(str(actor.user_id), actor.role),
            params=[],
            body=None,
            timeout=ANNOUNCE_TIMEOUT,
        )
        if answer.status_code != 200:
            return []
        told = answer.json().get("newAchievements")
    except (Unavailable, ValueError, AttributeError):
        return []
    return told if isinstance(told, list) else []


def build_forwarding_router(services: ContextServices, limited: dict[str, Any]) -> APIRouter:
    """One route per entry of :data:`ROUTES`; ``limited`` maps a limit name to the
    authenticated, rate-limited caller dependency."""
    router = APIRouter()

    def endpoint(route: Route) -> Callable[..., Awaitable[Response]]:
        async def forward(request: Request, actor: Annotated[Actor | None, limited[route.limit]]) -> Response:
            if actor is not None and actor.role not in route.roles:
                # a role that never reaches this route: the same answer as an unknown object
                raise Problem(404, "Not found", f"{request.url.path} is not a route for a {actor.role}")
            body = await request.body() if route.method in ("POST", "PUT", "PATCH") else None
            try:
                answer = await services.forward(
                    route.service,
                    route.method,
                    request.url.path,
                    actor=(str(actor.user_id), actor.role) if actor is not None else None,
                    params=list(request.query_params.multi_items()),
                    body=body or None,
                    accept=request.headers.get("accept"),
                    cache_control=request.headers.get("cache-control"),
                    stream=True,
                    timeout=route.timeout,
                )
            except Unavailable as exc:
                raise Problem(
                    503, "Service unavailable", f"{exc}; try again shortly", retryAfter="5"
                ) from exc
            headers = {k: v for k, v in answer.headers.items() if k.lower() in _PASSED_ON}
            if answer.headers.get("content-type", "").startswith("text/event-stream"):
                headers["X-Accel-Buffering"] = "no"
                return StreamingResponse(
                    answer.chunks(),
                    status_code=answer.status_code,
                    headers=headers,
                    background=BackgroundTask(answer.close),
                )
            try:
                content = await answer.read()
            except (aiohttp.ClientError, TimeoutError) as exc:
                raise Problem(
                    503,
                    "Service unavailable",
                    f"the {route.service} service broke off its answer",
                    retryAfter="5",
                ) from exc
            if route.announces and answer.status_code == 200 and actor is not None:
                content = await _with_new_achievements(content, actor)
            return Response(content, status_code=answer.status_code, headers=headers)

        return forward

    async def _with_new_achievements(content: bytes, actor: Actor) -> bytes:
        try:
            body = json.loads(content)
        except ValueError:
            return content
        if not isinstance(body, dict):
            return content
        body["newAchievements"] = await new_achievements(services, actor)
        return json.dumps(body, separators=(",", ":")).encode()

    for route in ROUTES:
        router.add_api_route(
            route.path,
            endpoint(route),
            methods=[route.method],
            summary=route.summary,
            description=f"Passed on to the {route.service} service"
            + ("" if len(route.roles) == 3 else f"; for {' and '.join(route.roles)}s only")
            + ("; no token needed" if route.limit == "public" else "")
            + ".",
            tags=[route.service],
        )
    return router

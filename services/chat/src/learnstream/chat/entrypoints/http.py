"""HTTP routes of the chat service, on the gateway's paths (``spec/API.md``, Assistant chat).

The gateway forwards them with the caller in ``X-Actor-Id`` / ``X-Actor-Role`` next to its
service credential. A conversation is its learner's only: another learner's, an unknown
and a deleted one all answer 404. ``POST …/messages`` with ``Accept: text/event-stream``
streams the reply as server-sent events: ``question`` (the stored question), ``delta``
(text as it is written) and ``reply`` (the stored reply); otherwise it answers both once
the reply is stored.
"""

import json
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, FastAPI, Query, Request, Response
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse, StreamingResponse

from learnstream.chat.domain.conversation import InvalidMessage, NotFound, checked_query
from learnstream.chat.entrypoints.schemas import (
    AskOut,
    ExportOut,
    MessageIn,
    MessagesOut,
    RatingIn,
    RatingOut,
    RenameIn,
    SearchOut,
    SessionIn,
    SessionListOut,
    SessionOut,
)
from learnstream.chat.service_layer.services import ChatService, PendingReply, TooManyMessages
from learnstream.runtime.actors import Actor, actor_dependency
from learnstream.runtime.problems import problem_response

STREAM_EXAMPLE = (
    'event: question\ndata: {"id": "…", "role": "user", "content": "Why does range(5) stop at 4?"}\n\n'
    'event: delta\ndata: {"text": "range(n) counts from 0 "}\n\n'
    'event: reply\ndata: {"id": "…", "role": "assistant", "content": "range(n) counts from 0 …",'
    ' "answered": true}\n\n'
)


def build_router(service: ChatService, service_token: str, *, backdating: bool = False) -> APIRouter:
    """The routes; ``backdating`` (dev mode) lets a conversation, a question and a rating
    name their moment, for demo data."""
    router = APIRouter(tags=["chat"])

    def moment(value: datetime | None, field_name: str) -> datetime | None:
        if value is not None and not backdating:
            raise InvalidMessage(field_name, "is accepted in dev mode only (demo data); leave it out")
        return value

    CurrentActor = Annotated[Actor, actor_dependency(service_token)]
    CourseFilter = Annotated[UUID | None, Query(alias="courseId", description="Only this course's.")]

    @router.get("/api/chat/sessions", response_model=SessionListOut)
    async def list_sessions(
        actor: CurrentActor,
        course_id: CourseFilter = None,
        limit: Annotated[int, Query(ge=1, le=100, description="Page size (20 in the sidebar).")] = 20,
        offset: Annotated[int, Query(ge=0, le=100_000)] = 0,
        q: Annotated[
            str | None, Query(max_length=200, description="Only conversations whose title or messages match.")
        ] = None,
    ) -> dict[str, Any]:
        """The caller's conversations, newest activity first, grouped for the sidebar."""
        query = checked_query(q, "q") if q else None
        return await service.list_sessions(
            actor, course_id=course_id, query=query, limit=limit, offset=offset
        )

    @router.post("/api/chat/sessions", response_model=SessionOut, status_code=201)
    async def start_session(body: SessionIn, actor: CurrentActor) -> dict[str, Any]:
        """Start a conversation about a course the caller is enrolled in (or teaches)."""
        return await service.start(
            actor, body.course_id, body.lesson_id, at=moment(body.started_at, "startedAt")
        )

    @router.patch("/api/chat/sessions/{session_id}", response_model=SessionOut)
    async def rename(session_id: UUID, body: RenameIn, actor: CurrentActor) -> dict[str, Any]:
        """Give a conversation a title of the learner's own (it replaces the automatic one)."""
        return await service.rename(actor, session_id, body.title)

    @router.delete("/api/chat/sessions/{session_id}", status_code=204)
    async def delete(session_id: UUID, actor: CurrentActor) -> Response:
        """Delete a conversation and its messages for good (``ChatSessionDeleted``)."""
        await service.delete(actor, session_id)
        return Response(status_code=204)

    @router.get("/api/chat/sessions/{session_id}/messages", response_model=MessagesOut)
    async def messages(
        session_id: UUID,
        actor: CurrentActor,
        limit: Annotated[int, Query(ge=1, le=500)] = 200,
        offset: Annotated[int, Query(ge=0, le=100_000)] = 0,
    ) -> dict[str, Any]:
        """A conversation with its messages, oldest first (everything, to resume it after a reload)."""
        return await service.messages(actor, session_id, limit=limit, offset=offset)

    @router.post(
        "/api/chat/sessions/{session_id}/messages",
        response_model=AskOut,
        responses={200: {"content": {"text/event-stream": {"example": STREAM_EXAMPLE}}}},
    )
    async def ask(session_id: UUID, body: MessageIn, actor: CurrentActor, request: Request) -> Any:
        """Ask the assistant; the question is stored first, so it is never lost."""
        streamed = "text/event-stream" in request.headers.get("accept", "")
        pending = await service.ask(
            actor, session_id, body.content, stream=streamed, at=moment(body.sent_at, "sentAt")
        )
        if streamed:
            return StreamingResponse(
                _server_sent(pending),
                media_type="text/event-stream",
                headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
            )
        return {"question": pending.question, "reply": await pending.reply()}

    @router.get("/api/chat/search", response_model=SearchOut)
    async def search(
        actor: CurrentActor,
        query: Annotated[str, Query(min_length=1, max_length=200, description="Words to look for.")],
        course_id: CourseFilter = None,
        limit: Annotated[int, Query(ge=1, le=50, description="Conversations to return.")] = 20,
        message_limit: Annotated[
            int, Query(alias="messageLimit", ge=0, le=50, description="Messages to return, with excerpts.")
        ] = 10,
    ) -> dict[str, Any]:
        """The caller's conversations and messages matching the words, best match first."""
        return await service.search(
            actor,
            checked_query(query, "query"),
            course_id=course_id,
            limit=limit,
            message_limit=message_limit,
        )

    @router.post("/api/chat/messages/{message_id}/rating", response_model=RatingOut)
    async def rate(message_id: UUID, body: RatingIn, actor: CurrentActor) -> dict[str, Any]:
        """Rate one of the assistant's replies as helpful or not (``AssistantReplyRated``)."""
        return await service.rate(actor, message_id, body.helpful, at=moment(body.rated_at, "ratedAt"))

    @router.get("/api/me/data-export", response_model=ExportOut)
    async def data_export(actor: CurrentActor) -> dict[str, Any]:
        """Every conversation of the caller with all its messages (the gateway's data export)."""
        return await service.export(actor)

    return router


async def _server_sent(pending: PendingReply) -> AsyncIterator[bytes]:
    yield _event("question", _camel(pending.question))
    async for kind, payload in pending.events():
        if kind == "delta":
            yield _event("delta", {"text": payload})
        else:
            yield _event("reply", _camel(payload))


def _event(kind: str, data: dict[str, Any]) -> bytes:
    return f"event: {kind}\ndata: {json.dumps(jsonable_encoder(data), separators=(',', ':'))}\n\n".encode()


def _camel(view: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for key, value in view.items():
        head, *rest = key.split("_")
        out[head + "".join(part.title() for part in rest)] = value
    return out


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(NotFound)
    async def not_found(request: Request, exc: NotFound) -> JSONResponse:
        return problem_response(404, "Not found", str(exc), instance=request.url.path)

    @app.exception_handler(InvalidMessage)
    async def invalid(request: Request, exc: InvalidMessage) -> JSONResponse:
        errors = [{"field": exc.field, "message": exc.message}]
        return problem_response(422, "Invalid request", str(exc), instance=request.url.path, errors=errors)

    @app.exception_handler(TooManyMessages)
    async def too_many(request: Request, exc: TooManyMessages) -> JSONResponse:
        return problem_response(
            429, "Too many messages", str(exc), instance=request.url.path, retryAfter=str(exc.retry_after)
        )

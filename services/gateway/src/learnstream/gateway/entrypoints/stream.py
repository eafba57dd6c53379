"""``GET /api/stream``: the caller's live updates as server-sent events.

Learners get ``progress.changed``, ``achievement.unlocked`` and ``level.reached``;
instructors get ``enrollment.created`` for their own courses; everyone gets
``export.completed`` / ``export.failed`` for their exports. A client that reconnects
with ``Last-Event-ID`` first receives what it missed (kept a day, up to 200 updates).
A comment line every ``heartbeat`` seconds keeps proxies from closing the connection.
"""

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Header, Request
from fastapi.responses import StreamingResponse

from learnstream.gateway.adapters.live import LiveHub, Update
from learnstream.runtime.actors import Actor
from learnstream.runtime.problems import Problem

_STREAM_ID = r"^\d{1,20}-\d{1,20}$"


def _order(stream_id: str) -> tuple[int, int]:
    millis, _, sequence = stream_id.partition("-")
    return int(millis), int(sequence or 0)


Names = Callable[[UUID], Awaitable[str | None]]
"""A learner's display name now, or None once they are erased."""


async def _named(update: Update, names: Names) -> Update:
    """An instructor's enrollment update with the learner's name as it is now: Redis keeps
    only the learner's id, so an erased learner's name is nowhere in the kept updates."""
    learner = update.data.get("learnerId")
    if update.kind != "enrollment.created" or not learner:
        return update
    return Update(update.id, update.kind, {**update.data, "learnerName": await names(UUID(str(learner)))})


def build_stream_router(live: LiveHub, reads: Any, names: Names, *, heartbeat: float = 15.0) -> APIRouter:
    router = APIRouter(tags=["live"])

    @router.get(
        "/api/stream",
        summary="Live updates for the caller (server-sent events)",
        response_class=StreamingResponse,
        responses={
            200: {
                "content": {
                    "text/event-stream": {
                        "example": "id: 1763800000000-0\nevent: achievement.unlocked\n"
                        'data: {"achievementId":"first_course","title":"First steps","rarity":"common"}\n\n'
                    }
                }
            }
        },
    )
    async def stream(
        request: Request,
        actor: Annotated[Actor, reads],
        last_event_id: Annotated[
            str | None,
            Header(alias="Last-Event-ID", pattern=_STREAM_ID, description="Resume after this update."),
        ] = None,
    ) -> StreamingResponse:
        """Stays open; each update is ``id``, ``event`` (its kind) and ``data`` (JSON)."""
        if live.open_streams(actor.user_id) >= live.max_streams_per_user:
            raise Problem(
                429,
                "Too many open streams",
                f"one user may hold {live.max_streams_per_user} live streams at once; close one first",
                retryAfter="5",
            )

        async def events() -> AsyncIterator[bytes]:
            async with live.subscribe(actor.user_id) as queue:
                yield b"retry: 3000\n: connected\n\n"
                seen = _order(last_event_id) if last_event_id else (0, 0)
                if last_event_id:
                    for update in await live.missed(actor.user_id, last_event_id):
                        seen = _order(update.id)
                        yield (await _named(update, names)).encode()
                while True:
                    try:
                        update = await asyncio.wait_for(queue.get(), heartbeat)
                    except TimeoutError:
                        if await request.is_disconnected():
                            return
                        yield b": keep-alive\n\n"
                        continue
                    if _order(update.id) > seen:  # not already sent as missed
                        yield (await _named(update, names)).encode()

        return StreamingResponse(
            events(),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )

    return router

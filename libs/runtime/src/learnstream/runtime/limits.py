"""Bounds on what one request may cost: a cap on request bodies (anything larger is refused
with 413 before it is read whole), and reads cancelled when their client has gone.

A declared ``Content-Length`` over the cap is refused at once; a chunked body is counted
as it arrives and refused as soon as it passes the cap, so a client cannot make a
service buffer an unbounded body.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Collection

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from learnstream.runtime.problems import Problem, problem_response

log = logging.getLogger(__name__)


def _too_large(limit: int) -> Problem:
    return Problem(
        413,
        "Request body too large",
        f"the body may be at most {limit} bytes; send less (e.g. split a batch)",
        maxBytes=limit,
    )


class BodySizeLimit:
    """``streamed_paths`` are left uncapped: their handlers read the body a part at a time
    (an archive import) and never hold it whole."""

    def __init__(self, app: ASGIApp, *, max_bytes: int, streamed_paths: Collection[str] = ()) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.streamed_paths = frozenset(streamed_paths)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("path") in self.streamed_paths:
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await self._refuse(scope, send)
            return
        received = 0

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise _too_large(self.max_bytes)
            return message

        await self.app(scope, counted, send)

    async def _refuse(self, scope: Scope, send: Send) -> None:
        problem = _too_large(self.max_bytes)
        response = problem_response(
            413, problem.title, str(problem.detail), instance=scope.get("path", ""), maxBytes=self.max_bytes
        )
        response.headers["Connection"] = "close"

        async def no_body() -> Message:
            return {"type": "http.disconnect"}

        await response(scope, no_body, send)


class CancelAbandonedReads:
    """A read (GET or HEAD) whose client went away is cancelled instead of run to the end.

    A caller that gives up (the gateway composing a page stops waiting after its timeout)
    closes the connection; without this the service would still run every remaining query
    of the abandoned answer, and under load such answers pile up into a backlog that delays
    everything after them. Only reads: a write that was accepted finishes whatever happens
    to its client. The query already running finishes; the ones after it never start.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("method") not in ("GET", "HEAD"):
            await self.app(scope, receive, send)
            return
        messages: asyncio.Queue[Message] = asyncio.Queue()
        gone = asyncio.Event()

        async def listen() -> None:
            # the only reader of the connection: the app gets what arrives through the queue
            while True:
                message = await receive()
                await messages.put(message)
                if message["type"] == "http.disconnect":
                    gone.set()
                    return

        listener = asyncio.create_task(listen())

        async def respond() -> None:
            await self.app(scope, messages.get, send)

        answer = asyncio.create_task(respond())
        abandoned = asyncio.create_task(gone.wait())
        try:
            await asyncio.wait({answer, abandoned}, return_when=asyncio.FIRST_COMPLETED)
            if not answer.done():
                answer.cancel()
                log.info("the client went away: its read was cancelled", extra={"path": scope.get("path")})
                with contextlib.suppress(asyncio.CancelledError):
                    await answer
                return
            answer.result()
        finally:
            for task in (listener, abandoned, answer):
                task.cancel()

"""A cap on request bodies: anything larger is refused with 413 before it is read whole.

A declared ``Content-Length`` over the cap is refused at once; a chunked body is counted
as it arrives and refused as soon as it passes the cap, so a client cannot make a
service buffer an unbounded body.
"""

from __future__ import annotations

from collections.abc import Collection

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from learnstream.runtime.problems import Problem, problem_response


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

"""Bounds on what one request may cost: a cap on request bodies (anything larger is refused
with 413 before it is read whole), deadlines for slow clients, and reads cancelled when their
client has gone.

A declared ``Content-Length`` over the cap is refused at once; a chunked body is counted
as it arrives and refused as soon as it passes the cap, so a client cannot make a
service buffer an unbounded body.

uvicorn gives a connection no deadline while a request arrives: only an idle connection
between requests times out (keep-alive), and only until its first byte; and with httptools
(which it prefers to h11 when installed) no bound on a request's headers either. A client
that sends its headers or its body a byte at a time (slowloris) would hold its connection, a
file descriptor and, for a body, the request's task for as long as it likes; one that sends
an endless header would be buffered whole. So a body must arrive at a useful rate
(:class:`BodySizeLimit`: 408 otherwise), and a request's line and headers within a deadline
and a size (:class:`RequestHeadLimits` on uvicorn's own protocol: 408 or 431, and the
connection closed). Written here because uvicorn has no such settings and another server
would change how every service runs; the mixin leans on what uvicorn's protocols share
(``cycle``, ``on_response_complete``), which the lock file pins.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import json
import logging
from collections.abc import AsyncIterator, Callable, Collection
from typing import Any

from prometheus_client import Counter, Histogram
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from learnstream.runtime.problems import PROBLEM_JSON, Problem, problem_response

log = logging.getLogger(__name__)

SHED = Counter(
    "learnstream_http_shed_total",
    "Requests answered 503 at once because every place to work on one stayed taken (admission)",
)
REFUSED_HEADS = Histogram(
    "learnstream_http_refused_head_bytes",
    "Bytes of a request's line and headers read before the server refused it, by status"
    " (400 unreadable, 408 too slow, 431 too large)",
    ["status"],
    buckets=(0, 1024, 8192, 32768, 65536, 262144, 1048576),
)

BODY_TIMEOUT_SECONDS = 15.0
"""How long a body may take to start arriving; each :data:`BODY_MIN_BYTES_PER_SECOND`
bytes received earn a second more, so a slow but steady client is never cut off."""
BODY_MIN_BYTES_PER_SECOND = 500
HEADER_TIMEOUT_SECONDS = 15.0
"""How long a client may take to send a request's line and headers, counted from when the
connection opened or its previous answer went out."""
MAX_HEAD_BYTES = 32_768
"""The most a request's line and headers may take (h11 alone stops at 16 KiB; httptools,
which uvicorn prefers, at nothing)."""
LINGER_SECONDS = 2.0
"""How long a refused connection stays open, reading and dropping, after its answer went out."""
CLOSE = {"Connection": "close"}
"""On a refusal before the body was read: the rest of the body is not worth reading."""


def _too_large(limit: int) -> Problem:
    return Problem(
        413,
        "Request body too large",
        f"the body may be at most {limit} bytes; send less (e.g. split a batch)",
        headers=CLOSE,
        maxBytes=limit,
    )


def _too_slow(timeout: float, rate: int) -> Problem:
    return Problem(
        408,
        "Request body too slow",
        f"the body must start within {timeout:g} s and keep coming at {rate} bytes a second or more;"
        " send it again in one go",
        headers=CLOSE,
    )


class BodySizeLimit:
    """Caps a request body's size (``max_bytes``) and its time: it must start within
    ``body_timeout`` seconds of the handler asking for it, each ``min_rate`` bytes earning a
    second more. ``streamed_paths`` are left alone: their handlers read the body a part at a
    time (an archive import) and never hold it whole."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        max_bytes: int,
        streamed_paths: Collection[str] = (),
        body_timeout: float = BODY_TIMEOUT_SECONDS,
        min_rate: int = BODY_MIN_BYTES_PER_SECOND,
    ) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.streamed_paths = frozenset(streamed_paths)
        self.body_timeout = body_timeout
        self.min_rate = min_rate

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("path") in self.streamed_paths:
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        received = 0
        whole = False
        started: float | None = None
        closing = False
        # a client waiting for "100 Continue" sends no body unless told: nothing to drain
        in_flight = headers.get(b"expect", b"").lower() != b"100-continue"

        async def counted() -> Message:
            nonlocal received, whole, started, in_flight
            in_flight = True  # asked for: a client waiting for "100 Continue" is told to send
            if whole:  # after the body: the app waits for a disconnect, as long as it likes
                return await receive()
            loop = asyncio.get_running_loop()
            if started is None:
                started = loop.time()
            try:
                async with asyncio.timeout_at(started + self.body_timeout + received / self.min_rate):
                    message = await receive()
            except TimeoutError:
                log.info(
                    "a request body came too slowly", extra={"path": scope.get("path"), "bytes": received}
                )
                raise _too_slow(self.body_timeout, self.min_rate) from None
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise _too_large(self.max_bytes)
                whole = not message.get("more_body", False)
            else:
                whole = True
            return message

        async def lingering(message: Message) -> None:
            """An answer that closes the connection while the body is still coming ends only
            after what is left of the body was read and dropped (for a moment at most): closed
            with the client's bytes unread, the connection would be reset, and the client
            lose the answer before reading it."""
            nonlocal closing
            if message["type"] == "http.response.start":
                closing = (b"connection", b"close") in [
                    (name.lower(), value.lower()) for name, value in message.get("headers", [])
                ]
            elif (
                message["type"] == "http.response.body"
                and not message.get("more_body", False)
                and closing
                and in_flight
                and not whole
            ):
                await send({**message, "more_body": True})
                await _drop_the_rest(receive)
                message = {"type": "http.response.body", "body": b"", "more_body": False}
            await send(message)

        declared = headers.get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await self._refuse(scope, lingering)
            return
        await self.app(scope, counted, lingering)

    async def _refuse(self, scope: Scope, send: Send) -> None:
        problem = _too_large(self.max_bytes)
        response = problem_response(
            413, problem.title, str(problem.detail), instance=scope.get("path", ""), maxBytes=self.max_bytes
        )
        response.headers.update(CLOSE)

        async def no_body() -> Message:
            return {"type": "http.disconnect"}

        await response(scope, no_body, send)


async def _drop_the_rest(receive: Receive) -> None:
    """Read and drop what is left of a request body, for :data:`LINGER_SECONDS` at most."""
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(LINGER_SECONDS):
            while True:
                message = await receive()
                if message["type"] != "http.request" or not message.get("more_body", False):
                    return


class RequestHeadLimits(asyncio.Protocol):
    """What :func:`protocol_with_head_limits` adds to uvicorn's HTTP protocol: between two
    requests of a connection (from when it opened, or its last answer went out) the client
    has :attr:`timeout` seconds and :attr:`max_head_bytes` bytes for the next request's line
    and headers. Past either, a request that had begun is answered 408 or 431 and the
    connection is closed (one that had not begun is just closed: uvicorn's keep-alive timeout
    closes a silent one sooner anyway). A body is not counted here (:class:`BodySizeLimit`)."""

    timeout: float = HEADER_TIMEOUT_SECONDS
    max_head_bytes: int = MAX_HEAD_BYTES
    # uvicorn's protocol sets these
    cycle: Any
    transport: asyncio.Transport
    loop: asyncio.AbstractEventLoop
    client: tuple[str, int] | None
    _deadline: asyncio.TimerHandle | None = None
    _head_bytes = 0
    _refused = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        self._wait_for_head()

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_waiting()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._refused:
            return  # what a refused client still sends is dropped until the connection closes
        super().data_received(data)
        if self._refused:
            return  # the protocol refused what it read (its own 400): answered and closing
        if not self._waiting() or self.transport.is_closing():
            self._stop_waiting()  # a request is being answered: its time is the app's
            return
        if self.cycle is not None and self.cycle.more_body:
            return  # the rest of a body answered before it was read: not a request's head
        self._head_bytes += len(data)  # bytes that did not finish a request's head
        if self._head_bytes > self.max_head_bytes:
            log.info(
                "a request's headers grew too large",
                extra={"client": self.client, "head_bytes": self._head_bytes},
            )
            self._refuse(
                431,
                "Request header fields too large",
                f"the request's line and headers may take at most {self.max_head_bytes} bytes",
            )

    def on_response_complete(self) -> None:
        super().on_response_complete()  # type: ignore[misc]  # uvicorn's protocols all have it
        if self._waiting():
            self._wait_for_head()
        else:
            self._stop_waiting()  # a pipelined request was waiting

    def send_400_response(self, msg: str) -> None:
        """uvicorn's answer to a request it cannot parse, as problem+json and closed gently."""
        self._refuse(400, "Bad request", msg, begun=True)

    def _waiting(self) -> bool:
        return self.cycle is None or bool(self.cycle.response_complete)

    def _wait_for_head(self) -> None:
        self._stop_waiting()
        self._head_bytes = 0
        self._deadline = self.loop.call_later(self.timeout, self._expired)

    def _stop_waiting(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _expired(self) -> None:
        self._deadline = None
        if self._waiting() and not self.transport.is_closing():
            log.info("a request's headers came too slowly", extra={"client": self.client})
            self._refuse(
                408,
                "Request timeout",
                f"the request's line and headers must arrive within {self.timeout:g} s; send them in one go",
            )

    def _refuse(self, status: int, title: str, detail: str, *, begun: bool | None = None) -> None:
        """Answer (if a new request had begun, not an old body left unread) and close: the
        answer first, then our end (so the client reads it), then the rest after a moment (a
        close with the client's bytes unread would reset the connection, and the client lose
        the answer)."""
        if begun is None:
            begun = self._head_bytes > 0 and (self.cycle is None or not self.cycle.more_body)
        self._stop_waiting()
        self._refused = True
        REFUSED_HEADS.labels(str(status)).observe(self._head_bytes)
        if begun:
            body = json.dumps(
                {
                    "type": "about:blank",
                    "title": title,
                    "status": status,
                    "detail": detail,
                    "instance": "",
                }
            ).encode()
            head = (
                f"HTTP/1.1 {status} {title}\r\ncontent-type: {PROBLEM_JSON}\r\n"
                f"content-length: {len(body)}\r\nconnection: close\r\n\r\n"
            )
            self.transport.write(head.encode() + body)
        if self.transport.can_write_eof():
            self.transport.write_eof()
        self.loop.call_later(LINGER_SECONDS, self.transport.close)


def protocol_with_head_limits(
    *, timeout: float = HEADER_TIMEOUT_SECONDS, max_head_bytes: int = MAX_HEAD_BYTES, base: str = "auto"
) -> type[asyncio.Protocol]:
    """The protocol class to give uvicorn (``http=``): its own HTTP/1.1 protocol (``base``:
    ``auto`` picks httptools where installed, else h11, as uvicorn does) with
    :class:`RequestHeadLimits`."""
    if base == "auto":
        base = "httptools" if importlib.util.find_spec("httptools") is not None else "h11"
    if base == "httptools":
        from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol as protocol
    else:
        from uvicorn.protocols.http.h11_impl import H11Protocol as protocol  # type: ignore[assignment]
    limits = {"timeout": timeout, "max_head_bytes": max_head_bytes}
    return type(f"{protocol.__name__}WithHeadLimits", (RequestHeadLimits, protocol), limits)


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


def admission(
    places: int, wait: float, *, streamed_paths: Collection[str] = ()
) -> Callable[[Request], AsyncIterator[None]]:
    """A dependency (``Depends(..., scope="function")`` on a service's routers) that lets at
    most ``places`` requests be worked on at once; one that finds every place taken for
    ``wait`` seconds is answered 503 problem+json with ``Retry-After`` straight away.

    Past its capacity a service otherwise takes every request, each waits longer for a
    connection and a row, callers give up (the gateway after its timeout) while the work
    goes on, and goodput falls below what the service managed before (``bench/README.md``,
    the soak at 1,000 events a second). A quick 503 tells the client to come back instead.
    A request's body is read before it takes a place (kept for the endpoint), so a slow
    upload holds none, except on ``streamed_paths``, whose handlers read it a part at a
    time; a place is given back when the endpoint returns, so a streamed answer holds none
    while it streams."""
    held: dict[asyncio.AbstractEventLoop, asyncio.Semaphore] = {}
    streamed = frozenset(streamed_paths)

    async def admitted(request: Request) -> AsyncIterator[None]:
        if request.method not in ("GET", "HEAD", "OPTIONS") and request.url.path not in streamed:
            await request.body()  # Starlette keeps it: the endpoint reads it again from memory
        loop = asyncio.get_running_loop()
        free = held.get(loop)
        if free is None:  # one per event loop (tests run an app in more than one)
            held.clear()
            free = held[loop] = asyncio.Semaphore(places)
        try:
            async with asyncio.timeout(wait):
                await free.acquire()
        except TimeoutError:
            SHED.inc()
            raise Problem(
                503,
                "Service busy",
                f"all {places} places for requests were taken for {wait:g} s; try again in a second",
                retryAfter="1",
            ) from None
        try:
            yield
        finally:
            free.release()

    return admitted

"""Slow and greedy clients get limits: headers that do not come whole in time, and bodies
that trickle, are answered 408 and their connection closed; headers that grow without end
are cut off; a body over the cap is refused and its connection closed too. Over real HTTP,
uvicorn with either of its protocols (httptools, which it prefers, and h11) and the head
limits, with raw sockets, since only a real connection can be slow."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator

import pytest
from fastapi import FastAPI, Request

from learnstream.devstack.testing import uvicorn_server
from learnstream.runtime.limits import LINGER_SECONDS, BodySizeLimit, protocol_with_head_limits
from learnstream.runtime.problems import install_problem_handlers

HEADER_TIMEOUT = 0.6
BODY_TIMEOUT = 0.6
MIN_RATE = 1000
MAX_BYTES = 2048
MAX_HEAD = 8192


def app() -> FastAPI:
    application = FastAPI()
    install_problem_handlers(application)
    application.add_middleware(
        BodySizeLimit, max_bytes=MAX_BYTES, body_timeout=BODY_TIMEOUT, min_rate=MIN_RATE
    )

    @application.post("/echo")
    async def echo(request: Request) -> dict[str, int]:
        return {"bytes": len(await request.body())}

    @application.get("/slow")
    async def slow() -> dict[str, str]:
        await asyncio.sleep(HEADER_TIMEOUT * 2)  # the app's own time is not the client's
        return {"done": "yes"}

    @application.get("/ping")
    async def ping() -> dict[str, str]:
        return {"pong": "yes"}

    return application


@pytest.fixture(params=["httptools", "h11"])
async def server(request: pytest.FixtureRequest) -> AsyncIterator[tuple[str, int]]:
    protocol = protocol_with_head_limits(timeout=HEADER_TIMEOUT, max_head_bytes=MAX_HEAD, base=request.param)
    async with uvicorn_server(app(), http=protocol) as address:
        yield address


async def answer_and_close(reader: asyncio.StreamReader, within: float) -> tuple[bytes, float]:
    """Everything the server sends until it closes the connection, and when it closed it."""
    started = time.monotonic()
    data = await asyncio.wait_for(reader.read(), within)  # read() returns at EOF
    return data, time.monotonic() - started


def status_and_body(data: bytes) -> tuple[int, bytes, bytes]:
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split(b" ")[1]), head.lower(), body


async def test_headers_that_do_not_come_in_time_get_408_and_the_connection_closed(
    server: tuple[str, int],
) -> None:
    reader, writer = await asyncio.open_connection(*server)
    writer.write(b"GET /ping HTTP/1.1\r\nHost: x\r\n")  # and never the blank line
    data, waited = await answer_and_close(reader, HEADER_TIMEOUT * 5)
    status, head, body = status_and_body(data)
    assert status == 408
    assert b"content-type: application/problem+json" in head and b"connection: close" in head
    assert "within 0.6 s" in json.loads(body)["detail"]
    assert waited < HEADER_TIMEOUT * 3
    writer.close()


async def test_a_header_a_while_does_not_keep_the_connection(server: tuple[str, int]) -> None:
    reader, writer = await asyncio.open_connection(*server)
    writer.write(b"GET /ping HTTP/1.1\r\nHost: x\r\n")
    started = time.monotonic()
    with contextlib.suppress(ConnectionError):
        while not reader.at_eof() and time.monotonic() - started < HEADER_TIMEOUT * 5:
            writer.write(b"X-Drip: 1\r\n")  # a line well before each deadline would pass
            await writer.drain()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(reader.read(65536), HEADER_TIMEOUT / 4)
    assert reader.at_eof(), "the dripping client still holds its connection"
    assert time.monotonic() - started < HEADER_TIMEOUT * 3
    writer.close()


async def test_headers_that_grow_without_end_are_cut_off(server: tuple[str, int]) -> None:
    reader, writer = await asyncio.open_connection(*server)
    answer = asyncio.create_task(answer_and_close(reader, 10))
    writer.write(b"GET /ping HTTP/1.1\r\nHost: x\r\n")
    sent = 0
    with contextlib.suppress(ConnectionError):
        while sent < 100 * MAX_HEAD and not answer.done():
            writer.write(b"X-Big: " + b"a" * 1000 + b"\r\n")  # a header at a time, never the end
            await writer.drain()
            sent += 1009
            await asyncio.sleep(0.001)
    data, _ = await answer
    status, head, body = status_and_body(data)
    assert status in (400, 431), data[:200]  # h11 stops at its own 16 KiB buffer: 400
    assert b"content-type: application/problem+json" in head and b"connection: close" in head
    assert sent < 10 * MAX_HEAD, f"the server read on long after the cap ({sent} bytes)"
    assert json.loads(body)["status"] == status
    writer.close()


async def test_big_headers_under_the_cap_are_served(server: tuple[str, int]) -> None:
    reader, writer = await asyncio.open_connection(*server)
    headers = b"".join(b"X-Big-%d: %s\r\n" % (n, b"a" * 1000) for n in range(6))
    writer.write(b"GET /ping HTTP/1.1\r\nHost: x\r\n" + headers + b"\r\n")
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
    assert head.startswith(b"HTTP/1.1 200"), head
    writer.close()


async def test_a_connection_that_never_speaks_is_closed(server: tuple[str, int]) -> None:
    reader, writer = await asyncio.open_connection(*server)
    data, waited = await answer_and_close(reader, HEADER_TIMEOUT * 5)
    assert data == b""  # nothing begun, nothing to answer
    assert waited < HEADER_TIMEOUT * 3
    writer.close()


async def test_a_body_that_trickles_gets_408_and_the_connection_closed(server: tuple[str, int]) -> None:
    reader, writer = await asyncio.open_connection(*server)
    writer.write(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n")
    started = time.monotonic()
    answer = b""
    with contextlib.suppress(ConnectionError):
        while not reader.at_eof() and time.monotonic() - started < BODY_TIMEOUT * 5:
            writer.write(b"x")  # a byte every tenth of the deadline: far below the rate
            await writer.drain()
            with contextlib.suppress(TimeoutError):
                answer += await asyncio.wait_for(reader.read(65536), BODY_TIMEOUT / 10)
    status, head, body = status_and_body(answer)
    assert status == 408
    assert b"connection: close" in head
    assert json.loads(body)["title"] == "Request body too slow"
    assert time.monotonic() - started < BODY_TIMEOUT * 3 + LINGER_SECONDS  # the answer, then a moment
    writer.close()


async def test_a_slow_but_steady_body_is_read_whole(server: tuple[str, int]) -> None:
    reader, writer = await asyncio.open_connection(*server)
    writer.write(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 2000\r\n\r\n")
    for _ in range(10):  # 2,000 bytes over 1.5 s (past the first deadline), 1,333 bytes a second
        writer.write(b"x" * 200)
        await writer.drain()
        await asyncio.sleep(0.15)
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
    assert head.startswith(b"HTTP/1.1 200")
    writer.close()


async def test_a_chunked_body_over_the_cap_gets_413_and_the_connection_closed(
    server: tuple[str, int],
) -> None:
    reader, writer = await asyncio.open_connection(*server)
    writer.write(b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")
    for _ in range(3):
        writer.write(b"400\r\n" + b"x" * 1024 + b"\r\n")
    await writer.drain()
    data, _ = await answer_and_close(reader, 5)  # and no more chunks are read after it
    status, head, body = status_and_body(data)
    assert status == 413
    assert b"connection: close" in head
    assert json.loads(body)["maxBytes"] == MAX_BYTES
    writer.close()


async def test_a_body_declared_over_the_cap_gets_its_413_while_the_client_still_sends(
    server: tuple[str, int],
) -> None:
    reader, writer = await asyncio.open_connection(*server)
    answer = asyncio.create_task(answer_and_close(reader, 10))
    size = 4 * 2**20
    writer.write(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % size)
    sent = 0
    with contextlib.suppress(ConnectionError):
        while sent < size:  # as an HTTP library does: the whole body, then the answer
            writer.write(b"x" * 65536)
            await writer.drain()
            sent += 65536
    data, closed = await answer  # not a reset that loses it
    status, head, body = status_and_body(data)
    assert status == 413 and closed
    assert b"connection: close" in head and json.loads(body)["maxBytes"] == MAX_BYTES
    writer.close()


async def test_a_client_that_keeps_its_pace_is_served_on_one_connection(server: tuple[str, int]) -> None:
    reader, writer = await asyncio.open_connection(*server)
    for path in ("/slow", "/ping", "/slow"):  # a slow answer is the app's time, not the client's
        writer.write(f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
        assert head.startswith(b"HTTP/1.1 200"), head
        length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
        await reader.readexactly(length)
        await asyncio.sleep(HEADER_TIMEOUT / 2)
    writer.close()

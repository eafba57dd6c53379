"""Abuse of the public API, against the running stack: bodies over the cap, slow clients,
query syntax in every search field, the BOLA matrix and forged tokens.

Every attack goes through the gateway over real HTTP (raw sockets where the client has to
misbehave below HTTP). Each must end in a clear answer: a 4xx problem+json, never a 5xx,
never another person's data, and never more rows than the text matches when read
literally. Afterwards the stack answers as before and still holds what it had accepted.

"Literally" depends on the kind of search. The catalog's title search and the instructors'
student searches match a substring (``%`` and ``_`` are characters, not wildcards). The
assistant-chat searches match words (PostgreSQL full text): they find the conversations
holding every word of the text and read no operators, so ``a & !b`` means the words a and
b. Each search's answer is compared with what that reading finds in the caller's own
objects, computed here.

The normal suite has the BOLA and token cases against services in one process
(tests/integration/test_gateway_bola.py, services/gateway/tests/integration/test_limits.py);
here they run end to end against the stack as ``make run`` starts it.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import hmac
import json
import re
import statistics
import time
import uuid
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlsplit

import asyncpg
import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from learnstream.devstack.bola import Call, authoring, chatting, learning, teaching
from learnstream.gateway.adapters.tokens import AUDIENCE, ISSUER
from learnstream.gateway.config import DEV_JWT_SECRET
from learnstream.runtime.limits import BODY_TIMEOUT_SECONDS, HEADER_TIMEOUT_SECONDS, MAX_HEAD_BYTES
from learnstream.runtime.settings import ServiceSettings

from .conftest import REPORT, Course, Platform

pytestmark = [pytest.mark.integration, pytest.mark.faults]

MAX_BODY = int(ServiceSettings.model_fields["max_body_bytes"].default)
"""The body cap every service applies (``LEARNSTREAM_MAX_BODY_BYTES``; the stack keeps the default)."""
PROBLEM = "application/problem+json"
MAX_SOCKET_READ = 2**18  # the most an event loop's transport reads from a socket at once (asyncio, uvloop)

PAYLOADS = (
    "' OR 1=1 --",
    "%' ; DROP TABLE users; --",
    "\\",
    "%_%",
    '"); SELECT',
    "') UNION ALL SELECT name FROM system.tables --",
    "a & !b | c:*",
    "^.*(a|b)+$ [x-z]{2,} \\d",
    "{needle:String} $1 :search",
    "🦄 émoji ✓ \U0001d518",
    "x" * 200,
)
"""Text that means something to SQL, ClickHouse, tsquery, LIKE, regular expressions or a bind
parameter; emoji; and the longest a search takes (200 characters)."""
NUL = "nul\x00byte"
TOO_LONG = "%" * 5_000


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def is_problem(answer: httpx.Response, *statuses: int) -> bool:
    return answer.status_code in statuses and answer.headers.get("content-type", "").startswith(PROBLEM)


def gateway_address(platform: Platform) -> tuple[str, int]:
    url = urlsplit(platform.stack.gateway)
    assert url.hostname is not None and url.port is not None
    return url.hostname, url.port


async def named_token(platform: Platform, role: str, full_name: str) -> tuple[str, str]:
    """A token for a new account with this display name, and the account's id."""
    answer = await platform.http.post(
        "/api/auth/dev-token",
        json={"email": f"{role}-{uuid.uuid4().hex[:10]}@abuse.test", "role": role, "fullName": full_name},
    )
    assert answer.status_code == 200, answer.text
    body = answer.json()
    return str(body["accessToken"]), str(body["user"]["id"])


def course_body(title: str, category: str, *, quiz: bool = False) -> dict[str, Any]:
    lessons: list[dict[str, Any]] = [
        {"title": "Reading", "contentType": "article", "durationSeconds": 60, "body": "Text."}
    ]
    if quiz:
        question = {"text": "1 + 1?", "options": ["1", "2"], "correctIndex": 1}
        lessons.append(
            {
                "title": "Quiz",
                "contentType": "quiz",
                "durationSeconds": 60,
                "quiz": {"passingScore": 50, "questions": [question]},
            }
        )
    return {
        "title": title,
        "description": "A course the abuse suite searches for",
        "category": category,
        "difficulty": "beginner",
        "sections": [{"title": "All", "lessons": lessons}],
    }


async def published(platform: Platform, instructor: str, body: dict[str, Any]) -> dict[str, Any]:
    made = await platform.call("POST", "/api/instructor/courses", instructor, json=body)
    assert made.status_code == 201, made.text
    course: dict[str, Any] = made.json()
    done = await platform.call("POST", f"/api/instructor/courses/{course['id']}/publish", instructor)
    assert done.status_code == 200, done.text
    return course


def track(course_id: str, lesson: str) -> dict[str, Any]:
    return {
        "courseId": course_id,
        "lessonId": lesson,
        "viewId": str(uuid.uuid4()),
        "timeSpentSeconds": 60,
        "completed": True,
    }


async def conversation(platform: Platform, learner: str, course_id: str) -> str:
    """A new conversation of the learner about the course (once chat knows the enrollment)."""
    deadline = time.monotonic() + 60
    while True:
        started = await platform.call("POST", "/api/chat/sessions", learner, json={"courseId": course_id})
        if started.status_code == 201 or time.monotonic() > deadline:
            assert started.status_code == 201, started.text
            return str(started.json()["id"])
        await asyncio.sleep(0.3)


# --- raw HTTP: clients that misbehave below what an HTTP library lets one do ---------------------


@dataclass
class RawAnswer:
    status: int
    headers: dict[str, str]
    body: bytes
    closed: bool
    """Whether the server closed the connection after the answer."""

    def problem(self) -> dict[str, Any]:
        assert self.headers.get("content-type", "").startswith(PROBLEM), self
        document: dict[str, Any] = json.loads(self.body)
        return document


def parse_answer(data: bytes, closed: bool) -> RawAnswer | None:
    head, separator, rest = data.partition(b"\r\n\r\n")
    if not separator:
        return None
    lines = head.decode("latin-1").split("\r\n")
    headers = {
        name.strip().lower(): value.strip() for name, _, value in (x.partition(":") for x in lines[1:])
    }
    length = int(headers.get("content-length", "0"))
    return RawAnswer(int(lines[0].split(" ")[1]), headers, rest[:length], closed)


async def until_closed(
    reader: asyncio.StreamReader, seconds: float, began: asyncio.Event | None = None
) -> tuple[bytes, bool]:
    """What the server still sends, and whether it closed the connection within ``seconds``;
    ``began`` is set when its first bytes arrive."""
    data = b""
    deadline = time.monotonic() + seconds
    with contextlib.suppress(ConnectionError):
        while (left := deadline - time.monotonic()) > 0:
            try:
                more = await asyncio.wait_for(reader.read(65536), left)
            except TimeoutError:
                return data, False
            if not more:
                return data, True
            data += more
            if began is not None:
                began.set()
        return data, False
    return data, True


@dataclass
class SlowClient:
    """A connection that sends ``start`` and then ``drip`` every ``every`` seconds (nothing,
    if ``drip`` is empty), and what became of it: what the server answered, and when (seconds
    after connecting) it closed the connection."""

    start: bytes
    drip: bytes
    every: float = 1.0
    received: bytes = b""
    closed_after: float | None = None

    async def run(self, address: tuple[str, int], until: float) -> None:
        reader, writer = await asyncio.open_connection(*address)
        opened = time.monotonic()
        try:
            writer.write(self.start)
            while time.monotonic() < until:
                try:
                    more = await asyncio.wait_for(reader.read(65536), self.every)
                except TimeoutError:
                    if self.drip:
                        writer.write(self.drip)
                        await writer.drain()
                    continue
                if not more:
                    break
                self.received += more
            else:
                return
            self.closed_after = time.monotonic() - opened
        except ConnectionError:
            self.closed_after = time.monotonic() - opened
        finally:
            writer.close()

    @property
    def answer(self) -> RawAnswer | None:
        return parse_answer(self.received, self.closed_after is not None)


# --- oversized bodies ---------------------------------------------------------------------------


async def test_a_body_over_the_cap_is_refused_and_nothing_accepted_before_is_lost(
    platform: Platform,
) -> None:
    """Given a learner who completed two lessons, when bodies just over the cap arrive on three
    routes (declared) and one without a length that grows past it (chunked), then each is a
    413 problem+json naming the cap and its connection is closed; a body of exactly the cap is
    accepted; and the learner's progress is all there and tracking goes on."""
    course = await platform.course()
    learner = await platform.token("student")
    enrolled = await platform.call("POST", f"/api/courses/{course.id}/enroll", learner)
    assert enrolled.status_code == 201, enrolled.text
    for lesson in course.lessons[:2]:
        tracked = await platform.call(
            "POST", "/api/learner/track-lesson", learner, json=track(course.id, lesson)
        )
        assert tracked.status_code == 200, tracked.text

    def padded(document: dict[str, Any], size: int) -> bytes:
        raw = json.dumps(document).encode()
        return raw + b" " * (size - len(raw))  # JSON may end in white space

    json_headers = {**auth(learner), "Content-Type": "application/json"}
    at_cap = await platform.http.post(
        "/api/learner/track-batch",
        content=padded({"events": [track(course.id, course.lessons[2])]}, MAX_BODY),
        headers=json_headers,
    )
    assert at_cap.status_code == 200, at_cap.text[:500]
    assert at_cap.json()["accepted"] == 1

    over = padded({"events": [track(course.id, course.lessons[3])]}, MAX_BODY + 1)
    refused: list[str] = []
    for method, path, headers in (
        ("POST", "/api/learner/track-batch", json_headers),
        ("POST", "/api/auth/register", {"Content-Type": "application/json"}),
        ("PATCH", "/api/me", json_headers),
    ):
        answer = await platform.http.request(method, path, content=over, headers=headers)
        assert is_problem(answer, 413), f"{method} {path}: {answer.status_code} {answer.text[:300]}"
        assert answer.json()["maxBytes"] == MAX_BODY
        assert f"at most {MAX_BODY} bytes" in answer.json()["detail"]
        assert answer.headers.get("connection") == "close"
        refused.append(f"{method} {path}")

    chunked, sent = await chunked_past_the_cap(gateway_address(platform), learner)
    assert chunked is not None, "no answer to a chunked body growing past the cap"
    assert chunked.status == 413, chunked
    assert chunked.problem()["maxBytes"] == MAX_BODY
    assert chunked.closed, "the connection stayed open for the rest of an over-long chunked body"

    progress = await platform.call("GET", f"/api/learner/course/{course.id}/progress", learner)
    assert progress.status_code == 200, progress.text
    assert progress.json()["stats"]["lessonsCompleted"] == 3, "progress accepted before the abuse was lost"
    last = await platform.call(
        "POST", "/api/learner/track-lesson", learner, json=track(course.id, course.lessons[3])
    )
    assert last.status_code == 200, last.text
    assert last.json()["progress"]["courseCompleted"] is True
    REPORT.append(
        (
            "oversized bodies",
            f"{len(refused)} bodies of {MAX_BODY + 1} bytes ({', '.join(refused)}), one chunked body"
            f" without a length ({sent:,} bytes sent before the answer), one of exactly {MAX_BODY}"
            " bytes",
            f"{len(refused) + 1} x 413 problem+json (maxBytes {MAX_BODY}), connections closed; the"
            f" body at the cap accepted; 3 lessons still completed, the 4th"
            " tracked after (200)",
        )
    )


async def chunked_past_the_cap(address: tuple[str, int], token: str) -> tuple[RawAnswer | None, int]:
    """A track-batch body in 64 KiB chunks, with no length, until the gateway answers (or 8
    times the cap went out); the answer, and how many bytes were sent before it."""
    reader, writer = await asyncio.open_connection(*address)
    writer.write(
        b"POST /api/learner/track-batch HTTP/1.1\r\nHost: gateway\r\nContent-Type: application/json\r\n"
        b"Transfer-Encoding: chunked\r\nAuthorization: Bearer " + token.encode() + b"\r\n\r\n"
    )
    chunk = b" " * 65536
    sent = 0
    received = b""
    try:
        while sent < 8 * MAX_BODY and b"\r\n\r\n" not in received:
            writer.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            await writer.drain()
            sent += len(chunk)
            with contextlib.suppress(TimeoutError):
                received += await asyncio.wait_for(reader.read(65536), 0.005)
        rest, closed = await until_closed(reader, 10)
    except ConnectionError:
        rest, closed = await until_closed(reader, 1)
        closed = True
    finally:
        writer.close()
    return parse_answer(received + rest, closed), sent


# --- slow clients -------------------------------------------------------------------------------


async def test_slow_clients_do_not_hold_up_the_others_and_a_trickled_body_gets_408(
    platform: Platform,
) -> None:
    """Given twenty clients sending their headers a line a second, five sending a body a byte a
    second and ten that connect and say nothing, when a learner uses the platform meanwhile,
    then each of the learner's requests is answered at once, and each trickled body gets a 408
    problem+json (never a 5xx) with its connection closed once its deadline passed."""
    course = await platform.course()
    learner = await platform.token("student")
    enrolled = await platform.call("POST", f"/api/courses/{course.id}/enroll", learner)
    assert enrolled.status_code == 201, enrolled.text
    address = gateway_address(platform)
    headers = [SlowClient(b"GET /api/me HTTP/1.1\r\nHost: gateway\r\n", b"X-Slow: 1\r\n") for _ in range(20)]
    bodies = [
        SlowClient(
            b"POST /api/learner/track-lesson HTTP/1.1\r\nHost: gateway\r\nContent-Type: application/json\r\n"
            b"Content-Length: 400\r\nAuthorization: Bearer " + learner.encode() + b"\r\n\r\n{",
            b" ",
        )
        for _ in range(5)
    ]
    silent = [SlowClient(b"", b"") for _ in range(10)]
    window = BODY_TIMEOUT_SECONDS + 10
    until = time.monotonic() + window
    slow = [asyncio.create_task(client.run(address, until)) for client in (*headers, *bodies, *silent)]
    await asyncio.sleep(1)  # all of them connected and started
    timings = await normal_use(platform, course, learner, until)
    await asyncio.gather(*slow)

    statuses = sorted({status for status, _ in timings})
    latencies = sorted(seconds for _, seconds in timings)
    assert statuses == [200], f"answers to the learner meanwhile: {statuses}"
    assert latencies[-1] < 5.0, f"slowest answer meanwhile took {latencies[-1]:.1f} s"
    for client in bodies:
        answer = client.answer
        assert answer is not None, "a trickled body was never answered"
        assert answer.status == 408, answer
        assert answer.problem()["title"] == "Request body too slow"
        assert client.closed_after is not None and client.closed_after < BODY_TIMEOUT_SECONDS + 8, client
    header_answers = [client.answer.status for client in headers if client.answer is not None]
    assert not [status for status in header_answers if status >= 500], header_answers
    headers_closed = sum(client.closed_after is not None for client in headers)
    REPORT.append(
        (
            "slow clients",
            f"for {window:.0f} s: 20 clients sending headers a line a second, 5 a body a byte a second,"
            f" 10 silent connections; a learner's {len(timings)} requests meanwhile",
            f"{len(timings)} x 200 (median {statistics.median(latencies) * 1000:.0f} ms, slowest"
            f" {latencies[-1] * 1000:.0f} ms); 5 x 408 after"
            f" {max(c.closed_after or 0 for c in bodies):.1f} s, closed; trickled headers:"
            f" {headers_closed} of 20 closed by the header deadline",
        )
    )


async def normal_use(
    platform: Platform, course: Course, learner: str, until: float
) -> list[tuple[int, float]]:
    """A learner reading and tracking on connections of their own until ``until``: each
    answer's status and how long it took."""
    timings: list[tuple[int, float]] = []
    async with httpx.AsyncClient(base_url=platform.stack.gateway, timeout=30) as http:
        while time.monotonic() < until:
            for method, path, body in (
                ("GET", "/api/me", None),
                ("POST", "/api/learner/track-lesson", track(course.id, course.lessons[0])),
                ("GET", f"/api/learner/course/{course.id}/progress", None),
            ):
                started = time.monotonic()
                answer = await http.request(method, path, json=body, headers=auth(learner))
                timings.append((answer.status_code, time.monotonic() - started))
            await asyncio.sleep(0.2)
    return timings


async def test_a_request_head_that_never_ends_is_cut_off(platform: Platform) -> None:
    """Given clients that send headers a line a second, or half a request and then nothing,
    or nothing at all, or headers without end as fast as they can, then each connection is
    closed (by the header deadline, or at the size cap), those that had begun with a 408 or
    431 problem+json, never a 5xx; and the gateway stopped reading the endless head within
    one socket read past the cap (by its own count: what the client sent meanwhile also sat in
    the kernel's buffers, which on a busy machine hold megabytes)."""
    address = gateway_address(platform)
    dripping = [SlowClient(b"GET /api/me HTTP/1.1\r\nHost: gateway\r\n", b"X-Slow: 1\r\n") for _ in range(3)]
    stalled = [SlowClient(b"GET /api/me HTTP/1.1\r\nHost: gateway\r\n", b"") for _ in range(2)]
    silent = [SlowClient(b"", b"") for _ in range(2)]
    until = time.monotonic() + HEADER_TIMEOUT_SECONDS + 10
    refused_before = await refused_heads(platform)
    (head_answer, head_sent), _ = await asyncio.gather(
        endless_head(address),
        asyncio.gather(*(client.run(address, until) for client in (*dripping, *stalled, *silent))),
    )
    refused, head_read = (
        after - before for after, before in zip(await refused_heads(platform), refused_before, strict=True)
    )
    begun = [*dripping, *stalled]
    closed = sum(client.closed_after is not None for client in (*begun, *silent))
    answered = [client.answer.status if client.answer else None for client in begun]
    REPORT.append(
        (
            "request heads",
            "3 clients sending headers a line a second, 2 half a request then nothing, 2 nothing,"
            f" for {HEADER_TIMEOUT_SECONDS + 10:.0f} s; one sending headers without end",
            f"{closed} of 7 closed, answers {answered}; the endless head:"
            f" {head_answer.status if head_answer else 'no answer'} after the gateway had read"
            f" {head_read:,.0f} bytes ({head_sent:,} sent)",
        )
    )
    assert head_answer is not None and head_answer.status == 431 and head_answer.closed, head_answer
    assert refused == 1, f"{refused} heads refused as too large"
    assert MAX_HEAD_BYTES < head_read <= MAX_HEAD_BYTES + MAX_SOCKET_READ, (
        f"the gateway read {head_read:,.0f} bytes"
    )
    for client in (*begun, *silent):
        assert client.closed_after is not None, f"still open after {HEADER_TIMEOUT_SECONDS + 10:.0f} s"
    for client in begun:
        answer = client.answer
        assert answer is not None and answer.status == 408, answer
        assert answer.problem()["status"] == 408


async def endless_head(address: tuple[str, int]) -> tuple[RawAnswer | None, int]:
    """Headers sent without end (up to 32 times the cap, as fast as the gateway takes them)
    until the answer begins; the answer, how many bytes went out before it began (what the
    gateway read, and what the sockets held)."""
    reader, writer = await asyncio.open_connection(*address)
    began = asyncio.Event()
    answer = asyncio.create_task(until_closed(reader, 30, began))
    writer.write(b"GET /api/me HTTP/1.1\r\nHost: gateway\r\n")
    sent = 0
    line = b"X-Endless: " + b"a" * 4000 + b"\r\n"
    with contextlib.suppress(ConnectionError):
        while sent < 32 * MAX_HEAD_BYTES and not answer.done() and not began.is_set():
            writer.write(line)
            await writer.drain()
            sent += len(line)
            await asyncio.sleep(0)
    data, closed = await answer
    writer.close()
    return parse_answer(data, closed), sent


async def refused_heads(platform: Platform) -> tuple[float, float]:
    """How many request heads the gateway has refused as too large, and how many bytes of
    them it had read (its metrics)."""
    async with httpx.AsyncClient(base_url=platform.stack.gateway, timeout=10) as http:
        text = (await http.get("/metrics")).text
    found = dict.fromkeys(("count", "sum"), 0.0)
    for part in found:
        if match := re.search(
            rf'^learnstream_http_refused_head_bytes_{part}{{status="431"}} (\S+)$', text, re.M
        ):
            found[part] = float(match.group(1))
    return found["count"], found["sum"]


# --- query syntax in every search field ---------------------------------------------------------


async def test_query_syntax_in_the_catalog_search_and_category_is_plain_text(platform: Platform) -> None:
    """Given a published course titled (and filed under) each payload and a plain one, when
    the catalog is searched for each payload (``q``, a part of the title) and filtered by it
    (``category``, the whole category), then exactly the courses holding that text come back:
    the one made for it (and any other whose title contains it), never the plain one."""
    instructor = await platform.token("instructor")
    tag = uuid.uuid4().hex[:8]
    made: dict[str, str] = {}
    for payload in PAYLOADS:
        course = await published(platform, instructor, course_body(payload, payload[:100]))
        made[payload] = str(course["id"])
    plain = str((await published(platform, instructor, course_body(f"Plain {tag}", f"plain-{tag}")))["id"])

    for payload in PAYLOADS:
        found = await platform.call("GET", "/api/courses", instructor, params={"q": payload, "limit": 100})
        assert found.status_code == 200, f"q={payload!r}: {found.status_code} {found.text[:300]}"
        titles = {c["id"]: c["title"] for c in found.json()["courses"]}
        assert made[payload] in titles, f"q={payload!r} missed the course titled with it"
        assert plain not in titles, f"q={payload!r} found the plain course"
        extra = [t for t in titles.values() if payload.casefold() not in t.casefold()]
        assert not extra, f"q={payload!r} found titles without the text: {extra[:5]}"
        assert found.json()["total"] == len(titles) or len(titles) == 100

        filed = await platform.call(
            "GET", "/api/courses", instructor, params={"category": payload[:100], "limit": 100}
        )
        assert filed.status_code == 200, f"category={payload!r}: {filed.status_code} {filed.text[:300]}"
        categories = {c["id"]: c["category"] for c in filed.json()["courses"]}
        assert made[payload] in categories and plain not in categories
        assert set(categories.values()) == {payload[:100]}, f"category={payload!r}: {categories}"

    refusals = await refused_cleanly(
        platform,
        instructor,
        [
            ("/api/courses", {"q": NUL}),
            ("/api/courses", {"category": NUL}),
            ("/api/courses", {"q": TOO_LONG}),
        ],
    )
    REPORT.append(
        (
            "query syntax: catalog (q, category)",
            f"{2 * len(PAYLOADS)} searches for SQL, LIKE, tsquery, ClickHouse, regex and bind-parameter"
            " text, emoji and 200 characters; NUL; 5,000 characters",
            f"{2 * len(PAYLOADS)} x 200 with exactly the courses holding the text; {refusals}",
        )
    )


async def refused_cleanly(
    platform: Platform, token: str, requests: list[tuple[str, dict[str, str]]], *statuses: int
) -> str:
    """Each request answered with a 4xx problem+json (``statuses`` if given); a summary."""
    seen: list[int] = []
    for path, params in requests:
        answer = await platform.call("GET", path, token, params=params)
        expected = statuses or tuple(range(400, 500))
        assert is_problem(answer, *expected), f"{path} {params!r}: {answer.status_code} {answer.text[:300]}"
        seen.append(answer.status_code)
    return ", ".join(f"{seen.count(s)} x {s}" for s in sorted(set(seen)))


@dataclass
class Words:
    """PostgreSQL's reading of text as words (english), as the chat searches use it: a text
    matches when it holds every word of the search; operators are not words."""

    connection: asyncpg.Connection
    memo: dict[tuple[str, str], bool] = field(default_factory=dict)

    async def match(self, text: str, search: str) -> bool:
        if (text, search) not in self.memo:
            self.memo[text, search] = bool(
                await self.connection.fetchval(
                    "SELECT to_tsvector('english', $1) @@ plainto_tsquery('english', $2)", text, search
                )
            )
        return self.memo[text, search]


async def test_query_syntax_in_the_chat_searches_is_read_as_words(platform: Platform) -> None:
    """Given a learner's conversations titled with each payload, a plain decoy, two that a
    tsquery would tell apart, and one with a question and the assistant's reply, when the
    sidebar (``q``) and the search (``query``) are asked for each payload, then both give
    exactly the conversations (and the search exactly the messages) holding every word of
    it: an operator is no operator, the decoy is never found."""
    course = await platform.course()
    learner = await platform.token("student")
    enrolled = await platform.call("POST", f"/api/courses/{course.id}/enroll", learner)
    assert enrolled.status_code == 201, enrolled.text
    titled: dict[str, str] = {}
    for title in (
        *(p[:120] for p in PAYLOADS),
        "Plain decoy about photosynthesis",
        "alpha gamma",
        "alpha bravo gamma",
    ):
        session = await conversation(platform, learner, course.id)
        renamed = await platform.call(
            "PATCH", f"/api/chat/sessions/{session}", learner, json={"title": title}
        )
        assert renamed.status_code == 200, f"{title!r}: {renamed.text}"
        titled[title] = session
    asked_in = await conversation(platform, learner, course.id)
    asked = await platform.call(
        "POST",
        f"/api/chat/sessions/{asked_in}/messages",
        learner,
        json={"content": "Does ' OR 1=1 -- or %_% or a & !b | c:* break the reading?"},
    )
    assert asked.status_code == 200, asked.text

    listed = await platform.call("GET", "/api/chat/sessions", learner, params={"limit": 100})
    sessions = {s["id"]: s["title"] or "" for s in listed.json()["sessions"]}
    assert len(sessions) == len(titled) + 1
    messages = (await platform.call("GET", f"/api/chat/sessions/{asked_in}/messages", learner)).json()
    said = {m["id"]: m["content"] for m in messages["messages"]}
    assert len(said) == 2

    connection = await platform.pg("chat")
    try:
        words = Words(connection)
        # tsquery operators, and web-search syntax (websearch_to_tsquery's minus, or, quotes)
        searches = (*PAYLOADS, "alpha & !bravo | gamma:*", "alpha -bravo", "bravo or delta", '"gamma alpha"')
        for search in searches:
            expected_sessions = {s for s, title in sessions.items() if await words.match(title, search)}
            if await words.match(" ".join(said.values()), search):
                expected_sessions.add(asked_in)
            expected_messages = {m for m, content in said.items() if await words.match(content, search)}
            sidebar = await platform.call(
                "GET", "/api/chat/sessions", learner, params={"q": search, "limit": 100}
            )
            assert sidebar.status_code == 200, f"q={search!r}: {sidebar.status_code} {sidebar.text[:300]}"
            found = await platform.call(
                "GET", "/api/chat/search", learner, params={"query": search, "limit": 50, "messageLimit": 50}
            )
            assert found.status_code == 200, f"query={search!r}: {found.status_code} {found.text[:300]}"
            assert {s["id"] for s in sidebar.json()["sessions"]} == expected_sessions, f"q={search!r}"
            assert {s["id"] for s in found.json()["sessions"]} == expected_sessions, f"query={search!r}"
            assert {m["id"] for m in found.json()["messages"]} == expected_messages, f"query={search!r}"
            assert titled["Plain decoy about photosynthesis"] not in expected_sessions
    finally:
        await connection.close()
    for search, meant in (
        ("alpha & !bravo | gamma:*", ["alpha bravo gamma"]),  # as tsquery: "alpha gamma" too
        ("alpha -bravo", ["alpha bravo gamma"]),  # as a web search: "alpha gamma" instead
        ("bravo or delta", []),  # as a web search: "alpha bravo gamma"
    ):
        found = await platform.call("GET", "/api/chat/search", learner, params={"query": search})
        assert [s["id"] for s in found.json()["sessions"]] == [titled[t] for t in meant], search
    sql = await platform.call("GET", "/api/chat/sessions", learner, params={"q": "' OR 1=1 --"})
    assert titled["' OR 1=1 --"] in {s["id"] for s in sql.json()["sessions"]}

    refusals = await refused_cleanly(
        platform,
        learner,
        [
            ("/api/chat/sessions", {"q": NUL}),
            ("/api/chat/search", {"query": NUL}),
            ("/api/chat/sessions", {"q": TOO_LONG}),
            ("/api/chat/search", {"query": TOO_LONG}),
        ],
        422,
    )
    REPORT.append(
        (
            "query syntax: chat (sessions q, search query)",
            f"{2 * len(searches)} searches of {len(sessions)} conversations and {len(said)} messages;"
            " NUL; 5,000 characters",
            f"{2 * len(searches)} x 200 with exactly the conversations and messages holding the words;"
            f" the decoy never; {refusals}",
        )
    )


async def test_query_syntax_in_student_searches_and_export_filters_is_plain_text(platform: Platform) -> None:
    """Given a course whose learners are named after each payload (and one plainly), when the
    instructor searches the course's students (ClickHouse), all their students (creator) and
    exports them with a search filter, then each gives exactly the learners whose name holds
    the text."""
    course = await platform.course()
    names = [*(p[:100] for p in PAYLOADS), "Plain Learner"]
    for name in names:
        token, _ = await named_token(platform, "student", name)
        enrolled = await platform.call("POST", f"/api/courses/{course.id}/enroll", token)
        assert enrolled.status_code == 201, enrolled.text
    students_path = f"/api/instructor/courses/{course.id}/students"
    deadline = time.monotonic() + 120
    while True:  # until analytics has every enrollment and name from the bus
        listing = await platform.call("GET", students_path, course.instructor, params={"limit": 100})
        assert listing.status_code == 200, listing.text
        roster = {s["id"]: s["name"] for s in listing.json()["students"]}
        if sorted(roster.values()) == sorted(names) or time.monotonic() > deadline:
            break
        await asyncio.sleep(1)
    assert sorted(roster.values()) == sorted(names), "names are not kept as they were given"

    def holding(text: str) -> set[str]:
        return {sid for sid, name in roster.items() if text.casefold() in name.casefold()}

    exported = 0
    for payload in PAYLOADS:
        expected = holding(payload)
        ours = await platform.call(
            "GET", students_path, course.instructor, params={"search": payload, "limit": 100}
        )
        assert ours.status_code == 200, f"search={payload!r}: {ours.status_code} {ours.text[:300]}"
        assert {s["id"] for s in ours.json()["students"]} == expected, f"course students, search={payload!r}"
        mine = await platform.call(
            "GET", "/api/creator/students", course.instructor, params={"search": payload, "limit": 200}
        )
        assert mine.status_code == 200, f"search={payload!r}: {mine.status_code} {mine.text[:300]}"
        assert {s["id"] for s in mine.json()["students"]} == expected, f"creator students, search={payload!r}"
    for payload in ("' OR 1=1 --", "%_%", "') UNION ALL SELECT name FROM system.tables --", "\\"):
        rows = await exported_students(platform, course.instructor, payload)
        assert {row["id"] for row in rows} == holding(payload), f"export filters.search={payload!r}"
        exported += 1
    for path in (students_path, "/api/creator/students"):
        answer = await platform.call("GET", path, course.instructor, params={"search": NUL})
        assert answer.status_code == 422 or (answer.status_code == 200 and not answer.json()["students"]), (
            f"{path} search=NUL: {answer.status_code} {answer.text[:300]}"
        )
    refusals = await refused_cleanly(
        platform,
        course.instructor,
        [(students_path, {"search": TOO_LONG}), ("/api/creator/students", {"search": TOO_LONG})],
        422,
    )
    REPORT.append(
        (
            "query syntax: student searches (course, creator, export filter)",
            f"{2 * len(PAYLOADS)} searches of {len(names)} learners named after the payloads,"
            f" {exported} exports filtered by them; NUL; 5,000 characters",
            f"{2 * len(PAYLOADS)} x 200 and {exported} exports with exactly the learners whose name"
            f" holds the text; NUL found nobody; {refusals}",
        )
    )


async def exported_students(platform: Platform, instructor: str, search: str) -> list[dict[str, Any]]:
    """The rows of a students export (JSON) filtered by ``search``, downloaded by its link."""
    queued = await platform.call(
        "POST",
        "/api/creator/export",
        instructor,
        json={"type": "students", "format": "json", "filters": {"search": search}},
    )
    assert queued.status_code == 202, queued.text
    export_id = queued.json()["exportId"]
    deadline = time.monotonic() + 60
    while True:
        status = (await platform.call("GET", f"/api/exports/{export_id}", instructor)).json()
        if status["status"] in ("completed", "failed") or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.5)
    assert status["status"] == "completed", status
    download = await platform.http.get(status["downloadUrl"])
    assert download.status_code == 200, download.text[:300]
    rows: list[dict[str, Any]] = download.json()["sections"]["students"]["rows"]
    return rows


async def test_query_syntax_in_choices_ids_time_zones_and_logins_is_refused_cleanly(
    platform: Platform,
) -> None:
    """Given each payload where a choice (sort, filter, period...), an id, a time zone or a
    login is expected, then each answer is a 4xx problem+json: 422 for a choice or a time
    zone, 404 or 422 for an id, 401 or 422 for a login; never a 5xx, never a token."""
    course = await platform.course()
    learner = await platform.token("student")
    base = f"/api/instructor/courses/{course.id}"
    await known_to_analytics(platform, course.instructor, base)
    choices = [
        ("/api/leaderboard", "period", learner),
        ("/api/learner/activity", "days", learner),
        (f"{base}/students", "sort", course.instructor),
        (f"{base}/students", "filter", course.instructor),
        (f"{base}/analytics", "period", course.instructor),
        ("/api/creator/students", "status", course.instructor),
        ("/api/creator/students", "progress", course.instructor),
        ("/api/creator/students", "lastActive", course.instructor),
        ("/api/creator/students", "sortBy", course.instructor),
        ("/api/creator/students", "sortOrder", course.instructor),
        ("/api/creator/dashboard", "period", course.instructor),
    ]
    zones = [(f"{base}/analytics", "timezone"), ("/api/creator/dashboard", "timezone")]
    texts = (*PAYLOADS, NUL, "../../../../etc/passwd", "UTC' OR '1'='1")
    answered: dict[int, int] = {}

    def seen(answer: httpx.Response) -> None:
        answered[answer.status_code] = answered.get(answer.status_code, 0) + 1

    for text in texts:
        for path, name, token in choices:
            answer = await platform.call("GET", path, token, params={name: text})
            assert is_problem(answer, 422), (
                f"{path}?{name}={text!r}: {answer.status_code} {answer.text[:300]}"
            )
            seen(answer)
        for path, name in zones:
            answer = await platform.call("GET", path, course.instructor, params={name: text})
            assert is_problem(answer, 422), (
                f"{path}?{name}={text!r}: {answer.status_code} {answer.text[:300]}"
            )
            seen(answer)
        for path in (
            f"/api/certificates/{quote(text, safe='')}",
            f"/api/exports/{quote(text, safe='')}",
            f"/api/chat/sessions/{quote(text, safe='')}/messages",
            f"/api/courses/{quote(text, safe='')}",
        ):
            answer = await platform.call("GET", path, learner)
            assert is_problem(answer, 404, 422), f"{path}: {answer.status_code} {answer.text[:300]}"
            seen(answer)
        for credentials in (
            {"email": text, "password": text},
            {"email": f"a@b.test{text}", "password": "x" * 12},
        ):
            answer = await platform.http.post("/api/auth/login", json=credentials)
            assert is_problem(answer, 401, 422), (
                f"login {credentials!r}: {answer.status_code} {answer.text[:300]}"
            )
            seen(answer)
    REPORT.append(
        (
            "query syntax: choices, ids, time zones, logins",
            f"{sum(answered.values())} requests with the payloads, NUL and path traversal where a"
            " choice, an id, a time zone or a login is expected",
            ", ".join(f"{count} x {status}" for status, count in sorted(answered.items()))
            + " problem+json; no 5xx",
        )
    )


async def known_to_analytics(platform: Platform, instructor: str, base: str) -> None:
    """Until analytics has the new course from the bus (before that, it is a 404 to anyone)."""
    deadline = time.monotonic() + 60
    while (answer := await platform.call("GET", f"{base}/analytics", instructor)).status_code == 404:
        assert time.monotonic() < deadline, answer.text
        await asyncio.sleep(0.5)
    assert answer.status_code == 200, answer.text


# --- the BOLA matrix ----------------------------------------------------------------------------


async def status_of(platform: Platform, call: Call, token: str) -> tuple[int, str]:
    answer = await platform.call(call.method, call.path, token, json=call.body)
    kind = "problem" if answer.headers.get("content-type", "").startswith(PROBLEM) else "data"
    return answer.status_code, kind


async def test_nobody_reaches_what_is_not_theirs(platform: Platform) -> None:
    """Given an instructor's course with an enrolled learner, her conversation with the
    assistant and the instructor's export, when another instructor, another learner, the
    course's own learner, the instructor (on the learner's conversation) and an admin ask for
    what is not theirs, then each answer is the 404 problem+json an unknown id gets (a 403
    where the contract names it: someone else's export log); and the owners do reach it all."""
    owner = await platform.token("instructor")
    other = await platform.token("instructor")
    admin = await platform.token("admin")
    learner, learner_id = await named_token(platform, "student", "Enrolled Learner")
    stranger, _ = await named_token(platform, "student", "Stranger")
    course = await published(platform, owner, course_body("Private course", "security", quiz=True))
    cid = course["id"]
    article, quiz = course["sections"][0]["lessons"]
    assert (await platform.call("POST", f"/api/courses/{cid}/enroll", learner)).status_code == 201
    tracked = await platform.call(
        "POST", "/api/learner/track-lesson", learner, json=track(cid, article["id"])
    )
    assert tracked.status_code == 200, tracked.text
    session = await conversation(platform, learner, cid)
    asked = await platform.call(
        "POST", f"/api/chat/sessions/{session}/messages", learner, json={"content": "What is in the reading?"}
    )
    assert asked.status_code == 200, asked.text
    reply = asked.json()["reply"]["id"]
    queued = await platform.call(
        "POST", f"/api/instructor/courses/{cid}/export", owner, json={"format": "csv"}
    )
    assert queued.status_code == 202, queued.text
    export = queued.json()["exportId"]

    def exporting(export_id: str) -> list[Call]:
        return [Call("GET", f"/api/exports/{export_id}")]

    taken_over = course_body("Taken over", "security")
    unknown = str(uuid.uuid4())
    matrix: list[tuple[str, Call, str, Call]] = []  # (who, call, token, the same call about nothing)
    for who, token in (("other instructor", other), ("enrolled learner", learner), ("stranger", stranger)):
        for call, twin in zip(
            teaching(cid, learner_id) + authoring(cid, taken_over),
            teaching(unknown, learner_id) + authoring(unknown, taken_over),
            strict=True,
        ):
            matrix.append((who, call, token, twin))
    for call, twin in zip(
        learning(cid, article["id"], quiz["quiz"]["id"]), learning(unknown, unknown, unknown), strict=True
    ):
        matrix.append(("stranger", call, stranger, twin))
    for who, token in (("stranger", stranger), ("course owner", owner), ("admin", admin)):
        for call, twin in zip(chatting(session, reply), chatting(unknown, unknown), strict=True):
            matrix.append((who, call, token, twin))
    for who, token in (("other instructor", other), ("enrolled learner", learner)):
        for call, twin in zip(exporting(export), exporting(unknown), strict=True):
            matrix.append((who, call, token, twin))
    for who, token in (("enrolled learner", learner), ("instructor", owner)):
        overview = Call("GET", "/api/admin/analytics/overview")
        matrix.append((who, overview, token, overview))
    for path in ("/api/instructor/courses", "/api/creator/students", "/api/creator/dashboard"):
        matrix.append(("learner", Call("GET", path), learner, Call("GET", path)))

    mismatches: list[str] = []
    for who, call, token, twin in matrix:
        got = await status_of(platform, call, token)
        about_nothing = await status_of(platform, twin, token)
        if got != (404, "problem") or about_nothing != got:
            mismatches.append(f"{who} {call.method} {call.path}: {got}, about an unknown id {about_nothing}")
    log = await platform.call(
        "GET", "/api/exports", other, params={"requesterId": (await me(platform, owner))}
    )
    if not is_problem(log, 403):
        mismatches.append(f"another instructor's export log: {log.status_code}")
    assert not mismatches, "\n".join(mismatches)

    owned = 0
    await known_to_analytics(platform, owner, f"/api/instructor/courses/{cid}")
    for call in teaching(cid, learner_id):
        deadline = time.monotonic() + 60
        while (
            answer := await platform.call(call.method, call.path, owner, json=call.body)
        ).status_code == 404:
            assert time.monotonic() < deadline, f"owner {call.method} {call.path}: {answer.text}"
            await asyncio.sleep(0.5)  # analytics has yet to hear of the enrollment
        assert answer.status_code in (200, 201), f"owner {call.method} {call.path}: {answer.status_code}"
        owned += 1
    for call in chatting(session, reply)[:4]:
        answer = await platform.call(call.method, call.path, learner, json=call.body)
        assert answer.status_code == 200, f"learner {call.method} {call.path}: {answer.status_code}"
        owned += 1
    assert (await platform.call("GET", f"/api/exports/{export}", owner)).status_code == 200
    assert (await platform.call("GET", "/api/admin/analytics/overview", admin)).status_code == 200
    REPORT.append(
        (
            "BOLA matrix",
            f"{len(matrix) + 1} requests for others' objects (courses' reports and outlines, students,"
            " enrollments, quizzes, conversations, replies, exports, admin and teaching routes) by"
            " other instructors, learners, the course owner and an admin; each also about an unknown id",
            f"{len(matrix)} x 404 problem+json, the same as for an unknown id; 1 x 403 (another's export"
            f" log); owners: {owned + 2} x 2xx",
        )
    )


async def me(platform: Platform, token: str) -> str:
    return str((await platform.call("GET", "/api/me", token)).json()["id"])


# --- forged and foreign tokens ------------------------------------------------------------------


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unsigned(header: dict[str, Any], claims: dict[str, Any]) -> str:
    return f"{b64(json.dumps(header).encode())}.{b64(json.dumps(claims).encode())}"


def hs256(header: dict[str, Any], claims: dict[str, Any], key: bytes) -> str:
    signing_input = unsigned(header, claims)
    return f"{signing_input}.{b64(hmac.new(key, signing_input.encode(), hashlib.sha256).digest())}"


def attacks(valid: str, claims: dict[str, Any]) -> dict[str, str]:
    """Tokens a client might forge or replay, each meant to pass as ``claims``' user or more."""
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public_pem = rsa_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    now = int(time.time())
    admin = {**claims, "role": "admin"}
    head, _, signature = valid.split(".")

    def forged(changes: dict[str, Any], key: str = DEV_JWT_SECRET, algorithm: str = "HS256") -> str:
        return jwt.encode({**claims, **changes}, key, algorithm=algorithm)

    return {
        "alg none": unsigned({"alg": "none", "typ": "JWT"}, admin) + ".",
        "alg None": unsigned({"alg": "None", "typ": "JWT"}, admin) + ".",
        "alg NONE, signature kept": unsigned({"alg": "NONE", "typ": "JWT"}, admin) + f".{signature}",
        "no signature": f"{head}.{b64(json.dumps(admin).encode())}.",
        "tampered payload": f"{head}.{b64(json.dumps(admin).encode())}.{signature}",
        "another key": forged({}, key="an-attackers-own-secret-0123456789abcdef"),
        "empty key": hs256({"alg": "HS256", "typ": "JWT"}, claims, b""),
        "expired": forged({"iat": now - 7200, "nbf": now - 7200, "exp": now - 3600}),
        "not yet valid": forged({"nbf": now + 3600, "exp": now + 7200}),
        "no expiry": jwt.encode({k: v for k, v in claims.items() if k != "exp"}, DEV_JWT_SECRET, "HS256"),
        "wrong issuer": forged({"iss": "https://evil.example"}),
        "wrong audience": forged({"aud": "someone-else"}),
        "no audience": jwt.encode({k: v for k, v in claims.items() if k != "aud"}, DEV_JWT_SECRET, "HS256"),
        "HS512 with the same key": forged({}, algorithm="HS512"),
        "RS256 with an attacker's key": jwt.encode(admin, rsa_key, algorithm="RS256"),
        "HS256 keyed with an RSA public key": hs256({"alg": "HS256", "typ": "JWT"}, admin, public_pem),
        "RS256 header, HMAC signature": hs256({"alg": "RS256", "typ": "JWT"}, admin, DEV_JWT_SECRET.encode()),
        "kid pointing at a file": hs256({"alg": "HS256", "kid": "../../../../dev/null"}, admin, b""),
        "unknown role": forged({"role": "root"}),
        "unknown user": forged({"sub": str(uuid.uuid4())}),
        "subject not an id": forged({"sub": "' OR 1=1 --"}),
        "garbage": "not.a.token",
    }


async def test_forged_expired_and_foreign_tokens_are_refused_everywhere(platform: Platform) -> None:
    """Given a learner's valid token, when a client sends tokens forged, tampered, expired,
    signed with another key or algorithm, or meant for someone else, to the gateway's own,
    composed, forwarded and streaming routes, then each is a 401 problem+json; and a token
    whose account was erased stops working."""
    token, user_id = await named_token(platform, "student", "Token Owner")
    claims = jwt.decode(token, options={"verify_signature": False})
    assert claims["sub"] == user_id and claims["iss"] == ISSUER and claims["aud"] == AUDIENCE
    forged = attacks(token, claims)
    routes = (
        "/api/me",
        "/api/learner/dashboard",
        "/api/learner/courses",
        "/api/chat/sessions",
        "/api/stream",
    )
    for path in routes[:-1]:
        assert (await platform.call("GET", path, token)).status_code == 200, path

    wrong: list[str] = []
    for name, attack in forged.items():
        for path in routes:
            status, kind = await first_answer(platform, path, f"Bearer {attack}")
            if (status, kind) != (401, "problem"):
                wrong.append(f"{name} on {path}: {status} {kind}")
    for scheme in ("Basic " + b64(b"admin:admin"), "Bearer", token, f"Bearer {token}x"):
        status, kind = await first_answer(platform, "/api/me", scheme)
        if (status, kind) != (401, "problem"):
            wrong.append(f"Authorization {scheme[:20]}…: {status} {kind}")

    erased, _ = await named_token(platform, "student", "Erased Learner")
    assert (await platform.call("DELETE", "/api/me", erased)).status_code == 202
    for path in routes:
        status, kind = await first_answer(platform, path, f"Bearer {erased}")
        if (status, kind) != (401, "problem"):
            wrong.append(f"an erased account's token on {path}: {status} {kind}")
    assert not wrong, "\n".join(wrong)
    REPORT.append(
        (
            "JWT attacks",
            f"{len(forged)} forged, tampered, expired and foreign tokens (alg none, another key,"
            " HS512, RS256, HS/RS confusion, kid, wrong iss/aud...) on "
            f"{len(routes)} routes; 4 wrong schemes; an erased account's token",
            f"{len(forged) * len(routes) + 4 + len(routes)} x 401 problem+json; the valid token 200",
        )
    )


async def first_answer(platform: Platform, path: str, authorization: str) -> tuple[int, str]:
    """The status and kind of the answer to a GET (streamed: an accepted ``/api/stream``
    would never end)."""
    async with platform.http.stream("GET", path, headers={"Authorization": authorization}) as answer:
        kind = "problem" if answer.headers.get("content-type", "").startswith(PROBLEM) else "data"
        return answer.status_code, kind

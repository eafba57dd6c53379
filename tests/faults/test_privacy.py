"""Erasure reaches every store, and nothing brings the learner's personal data back.

A learner with a name, an email and a question that nobody else could have written (each
holds a random token) enrolls, completes a lesson, asks the assistant and renames the
conversation. Before the erasure the tokens are where the product needs them in clear
(the gateway's account, chat's messages, analytics' ClickHouse, achievements' names) and
nowhere on the bus or in an event store: those hold the personal fields sealed with the
learner's key (``learnstream.runtime.vault``). After ``DELETE /api/me`` every context
confirms, and then a search of every table of every PostgreSQL database, every ClickHouse
table (base and derived), every Redis key and every record on every topic finds no token.
The learner's key is gone, so the sealed copies on the topics stay sealed; analytics then
replays every topic from its first offset, and the tokens still appear nowhere.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import asyncpg
import pytest
from redis.asyncio import Redis

from learnstream.devstack.supervisor import POSTGRES_PORT, REDIS_PORT
from learnstream.events import topic_name
from learnstream.runtime.settings import DEV_SERVICE_TOKEN, SERVICE_PORTS
from learnstream.runtime.vault import PREFIX

from .conftest import OFFSET, REPORT, Platform, read_topics

pytestmark = [pytest.mark.integration, pytest.mark.faults]

SETTLE = 120.0


@dataclass(frozen=True)
class Person:
    name: str
    email: str
    question: str
    title: str

    @property
    def tokens(self) -> dict[str, str]:
        return {"name": self.name, "email": self.email, "question": self.question, "title": self.title}


def person() -> Person:
    mark = uuid.uuid4().hex[:10]
    return Person(
        name=f"Zephyrine N{mark}",
        email=f"zq{mark}",
        question=f"Q{mark}",
        title=f"T{mark}",
    )


# --- where the tokens are ----------------------------------------------------------------------


async def in_postgres(tokens: dict[str, str]) -> dict[str, list[str]]:
    """``database.table`` holding each token, over every table of every database."""
    found: dict[str, list[str]] = {what: [] for what in tokens}
    server = f"postgresql://postgres@127.0.0.1:{POSTGRES_PORT + OFFSET}"
    admin = await asyncpg.connect(f"{server}/postgres")
    try:
        databases = [
            r[0]
            for r in await admin.fetch("SELECT datname FROM pg_database WHERE datname LIKE 'learnstream%'")
        ]
    finally:
        await admin.close()
    assert "learnstream_vault" in databases
    for database in databases:
        conn = await asyncpg.connect(f"{server}/{database}")
        try:
            tables = [
                r[0] for r in await conn.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
            ]
            for table in tables:
                for what, token in tokens.items():
                    hits = await conn.fetchval(
                        f'SELECT count(*) FROM "{table}" AS r WHERE strpos(r::text, $1) > 0',  # noqa: S608 - catalog names
                        token,
                    )
                    if hits:
                        found[what].append(f"{database}.{table}")
        finally:
            await conn.close()
    return found


async def in_clickhouse(platform: Platform, tokens: dict[str, str]) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {what: [] for what in tokens}
    tables = [
        row[0]
        for row in await platform.clickhouse(
            "SELECT name FROM system.tables WHERE database = currentDatabase() AND NOT is_temporary"
        )
    ]
    assert "events" in tables and "users" in tables
    for table in tables:
        for what, token in tokens.items():
            [[hits]] = await platform.clickhouse(
                f"SELECT count() FROM `{table}` AS r"  # noqa: S608 - names from system.tables
                " WHERE position(toString(tuple(*)), {t:String}) > 0",
                t=token,
            )
            if int(hits):
                found[what].append(table)
    return found


async def in_redis(tokens: dict[str, str]) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {what: [] for what in tokens}
    redis = Redis(host="127.0.0.1", port=REDIS_PORT + OFFSET)
    try:
        async for key in redis.scan_iter(count=1000):
            answer = await redis.type(key)
            kind = answer.decode() if isinstance(answer, bytes) else answer
            content: Any
            if kind == "string":
                content = [await redis.get(key)]
            elif kind == "hash":
                content = [*(await redis.hgetall(key)).items()]
            elif kind == "zset":
                content = await redis.zrange(key, 0, -1)
            elif kind == "set":
                content = list(await redis.smembers(key))
            elif kind == "list":
                content = await redis.lrange(key, 0, -1)
            elif kind == "stream":
                content = await redis.xrange(key)
            else:
                content = []
            text = repr((key, content))
            for what, token in tokens.items():
                if token in text:
                    found[what].append(key.decode())
    finally:
        await redis.aclose()
    return found


async def on_the_topics(tokens: dict[str, str], learner: str) -> tuple[dict[str, list[str]], int]:
    """Topics whose records hold a token in clear; and how many records about the learner
    carry a sealed field."""
    found: dict[str, list[str]] = {what: [] for what in tokens}
    sealed = 0
    records = await read_topics()
    assert {topic_name("identity"), topic_name("chat")} <= {topic for topic, _ in records}
    for topic, record in records:
        raw = (record.value or b"").decode("utf-8", "replace") + repr(record.headers)
        for what, token in tokens.items():
            if token in raw and topic not in found[what]:
                found[what].append(topic)
        if learner.encode() in (record.key or b"") and PREFIX in raw:
            sealed += 1
    return found, sealed


def in_files(platform: Platform, tokens: dict[str, str]) -> dict[str, list[str]]:
    """Kept files (exports' storage, the mail outbox) holding a token."""
    found: dict[str, list[str]] = {what: [] for what in tokens}
    for folder in ("exports", "outbox"):
        for path in sorted((platform.stack.data_dir / folder).rglob("*")):
            if path.is_file():
                content = path.read_bytes()
                for what, token in tokens.items():
                    if token.encode() in content:
                        found[what].append(str(path.relative_to(platform.stack.data_dir)))
    return found


async def everywhere(platform: Platform, someone: Person, learner: str) -> dict[str, dict[str, list[str]]]:
    tokens = someone.tokens
    topics, _ = await on_the_topics(tokens, learner)
    return {
        "postgres": await in_postgres(tokens),
        "clickhouse": await in_clickhouse(platform, tokens),
        "redis": await in_redis(tokens),
        "topics": topics,
        "files": in_files(platform, tokens),
    }


def places(found: dict[str, dict[str, list[str]]]) -> list[str]:
    return sorted(
        {f"{store}:{where}" for store, by in found.items() for hits in by.values() for where in hits}
    )


# --- the test ------------------------------------------------------------------------------------


async def test_an_erased_learner_is_unreadable_everywhere_and_stays_so_after_a_replay(
    platform: Platform,
) -> None:
    course = await platform.course()
    someone = person()
    signed = await platform.http.post(
        "/api/auth/dev-token",
        json={"email": f"{someone.email}@faults.test", "role": "student", "fullName": someone.name},
    )
    assert signed.status_code == 200, signed.text
    token = signed.json()["accessToken"]
    learner = signed.json()["user"]["id"]
    assert (await platform.call("POST", f"/api/courses/{course.id}/enroll", token)).status_code in (200, 201)
    tracked = await platform.call(
        "POST",
        "/api/learner/track-lesson",
        token,
        json={
            "courseId": course.id,
            "lessonId": course.lessons[0],
            "viewId": str(uuid.uuid4()),
            "timeSpentSeconds": 60,
            "completed": True,
        },
    )
    assert tracked.status_code == 200, tracked.text
    deadline = time.monotonic() + SETTLE
    while (
        chat := await platform.call("POST", "/api/chat/sessions", token, json={"courseId": course.id})
    ).status_code == 404:
        assert time.monotonic() < deadline, chat.text  # chat learns of the course from the bus
        await asyncio.sleep(0.5)
    assert chat.status_code in (200, 201), chat.text
    session = chat.json()["id"]
    asked = await platform.call(
        "POST",
        f"/api/chat/sessions/{session}/messages",
        token,
        json={"content": f"What does lesson one say about {someone.question}?"},
    )
    assert asked.status_code in (200, 201), asked.text
    renamed = await platform.call(
        "PATCH", f"/api/chat/sessions/{session}", token, json={"title": someone.title}
    )
    assert renamed.status_code == 200, renamed.text
    # someone who stays: their rows must come back after the replay
    other = await platform.token("student")
    assert (await platform.call("POST", f"/api/courses/{course.id}/enroll", other)).status_code in (200, 201)

    # before: in clear where the product needs it, sealed on the bus and in the event stores
    deadline = time.monotonic() + SETTLE
    while True:
        before = await everywhere(platform, someone, learner)
        needed = {
            "learnstream_gateway.users" in before["postgres"]["name"],
            "learnstream_chat.chat_messages" in before["postgres"]["question"],
            "users" in before["clickhouse"]["name"],
            "events" in before["clickhouse"]["question"],
            any(t.startswith("learnstream_achievements.") for t in before["postgres"]["name"]),
        }
        if needed == {True} or time.monotonic() > deadline:
            break
        await asyncio.sleep(2)
    assert needed == {True}, before
    # the instructor keeps a CSV of the course's students: it names the learner
    asked = await platform.call(
        "POST",
        "/api/creator/export",
        course.instructor,
        json={"type": "students", "format": "csv", "filters": {"status": "all"}},
    )
    assert asked.status_code == 202, asked.text
    deadline = time.monotonic() + SETTLE
    while (
        job := (
            await platform.call("GET", f"/api/exports/{asked.json()['exportId']}", course.instructor)
        ).json()
    )["status"] not in ("completed", "failed"):
        assert time.monotonic() < deadline, job
        await asyncio.sleep(0.5)
    assert job["status"] == "completed", job
    before = await everywhere(platform, someone, learner)
    assert before["files"]["name"], before["files"]
    assert before["topics"] == {what: [] for what in someone.tokens}, "personal data in clear on the bus"
    stores = [where for hits in before["postgres"].values() for where in hits]
    assert not [where for where in stores if where.endswith(".event_store")], stores
    _, sealed = await on_the_topics(someone.tokens, learner)
    assert sealed >= 3  # registered with the name, the question, the reply, the new title

    erased = await platform.call("DELETE", "/api/me", token)
    assert erased.status_code == 202, erased.text
    status_url = erased.json()["statusUrl"]
    deadline = time.monotonic() + SETTLE
    while (state := (await platform.http.get(status_url)).json())["status"] != "completed":
        assert time.monotonic() < deadline, state
        await asyncio.sleep(1)

    vault = await asyncpg.connect(
        f"postgresql://postgres@127.0.0.1:{POSTGRES_PORT + OFFSET}/learnstream_vault"
    )
    try:
        key = await vault.fetchrow("SELECT key, shredded_at FROM pii_keys WHERE subject_id = $1", learner)
    finally:
        await vault.close()
    assert key is not None and key["key"] is None and key["shredded_at"] is not None

    deadline = time.monotonic() + SETTLE
    while places(after := await everywhere(platform, someone, learner)) and time.monotonic() < deadline:  # noqa: ASYNC110 - polling other processes' stores
        await asyncio.sleep(2)
    assert places(after) == [], after
    _, still_sealed = await on_the_topics(someone.tokens, learner)
    assert still_sealed >= sealed  # the sealed copies are still there, and unreadable

    # replay every topic into analytics from its first offset
    analytics = f"http://127.0.0.1:{SERVICE_PORTS['analytics'] + OFFSET}"
    service = {"X-Service-Token": DEV_SERVICE_TOKEN}
    rebuilt = await platform.http.post(
        f"{analytics}/api/analytics/rebuild", params={"from": "topics"}, headers=service, timeout=120
    )
    assert rebuilt.status_code == 200, rebuilt.text
    stayer = "SELECT count() FROM events WHERE name = 'EnrollmentCreated' AND position(data, {c:String}) > 0"
    deadline = time.monotonic() + SETTLE
    while int((await platform.clickhouse(stayer, c=course.id))[0][0]) < 1:  # the other learner's
        assert time.monotonic() < deadline, "the replay did not bring the other learner back"
        await asyncio.sleep(0.5)
    since = datetime.now(UTC)
    while True:  # and every event published until then is in ClickHouse again
        fresh = (await platform.http.get(f"{analytics}/api/analytics/freshness", headers=service)).json()
        if fresh["asOf"] and datetime.fromisoformat(fresh["asOf"].replace("Z", "+00:00")) >= since:
            break
        assert time.monotonic() < deadline, fresh
        await asyncio.sleep(1)
    # the other learner's enrollment is back; the erased learner's is not
    assert int((await platform.clickhouse(stayer, c=course.id))[0][0]) == 1
    replayed = await everywhere(platform, someone, learner)
    assert places(replayed) == [], replayed

    REPORT.append(
        (
            "erasure (crypto-shredding) and a replay of every topic",
            f"name, email, question, title in clear in {len(places(before))} places"
            f" ({', '.join(places(before))});"
            f" {sealed} sealed records about the learner on the bus",
            f"after erasure: found in {len(places(after))} places; key shredded;"
            f" after replaying the topics: {len(places(replayed))}",
        )
    )

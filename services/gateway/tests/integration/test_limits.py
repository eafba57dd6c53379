"""Rate limits, token attacks, body size, CORS and the profile, against the real gateway app
with its PostgreSQL, broker and Redis (the context services are not needed here)."""

from __future__ import annotations

import asyncio
import base64
import json
import time
from collections.abc import AsyncIterator
from typing import Any
from uuid import uuid4

import httpx
import jwt
import pytest
from fastapi import FastAPI
from redis.asyncio import Redis

from learnstream.devstack.servers import free_port
from learnstream.devstack.testing import Infra, running
from learnstream.gateway.adapters.tokens import AUDIENCE, ISSUER
from learnstream.gateway.bootstrap import build
from learnstream.gateway.config import DEV_JWT_SECRET, Settings

pytestmark = pytest.mark.integration


def settings(infra: Infra, database_url: str, **overrides: Any) -> Settings:
    nowhere = f"http://127.0.0.1:{free_port()}"
    values: dict[str, Any] = {
        "env": "test",
        "service_name": f"gateway-{uuid4().hex[:8]}",
        "database_url": database_url,
        "kafka_bootstrap_servers": infra.kafka_bootstrap_servers,
        "redis_url": infra.redis_url,
        "trust_forwarded_for": True,
        **{f"{name}_url": nowhere for name in ("progress", "chat", "achievements", "analytics", "exports")},
    }
    return Settings(**{**values, **overrides})


@pytest.fixture(scope="module")
async def gateway(infra: Infra) -> AsyncIterator[tuple[httpx.AsyncClient, FastAPI]]:
    app = build(settings(infra, await infra.new_database("gateway")))
    async with running(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as http:
            yield http, app


async def dev_token(http: httpx.AsyncClient, role: str = "student") -> tuple[dict[str, str], dict[str, Any]]:
    answer = await http.post(
        "/api/auth/dev-token", json={"email": f"{role}-{uuid4().hex[:8]}@example.com", "role": role}
    )
    assert answer.status_code == 200, answer.text
    return {"Authorization": f"Bearer {answer.json()['accessToken']}"}, answer.json()["user"]


async def test_one_user_may_read_300_times_a_minute_and_then_waits(
    gateway: tuple[httpx.AsyncClient, FastAPI],
) -> None:
    http, _ = gateway
    ada, _ = await dev_token(http)
    bob, _ = await dev_token(http)
    statuses = [(await http.get("/api/me", headers=ada)) for _ in range(400)]
    allowed = sum(1 for r in statuses if r.status_code == 200)
    refused = [r for r in statuses if r.status_code == 429]
    # 300 at once, then one more every 200 ms while the 400 requests run
    assert 300 <= allowed < 340 and len(refused) == 400 - allowed
    first = refused[0]
    assert first.headers["content-type"].startswith("application/problem+json")
    assert 1 <= int(first.headers["Retry-After"]) <= 60
    assert "300 reads requests per 60 s" in first.json()["detail"]
    assert statuses[0].headers["RateLimit-Limit"] == "300"
    # another user is not affected
    assert (await http.get("/api/me", headers=bob)).status_code == 200


async def test_login_and_register_are_limited_per_address_and_the_dev_token_is_not(
    gateway: tuple[httpx.AsyncClient, FastAPI], infra: Infra
) -> None:
    http, _ = gateway
    address = {"X-Forwarded-For": f"203.0.113.{uuid4().int % 250}, 10.0.0.1"}
    # all at once, so the limit (30 a minute, one more every 2 s) is counted before any
    # password is checked and a slow machine's hashing cannot refill it meanwhile
    logins = [
        http.post(
            "/api/auth/login",
            json={"email": "nobody@example.com", "password": f"guess number {i}"},
            headers=address,
        )
        for i in range(35)
    ]
    register = http.post(
        "/api/auth/register",
        json={
            "email": f"r-{uuid4().hex[:6]}@example.com",
            "password": "correct horse battery",
            "fullName": "R",
        },
        headers=address,
    )
    *attempts, registered = await asyncio.gather(*logins, register)
    codes = [r.status_code for r in attempts]
    # the requests interleave, so the register may be one of the 30 let through; either
    # way it counted against the same address (30, or 31 if a slot refilled meanwhile)
    assert set(codes) == {401, 429} and registered.status_code in (201, 429)
    assert codes.count(401) + (registered.status_code == 201) in (30, 31), (codes, registered.status_code)
    refused = next(r for r in (*attempts, registered) if r.status_code == 429)
    assert refused.headers["content-type"].startswith("application/problem+json")
    assert "Retry-After" in refused.headers
    # the same address through another proxy hop is another client; dev tokens are never limited
    other = {"X-Forwarded-For": "198.51.100.7"}
    assert (
        await http.post(
            "/api/auth/login", json={"email": "nobody@example.com", "password": "x" * 12}, headers=other
        )
    ).status_code == 401
    for _ in range(40):
        assert (
            await http.post(
                "/api/auth/dev-token",
                json={"email": "demo@learnstream.dev", "role": "student"},
                headers=address,
            )
        ).status_code == 200
    # no rate-limit key is left without an expiry
    redis = Redis.from_url(infra.redis_url)
    keys = [key async for key in redis.scan_iter(match="learnstream:ratelimit:*")]
    assert keys
    ttls = [await redis.pttl(key) for key in keys]
    await redis.aclose()
    assert all(0 < ttl <= 60_000 for ttl in ttls), ttls


async def test_with_redis_down_limits_hold_per_replica_and_requests_are_served(infra: Infra) -> None:
    app = build(
        settings(infra, await infra.new_database("gateway"), redis_url=f"redis://127.0.0.1:{free_port()}/0")
    )
    async with (
        running(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gateway") as http,
    ):
        ada, _ = await dev_token(http)
        codes = [(await http.get("/api/me", headers=ada)).status_code for _ in range(330)]
        assert codes[:300] == [200] * 300 and codes[-1] == 429
        health = (await http.get("/health")).json()
        assert health["stores"]["redis"] != "ok"


def _forge(claims: dict[str, Any], *, secret: str = DEV_JWT_SECRET, algorithm: str = "HS256") -> str:
    return jwt.encode(claims, secret, algorithm=algorithm)


def _b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


async def test_forged_expired_and_foreign_tokens_are_refused(
    gateway: tuple[httpx.AsyncClient, FastAPI],
) -> None:
    http, _ = gateway
    headers, user = await dev_token(http)
    now = int(time.time())
    good = {
        "sub": user["id"],
        "role": "student",
        "iss": ISSUER,
        "aud": AUDIENCE,
        "iat": now,
        "exp": now + 600,
    }
    valid = headers["Authorization"].removeprefix("Bearer ")
    head, _payload, signature = valid.split(".")
    tampered_payload = _b64({**good, "role": "admin"})
    attacks = {
        "alg none": f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{_b64({**good, 'role': 'admin'})}.",
        "tampered payload": f"{head}.{tampered_payload}.{signature}",
        "expired": _forge({**good, "exp": now - 3600, "iat": now - 7200}),
        "wrong audience": _forge({**good, "aud": "someone-else"}),
        "wrong issuer": _forge({**good, "iss": "https://evil.example"}),
        "no expiry": _forge({k: v for k, v in good.items() if k != "exp"}),
        "other secret": _forge(good, secret="an-attackers-own-secret-0123456789abcdef"),
        "HS512": _forge(good, algorithm="HS512"),
        "unknown role": _forge({**good, "role": "root"}),
        "unknown user": _forge({**good, "sub": str(uuid4())}),
        "garbage": "not.a.token",
    }
    assert (await http.get("/api/me", headers={"Authorization": f"Bearer {_forge(good)}"})).status_code == 200
    for name, token in attacks.items():
        answer = await http.get("/api/me", headers={"Authorization": f"Bearer {token}"})
        assert answer.status_code == 401, name
        assert answer.headers["content-type"].startswith("application/problem+json"), name


async def test_a_body_over_the_cap_is_refused_with_413(gateway: tuple[httpx.AsyncClient, FastAPI]) -> None:
    http, _ = gateway
    headers, _ = await dev_token(http)
    big = b'{"events": [' + b'{"x": 1},' * 200_000 + b'{"x": 1}]}'
    declared = await http.post(
        "/api/learner/track-batch", content=big, headers={**headers, "Content-Type": "application/json"}
    )
    assert declared.status_code == 413
    assert declared.headers["content-type"].startswith("application/problem+json")

    async def chunks() -> AsyncIterator[bytes]:
        for start in range(0, len(big), 64_000):
            yield big[start : start + 64_000]

    streamed = await http.post(
        "/api/auth/register", content=chunks(), headers={"Content-Type": "application/json"}
    )
    assert streamed.status_code == 413
    assert "at most 1048576 bytes" in streamed.json()["detail"]


async def test_cors_answers_allowed_origins_only(gateway: tuple[httpx.AsyncClient, FastAPI]) -> None:
    http, _ = gateway
    preflight = {"Access-Control-Request-Method": "GET", "Access-Control-Request-Headers": "authorization"}
    allowed = await http.options("/api/me", headers={"Origin": "http://localhost:3000", **preflight})
    assert allowed.status_code == 200
    assert allowed.headers["access-control-allow-origin"] == "http://localhost:3000"
    assert "authorization" in allowed.headers["access-control-allow-headers"].lower()
    foreign = await http.options("/api/me", headers={"Origin": "https://evil.example", **preflight})
    assert "access-control-allow-origin" not in foreign.headers


async def test_the_profile_changes_and_says_so_on_the_bus(gateway: tuple[httpx.AsyncClient, FastAPI]) -> None:
    http, app = gateway
    headers, user = await dev_token(http)
    changed = await http.patch(
        "/api/me", json={"fullName": "  Ada   King ", "timezone": "Asia/Tokyo"}, headers=headers
    )
    assert changed.status_code == 200, changed.text
    assert (changed.json()["fullName"], changed.json()["timezone"]) == ("Ada King", "Asia/Tokyo")
    bad = await http.patch("/api/me", json={"timezone": "Mars/Base", "fullName": ""}, headers=headers)
    assert bad.status_code == 422
    assert {e["field"] for e in bad.json()["errors"]} == {"timezone", "fullName"}
    unknown = await http.patch("/api/me", json={"role": "admin"}, headers=headers)
    assert unknown.status_code == 422
    same = await http.patch("/api/me", json={"timezone": "Asia/Tokyo"}, headers=headers)
    assert same.status_code == 200

    from sqlalchemy import text

    from learnstream.runtime.db import create_engine

    engine = create_engine(app.state.runtime.settings.database_url)
    async with engine.connect() as conn:
        rows = await conn.execute(
            text("SELECT event_type, data FROM event_store WHERE stream_id = :s ORDER BY stream_version"),
            {"s": f"user-{user['id']}"},
        )
        events = [(row[0].split(".")[2], row[1]) for row in rows]
    await engine.dispose()
    assert [name for name, _ in events] == ["UserRegistered", "UserProfileChanged"]
    data = events[1][1] if isinstance(events[1][1], dict) else json.loads(events[1][1])
    assert (data["display_name"], data["timezone"]) == ("Ada King", "Asia/Tokyo")

"""Registering, logging in and the dev token against the real PostgreSQL and broker."""

from __future__ import annotations

from collections.abc import AsyncIterator
from uuid import uuid4

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text

from learnstream.devstack.testing import Infra, running
from learnstream.gateway.bootstrap import build
from learnstream.gateway.config import Settings
from learnstream.runtime.db import create_engine

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
async def gateway(infra: Infra) -> AsyncIterator[tuple[httpx.AsyncClient, FastAPI]]:
    settings = Settings(
        env="test",
        database_url=await infra.new_database("gateway"),
        kafka_bootstrap_servers=infra.kafka_bootstrap_servers,
        redis_url=infra.redis_url,
    )
    app = build(settings)
    async with running(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as http:
            yield http, app


def email() -> str:
    return f"ada-{uuid4().hex[:8]}@example.com"


async def test_a_new_user_registers_logs_in_and_sees_their_account(
    gateway: tuple[httpx.AsyncClient, FastAPI],
) -> None:
    http, app = gateway
    address = email()
    body = {
        "email": address,
        "password": "correct horse battery",
        "fullName": "Ada Lovelace",
        "timezone": "Europe/London",
    }
    registered = await http.post("/api/auth/register", json=body)
    assert registered.status_code == 201, registered.text
    user = registered.json()["user"]
    assert (user["email"], user["role"], user["fullName"], user["timezone"]) == (
        address,
        "student",
        "Ada Lovelace",
        "Europe/London",
    )

    logged_in = await http.post(
        "/api/auth/login", json={"email": address.upper(), "password": "correct horse battery"}
    )
    assert logged_in.status_code == 200, logged_in.text
    token = logged_in.json()["accessToken"]
    me = await http.get("/api/me", headers={"Authorization": f"Bearer {token}"})
    assert me.json()["id"] == user["id"]

    engine = create_engine(app.state.runtime.settings.database_url)
    async with engine.connect() as conn:
        stored = await conn.execute(
            text("SELECT event_type FROM event_store WHERE stream_id = :s"), {"s": f"user-{user['id']}"}
        )
        assert [row[0] for row in stored] == ["learnstream.identity.UserRegistered.v1"]
    await engine.dispose()


async def test_bad_registrations_and_logins_are_refused_clearly(
    gateway: tuple[httpx.AsyncClient, FastAPI],
) -> None:
    http, _ = gateway
    address = email()
    good = {"email": address, "password": "correct horse battery", "fullName": "Ada"}
    assert (await http.post("/api/auth/register", json=good)).status_code == 201
    again = await http.post("/api/auth/register", json={**good, "email": address.upper()})
    assert again.status_code == 409
    weak = await http.post(
        "/api/auth/register", json={**good, "email": email(), "password": "short", "timezone": "Mars/Base"}
    )
    assert weak.status_code == 422
    assert {e["field"] for e in weak.json()["errors"]} == {"password", "timezone"}
    admin = await http.post("/api/auth/register", json={**good, "email": email(), "role": "admin"})
    assert admin.status_code == 422
    wrong = await http.post("/api/auth/login", json={"email": address, "password": "wrong horse battery"})
    unknown = await http.post("/api/auth/login", json={"email": email(), "password": "correct horse battery"})
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json()["detail"] == unknown.json()["detail"]
    for header in ["", "Bearer", "Bearer garbage", "Basic abc"]:
        response = await http.get("/api/me", headers={"Authorization": header} if header else {})
        assert response.status_code == 401
        assert response.headers["content-type"].startswith("application/problem+json")


async def test_the_dev_token_makes_demo_accounts(gateway: tuple[httpx.AsyncClient, FastAPI]) -> None:
    http, _ = gateway
    address = f"demo-{uuid4().hex[:6]}@learnstream.dev"
    first = await http.post("/api/auth/dev-token", json={"email": address, "role": "instructor"})
    second = await http.post("/api/auth/dev-token", json={"email": address, "role": "admin"})
    assert first.status_code == second.status_code == 200
    assert first.json()["user"]["id"] == second.json()["user"]["id"]
    assert second.json()["user"]["role"] == "instructor"  # an existing account keeps its role


async def test_outside_dev_mode_the_dev_token_route_does_not_exist() -> None:
    settings = Settings(
        env="prod",
        vault_url="postgresql+asyncpg://nobody@127.0.0.1:1/learnstream_vault",
        service_token="a-real-service-token-for-this-test",
        jwt_secret="a-real-jwt-secret-for-this-test-0123456789",
    )
    app = build(settings)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gateway") as http:
        response = await http.post("/api/auth/dev-token", json={"email": "x@example.com", "role": "admin"})
    assert response.status_code == 404
    assert "/api/auth/dev-token" not in app.openapi()["paths"]

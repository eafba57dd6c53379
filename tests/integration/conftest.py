"""The gateway with the progress, chat, achievements, analytics and exports services
behind it, as real HTTP servers. Chat runs its offline course-notes assistant; exports
keeps its files in a temporary directory.
"""

from __future__ import annotations

import asyncio
import contextlib
import tempfile
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from uuid import uuid4

import httpx
import pytest
import uvicorn

from learnstream.achievements.bootstrap import build as build_achievements
from learnstream.achievements.config import Settings as AchievementsSettings
from learnstream.analytics.bootstrap import build as build_analytics
from learnstream.analytics.config import Settings as AnalyticsSettings
from learnstream.chat.bootstrap import build as build_chat
from learnstream.chat.config import Settings as ChatSettings
from learnstream.devstack.servers import free_port
from learnstream.devstack.testing import Infra
from learnstream.exports.bootstrap import build as build_exports
from learnstream.exports.config import Settings as ExportsSettings
from learnstream.gateway.bootstrap import build as build_gateway
from learnstream.gateway.config import Settings as GatewaySettings
from learnstream.progress.bootstrap import build as build_progress
from learnstream.progress.config import Settings as ProgressSettings


async def serve(app: Any, port: int) -> tuple[uvicorn.Server, asyncio.Task[None]]:
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, log_config=None, lifespan="on", timeout_graceful_shutdown=5
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:
        assert not task.done(), "server did not start"
        await asyncio.sleep(0.05)
    return server, task


@dataclass
class Stack:
    http: httpx.AsyncClient
    base_url: str
    gateway_settings: GatewaySettings
    exports_settings: ExportsSettings
    servers: dict[str, tuple[uvicorn.Server, asyncio.Task[None]]] = field(default_factory=dict)

    async def stop(self, name: str) -> None:
        server, task = self.servers.pop(name)
        server.should_exit = True
        await task

    async def token(self, role: str, *, name: str | None = None) -> dict[str, str]:
        body: dict[str, Any] = {"email": f"{role}-{uuid4().hex[:8]}@example.com", "role": role}
        if name:
            body["fullName"] = name
        answer = await self.http.post("/api/auth/dev-token", json=body)
        assert answer.status_code == 200, answer.text
        return {"Authorization": f"Bearer {answer.json()['accessToken']}"}


async def start_stack(infra: Infra, clickhouse_url: str, **gateway: Any) -> Stack:
    names = ("gateway", "progress", "chat", "achievements", "analytics", "exports")
    ports = {name: free_port() for name in names}
    common = {"env": "test", "kafka_bootstrap_servers": infra.kafka_bootstrap_servers}
    progress = build_progress(
        ProgressSettings(
            **common,
            # a consumer group of its own per stack, like analytics and the gateway below
            service_name=f"progress-{uuid4().hex[:8]}",
            database_url=await infra.new_database("progress"),
            outbox_poll_interval_seconds=0.05,
        )
    )
    chat = build_chat(
        ChatSettings(
            **common,
            service_name=f"chat-{uuid4().hex[:8]}",
            database_url=await infra.new_database("chat"),
            outbox_poll_interval_seconds=0.05,
        )
    )
    achievements = build_achievements(
        AchievementsSettings(
            **common,
            service_name=f"achievements-{uuid4().hex[:8]}",
            database_url=await infra.new_database("achievements"),
            redis_url=infra.redis_url,
            # boards of their own per stack: the Redis server is shared by the test session
            leaderboard_key_prefix=f"test:{uuid4().hex[:8]}:leaderboard",
            outbox_poll_interval_seconds=0.05,
        )
    )
    analytics = build_analytics(
        AnalyticsSettings(
            **common,
            service_name=f"analytics-{uuid4().hex[:8]}",
            database_url=await infra.new_database("analytics"),
            clickhouse_url=clickhouse_url,
            clickhouse_database=f"gw_{uuid4().hex[:8]}",
            projection_max_wait_ms=50,
        )
    )
    exports_settings = ExportsSettings(
        **common,
        service_name=f"exports-{uuid4().hex[:8]}",
        http_port=ports["exports"],
        database_url=await infra.new_database("exports"),
        analytics_url=f"http://127.0.0.1:{ports['analytics']}",
        public_base_url=f"http://127.0.0.1:{ports['gateway']}",
        export_storage_dir=Path(tempfile.mkdtemp(prefix="learnstream-exports-")),
        mail_outbox_dir=Path(tempfile.mkdtemp(prefix="learnstream-outbox-")),
        gateway_url=f"http://127.0.0.1:{ports['gateway']}",
        # digests are sent when a test asks (POST /internal/digests/send-due)
        digest_enabled=False,
        digest_weekday=0,
        digest_hour=0,  # due at any time of the week
        outbox_poll_interval_seconds=0.05,
    )
    exports = build_exports(exports_settings)
    settings = GatewaySettings(
        **common,
        service_name=f"gateway-{uuid4().hex[:8]}",
        database_url=await infra.new_database("gateway"),
        redis_url=infra.redis_url,
        progress_url=f"http://127.0.0.1:{ports['progress']}",
        analytics_url=f"http://127.0.0.1:{ports['analytics']}",
        chat_url=f"http://127.0.0.1:{ports['chat']}",
        achievements_url=f"http://127.0.0.1:{ports['achievements']}",
        exports_url=f"http://127.0.0.1:{ports['exports']}",
        outbox_poll_interval_seconds=0.05,
        **gateway,
    )
    base_url = f"http://127.0.0.1:{ports['gateway']}"
    stack = Stack(httpx.AsyncClient(base_url=base_url, timeout=10), base_url, settings, exports_settings)
    stack.servers["progress"] = await serve(progress, ports["progress"])
    stack.servers["chat"] = await serve(chat, ports["chat"])
    stack.servers["achievements"] = await serve(achievements, ports["achievements"])
    stack.servers["analytics"] = await serve(analytics, ports["analytics"])
    stack.servers["exports"] = await serve(exports, ports["exports"])
    stack.servers["gateway"] = await serve(build_gateway(settings), ports["gateway"])
    return stack


async def stop_stack(stack: Stack) -> None:
    await stack.http.aclose()
    for name in ("gateway", "exports", "analytics", "achievements", "chat", "progress"):
        if name in stack.servers:
            await stack.stop(name)


WARM_COURSE = {
    "title": "Warm-up",
    "description": "Probe",
    "category": "probe",
    "difficulty": "beginner",
    "sections": [{"title": "S", "lessons": [{"title": "L", "contentType": "article", "durationSeconds": 1}]}],
}


async def warm_up(stack: Stack, timeout: float = 180.0) -> None:
    """Wait until the stack's new consumer groups have joined their topics.

    The gateway's notifier group starts at the end of each topic, so it only sees events
    published after it has joined; the analytics projection and the contexts' consumers
    must have joined too before a test counts on them. A live update and an erasure round
    trip through a probe course prove both.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    teacher = await stack.token("instructor")
    course = (await stack.http.post("/api/instructor/courses", json=WARM_COURSE, headers=teacher)).json()
    await stack.http.post(f"/api/instructor/courses/{course['id']}/publish", headers=teacher)
    probe = await stack.token("student")
    path = f"/api/courses/{course['id']}/enroll"
    async with (
        httpx.AsyncClient(base_url=stack.base_url, timeout=httpx.Timeout(10, read=5)) as http,
        http.stream("GET", "/api/stream", headers=probe) as stream,
    ):
        lines = stream.aiter_lines()
        live = False
        while not live:
            assert loop.time() < deadline, "the gateway's live updates never started"
            await stack.http.delete(path, headers=probe)
            await stack.http.post(path, headers=probe)
            with contextlib.suppress(TimeoutError, httpx.ReadTimeout):
                async with asyncio.timeout(3):
                    async for line in lines:
                        if line.startswith("event: progress.changed"):
                            live = True
                            break
    erased = (await stack.http.delete("/api/me", headers=probe)).json()
    while True:
        status = (await stack.http.get(erased["statusUrl"])).json()
        confirmed = {n for n, c in status["contexts"].items() if c["status"] == "confirmed"}
        if {"progress", "chat", "achievements", "analytics", "exports"} <= confirmed:
            return
        assert loop.time() < deadline, f"the stack did not catch up with the broker: {status}"
        await asyncio.sleep(1.0)


@pytest.fixture(scope="module")
async def stack(infra: Infra, clickhouse_url: str) -> AsyncIterator[Stack]:
    running = await start_stack(infra, clickhouse_url)
    try:
        await warm_up(running)
        yield running
    finally:
        await stop_stack(running)

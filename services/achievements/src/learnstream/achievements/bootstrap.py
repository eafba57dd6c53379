"""Wires the achievements service: settings, runtime, Redis, service layer, routes and subscribers."""

from __future__ import annotations

import functools

from fastapi import FastAPI
from redis.asyncio import Redis

from learnstream.achievements import __doc__ as _PACKAGE_DOC
from learnstream.achievements.adapters.leaderboards import Leaderboards
from learnstream.achievements.config import Settings
from learnstream.achievements.entrypoints import http, subscribers
from learnstream.achievements.service_layer.services import AchievementsService
from learnstream.runtime.service import Runtime, create_app

_DESCRIPTION = (_PACKAGE_DOC or "").strip()


def build(settings: Settings | None = None) -> FastAPI:
    """The achievements service's ASGI app."""
    settings = settings or Settings()
    runtime = Runtime.build(
        settings, migration_packages=["learnstream.achievements"], publishes=["achievements"]
    )
    redis = Redis.from_url(settings.redis_url, socket_timeout=2.0, socket_connect_timeout=2.0)
    leaderboards = Leaderboards(redis, prefix=settings.leaderboard_key_prefix)
    service = AchievementsService(
        runtime.sessions, runtime.reads, runtime.snapshots, runtime.store, leaderboards
    )

    async def redis_answers() -> None:
        if not await redis.ping():
            raise ConnectionError("Redis did not answer PING")

    runtime.checks["redis"] = redis_answers
    runtime.on_shutdown.append(redis.aclose)
    runtime.background.append(functools.partial(service.maintain, settings.maintenance_interval_seconds))
    subscribers.register(runtime.consumer, service)
    app = create_app(
        runtime,
        title="Learnstream achievements service",
        description=_DESCRIPTION,
        routers=[http.build_router(service, settings.service_token.get_secret_value())],
    )
    app.state.achievements = service
    return app

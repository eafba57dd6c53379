"""Wires the gateway: settings, runtime, context-service clients, Redis, routes."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

from learnstream.gateway import __doc__ as _PACKAGE_DOC
from learnstream.gateway.adapters import redis as redis_adapter
from learnstream.gateway.adapters.services import ContextServices
from learnstream.gateway.adapters.tokens import Tokens
from learnstream.gateway.adapters.users import UserRepository
from learnstream.gateway.config import Settings
from learnstream.gateway.entrypoints import http, subscribers
from learnstream.gateway.service_layer.health import platform_health
from learnstream.gateway.service_layer.identity import IdentityService
from learnstream.runtime.service import Runtime, create_app

_DESCRIPTION = (_PACKAGE_DOC or "").strip()


def build(settings: Settings | None = None) -> FastAPI:
    """The gateway's ASGI app."""
    settings = settings or Settings()
    runtime = Runtime.build(settings, migration_packages=["learnstream.gateway"], publishes=["identity"])
    services = ContextServices(
        settings.service_urls(),
        service_token=settings.service_token.get_secret_value(),
        timeout=settings.upstream_timeout_seconds,
    )
    redis = redis_adapter.connect(settings.redis_url)
    runtime.checks["redis"] = lambda: redis_adapter.ping(redis)
    runtime.on_shutdown += [services.close, redis.aclose]
    subscribers.register(runtime.consumer)

    async def health(rt: Runtime) -> tuple[int, dict[str, Any]]:
        own = {
            "database": rt.check_database,
            "broker": rt.check_broker,
            "background": rt.check_background,
            **rt.checks,
        }
        return await platform_health(services, own)

    tokens = Tokens(settings.jwt_secret.get_secret_value())
    identity = IdentityService(runtime.sessions, UserRepository(runtime.store), tokens)
    app = create_app(
        runtime,
        title="Learnstream gateway",
        description=_DESCRIPTION,
        routers=[http.build_router(identity, tokens, services, dev=settings.is_dev)],
        health=health,
    )
    http.install_error_handlers(app)
    return app

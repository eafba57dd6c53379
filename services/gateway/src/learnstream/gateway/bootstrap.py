"""Wires the gateway: settings, runtime, context-service clients, Redis, limits, live updates, routes."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware

from learnstream.gateway import __doc__ as _PACKAGE_DOC
from learnstream.gateway.adapters import redis as redis_adapter
from learnstream.gateway.adapters.live import LiveHub
from learnstream.gateway.adapters.ratelimit import Limit, RateLimiter
from learnstream.gateway.adapters.services import ContextServices
from learnstream.gateway.adapters.tokens import Tokens
from learnstream.gateway.adapters.users import UserRepository
from learnstream.gateway.config import Settings
from learnstream.gateway.entrypoints import docs, http, subscribers, web
from learnstream.gateway.entrypoints.security import Guard, Limits, RateLimitHeaders
from learnstream.gateway.service_layer.composition import Composer
from learnstream.gateway.service_layer.erasure import ErasureTracker
from learnstream.gateway.service_layer.health import platform_health
from learnstream.gateway.service_layer.identity import IdentityService
from learnstream.runtime.consumer import EventConsumer
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
    live = LiveHub(redis, max_streams_per_user=settings.max_streams_per_user)
    runtime.background.append(live.listen)
    erasures = ErasureTracker(runtime.sessions, services)
    notifier = EventConsumer(
        f"{settings.service_name}-live",
        runtime.sessions,
        runtime.publisher,
        max_attempts=2,
        exactly_once=False,
        from_start=False,
    )
    subscribers.register(runtime.consumer, notifier, live, erasures)
    notifier.attach(runtime.router)

    async def health(rt: Runtime) -> tuple[int, dict[str, Any]]:
        own = {
            "database": rt.check_database,
            "broker": rt.check_broker,
            "background": rt.check_background,
            **rt.checks,
        }
        return await platform_health(services, own)

    tokens = Tokens(settings.jwt_secret.get_secret_value())
    identity = IdentityService(runtime.sessions, UserRepository(runtime.store), tokens, vault=runtime.vault)
    limits = Limits(
        reads=Limit("reads", settings.rate_limit_reads_per_minute),
        tracking=Limit("tracking", settings.rate_limit_tracking_per_minute),
        auth=Limit("auth", settings.rate_limit_auth_per_minute),
    )
    guard = Guard(
        tokens, identity, RateLimiter(redis), limits, trust_forwarded_for=settings.trust_forwarded_for
    )
    composer = Composer(services, timeout=settings.compose_timeout_seconds)
    router = http.build_router(
        identity,
        guard,
        services,
        composer,
        live,
        erasures,
        dev=settings.is_dev,
        service_token=settings.service_token.get_secret_value(),
    )
    app = create_app(
        runtime,
        title="Learnstream gateway",
        description=_DESCRIPTION,
        routers=[router],
        health=health,
    )
    http.install_error_handlers(app)
    web.install(app, dev=settings.is_dev)
    api_docs = docs.ApiDocs(services)
    runtime.background.append(api_docs.collect)
    docs.install(app, api_docs)
    app.add_middleware(RateLimitHeaders)
    app.add_middleware(
        CORSMiddleware,
        allow_origins=settings.allowed_origins(),
        allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
        allow_headers=["Authorization", "Content-Type", "Last-Event-ID", "Accept"],
        expose_headers=["Retry-After", "RateLimit-Limit", "RateLimit-Remaining", "Location"],
        max_age=600,
    )
    return app

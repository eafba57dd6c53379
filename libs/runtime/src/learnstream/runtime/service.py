"""The one way a Learnstream service is assembled: FastAPI + FastStream + the runtime.

``Runtime`` wires a service's dependencies (database, event store, outbox relay,
consumer, Kafka router); ``create_app`` turns it into an ASGI app with ``/health``,
``/metrics``, ``/asyncapi`` (the service's AsyncAPI document), problem+json errors
and traces; ``serve`` runs it with uvicorn. Every service's ``bootstrap.py`` calls
these three, so someone who knows one service knows them all.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import gc
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from fastapi import APIRouter, Depends, FastAPI
from fastapi.responses import JSONResponse
from faststream.kafka.fastapi import KafkaRouter
from faststream.kafka.opentelemetry import KafkaTelemetryMiddleware
from faststream.kafka.prometheus import KafkaPrometheusMiddleware
from prometheus_client import REGISTRY
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from learnstream.events import events_of_topic, topic_name
from learnstream.runtime import failpoints
from learnstream.runtime.bus import KafkaPublisher, log_is_empty
from learnstream.runtime.consumer import EventConsumer
from learnstream.runtime.db import (
    Migration,
    create_engine,
    migrate,
    package_migrations,
    session_factory,
)
from learnstream.runtime.eventstore import EventStore
from learnstream.runtime.limits import (
    BodySizeLimit,
    CancelAbandonedReads,
    admission,
    protocol_with_head_limits,
)
from learnstream.runtime.outbox import OutboxRelay
from learnstream.runtime.problems import install_problem_handlers
from learnstream.runtime.projection import BatchProjection
from learnstream.runtime.settings import ServiceSettings
from learnstream.runtime.telemetry import configure_logging, configure_tracing, instrument_http
from learnstream.runtime.vault import KeyVault

log = logging.getLogger(__name__)

HealthCheck = Callable[[], Awaitable[None]]
"""Raises (with a reason) when a dependency is not usable."""

Hook = Callable[[], Awaitable[None]]


@dataclass
class Runtime:
    """Everything a service's bootstrap wires together."""

    settings: ServiceSettings
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    reads: async_sessionmaker[AsyncSession]
    """Sessions without a transaction (each statement on its own): for a read that is one
    statement, two round trips fewer (no BEGIN, no ROLLBACK)."""
    snapshots: async_sessionmaker[AsyncSession]
    """REPEATABLE READ sessions, for a read of several statements that must agree with each
    other (one snapshot: a handler committing meanwhile is seen by all of them or none)."""
    store: EventStore
    publisher: KafkaPublisher
    relay: OutboxRelay
    consumer: EventConsumer
    router: KafkaRouter
    migrations: list[Migration]
    vault: KeyVault | None = None
    """Per-person keys of personal fields (None when the deployment runs without a vault)."""
    checks: dict[str, HealthCheck] = field(default_factory=dict)
    projections: list[BatchProjection] = field(default_factory=list)
    on_startup: list[Hook] = field(default_factory=list)
    on_shutdown: list[Hook] = field(default_factory=list)
    background: list[Callable[[], Awaitable[None]]] = field(default_factory=list)
    tasks: list[asyncio.Task[None]] = field(default_factory=list)

    @classmethod
    def build(
        cls,
        settings: ServiceSettings,
        *,
        migration_packages: Sequence[str] = (),
        publishes: Sequence[str] = (),
        custom_plans: bool = False,
    ) -> Runtime:
        """Wire the runtime of ``settings.service_name``.

        ``migration_packages`` are the service packages whose ``migrations/*.sql``
        run after the runtime's own; ``publishes`` names the contexts whose topics
        this service writes (documented in its AsyncAPI); ``custom_plans``: see
        :func:`~learnstream.runtime.db.create_engine`.
        """
        configure_logging(settings.service_name, level=settings.log_level, fmt=settings.log_format)
        failpoints.configure(settings.failpoint_dir, settings.service_name)
        tracer_provider = configure_tracing(settings.service_name)
        engine = create_engine(
            settings.database_url, pool_size=settings.database_pool_size, custom_plans=custom_plans
        )
        sessions = session_factory(engine)
        publisher = KafkaPublisher(
            settings.kafka_bootstrap_servers,
            idempotent=settings.kafka_idempotent_producer,
            client_id=f"learnstream-{settings.service_name}",
        )
        router = KafkaRouter(
            settings.kafka_bootstrap_servers,
            client_id=f"learnstream-{settings.service_name}",
            schema_url="/asyncapi",
            middlewares=[
                KafkaTelemetryMiddleware(tracer_provider=tracer_provider),
                KafkaPrometheusMiddleware(registry=REGISTRY, app_name=settings.service_name),
            ],
            acks="all",
            enable_idempotence=settings.kafka_idempotent_producer,
            # FastStream logs every message received and processed; at INFO that is a line
            # per event (per batch for projections), which drowns the service's own logs
            log_level=logging.DEBUG,
        )
        for context in publishes:
            _document_publisher(router, context)
        migrations = package_migrations("learnstream.runtime")
        for package in migration_packages:
            migrations += package_migrations(package)
        relay = OutboxRelay(
            engine,
            publisher,
            source=settings.source,
            batch_size=settings.outbox_batch_size,
            poll_interval=settings.outbox_poll_interval_seconds,
            idle_interval=settings.outbox_idle_poll_seconds,
        )
        vault = KeyVault(create_engine(settings.vault_url, pool_size=2)) if settings.vault_url else None
        store = EventStore(vault=vault)
        store.on_commit(relay.wake)
        return cls(
            settings=settings,
            engine=engine,
            sessions=sessions,
            reads=session_factory(engine.execution_options(isolation_level="AUTOCOMMIT")),
            snapshots=session_factory(engine.execution_options(isolation_level="REPEATABLE READ")),
            store=store,
            publisher=publisher,
            relay=relay,
            consumer=EventConsumer(
                settings.service_name,
                sessions,
                publisher,
                max_attempts=settings.consumer_max_attempts,
                backoff_seconds=settings.consumer_backoff_seconds,
                max_batch=settings.consumer_batch_size,
                vault=vault,
            ),
            router=router,
            migrations=migrations,
            vault=vault,
        )

    async def check_database(self) -> None:
        async with self.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))

    async def check_vault(self) -> None:
        if self.vault is not None:
            await self.vault.check()

    async def check_background(self) -> None:
        """The relay and other background jobs are still running."""
        stopped = [task.get_name() for task in self.tasks if task.done()]
        if stopped:
            raise RuntimeError(f"background jobs stopped: {', '.join(stopped)}")

    async def check_broker(self) -> None:
        if not await self.router.broker.ping(timeout=2.0):
            raise ConnectionError(f"Kafka at {self.settings.kafka_bootstrap_servers} is unreachable")


def _document_publisher(router: KafkaRouter, context: str) -> None:
    """Declare a publisher so the AsyncAPI document lists the topic and its event schemas."""
    topic = topic_name(context)
    models = events_of_topic(topic)
    if not models:
        return
    schema: Any = models[0]
    for model in models[1:]:
        schema = schema | model
    router.publisher(
        topic,
        title=f"{topic}:publisher",
        description=(
            f"Domain events of the {context} context (CloudEvents binary mode; "
            f"`ce_type` names the event): {', '.join(m.event_name() for m in models)}. "
            "Published by the outbox relay, keyed by "
            f"`{models[0].key_field}`."
        ),
        schema=schema,
    )


async def _run_forever(name: str, job: Callable[[], Awaitable[None]]) -> None:
    try:
        await job()
    except asyncio.CancelledError:
        raise
    except Exception:
        log.exception("background job %s stopped", name)
        raise


def create_app(
    runtime: Runtime,
    *,
    title: str,
    description: str,
    routers: Sequence[APIRouter] = (),
    health: Callable[[Runtime], Awaitable[tuple[int, dict[str, Any]]]] | None = None,
    streamed_bodies: Sequence[str] = (),
    cancel_abandoned_reads: bool = False,
) -> FastAPI:
    """The service's ASGI app; ``health`` replaces the default ``/health`` (the gateway's).
    ``streamed_bodies``: paths whose handlers read the body as a stream, a part at a time,
    behind the service credential (not capped by ``max_body_bytes``).
    ``cancel_abandoned_reads``: stop a GET whose caller went away (costly reports)."""
    settings = runtime.settings

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        await migrate(runtime.engine, runtime.migrations)
        if runtime.vault is not None:
            await runtime.vault.create()
        await runtime.publisher.start()
        for hook in runtime.on_startup:
            await hook()
        relay = functools.partial(
            runtime.relay.run,
            functools.partial(log_is_empty, settings.kafka_bootstrap_servers),
            runtime.publisher.log_was_lost,
        )
        tasks = [asyncio.create_task(_run_forever("outbox-relay", relay), name="outbox-relay")]
        for job in runtime.background:
            name = str(getattr(job, "__name__", "") or getattr(getattr(job, "func", None), "__name__", "job"))
            tasks.append(asyncio.create_task(_run_forever(name, job), name=name))
        runtime.tasks = tasks
        if getattr(_app.state, "freeze_gc", False):
            # what startup built lives as long as the process: kept out of the collector's
            # sight, a full collection during a request no longer walks all of it
            gc.collect()
            gc.freeze()
        log.info("service started", extra={"port": settings.http_port})
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            for hook in runtime.on_shutdown:
                try:
                    await hook()
                except Exception:
                    log.exception("shutdown hook %s failed", getattr(hook, "__qualname__", hook))
            await runtime.publisher.stop()
            await runtime.engine.dispose()
            if runtime.vault is not None:
                await runtime.vault.close()

    app = FastAPI(title=title, description=description, version="1.0.0", lifespan=lifespan)
    app.state.runtime = runtime
    install_problem_handlers(app)
    app.add_middleware(
        BodySizeLimit,
        max_bytes=settings.max_body_bytes,
        streamed_paths=streamed_bodies,
        body_timeout=settings.request_body_timeout_seconds,
        min_rate=settings.request_body_min_bytes_per_second,
    )
    if cancel_abandoned_reads:
        app.add_middleware(CancelAbandonedReads)
    runtime.consumer.attach(runtime.router)
    for projection in runtime.projections:
        projection.attach(runtime.router)
    app.include_router(runtime.router)
    admitted = Depends(
        admission(
            settings.max_concurrent_requests, settings.admission_wait_seconds, streamed_paths=streamed_bodies
        ),
        scope="function",
    )
    for router in routers:
        app.include_router(router, dependencies=[admitted])

    @app.get("/health", tags=["operations"], summary="Liveness and dependencies of this service")
    async def service_health() -> JSONResponse:
        """Whether this service, its database, its broker connection and extra stores work."""
        if health is not None:
            status, body = await health(runtime)
        else:
            status, body = await default_health(runtime)
        return JSONResponse(body, status_code=status)

    @app.get("/readyz", tags=["operations"], summary="Readiness: this service's own dependencies")
    async def readiness() -> JSONResponse:
        """Whether this process can serve: its own database, broker and stores (never other services)."""
        status, body = await default_health(runtime, readiness=True)
        return JSONResponse(body, status_code=status)

    @app.get("/livez", tags=["operations"], summary="Liveness: the process answers")
    async def liveness() -> dict[str, str]:
        """Always ok while the event loop runs; orchestrators restart the process otherwise."""
        return {"status": "ok"}

    instrument_http(app, configure_tracing(settings.service_name))
    return app


async def run_checks(checks: dict[str, HealthCheck], timeout: float = 3.0) -> dict[str, str]:
    """Run health checks in parallel: ``ok`` or the reason each failed."""

    async def one(check: HealthCheck) -> str:
        try:
            await asyncio.wait_for(check(), timeout)
        except TimeoutError:
            return f"timed out after {timeout:.0f}s"
        except Exception as exc:
            return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        return "ok"

    results = await asyncio.gather(*(one(check) for check in checks.values()))
    return dict(zip(checks, results, strict=True))


async def default_health(runtime: Runtime, *, readiness: bool = False) -> tuple[int, dict[str, Any]]:
    """Every dependency's check. For readiness the key vault is left out: every service shares
    it, so an outage of it would take every pod out of service, while only the requests and
    events with personal fields need it (they answer 503 or wait meanwhile)."""
    vault = runtime.vault is not None and not readiness
    checks = {
        "database": runtime.check_database,
        **({"vault": runtime.check_vault} if vault else {}),
        "broker": runtime.check_broker,
        "background": runtime.check_background,
        **runtime.checks,
    }
    results = await run_checks(checks)
    healthy = all(result == "ok" for result in results.values())
    body = {
        "status": "ok" if healthy else "degraded",
        "service": runtime.settings.service_name,
        "checks": results,
    }
    return (200 if healthy else 503), body


def serve(app: FastAPI, settings: ServiceSettings) -> None:
    """Run the service with uvicorn on its configured address (its own process: what the
    startup made is frozen out of the garbage collector's full collections)."""
    app.state.freeze_gc = True
    uvicorn.run(
        app,
        host=settings.http_host,
        port=settings.http_port,
        # uvicorn's own protocol, with a deadline and a size cap for each request's headers
        http=protocol_with_head_limits(
            timeout=settings.request_header_timeout_seconds, max_head_bytes=settings.max_head_bytes
        ),
        log_config=None,
        access_log=False,
        lifespan="on",
    )


__all__ = [
    "Runtime",
    "create_app",
    "default_health",
    "run_checks",
    "serve",
]

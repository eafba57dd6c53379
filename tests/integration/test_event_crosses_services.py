"""An event appended in one service's store reaches another service over Kafka, once,
in the trace of the request that caused it.

Given two services with their own databases on the real embedded broker: the
producer appends to its event store, its outbox relay publishes (twice, as after a
crash between the broker's ack and the relay's bookkeeping), and the consumer
applies the event exactly once.
"""

from __future__ import annotations

import asyncio
import time
import uuid

import pytest
from faststream.kafka import KafkaBroker
from faststream.kafka.opentelemetry import KafkaTelemetryMiddleware
from opentelemetry import trace
from prometheus_client import REGISTRY
from sqlalchemy import text

from learnstream.devstack.testing import Infra
from learnstream.events.identity import UserRegistered
from learnstream.runtime.bus import KafkaPublisher
from learnstream.runtime.consumer import EventConsumer, HandlerContext
from learnstream.runtime.db import create_engine, migrate, package_migrations, session_factory
from learnstream.runtime.eventstore import EventStore
from learnstream.runtime.outbox import OutboxRelay
from learnstream.runtime.telemetry import configure_tracing

pytestmark = pytest.mark.integration


def duplicates_seen(consumer: str) -> float:
    value = REGISTRY.get_sample_value(
        "learnstream_consumer_messages_total",
        {"consumer": consumer, "topic": "learnstream.identity", "outcome": "duplicate"},
    )
    return value or 0.0


async def test_an_event_arrives_at_another_service_exactly_once(infra: Infra, unique) -> None:  # type: ignore[no-untyped-def]
    producer_db = create_engine(await infra.new_database("producer"))
    consumer_db = create_engine(await infra.new_database("consumer"))
    for engine in (producer_db, consumer_db):
        await migrate(engine, package_migrations("learnstream.runtime"))
    async with consumer_db.begin() as conn:
        await conn.execute(text("CREATE TABLE learners (user_id uuid, name text)"))

    publisher = KafkaPublisher(infra.kafka_bootstrap_servers, idempotent=False, client_id="test-producer")
    await publisher.start()
    tracer_provider = configure_tracing("test")
    broker = KafkaBroker(
        infra.kafka_bootstrap_servers, middlewares=[KafkaTelemetryMiddleware(tracer_provider=tracer_provider)]
    )
    consumer = EventConsumer(unique("test-consumer"), session_factory(consumer_db), publisher)
    applied: list[uuid.UUID] = []
    consumer_trace_ids: dict[uuid.UUID, int] = {}

    @consumer.on(UserRegistered)
    async def add_learner(event: UserRegistered, ctx: HandlerContext) -> None:
        await ctx.session.execute(
            text("INSERT INTO learners VALUES (:u, :n)"),
            {"u": event.user_id, "n": event.display_name},
        )
        applied.append(event.event_id)
        consumer_trace_ids[event.event_id] = trace.get_current_span().get_span_context().trace_id

    consumer.attach(broker)
    await broker.start()
    try:
        # given an event committed in the producer's store
        user = uuid.uuid4()
        event = UserRegistered(user_id=user, role="student", display_name="Ada", timezone="Europe/Berlin")
        with tracer_provider.get_tracer("test").start_as_current_span("register request") as request_span:
            async with session_factory(producer_db)() as session, session.begin():
                await EventStore().append(session, f"user-{user}", 0, [event])

        # when the relay publishes it, and publishes it again as after a crash
        relay = OutboxRelay(producer_db, publisher, source="/learnstream/test")
        assert await relay.publish_pending() == 1
        async with producer_db.begin() as conn:
            await conn.execute(text("UPDATE event_store SET published_at = NULL"))
        assert await relay.publish_pending() == 1

        # then the consumer applies it once and records both deliveries as seen
        deadline = time.monotonic() + 30
        async with consumer_db.connect() as conn:
            while time.monotonic() < deadline:
                seen = await conn.scalar(
                    text("SELECT count(*) FROM inbox WHERE event_id = :e"), {"e": event.event_id}
                )
                await conn.commit()
                if seen and duplicates_seen(consumer.name) >= 1:
                    break
                await asyncio.sleep(0.2)
            rows = (
                await conn.execute(text("SELECT name FROM learners WHERE user_id = :u"), {"u": user})
            ).all()
        assert rows == [("Ada",)]
        assert applied.count(event.event_id) == 1
        # the topic is shared with other tests, whose redeliveries this new group also reads
        assert duplicates_seen(consumer.name) >= 1
        # and the consumer's work belongs to the trace of the request that appended the event
        assert consumer_trace_ids[event.event_id] == request_span.get_span_context().trace_id
    finally:
        await broker.stop()
        await publisher.stop()
        await producer_db.dispose()
        await consumer_db.dispose()

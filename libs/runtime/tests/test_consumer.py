"""The idempotent consumer: one effect per event, bounded retries, dead letters."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from learnstream.events import encode
from learnstream.events.codec import headers_to_dict
from learnstream.events.identity import UserRegistered
from learnstream.runtime.consumer import (
    Delivery,
    EventConsumer,
    HandlerContext,
    InfrastructureUnavailable,
    Outcome,
)
from learnstream.runtime.db import create_engine, session_factory

pytestmark = pytest.mark.integration


def delivery_of(event: UserRegistered, offset: int = 0) -> Delivery:
    record = encode(event, source="/test")
    return Delivery(
        topic=record.topic,
        partition=0,
        offset=offset,
        key=record.key,
        headers=record.headers,
        value=record.value,
    )


@pytest.fixture
async def effects(engine: AsyncEngine) -> AsyncEngine:
    async with engine.begin() as conn:
        await conn.execute(text("CREATE TABLE effects (user_id uuid, name text)"))
    return engine


async def count_effects(engine: AsyncEngine, user: uuid.UUID) -> int:
    async with engine.connect() as conn:
        return int(await conn.scalar(text("SELECT count(*) FROM effects WHERE user_id = :u"), {"u": user}))


async def test_the_same_event_delivered_three_times_has_one_effect(effects: AsyncEngine, publisher) -> None:  # type: ignore[no-untyped-def]
    consumer = EventConsumer("test", session_factory(effects), publisher)

    @consumer.on(UserRegistered)
    async def remember(event: UserRegistered, ctx: HandlerContext) -> None:
        await ctx.session.execute(
            text("INSERT INTO effects VALUES (:u, :n)"),
            {"u": event.user_id, "n": event.display_name},
        )

    user = uuid.uuid4()
    event = UserRegistered(user_id=user, role="student", display_name="Ada", timezone="UTC")
    outcomes = [await consumer.handle(delivery_of(event, offset)) for offset in range(3)]

    assert outcomes == [Outcome.APPLIED, Outcome.DUPLICATE, Outcome.DUPLICATE]
    assert await count_effects(effects, user) == 1
    assert consumer.topics == ["learnstream.identity"]


async def test_a_failing_handler_is_retried_then_dead_lettered_without_effect(
    effects: AsyncEngine, publisher
) -> None:  # type: ignore[no-untyped-def]
    consumer = EventConsumer(
        "test", session_factory(effects), publisher, max_attempts=3, backoff_seconds=0.01
    )
    calls = 0

    @consumer.on(UserRegistered)
    async def half_done(event: UserRegistered, ctx: HandlerContext) -> None:
        nonlocal calls
        calls += 1
        await ctx.session.execute(text("INSERT INTO effects VALUES (:u, 'partial')"), {"u": event.user_id})
        raise RuntimeError("downstream is broken")

    user = uuid.uuid4()
    event = UserRegistered(user_id=user, role="student", display_name="Ada", timezone="UTC")
    outcome = await consumer.handle(delivery_of(event, offset=41))

    assert outcome is Outcome.DEAD_LETTERED
    assert calls == 3
    assert await count_effects(effects, user) == 0, "each failed try must roll back its effect"
    [dead] = publisher.records
    headers = headers_to_dict(dead.headers)
    assert dead.topic == "learnstream.identity.dlq"
    assert headers["dlq_reason"] == "handler-failed"
    assert "downstream is broken" in headers["dlq_error"]
    assert headers["dlq_attempts"] == "3"
    assert headers["dlq_original_offset"] == "41"
    assert headers["ce_id"] == str(event.event_id)

    # the event is not marked as processed, so a replay after a fix applies it
    @consumer.on(UserRegistered)
    async def fixed(event: UserRegistered, ctx: HandlerContext) -> None:
        await ctx.session.execute(text("INSERT INTO effects VALUES (:u, 'ok')"), {"u": event.user_id})

    assert await consumer.handle(delivery_of(event)) is Outcome.APPLIED
    assert await count_effects(effects, user) == 1


HANDLED = b"learnstream.identity.UserRegistered.v1"


@pytest.mark.parametrize(
    ("headers", "value", "reason"),
    [
        ([("ce_type", HANDLED)], b"{}", "missing-header"),
        (
            [("ce_id", b"x"), ("ce_type", HANDLED), ("ce_source", b"/t"), ("ce_specversion", b"1.0")],
            b"not json",
            "invalid-data",
        ),
        (
            [("ce_id", b"x"), ("ce_type", HANDLED), ("ce_source", b"/t"), ("ce_specversion", b"1.0")],
            b'{"user_id": "not a uuid"}',
            "invalid-data",
        ),
    ],
    ids=["missing-header", "not-json", "bad-data"],
)
async def test_a_poison_message_goes_straight_to_the_dlq(
    effects: AsyncEngine, publisher, headers, value, reason
) -> None:  # type: ignore[no-untyped-def]
    consumer = EventConsumer("test", session_factory(effects), publisher)

    @consumer.on(UserRegistered)
    async def never(event: UserRegistered, ctx: HandlerContext) -> None:
        raise AssertionError("a poison message reached the handler")

    delivery = Delivery(
        topic="learnstream.identity", partition=3, offset=7, key=b"k", headers=headers, value=value
    )

    assert await consumer.handle(delivery) is Outcome.DEAD_LETTERED
    [dead] = publisher.records
    assert dead.topic == "learnstream.identity.dlq"
    assert dead.value == value
    assert headers_to_dict(dead.headers)["dlq_reason"] == reason


async def test_a_catalogued_event_the_consumer_does_not_handle_is_skipped_unread(
    effects: AsyncEngine, publisher
) -> None:  # type: ignore[no-untyped-def]
    consumer = EventConsumer("test", session_factory(effects), publisher)
    headers = [
        ("ce_id", b"x"),
        ("ce_type", b"learnstream.identity.UserProfileChanged.v1"),
        ("ce_source", b"/t"),
        ("ce_specversion", b"1.0"),
    ]
    delivery = Delivery(
        topic="learnstream.identity", partition=0, offset=1, key=b"k", headers=headers, value=b"?"
    )

    assert await consumer.handle(delivery) is Outcome.IGNORED
    assert publisher.records == []


async def test_an_event_type_nobody_catalogued_is_dead_lettered_for_a_later_redrive(
    effects: AsyncEngine, publisher
) -> None:  # type: ignore[no-untyped-def]
    consumer = EventConsumer("test", session_factory(effects), publisher)
    headers = [
        ("ce_id", b"x"),
        ("ce_type", b"learnstream.identity.SomethingNew.v1"),
        ("ce_source", b"/t"),
        ("ce_specversion", b"1.0"),
    ]
    delivery = Delivery(
        topic="learnstream.identity", partition=0, offset=1, key=b"k", headers=headers, value=b"{}"
    )

    assert await consumer.handle(delivery) is Outcome.DEAD_LETTERED
    [dead] = publisher.records
    assert headers_to_dict(dead.headers)["dlq_reason"] == "unknown-type"


async def test_an_unreachable_store_means_redelivery_never_the_dlq(publisher) -> None:  # type: ignore[no-untyped-def]
    dead_store = create_engine("postgresql+asyncpg://postgres@127.0.0.1:1/nowhere")
    consumer = EventConsumer(
        "test", session_factory(dead_store), publisher, max_attempts=1, backoff_seconds=0.01
    )

    @consumer.on(UserRegistered)
    async def remember(event: UserRegistered, ctx: HandlerContext) -> None:
        raise AssertionError("no session can be opened")

    event = UserRegistered(user_id=uuid.uuid4(), role="student", display_name="Ada", timezone="UTC")
    try:
        with pytest.raises(InfrastructureUnavailable):
            await consumer.handle(delivery_of(event))
    finally:
        await dead_store.dispose()
    assert publisher.records == []


def registered(name: str) -> UserRegistered:
    return UserRegistered(user_id=uuid.uuid4(), role="student", display_name=name, timezone="UTC")


async def test_a_batch_is_applied_in_order_once_each_with_its_duplicates_skipped(
    effects: AsyncEngine, publisher
) -> None:  # type: ignore[no-untyped-def]
    consumer = EventConsumer("test", session_factory(effects), publisher)
    seen: list[str] = []

    @consumer.on(UserRegistered)
    async def remember(event: UserRegistered, ctx: HandlerContext) -> None:
        seen.append(event.display_name)
        await ctx.session.execute(
            text("INSERT INTO effects VALUES (:u, :n)"),
            {"u": event.user_id, "n": event.display_name},
        )

    ada, bob, cy = registered("Ada"), registered("Bob"), registered("Cy")
    assert await consumer.handle(delivery_of(ada, 0)) is Outcome.APPLIED
    other = Delivery(
        topic="learnstream.identity",
        partition=0,
        offset=9,
        key=b"k",
        headers=[("ce_type", b"learnstream.identity.UserProfileChanged.v1")],
        value=b"?",
    )
    # a redelivered event, the same event twice in one batch, and an event it does not handle
    batch = [delivery_of(ada, 0), delivery_of(bob, 1), delivery_of(bob, 2), other, delivery_of(cy, 3)]

    outcomes = await consumer.handle_batch(batch)

    assert outcomes == [
        Outcome.DUPLICATE,
        Outcome.APPLIED,
        Outcome.DUPLICATE,
        Outcome.IGNORED,
        Outcome.APPLIED,
    ]
    assert seen == ["Ada", "Bob", "Cy"]
    for event in (ada, bob, cy):
        assert await count_effects(effects, event.user_id) == 1
    async with effects.connect() as conn:
        offsets = (await conn.execute(text('SELECT "offset" FROM inbox ORDER BY "offset"'))).scalars().all()
    assert offsets == [0, 1, 3]


async def test_one_failing_event_in_a_batch_is_parked_and_the_others_applied_once(
    effects: AsyncEngine, publisher
) -> None:  # type: ignore[no-untyped-def]
    consumer = EventConsumer(
        "test", session_factory(effects), publisher, max_attempts=2, backoff_seconds=0.01
    )
    calls: dict[str, int] = {}

    @consumer.on(UserRegistered)
    async def remember(event: UserRegistered, ctx: HandlerContext) -> None:
        calls[event.display_name] = calls.get(event.display_name, 0) + 1
        await ctx.session.execute(
            text("INSERT INTO effects VALUES (:u, :n)"),
            {"u": event.user_id, "n": event.display_name},
        )
        if event.display_name == "Bad":
            raise RuntimeError("cannot apply this one")

    good, bad, later = registered("Good"), registered("Bad"), registered("Later")

    outcomes = await consumer.handle_batch([delivery_of(good, 0), delivery_of(bad, 1), delivery_of(later, 2)])

    assert outcomes == [Outcome.APPLIED, Outcome.DEAD_LETTERED, Outcome.APPLIED]
    # the batch was rolled back (Good ran in it), then each event had a transaction of its own
    assert calls == {"Good": 2, "Bad": 3, "Later": 1}
    assert await count_effects(effects, good.user_id) == 1
    assert await count_effects(effects, bad.user_id) == 0
    assert await count_effects(effects, later.user_id) == 1
    [dead] = publisher.records
    assert headers_to_dict(dead.headers)["ce_id"] == str(bad.event_id)
    assert headers_to_dict(dead.headers)["dlq_attempts"] == "2"


async def test_an_unreachable_store_redelivers_the_whole_batch(publisher) -> None:  # type: ignore[no-untyped-def]
    dead_store = create_engine("postgresql+asyncpg://postgres@127.0.0.1:1/nowhere")
    consumer = EventConsumer("test", session_factory(dead_store), publisher, backoff_seconds=0.01)

    @consumer.on(UserRegistered)
    async def remember(event: UserRegistered, ctx: HandlerContext) -> None:
        raise AssertionError("no session can be opened")

    try:
        with pytest.raises(InfrastructureUnavailable):
            await consumer.handle_batch([delivery_of(registered("A"), 0), delivery_of(registered("B"), 1)])
    finally:
        await dead_store.dispose()
    assert publisher.records == []

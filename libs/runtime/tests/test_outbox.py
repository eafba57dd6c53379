"""The outbox relay: in order per stream, and safe against late-committing transactions."""

from __future__ import annotations

import asyncio
import contextlib
import uuid

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from learnstream.events import decode
from learnstream.events.identity import UserProfileChanged, UserRegistered
from learnstream.runtime.db import create_engine, session_factory
from learnstream.runtime.eventstore import EventStore
from learnstream.runtime.outbox import OutboxRelay

pytestmark = pytest.mark.integration


def ids_published(publisher) -> list[uuid.UUID]:  # type: ignore[no-untyped-def]
    return [decode(r.headers, r.value).event.event_id for r in publisher.records]


async def register_one_learner(engine: AsyncEngine) -> UserRegistered:
    """Given one committed UserRegistered in the store."""
    user = uuid.uuid4()
    event = UserRegistered(user_id=user, role="student", display_name="A", timezone="UTC")
    async with session_factory(engine)() as session, session.begin():
        await EventStore().append(session, f"user-{user}", 0, [event])
    return event


async def test_events_are_published_once_in_stream_order(engine: AsyncEngine, publisher) -> None:  # type: ignore[no-untyped-def]
    store = EventStore()
    user = uuid.uuid4()
    events = [
        UserRegistered(user_id=user, role="student", display_name="A", timezone="UTC"),
        UserProfileChanged(user_id=user, display_name="B"),
        UserProfileChanged(user_id=user, display_name="C"),
    ]
    async with session_factory(engine)() as session, session.begin():
        await store.append(session, f"user-{user}", 0, events)
    relay = OutboxRelay(engine, publisher, source="/test")

    assert await relay.publish_pending() == 3
    assert await relay.publish_pending() == 0

    assert ids_published(publisher) == [e.event_id for e in events]
    assert {r.key for r in publisher.records} == {str(user).encode()}
    assert publisher.topics() == ["learnstream.identity"] * 3


async def test_a_transaction_that_commits_late_is_not_skipped(engine: AsyncEngine, publisher) -> None:  # type: ignore[no-untyped-def]
    """The classic relay bug: position 1 commits after position 2 was published."""
    store = EventStore()
    sessions = session_factory(engine)
    relay = OutboxRelay(engine, publisher, source="/test")
    early, late = uuid.uuid4(), uuid.uuid4()
    early_event = UserRegistered(user_id=early, role="student", display_name="E", timezone="UTC")
    late_event = UserRegistered(user_id=late, role="student", display_name="L", timezone="UTC")

    slow = sessions()
    try:
        await slow.begin()
        await store.append(slow, f"user-{early}", 0, [early_event])  # takes the lower position
        async with sessions() as fast, fast.begin():
            await store.append(fast, f"user-{late}", 0, [late_event])

        published_while_open = await relay.publish_pending()
        await slow.commit()
    finally:
        await slow.close()
    published_after = await relay.publish_pending()

    assert published_while_open + published_after == 2
    assert ids_published(publisher) == [early_event.event_id, late_event.event_id]
    async with engine.connect() as conn:
        unpublished = await conn.scalar(text("SELECT count(*) FROM event_store WHERE published_at IS NULL"))
    assert unpublished == 0


async def test_a_failed_publish_is_retried_not_lost(engine: AsyncEngine, publisher) -> None:  # type: ignore[no-untyped-def]
    event = await register_one_learner(engine)
    relay = OutboxRelay(engine, publisher, source="/test")

    publisher.fail_with = ConnectionError("broker down")
    with pytest.raises(ConnectionError):
        await relay.publish_pending()
    publisher.fail_with = None

    assert await relay.publish_pending() == 1
    assert ids_published(publisher) == [event.event_id]


async def test_two_relays_on_one_database_never_publish_the_same_event(
    engine: AsyncEngine, publisher
) -> None:  # type: ignore[no-untyped-def]
    store = EventStore()
    users = [uuid.uuid4() for _ in range(300)]
    events = [UserRegistered(user_id=u, role="student", display_name="A", timezone="UTC") for u in users]
    async with session_factory(engine)() as session, session.begin():
        for user, event in zip(users, events, strict=True):
            await store.append(session, f"user-{user}", 0, [event])
    relays = [OutboxRelay(engine, publisher, source="/test", batch_size=20) for _ in range(2)]

    await asyncio.gather(*(relay.publish_pending() for relay in relays))
    while await relays[0].publish_pending():
        pass

    assert ids_published(publisher) == [e.event_id for e in events]


async def test_after_the_broker_lost_its_log_the_store_is_republished(engine: AsyncEngine, publisher) -> None:  # type: ignore[no-untyped-def]
    """The embedded broker keeps topics in memory; the event store is the history."""
    event = await register_one_learner(engine)
    relay = OutboxRelay(engine, publisher, source="/test")
    await relay.publish_pending()
    asked: list[list[str]] = []

    async def kept_log(topics: list[str]) -> bool:
        asked.append(topics)
        return False

    async def empty_log(topics: list[str]) -> bool:
        return True

    assert await relay.replay_if_broker_forgot(kept_log) == 0
    assert asked == [["learnstream.identity"]]
    assert await relay.replay_if_broker_forgot(empty_log) == 1
    await relay.publish_pending()
    assert ids_published(publisher) == [event.event_id, event.event_id]


class _CancellationTurnedIntoAnError:
    """A publisher during whose call the relay is cancelled, and whose library turns the
    cancellation into an error of its own (as SQLAlchemy does when a cancelled query leaves
    the connection invalid: the next statement raises PendingRollbackError)."""

    def __init__(self) -> None:
        self.called = asyncio.Event()

    async def publish(self, records) -> None:  # type: ignore[no-untyped-def]
        self.called.set()
        task = asyncio.current_task()
        assert task is not None
        task.cancel()
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError as exc:
            raise RuntimeError("the connection was invalidated while cancelling") from exc


async def test_a_cancelled_relay_stops_even_when_its_cancellation_became_an_error(
    engine: AsyncEngine,
) -> None:
    await register_one_learner(engine)
    publisher = _CancellationTurnedIntoAnError()
    relay = OutboxRelay(engine, publisher, source="/test", poll_interval=0.01)  # type: ignore[arg-type]
    running = asyncio.create_task(relay.run())
    await asyncio.wait_for(publisher.called.wait(), 10)
    done, _ = await asyncio.wait({running}, timeout=5)
    assert done == {running}, "the relay went on after it was cancelled"
    assert running.cancelled() or isinstance(running.exception(), RuntimeError)


async def test_a_commit_in_the_same_process_wakes_the_idle_relay(engine: AsyncEngine, publisher) -> None:  # type: ignore[no-untyped-def]
    """Without the wake the relay would sleep its whole idle interval (an hour here)."""
    relay = OutboxRelay(engine, publisher, source="/test", idle_interval=3600)
    store = EventStore()
    store.on_commit(relay.wake)
    running = asyncio.create_task(relay.run())
    try:
        await asyncio.sleep(0.2)  # the relay found nothing and sleeps
        user = uuid.uuid4()
        event = UserRegistered(user_id=user, role="student", display_name="A", timezone="UTC")
        async with session_factory(engine)() as session, session.begin():
            await store.append(session, f"user-{user}", 0, [event])
        await asyncio.wait_for(publisher.published.wait(), 30)
        assert ids_published(publisher) == [event.event_id]
    finally:
        running.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await running


async def test_a_rolled_back_append_does_not_wake_the_relay(engine: AsyncEngine) -> None:
    woken: list[str] = []
    store = EventStore()
    store.on_commit(lambda: woken.append("woken"))
    user = uuid.uuid4()
    event = UserRegistered(user_id=user, role="student", display_name="A", timezone="UTC")
    async with session_factory(engine)() as session:
        async with session.begin():
            await store.append(session, f"user-{user}", 0, [event])
            await session.rollback()
        assert woken == []
        async with session.begin():
            await store.append(session, f"user-{user}", 0, [event])
        assert woken == ["woken"]


async def test_events_another_process_wrote_go_out_after_the_idle_interval(
    engine: AsyncEngine, publisher
) -> None:  # type: ignore[no-untyped-def]
    relay = OutboxRelay(engine, publisher, source="/test", idle_interval=0.2)
    running = asyncio.create_task(relay.run())
    try:
        await asyncio.sleep(0.1)
        event = await register_one_learner(engine)  # a store that does not wake this relay
        await asyncio.wait_for(publisher.published.wait(), 30)
        assert ids_published(publisher) == [event.event_id]
    finally:
        running.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await running


async def test_a_long_transaction_in_another_database_does_not_hold_the_relay_back(
    engine: AsyncEngine, publisher, infra
) -> None:  # type: ignore[no-untyped-def]
    """Transaction ids are server-wide; another service's database on the same server (an
    export rendered inside its consumer's transaction) must not stall this relay. One of
    this database's own still does, and is named in the relay's warning."""
    other = create_engine(await infra.new_database(), pool_size=1)
    relay = OutboxRelay(engine, publisher, source="/test")
    try:
        async with other.connect() as elsewhere:
            await elsewhere.execute(text("CREATE TABLE work (n int)"))
            await elsewhere.execute(text("INSERT INTO work VALUES (1)"))  # holds a transaction id
            event = await register_one_learner(engine)

            assert await relay.publish_pending() == 1
            assert ids_published(publisher) == [event.event_id]
            await elsewhere.rollback()
    finally:
        await other.dispose()


async def test_a_long_transaction_in_its_own_database_holds_the_relay_back_and_is_named(
    engine: AsyncEngine, publisher, caplog: pytest.LogCaptureFixture
) -> None:  # type: ignore[no-untyped-def]
    relay = OutboxRelay(engine, publisher, source="/test", stuck_after=0.3, poll_interval=0.05)
    sessions = session_factory(engine)
    async with sessions() as holding:
        await holding.begin()
        await holding.execute(text("SELECT pg_current_xact_id() /* the long one */"))
        event = await register_one_learner(engine)
        running = asyncio.create_task(relay.run())
        try:
            with caplog.at_level("WARNING", logger="learnstream.runtime.outbox"):
                for _ in range(100):
                    if any("waiting behind an older transaction" in r.getMessage() for r in caplog.records):
                        break
                    await asyncio.sleep(0.05)
            assert publisher.records == []
            warning = next((r for r in caplog.records if "waiting behind" in r.getMessage()), None)
            assert warning is not None, "the relay said nothing of what held it back"
            assert "the long one" in warning.holding_back["query"]  # type: ignore[attr-defined]
            await holding.rollback()
            await asyncio.wait_for(publisher.published.wait(), 10)
            assert ids_published(publisher) == [event.event_id]
        finally:
            running.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await running

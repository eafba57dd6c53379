"""The event store: optimistic concurrency and projections in the same transaction."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from learnstream.events.identity import UserProfileChanged, UserRegistered
from learnstream.runtime.db import session_factory
from learnstream.runtime.eventstore import ConcurrencyError, EventStore, StoredEvent

pytestmark = pytest.mark.integration


def registered(user_id: uuid.UUID) -> UserRegistered:
    return UserRegistered(user_id=user_id, role="student", display_name="Ada", timezone="Europe/Berlin")


async def test_append_then_load_returns_the_stream_in_order(engine: AsyncEngine) -> None:
    store = EventStore()
    user = uuid.uuid4()
    events = [registered(user), UserProfileChanged(user_id=user, display_name="Ada L.")]
    async with session_factory(engine)() as session, session.begin():
        await store.append(session, f"user-{user}", 0, events)

    async with session_factory(engine)() as session:
        loaded = await store.load(session, f"user-{user}")

    assert [e.stream_version for e in loaded] == [1, 2]
    assert [e.event for e in loaded] == events


async def test_a_stale_writer_gets_a_concurrency_error(engine: AsyncEngine) -> None:
    store = EventStore()
    user = uuid.uuid4()
    stream = f"user-{user}"
    async with session_factory(engine)() as session, session.begin():
        await store.append(session, stream, 0, [registered(user)])

    async with session_factory(engine)() as session, session.begin():
        with pytest.raises(ConcurrencyError) as caught:
            await store.append(session, stream, 0, [UserProfileChanged(user_id=user)])
    assert caught.value.actual_version == 1


async def test_two_concurrent_writers_of_one_version_only_one_wins(engine: AsyncEngine) -> None:
    """Both read version 0 before either commits; the unique index decides."""
    store = EventStore()
    user = uuid.uuid4()
    stream = f"user-{user}"
    sessions = session_factory(engine)
    first = sessions()
    second = sessions()
    try:
        await first.begin()
        await store.append(first, stream, 0, [registered(user)])

        async def second_writer() -> None:
            async with second.begin():
                await store.append(second, stream, 0, [UserProfileChanged(user_id=user)])

        racing = asyncio.create_task(second_writer())
        await asyncio.sleep(0.3)  # the second insert now waits on the first's index entry
        assert not racing.done()
        await first.commit()
        with pytest.raises(ConcurrencyError):
            await racing
    finally:
        await first.close()
        await second.close()

    async with sessions() as session:
        loaded = await store.load(session, stream)
    assert [type(e.event) for e in loaded] == [UserRegistered]


async def test_projections_run_in_the_appending_transaction(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        await conn.execute(text("CREATE TABLE IF NOT EXISTS names (user_id uuid PRIMARY KEY, name text)"))

    async def project(session: AsyncSession, stored: StoredEvent) -> None:
        if isinstance(stored.event, UserRegistered):
            await session.execute(
                text("INSERT INTO names VALUES (:u, :n)"),
                {"u": stored.event.user_id, "n": stored.event.display_name},
            )

    store = EventStore([project])
    user = uuid.uuid4()
    sessions = session_factory(engine)
    async with sessions() as session, session.begin():
        await store.append(session, f"user-{user}", 0, [registered(user)])
        await session.rollback()

    async with sessions() as session:
        rolled_back = await session.scalar(text("SELECT count(*) FROM names WHERE user_id = :u"), {"u": user})
    assert rolled_back == 0, "a rolled-back append must leave no read-model trace"

    async with sessions() as session, session.begin():
        await store.append(session, f"user-{user}", 0, [registered(user)])
    async with sessions() as session:
        name = await session.scalar(text("SELECT name FROM names WHERE user_id = :u"), {"u": user})
    assert name == "Ada"

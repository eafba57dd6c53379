"""Crypto-shredding: personal fields sealed per person, readable until the key is shredded."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Sequence
from typing import Any

import pytest
from aiokafka import ConsumerRecord
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from learnstream.events import encode
from learnstream.events.chat import ChatMessageSent
from learnstream.events.identity import LearnerErasureRequested, UserProfileChanged, UserRegistered
from learnstream.events.registry import rehydrate
from learnstream.runtime.consumer import Delivery, EventConsumer, HandlerContext
from learnstream.runtime.db import create_engine, session_factory
from learnstream.runtime.eventstore import EventStore, StoredEvent
from learnstream.runtime.projection import BatchProjection, Projected
from learnstream.runtime.vault import ERASED, PREFIX, KeyMissing, KeyVault, personal_fields

pytestmark = pytest.mark.integration

NAME = "Grace Hopper-7f3a"


@pytest.fixture
async def vault(database_url: str) -> AsyncIterator[KeyVault]:
    kept = KeyVault(create_engine(database_url, pool_size=2))
    await kept.create()
    await kept.create()  # idempotent: every service creates it as it starts
    yield kept
    await kept.close()


def registered(user: uuid.UUID, name: str = NAME) -> UserRegistered:
    return UserRegistered(user_id=user, role="student", display_name=name, timezone="UTC")


def test_the_catalog_marks_the_personal_fields() -> None:
    assert personal_fields(UserRegistered) == ("display_name",)
    assert personal_fields(ChatMessageSent) == ("text",)
    assert personal_fields(LearnerErasureRequested) == ()
    schema = UserRegistered.model_json_schema()
    assert schema["properties"]["display_name"]["x-pii"] is True


async def test_sealed_fields_are_unreadable_until_revealed(vault: KeyVault) -> None:
    user = uuid.uuid4()
    [data] = await vault.seal([registered(user)])
    assert data["display_name"].startswith(PREFIX)
    assert NAME not in json.dumps(data)
    assert data["timezone"] == "UTC"  # only personal fields are sealed

    [opened] = await vault.reveal([rehydrate(UserRegistered.ce_type(), data)])
    assert isinstance(opened, UserRegistered)
    assert opened.display_name == NAME
    # another process (no cache) reads it from the vault's table
    fresh = KeyVault(vault.engine)
    [again] = await fresh.reveal([rehydrate(UserRegistered.ce_type(), data)])
    assert isinstance(again, UserRegistered) and again.display_name == NAME


async def test_a_value_copied_into_another_persons_event_does_not_open(vault: KeyVault) -> None:
    ada, eve = uuid.uuid4(), uuid.uuid4()
    [sealed] = await vault.seal([registered(ada)])
    await vault.seal([registered(eve, "Eve")])
    stolen = registered(eve).model_copy(update={"display_name": sealed["display_name"]})
    [opened] = await vault.reveal([stolen])
    assert isinstance(opened, UserRegistered) and opened.display_name == ERASED


async def test_shredding_makes_every_sealed_copy_unreadable_for_good(vault: KeyVault) -> None:
    user = uuid.uuid4()
    [before] = await vault.seal([registered(user)])
    await vault.shred(str(user))
    [after] = await vault.seal([UserProfileChanged(user_id=user, display_name="New Name-7f3a")])

    for data, model in ((before, UserRegistered), (after, UserProfileChanged)):
        for reader in (vault, KeyVault(vault.engine)):
            [opened] = await reader.reveal([rehydrate(model.ce_type(), data)])
            assert isinstance(opened, UserRegistered | UserProfileChanged)
            assert opened.display_name == ERASED
    async with vault.engine.connect() as conn:
        row = (
            await conn.execute(
                text("SELECT key, shredded_at FROM pii_keys WHERE subject_id = :s"), {"s": str(user)}
            )
        ).one()
    assert row.key is None and row.shredded_at is not None
    await vault.shred(str(user))  # again: no error


async def test_events_without_personal_fields_pass_untouched(vault: KeyVault) -> None:
    erasure = LearnerErasureRequested(user_id=uuid.uuid4(), request_id=uuid.uuid4())
    assert await vault.seal([erasure]) == [erasure.to_json_data()]
    assert (await vault.reveal([erasure]))[0] is erasure
    plain = registered(uuid.uuid4())  # published before sealing existed
    assert (await vault.reveal([plain]))[0] is plain


async def test_the_event_store_keeps_sealed_rows_and_loads_clear_ones(
    engine: AsyncEngine, vault: KeyVault
) -> None:
    seen: list[str] = []

    async def projector(_session: Any, stored: StoredEvent) -> None:
        assert isinstance(stored.event, UserRegistered)
        seen.append(stored.event.display_name)

    store = EventStore([projector], vault=vault)
    user = uuid.uuid4()
    async with session_factory(engine)() as session, session.begin():
        await store.append(session, f"user-{user}", 0, [registered(user)])
    async with engine.connect() as conn:
        raw = await conn.scalar(
            text("SELECT data::text FROM event_store WHERE stream_id = :s"), {"s": f"user-{user}"}
        )
    assert NAME not in raw and PREFIX in raw
    assert seen == [NAME]  # read models in the same transaction see the clear text
    async with session_factory(engine)() as session:
        [loaded] = await store.load(session, f"user-{user}")
    assert isinstance(loaded.event, UserRegistered) and loaded.event.display_name == NAME


def consumer_record(record: Any) -> ConsumerRecord[bytes, bytes]:
    return ConsumerRecord(
        topic=record.topic,
        partition=0,
        offset=0,
        timestamp=0,
        timestamp_type=0,
        key=record.key,
        value=record.value,
        checksum=None,
        serialized_key_size=len(record.key),
        serialized_value_size=len(record.value),
        headers=tuple(record.headers),
    )


def sealed_delivery(data: dict[str, Any], offset: int = 0) -> Delivery:
    record = encode(rehydrate(UserRegistered.ce_type(), data), source="/test")
    return Delivery(record.topic, 0, offset, record.key, record.headers, record.value)


async def test_a_consumer_hands_handlers_the_clear_text_until_the_erasure(
    engine: AsyncEngine, vault: KeyVault, publisher: Any
) -> None:
    names: list[str] = []
    consumer = EventConsumer("test", session_factory(engine), publisher, vault=vault)

    @consumer.on(UserRegistered)
    async def keep(event: UserRegistered, _ctx: HandlerContext) -> None:
        names.append(event.display_name)

    @consumer.on(LearnerErasureRequested)
    async def erase(_event: LearnerErasureRequested, _ctx: HandlerContext) -> None:
        pass

    user = uuid.uuid4()
    [data] = await vault.seal([registered(user)])
    await consumer.handle(sealed_delivery(data))
    assert names == [NAME]

    # the key is shredded elsewhere (the gateway); this process still caches it until the
    # erasure is announced, which drops it: a replay of the topic then reads [erased]
    await KeyVault(vault.engine).shred(str(user))
    erasure = LearnerErasureRequested(user_id=user, request_id=uuid.uuid4())
    record = encode(erasure, source="/test")
    again = dict(data, event_id=str(uuid.uuid4()))
    await consumer.handle_batch(
        [
            Delivery(record.topic, 0, 1, record.key, record.headers, record.value),
            sealed_delivery(again, 2),
        ]
    )
    assert names == [NAME, ERASED]


async def test_a_projection_writes_the_clear_text_into_its_store(vault: KeyVault) -> None:
    written: list[Projected] = []

    async def sink(items: Sequence[Projected]) -> None:
        written.extend(items)

    async def reachable() -> bool:
        return True

    async def park(_records: Any) -> None:
        raise AssertionError("nothing is parked")

    class Parking:
        publish = staticmethod(park)

    projection = BatchProjection(
        "test", ["learnstream.identity"], sink, Parking(), reachable=reachable, vault=vault
    )
    user = uuid.uuid4()
    [data] = await vault.seal([registered(user)])
    record = encode(rehydrate(UserRegistered.ce_type(), data), source="/test")
    assert NAME.encode() not in record.value
    await projection.handle_batch(consumer_record(record))
    [item] = written
    assert isinstance(item.envelope.event, UserRegistered) and item.envelope.event.display_name == NAME
    assert json.loads(item.delivery.value or b"")["display_name"] == NAME


async def test_text_that_looks_sealed_is_sealed_too(vault: KeyVault) -> None:
    user = uuid.uuid4()
    sly = f"{PREFIX}AAAA {NAME}"
    [data] = await vault.seal([registered(user, sly)])
    assert NAME not in json.dumps(data)
    [opened] = await vault.reveal([rehydrate(UserRegistered.ce_type(), data)])
    assert isinstance(opened, UserRegistered) and opened.display_name == sly


async def test_a_sealed_value_of_someone_the_vault_never_knew_waits_instead_of_reading_erased(
    vault: KeyVault, database_url: str
) -> None:
    """Another vault (a wrong URL, a restore from before): the event is not read as erased."""
    [data] = await vault.seal([registered(uuid.uuid4())])
    async with vault.engine.begin() as conn:
        await conn.execute(text("DELETE FROM pii_keys WHERE subject_id = :s"), {"s": data["user_id"]})
    with pytest.raises(KeyMissing):
        await KeyVault(vault.engine).reveal([rehydrate(UserRegistered.ce_type(), data)])


async def test_a_refused_event_is_parked_sealed(vault: KeyVault) -> None:
    parked: list[Any] = []

    async def refuse(_items: Sequence[Projected]) -> None:
        raise ValueError("the store refuses it")

    async def reachable() -> bool:
        return True

    class Parking:
        @staticmethod
        async def publish(records: Any) -> None:
            parked.extend(records)

    projection = BatchProjection(
        "test",
        ["learnstream.identity"],
        refuse,
        Parking(),
        reachable=reachable,
        vault=vault,
        max_attempts=1,
        backoff_seconds=0,
    )
    [data] = await vault.seal([registered(uuid.uuid4())])
    record = encode(rehydrate(UserRegistered.ce_type(), data), source="/test")
    await projection.handle_batch(consumer_record(record))
    [dead] = parked
    assert NAME.encode() not in dead.value and PREFIX.encode() in dead.value

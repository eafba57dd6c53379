"""The batched projection: one write per batch, poison events isolated, nothing lost while
the store is down. The sink and the dead-letter publisher are fakes (the edges); the
real broker and ClickHouse are exercised by the analytics service's tests."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence
from typing import Any

import pytest
from aiokafka import ConsumerRecord

from learnstream.events import KafkaRecord, encode
from learnstream.events.identity import UserRegistered
from learnstream.runtime.projection import BatchProjection, Projected


class DeadLetters:
    def __init__(self) -> None:
        self.records: list[KafkaRecord] = []

    async def publish(self, records: Sequence[KafkaRecord]) -> None:
        self.records.extend(records)


class Sink:
    """Refuses events named ``poison``; raises ConnectionError while ``down``."""

    def __init__(self) -> None:
        self.batches: list[list[str]] = []
        self.down = False
        self.calls = 0

    async def __call__(self, items: Sequence[Projected]) -> None:
        self.calls += 1
        if self.down:
            raise ConnectionError("store is down")
        names = [item.envelope.event.display_name for item in items]  # type: ignore[attr-defined]
        if "poison" in names:
            raise ValueError("the store refuses this event")
        self.batches.append(names)

    async def reachable(self) -> bool:
        return not self.down


def record(name: str, offset: int, *, value: bytes | None = None) -> ConsumerRecord[bytes, bytes]:
    event = UserRegistered(user_id=uuid.uuid4(), role="student", display_name=name, timezone="UTC")
    encoded = encode(event, source="/test")
    return ConsumerRecord(
        topic=encoded.topic,
        partition=0,
        offset=offset,
        timestamp=0,
        timestamp_type=0,
        key=encoded.key,
        value=encoded.value if value is None else value,
        checksum=None,
        serialized_key_size=0,
        serialized_value_size=0,
        headers=tuple(encoded.headers),
    )


def projection(sink: Sink, dead: DeadLetters, **kwargs: Any) -> BatchProjection:
    return BatchProjection(
        "test",
        ["learnstream.identity"],
        sink,
        dead,
        reachable=sink.reachable,
        backoff_seconds=0.001,
        max_backoff_seconds=0.002,
        **kwargs,
    )


async def test_a_batch_is_written_in_one_call() -> None:
    sink, dead = Sink(), DeadLetters()
    await projection(sink, dead).handle_batch(tuple(record(f"learner {i}", i) for i in range(50)))
    assert sink.calls == 1
    assert len(sink.batches[0]) == 50
    assert dead.records == []


async def test_an_unreadable_message_is_parked_and_the_rest_written() -> None:
    sink, dead = Sink(), DeadLetters()
    batch = (record("a", 0), record("b", 1, value=b"not json"), record("c", 2))
    await projection(sink, dead).handle_batch(batch)
    assert sink.batches == [["a", "c"]]
    assert [r.topic for r in dead.records] == ["learnstream.identity.dlq"]
    headers = dict(dead.records[0].headers)
    assert headers["dlq_original_offset"] == b"1"
    assert headers["dlq_reason"]


async def test_an_event_the_store_refuses_is_found_by_splitting_and_parked_alone() -> None:
    sink, dead = Sink(), DeadLetters()
    names = [f"learner {i}" for i in range(7)]
    names[5] = "poison"
    await projection(sink, dead, max_attempts=2).handle_batch(
        tuple(record(name, i) for i, name in enumerate(names))
    )
    written = sorted(name for batch in sink.batches for name in batch)
    assert written == sorted(n for n in names if n != "poison")
    assert len(dead.records) == 1
    assert dict(dead.records[0].headers)["dlq_reason"] == b"projection-refused"


async def test_while_the_store_is_down_the_batch_waits_and_nothing_is_parked() -> None:
    sink, dead = Sink(), DeadLetters()
    sink.down = True
    task = asyncio.create_task(projection(sink, dead, max_attempts=2).handle_batch((record("a", 0),)))
    await asyncio.sleep(0.1)
    assert not task.done()  # still retrying, offsets not committed
    assert sink.calls > 2
    sink.down = False
    await asyncio.wait_for(task, 5)
    assert sink.batches == [["a"]]
    assert dead.records == []


async def test_catalogued_types_the_projection_does_not_handle_are_skipped() -> None:
    sink, dead = Sink(), DeadLetters()
    batch = (record("a", 0),)
    await projection(sink, dead, handled_types=["learnstream.progress.LessonCompleted.v1"]).handle_batch(
        batch
    )
    assert sink.calls == 0
    assert dead.records == []


async def test_freshness_is_unknown_before_consuming() -> None:
    freshness = await projection(Sink(), DeadLetters()).freshness()
    assert freshness.as_of is None
    assert freshness.lag_ms is None


@pytest.mark.parametrize("attempts", [1, 3])
async def test_a_single_refused_event_is_parked_after_its_attempts(attempts: int) -> None:
    sink, dead = Sink(), DeadLetters()
    await projection(sink, dead, max_attempts=attempts).handle_batch((record("poison", 0),))
    assert sink.calls == attempts
    assert len(dead.records) == 1


class ReturningSink(Sink):
    """Refuses connections for its first ``failures`` writes; the reachability probe after the
    last of them finds the store back (it came back in between)."""

    def __init__(self, failures: int) -> None:
        super().__init__()
        self.failures = failures
        self.probes = 0

    async def __call__(self, items: Sequence[Projected]) -> None:
        self.down = self.calls < self.failures
        await super().__call__(items)

    async def reachable(self) -> bool:
        self.probes += 1
        return self.probes >= self.failures


async def test_failures_while_the_store_was_out_of_reach_are_not_counted_as_refusals() -> None:
    """A lone event whose write failed all through an outage is written once the store is back,
    not parked at the first failure after it (the outage's waits are not its attempts)."""
    sink, dead = ReturningSink(failures=8), DeadLetters()
    await projection(sink, dead, max_attempts=3).handle_batch((record("a", 0),))
    assert dead.records == []
    assert sink.batches == [["a"]]

"""Batched projections: read topics in batches into a sink that dedupes by event id.

:class:`~learnstream.runtime.consumer.EventConsumer` applies one event per
PostgreSQL transaction with an inbox row; a projection into a column store wants
the opposite: many events per write, and the store itself makes redelivery
harmless (ClickHouse keeps one row per event id). For every batch the broker hands
over (at most ``max_records`` messages, waiting at most ``max_wait_ms``):

1. decode each CloudEvent; one that cannot be read is parked in ``<topic>.dlq``;
   reveal its personal fields (``learnstream.runtime.vault``), in the event and in the
   JSON handed to the sink, so the store holds clear text that erasure deletes;
2. write the rest to the sink in one call; while the sink is unreachable, wait and
   retry for as long as it takes (nothing is committed meanwhile, so nothing is
   lost and the backlog is read afterwards);
3. when the sink keeps refusing a batch although it is reachable, split the batch
   to find the events it refuses and park only those;
4. only then commit the offsets (``AckPolicy.NACK_ON_ERROR``).

It also tracks its freshness: up to which instant every published event is in the
sink, from the broker's high watermarks and the last fetch of each partition.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from faststream import AckPolicy
from faststream.kafka import KafkaBroker, KafkaMessage
from faststream.kafka.fastapi import KafkaMessage as FastAPIKafkaMessage
from faststream.kafka.fastapi import KafkaRouter
from prometheus_client import Counter, Gauge, Histogram

from learnstream.events import DomainEvent, Envelope, EventDecodeError, decode
from learnstream.events.codec import headers_to_dict
from learnstream.events.identity import LearnerErasureRequested
from learnstream.events.registry import EVENT_TYPES
from learnstream.runtime.bus import RecordPublisher
from learnstream.runtime.consumer import (
    Delivery,
    dead_letter_record,
    delivery_of,
    describe_error,
    raw_values,
)
from learnstream.runtime.vault import KeyVault, personal_fields

log = logging.getLogger(__name__)

EVENTS = Counter(
    "learnstream_projection_events_total",
    "Events a projection finished with, by outcome",
    ["projection", "outcome"],
)
BATCH_SIZE = Histogram(
    "learnstream_projection_batch_events",
    "Events per batch written to a projection's sink",
    ["projection"],
    buckets=(1, 10, 50, 100, 500, 1000, 5000, 10000, 50000),
)
LAG = Gauge("learnstream_projection_lag_seconds", "How far a projection is behind the bus", ["projection"])


@dataclass(frozen=True)
class Projected:
    """An event to write, with where it came from (analysts see topic, partition and offset)."""

    envelope: Envelope
    delivery: Delivery
    received: Delivery | None = None
    """The message as it came off the bus when :attr:`delivery` carries revealed personal
    fields: what is dead-lettered, so a parked copy stays sealed."""

    @property
    def as_received(self) -> Delivery:
        return self.received or self.delivery


Sink = Callable[[Sequence[Projected]], Awaitable[None]]
"""Writes a batch durably, or raises. Must be idempotent per event id."""


@dataclass(frozen=True)
class Freshness:
    """Every event published before ``as_of`` is in the sink; ``None`` while that is unknown."""

    as_of: datetime | None
    lag_ms: int | None


@dataclass
class _Partition:
    next_offset: int
    last_event_time: datetime | None = None


class BatchProjection:
    """One consumer group that writes every event of its topics to a sink in batches."""

    def __init__(
        self,
        name: str,
        topics: Sequence[str],
        sink: Sink,
        dead_letters: RecordPublisher,
        *,
        reachable: Callable[[], Awaitable[bool]],
        handled_types: Sequence[str] | None = None,
        max_records: int = 5000,
        max_wait_ms: int = 100,
        max_attempts: int = 5,
        backoff_seconds: float = 0.2,
        max_backoff_seconds: float = 5.0,
        vault: KeyVault | None = None,
    ) -> None:
        self.name = name
        self.vault = vault
        self.topics = list(topics)
        self._sink = sink
        self._dead_letters = dead_letters
        self._reachable = reachable
        self.handled_types = list(handled_types) if handled_types is not None else None
        self.max_records = max_records
        self.max_wait_ms = max_wait_ms
        self._max_attempts = max_attempts
        self._backoff = backoff_seconds
        self._max_backoff = max_backoff_seconds
        self._partitions: dict[TopicPartition, _Partition] = {}
        self._replays = 0
        """How many replays began: a batch read before one does not move the positions."""
        self._subscriber: Any = None
        self._consumer: AIOKafkaConsumer | None = None
        self.lock = asyncio.Lock()
        """Held while a batch is written; hold it to change the sink underneath (rebuilds)."""

    # -- consuming -------------------------------------------------------------------------

    def attach(self, router: KafkaRouter | KafkaBroker) -> None:
        """Subscribe the group to its topics (batch mode, offsets committed after the write)."""
        handled = ", ".join(self.handled_types) if self.handled_types is not None else "every event"
        subscriber = router.subscriber(
            *self.topics,
            group_id=self.name,
            auto_offset_reset="earliest",
            ack_policy=AckPolicy.NACK_ON_ERROR,
            batch=True,
            max_records=self.max_records,
            batch_timeout_ms=self.max_wait_ms,
            title=f"{self.name}:projection",
            description=(
                f"Consumer group `{self.name}`: batches of CloudEvents (binary mode) written to a "
                f"store that dedupes by event id; projects {handled}."
            ),
            decoder=raw_values,
        )
        self._subscriber = subscriber
        if isinstance(router, KafkaRouter):

            @subscriber
            async def project_in_app(body: list[bytes], message: FastAPIKafkaMessage) -> None:
                await self.handle_batch(message.raw_message, message.consumer)

        else:

            @subscriber
            async def project(body: list[bytes], message: KafkaMessage) -> None:
                await self.handle_batch(message.raw_message, message.consumer)

    async def handle_batch(self, records: Any, consumer: Any = None) -> None:
        """Write one batch of broker records; returns once it is durable (or parked)."""
        replays = self._replays  # before anything waits: a replay may begin meanwhile
        if consumer is not None:
            self._consumer = consumer
        batch: tuple[ConsumerRecord[Any, Any], ...] = records if isinstance(records, tuple) else (records,)
        for record in batch:
            tp = TopicPartition(record.topic, record.partition)
            self._partitions.setdefault(tp, _Partition(next_offset=record.offset))
        items: list[Projected] = []
        for record in batch:
            delivery = delivery_of(record)
            announced = headers_to_dict(delivery.headers).get("ce_type")
            handled = self.handled_types
            if handled is not None and announced in EVENT_TYPES and announced not in handled:
                EVENTS.labels(self.name, "ignored").inc()
                continue
            try:
                envelope = decode(delivery.headers, delivery.value)
            except EventDecodeError as exc:
                await self._dead_letter([delivery], exc.reason, exc)
                continue
            items.append(Projected(envelope, delivery))
        items = await self.reveal(items)
        async with self.lock:
            if items:
                await self._write(items)
                BATCH_SIZE.labels(self.name).observe(len(items))
        if replays != self._replays:
            # a replay began while this batch waited for the lock: the consumer reads from the
            # first offsets again, and these later positions would make freshness claim the
            # replay done before it has read anything
            return
        for record in batch:
            tp = TopicPartition(record.topic, record.partition)
            state = self._partitions.setdefault(tp, _Partition(next_offset=record.offset))
            state.next_offset = max(state.next_offset, record.offset + 1)
        for item in items:
            tp = TopicPartition(item.delivery.topic, item.delivery.partition)
            state = self._partitions.setdefault(tp, _Partition(next_offset=item.delivery.offset))
            event_time = item.envelope.event.occurred_at
            if state.last_event_time is None or event_time > state.last_event_time:
                state.last_event_time = event_time

    async def reveal(self, items: Sequence[Projected]) -> list[Projected]:
        """The batch with personal fields in clear (events read elsewhere, e.g. from an archive,
        go through this too), waiting for the vault while it is out of reach (nothing is
        committed meanwhile)."""
        vault = self.vault
        if vault is None or not items:
            return list(items)
        for item in items:
            if isinstance(item.envelope.event, LearnerErasureRequested):
                vault.forget(str(item.envelope.event.user_id))
        attempt = 0
        while True:
            try:
                events = await vault.reveal([item.envelope.event for item in items])
                break
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                delay = min(self._backoff * 2 ** min(attempt, 10), self._max_backoff)
                attempt += 1
                log.warning(
                    "key vault unreachable, retrying in %.1fs: %s",
                    delay,
                    type(exc).__name__,
                    extra={"projection": self.name},
                )
                await asyncio.sleep(delay)
        return [
            item if event is item.envelope.event else _with_event(item, event)
            for item, event in zip(items, events, strict=True)
        ]

    async def _write(self, items: Sequence[Projected]) -> None:
        attempt = 0  # refusals by a reachable store: these alone lead to splitting and parking
        waits = 0  # failures while the store was out of reach: they never count as refusals
        while True:
            try:
                await self._sink(items)
                EVENTS.labels(self.name, "written").inc(len(items))
                return
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if not await self._is_reachable():
                    # the store is down: wait for it, however long, committing nothing
                    delay = min(self._backoff * 2 ** min(waits, 10), self._max_backoff)
                    log.warning(
                        "projection store unreachable, retrying in %.1fs: %s",
                        delay,
                        type(exc).__name__,
                        extra={"projection": self.name},
                    )
                    waits += 1
                    await asyncio.sleep(delay)
                    continue
                delay = min(self._backoff * 2 ** min(attempt, 10), self._max_backoff)
                attempt += 1
                if attempt < self._max_attempts:
                    log.warning(
                        "projection write failed (attempt %d/%d), retrying in %.1fs: %s",
                        attempt,
                        self._max_attempts,
                        delay,
                        describe_error(exc),
                        extra={"projection": self.name},
                    )
                    await asyncio.sleep(delay)
                    continue
                if len(items) == 1:
                    log.error(
                        "projection refuses an event, dead-lettering it: %s",
                        describe_error(exc),
                        extra={"projection": self.name, "ce_type": items[0].envelope.ce_type},
                    )
                    await self._dead_letter([items[0].as_received], "projection-refused", exc)
                    return
                # the store works but refuses this batch: find the events it refuses
                middle = len(items) // 2
                await self._write(items[:middle])
                await self._write(items[middle:])
                return

    async def _is_reachable(self) -> bool:
        try:
            return await self._reachable()
        except Exception:
            return False

    async def _dead_letter(self, deliveries: Sequence[Delivery], reason: str, error: BaseException) -> None:
        records = [
            dead_letter_record(delivery, reason=reason, error=error, consumer=self.name)
            for delivery in deliveries
        ]
        await self._dead_letters.publish(records)
        EVENTS.labels(self.name, "dead_lettered").inc(len(records))

    async def replay(self) -> list[str]:
        """Read every assigned partition again from its first offset (call with :attr:`lock` held,
        after emptying the sink). Returns the partitions rewound."""
        consumer = self._consumer or getattr(self._subscriber, "consumer", None)
        if consumer is None:
            raise RuntimeError(f"projection {self.name} is not consuming yet")
        assigned = sorted(consumer.assignment())
        if assigned:
            # committed too, so a restart or rebalance before the replay ends resumes it
            beginnings = await consumer.beginning_offsets(assigned)
            await consumer.commit(dict(beginnings))
            await consumer.seek_to_beginning(*assigned)
        self._partitions.clear()
        self._replays += 1
        return [f"{tp.topic}/{tp.partition}" for tp in assigned]

    # -- freshness ---------------------------------------------------------------------------

    async def freshness(self, now: datetime | None = None) -> Freshness:
        """Up to when the sink holds every published event, per :mod:`docs/analytics.md`."""
        now = now or datetime.now(UTC)
        consumer = self._consumer
        if consumer is None and self._subscriber is not None:
            consumer = getattr(self._subscriber, "consumer", None)
        if consumer is None:
            return Freshness(None, None)
        try:
            assigned = consumer.assignment()
            if not assigned:
                return Freshness(None, None)
            moments: list[datetime | None] = []
            for tp in assigned:
                highwater = consumer.highwater(tp)
                polled = consumer.last_poll_timestamp(tp)
                state = self._partitions.get(tp)
                if state is not None:
                    position = state.next_offset
                else:
                    position = await asyncio.wait_for(consumer.position(tp), 1.0)
                if highwater is not None and polled is not None and position >= highwater:
                    moments.append(datetime.fromtimestamp(polled / 1000, UTC))
                else:
                    moments.append(state.last_event_time if state is not None else None)
        except Exception:
            # a rebalance between reading the assignment and a partition, or no broker:
            # unknown is the honest answer, and a report must not fail for it
            return Freshness(None, None)
        if any(moment is None for moment in moments):
            return Freshness(None, None)
        as_of = min(m for m in moments if m is not None)
        as_of = min(as_of, now)
        lag_ms = int((now - as_of).total_seconds() * 1000)
        LAG.labels(self.name).set(lag_ms / 1000)
        return Freshness(as_of, lag_ms)

    async def wait_caught_up(self, timeout: float = 30.0) -> Freshness:
        """Wait until the sink holds every event published before this call (tests, rebuilds)."""
        since = datetime.now(UTC)
        deadline = time.monotonic() + timeout
        while True:
            freshness = await self.freshness()
            if freshness.as_of is not None and freshness.as_of >= since:
                return freshness
            if time.monotonic() > deadline:
                raise TimeoutError(f"projection {self.name} did not catch up within {timeout:.0f}s")
            await asyncio.sleep(0.05)


__all__ = ["BatchProjection", "Freshness", "Projected", "Sink"]


def _with_event(item: Projected, event: DomainEvent) -> Projected:
    """``item`` carrying ``event`` (its personal fields revealed), in the envelope and the JSON."""
    data = json.loads(item.delivery.value or b"{}")
    for name in personal_fields(type(event)):
        if name in data:
            data[name] = getattr(event, name)
    value = json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode()
    return Projected(
        replace(item.envelope, event=event), replace(item.delivery, value=value), item.as_received
    )

"""Idempotent event consumers: inbox, bounded retries, dead letters, explicit acks.

A service declares what it reacts to with :meth:`EventConsumer.on`; the runtime
subscribes to the topics those events live on. The broker hands over what has arrived
(at most ``max_batch`` messages); for each such batch:

1. decode every CloudEvent; a message we cannot read goes straight to ``<topic>.dlq``;
2. in one transaction, record the batch's event ids in the ``inbox`` table (one
   statement) and apply the handlers of the events not seen before, in order, so a
   redelivered event finds its id and does nothing;
3. if a handler fails, roll the batch back and apply its events one transaction each:
   the failing one is retried with exponential backoff up to ``max_attempts``, then
   parked in ``<topic>.dlq`` with the error in headers, so the partition keeps moving;
4. only then is the offset committed (``AckPolicy.NACK_ON_ERROR``: acked after the
   handler returns, rewound to the batch's first message if the store is unreachable
   or the DLQ itself cannot be written). FastStream's default policy acks first, which
   loses messages on a crash; it is never used.

One transaction and one offset commit per batch instead of per message: a backlog
(a big course's enrollments, a replay) is worked off many times faster, while a lone
event is still handled as soon as it arrives.
"""

from __future__ import annotations

import asyncio
import enum
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any, NoReturn, TypeVar

from faststream import AckPolicy
from faststream.kafka import KafkaBroker, KafkaMessage
from faststream.kafka.fastapi import KafkaMessage as FastAPIKafkaMessage
from faststream.kafka.fastapi import KafkaRouter
from opentelemetry import propagate, trace
from prometheus_client import Counter, Histogram
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from learnstream.events import (
    DomainEvent,
    Envelope,
    EventDecodeError,
    KafkaRecord,
    decode,
    dlq_topic_name,
)
from learnstream.events.codec import headers_to_dict
from learnstream.events.identity import LearnerErasureRequested
from learnstream.events.registry import EVENT_TYPES
from learnstream.runtime.bus import RecordPublisher
from learnstream.runtime.db import is_transient
from learnstream.runtime.vault import KeyVault

log = logging.getLogger(__name__)

E = TypeVar("E", bound=DomainEvent)

OUTCOMES = Counter(
    "learnstream_consumer_messages_total",
    "Messages a consumer finished with, by outcome",
    ["consumer", "topic", "outcome"],
)
BATCH_SIZE = Histogram(
    "learnstream_consumer_batch_messages",
    "Messages per batch a consumer applied in one transaction",
    ["consumer"],
    buckets=(1, 2, 5, 10, 50, 100, 200, 500, 1000),
)
BATCH_WAIT_MS = 25
_tracer = trace.get_tracer("learnstream.consumer")
_INBOX_BATCH = text(
    'INSERT INTO inbox (consumer, event_id, event_type, topic, partition, "offset")'
    " SELECT :consumer, e.* FROM unnest("
    "CAST(:event_ids AS uuid[]), CAST(:event_types AS text[]), CAST(:topics AS text[]),"
    " CAST(:partitions AS integer[]), CAST(:offsets AS bigint[])) AS e"
    " ON CONFLICT DO NOTHING RETURNING event_id"
)


class InfrastructureUnavailable(Exception):
    """The consumer's own store is unreachable; the message must be redelivered, not parked."""


class Outcome(enum.StrEnum):
    APPLIED = "applied"
    DUPLICATE = "duplicate"
    IGNORED = "ignored"
    DEAD_LETTERED = "dead_lettered"


@dataclass(frozen=True)
class Delivery:
    """Where a message came from, for the inbox and dead-letter headers."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    headers: list[tuple[str, bytes]]
    value: bytes | None


@dataclass(frozen=True)
class HandlerContext:
    """What a handler gets besides the event: the transaction to write its effect in."""

    session: AsyncSession
    envelope: Envelope
    delivery: Delivery


Handler = Callable[[Any, HandlerContext], Awaitable[None]]


def dead_letter_record(
    delivery: Delivery, *, reason: str, error: BaseException, consumer: str, attempts: int | None = None
) -> KafkaRecord:
    """The ``<topic>.dlq`` copy of a message, with why it was parked in ``dlq_*`` headers."""
    headers = [(k, v) for k, v in delivery.headers if not k.startswith("dlq_")]
    headers += [
        ("dlq_reason", reason.encode()),
        ("dlq_error", describe_error(error).encode()),
        ("dlq_consumer", consumer.encode()),
    ]
    if attempts is not None:
        headers.append(("dlq_attempts", str(attempts).encode()))
    headers += [
        ("dlq_original_topic", delivery.topic.encode()),
        ("dlq_original_partition", str(delivery.partition).encode()),
        ("dlq_original_offset", str(delivery.offset).encode()),
    ]
    return KafkaRecord(
        topic=dlq_topic_name(delivery.topic),
        key=delivery.key or b"",
        value=delivery.value or b"",
        headers=headers,
    )


def describe_error(error: BaseException) -> str:
    """What went wrong, without data: SQL errors carry no parameters (the engine hides
    them) and the message is cut short, since DLQ headers outlive erasure requests."""
    return f"{type(error).__name__}: {error}"[:500]


async def raw_values(message: KafkaMessage) -> list[bytes]:
    """Hand the handler the untouched values: decoding (and its failures) is ours, not FastStream's."""
    raw = message.raw_message
    records = raw if isinstance(raw, tuple) else (raw,)
    return [record.value or b"" for record in records]


def delivery_of(record: Any) -> Delivery:
    """Where a broker record came from, with its untouched headers and value."""
    return Delivery(
        topic=record.topic,
        partition=record.partition,
        offset=record.offset,
        key=record.key,
        headers=list(record.headers),
        value=record.value,
    )


@dataclass(frozen=True)
class _Pending:
    """A decoded message with a handler, waiting to be applied."""

    handler: Handler
    envelope: Envelope
    delivery: Delivery


class EventConsumer:
    """One consumer group (usually named after the service) and its handlers.

    By default it reads each topic from its first event and applies every event exactly
    once in effect (an inbox row in the handler's transaction). A *notifier*
    (``exactly_once=False, from_start=False``) is for effects that only matter now, such
    as pushing live updates: a new group starts at the end of each topic instead of
    reading the history, and no inbox row is written, so a redelivered event may be
    handled twice.

    ``max_batch`` bounds the messages applied in one transaction; 1 gives every message a
    transaction of its own (a job queue whose handler works for seconds, say).
    """

    def __init__(
        self,
        name: str,
        sessions: async_sessionmaker[AsyncSession],
        dead_letters: RecordPublisher,
        *,
        max_attempts: int = 5,
        backoff_seconds: float = 0.2,
        max_backoff_seconds: float = 5.0,
        exactly_once: bool = True,
        from_start: bool = True,
        max_batch: int = 200,
        vault: KeyVault | None = None,
    ) -> None:
        self.name = name
        self.vault = vault
        self.exactly_once = exactly_once
        self.from_start = from_start
        self._sessions = sessions
        self._dead_letters = dead_letters
        self._handlers: dict[str, Handler] = {}
        self._topics: dict[str, None] = {}
        self._max_attempts = max_attempts
        self._backoff = backoff_seconds
        self._max_backoff = max_backoff_seconds
        self.max_batch = max_batch

    @property
    def topics(self) -> list[str]:
        return list(self._topics)

    @property
    def handled_types(self) -> list[str]:
        """The ``ce_type`` of every event this consumer has a handler for."""
        return list(self._handlers)

    def on(self, event_type: type[E]) -> Callable[[Callable[[E, HandlerContext], Awaitable[None]]], Handler]:
        """Register the handler of ``event_type``; its topic is subscribed automatically."""

        def register(func: Callable[[E, HandlerContext], Awaitable[None]]) -> Handler:
            self._handlers[event_type.ce_type()] = func
            self._topics[event_type.topic()] = None
            return func

        return register

    async def handle(self, delivery: Delivery) -> Outcome:
        """Apply one message exactly once in effect; return what happened to it.

        Raises :class:`InfrastructureUnavailable` when the database is out of reach, so
        the message is redelivered later instead of being dead-lettered.
        """
        [outcome] = await self.handle_batch([delivery])
        return outcome

    async def handle_batch(self, deliveries: Sequence[Delivery]) -> list[Outcome]:
        """Apply a batch of messages (in order) exactly once in effect; what happened to each.

        Raises :class:`InfrastructureUnavailable` when the database is out of reach: the
        whole batch is redelivered later (the inbox skips what was applied before)."""
        outcomes: list[Outcome | None] = [None] * len(deliveries)
        pending: list[tuple[int, _Pending]] = []
        for index, delivery in enumerate(deliveries):
            announced = headers_to_dict(delivery.headers).get("ce_type")
            if announced in EVENT_TYPES and announced not in self._handlers:
                # a catalogued event this consumer does not react to: skip it unread. A type
                # the catalog does not know is decoded below and dead-lettered, to be
                # redriven once this consumer is upgraded.
                outcomes[index] = self._count(delivery, Outcome.IGNORED)
                continue
            try:
                envelope = decode(delivery.headers, delivery.value)
            except EventDecodeError as exc:
                await self._dead_letter(delivery, exc, attempts=1)
                outcomes[index] = self._count(delivery, Outcome.DEAD_LETTERED)
                continue
            handler = self._handlers.get(envelope.ce_type)
            if handler is None:
                outcomes[index] = self._count(delivery, Outcome.IGNORED)
                continue
            pending.append((index, _Pending(handler, envelope, delivery)))
        if self.vault is not None and pending:
            try:
                pending = await self._revealed(self.vault, pending)
            except Exception as exc:
                if is_transient(exc):
                    await self._wait_for_store(exc, 1)
                raise
        if len(pending) > 1:
            try:
                applied = await self._apply_together([item for _, item in pending])
            except Exception as exc:
                if is_transient(exc):
                    await self._wait_for_store(exc, 1)
                # an event of the batch fails: apply them one by one, so that only that
                # one is retried and, if it keeps failing, parked
                log.info(
                    "a batch failed (%s); applying its %d events one at a time",
                    type(exc).__name__,
                    len(pending),
                    extra={"consumer": self.name},
                )
            else:
                BATCH_SIZE.labels(self.name).observe(len(pending))
                for (index, item), done in zip(pending, applied, strict=True):
                    outcome = Outcome.APPLIED if done else Outcome.DUPLICATE
                    outcomes[index] = self._count(item.delivery, outcome)
                pending = []
        for index, item in pending:
            outcomes[index] = await self._apply_with_retries(item)
        return [outcome for outcome in outcomes if outcome is not None]

    @staticmethod
    async def _revealed(vault: KeyVault, pending: list[tuple[int, _Pending]]) -> list[tuple[int, _Pending]]:
        """The batch with personal fields in clear; an erasure announced in it first drops the
        person's cached key, so nothing after it in the batch is opened with that key."""
        for _, item in pending:
            if isinstance(item.envelope.event, LearnerErasureRequested):
                vault.forget(str(item.envelope.event.user_id))
        events = await vault.reveal([item.envelope.event for _, item in pending])
        return [
            (
                index,
                item
                if event is item.envelope.event
                else replace(item, envelope=replace(item.envelope, event=event)),
            )
            for (index, item), event in zip(pending, events, strict=True)
        ]

    async def _apply_with_retries(self, item: _Pending) -> Outcome:
        attempt = 0
        while True:
            attempt += 1
            try:
                [applied] = await self._apply_together([item])
                BATCH_SIZE.labels(self.name).observe(1)
                return self._count(item.delivery, Outcome.APPLIED if applied else Outcome.DUPLICATE)
            except Exception as exc:
                delay = min(self._backoff * 2 ** (attempt - 1), self._max_backoff)
                if is_transient(exc):
                    await self._wait_for_store(exc, attempt)
                if attempt >= self._max_attempts:
                    log.exception(
                        "event failed %d times, dead-lettering",
                        attempt,
                        extra={"consumer": self.name, "ce_type": item.envelope.ce_type},
                    )
                    await self._dead_letter(item.delivery, exc, attempts=attempt)
                    return self._count(item.delivery, Outcome.DEAD_LETTERED)
                log.warning(
                    "event failed (attempt %d/%d), retrying in %.2fs: %s",
                    attempt,
                    self._max_attempts,
                    delay,
                    type(exc).__name__,
                    extra={"consumer": self.name, "ce_type": item.envelope.ce_type},
                )
                await asyncio.sleep(delay)

    async def _wait_for_store(self, exc: Exception, attempt: int) -> NoReturn:
        """The event is fine, our store is not: never dead-letter for that, redeliver later."""
        delay = min(self._backoff * 2 ** (attempt - 1), self._max_backoff)
        log.warning("store unavailable, will redeliver in %.2fs: %s", delay, type(exc).__name__)
        await asyncio.sleep(delay)
        raise InfrastructureUnavailable(str(type(exc).__name__)) from exc

    async def _apply_together(self, items: Sequence[_Pending]) -> list[bool]:
        """Apply ``items`` in one transaction; for each, whether it was new (not a duplicate)."""
        async with self._sessions() as session, session.begin():
            if self.exactly_once:
                recorded = set(
                    (
                        await session.scalars(
                            _INBOX_BATCH,
                            {
                                "consumer": self.name,
                                "event_ids": [item.envelope.event.event_id for item in items],
                                "event_types": [item.envelope.ce_type for item in items],
                                "topics": [item.delivery.topic for item in items],
                                "partitions": [item.delivery.partition for item in items],
                                "offsets": [item.delivery.offset for item in items],
                            },
                        )
                    ).all()
                )
            applied: list[bool] = []
            for item in items:
                event = item.envelope.event
                if self.exactly_once:
                    if event.event_id not in recorded:
                        applied.append(False)
                        continue
                    recorded.discard(event.event_id)  # the same event twice in one batch
                # the handler's work joins the trace of the request that caused the event
                parent = propagate.extract(headers_to_dict(item.delivery.headers))
                with _tracer.start_as_current_span(
                    f"{self.name} apply {event.event_name()}", context=parent, kind=trace.SpanKind.CONSUMER
                ):
                    await item.handler(event, HandlerContext(session, item.envelope, item.delivery))
                applied.append(True)
            return applied

    async def _dead_letter(self, delivery: Delivery, error: BaseException, *, attempts: int) -> None:
        reason = error.reason if isinstance(error, EventDecodeError) else "handler-failed"
        record = dead_letter_record(
            delivery, reason=reason, error=error, consumer=self.name, attempts=attempts
        )
        await self._dead_letters.publish([record])

    def _count(self, delivery: Delivery, outcome: Outcome) -> Outcome:
        OUTCOMES.labels(self.name, delivery.topic, outcome.value).inc()
        return outcome

    def attach(self, router: KafkaRouter | KafkaBroker) -> None:
        """Subscribe this consumer's group to its topics on a FastStream router or broker."""
        if not self._topics:
            return
        handled = ", ".join(sorted(self._handlers)) or "every event (projection)"

        subscriber = router.subscriber(
            *self.topics,
            group_id=self.name,
            auto_offset_reset="earliest" if self.from_start else "latest",
            ack_policy=AckPolicy.NACK_ON_ERROR,
            batch=True,
            max_records=self.max_batch,
            # a poll returns as soon as anything has arrived; with nothing there, FastStream
            # waits this long and then sleeps as long again before the next poll, so it is
            # what a lone event may wait at most beyond its delivery
            batch_timeout_ms=BATCH_WAIT_MS,
            title=f"{self.name}:consumer",
            description=(
                f"Consumer group `{self.name}`: CloudEvents binary mode, applied in batches of up "
                f"to {self.max_batch} per transaction; handles {handled}."
            ),
            decoder=raw_values,
        )

        async def deliver(message: KafkaMessage | FastAPIKafkaMessage) -> None:
            raw = message.raw_message
            records = raw if isinstance(raw, tuple) else (raw,)
            await self.handle_batch([delivery_of(record) for record in records])

        # the message is injected by annotation, and FastStream's FastAPI integration wants
        # its own (FastAPI-flavoured) annotation where a plain broker wants the core one
        if isinstance(router, KafkaRouter):

            @subscriber
            async def consume_in_app(body: list[bytes], message: FastAPIKafkaMessage) -> None:
                await deliver(message)

        else:

            @subscriber
            async def consume(body: list[bytes], message: KafkaMessage) -> None:
                await deliver(message)

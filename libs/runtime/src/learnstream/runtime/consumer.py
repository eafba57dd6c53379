"""Idempotent event consumers: inbox, bounded retries, dead letters, explicit acks.

A service declares what it reacts to with :meth:`EventConsumer.on`; the runtime
subscribes to the topics those events live on. For every message:

1. decode the CloudEvent; a message we cannot read goes straight to ``<topic>.dlq``;
2. in one transaction, record the event id in the ``inbox`` table and apply the
   handler's effect, so a redelivered event finds its id and does nothing;
3. on failure, retry with exponential backoff up to ``max_attempts``, then park
   the message in ``<topic>.dlq`` with the error in headers, so the partition
   keeps moving;
4. only then is the offset committed (``AckPolicy.NACK_ON_ERROR``: acked after the
   handler returns, rewound if the DLQ itself cannot be written). FastStream's
   default policy acks first, which loses messages on a crash; it is never used.
"""

from __future__ import annotations

import asyncio
import enum
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from faststream import AckPolicy
from faststream.kafka import KafkaBroker, KafkaMessage
from faststream.kafka.fastapi import KafkaMessage as FastAPIKafkaMessage
from faststream.kafka.fastapi import KafkaRouter
from prometheus_client import Counter
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
from learnstream.events.registry import EVENT_TYPES
from learnstream.runtime.bus import RecordPublisher
from learnstream.runtime.db import is_transient

log = logging.getLogger(__name__)

E = TypeVar("E", bound=DomainEvent)

OUTCOMES = Counter(
    "learnstream_consumer_messages_total",
    "Messages a consumer finished with, by outcome",
    ["consumer", "topic", "outcome"],
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


async def _raw_value(message: KafkaMessage) -> bytes:
    """Hand the handler the untouched value: decoding (and its failures) is ours, not FastStream's."""
    return message.body


class EventConsumer:
    """One consumer group (usually named after the service) and its handlers.

    By default it reads each topic from its first event and applies every event exactly
    once in effect (an inbox row in the handler's transaction). A *notifier*
    (``exactly_once=False, from_start=False``) is for effects that only matter now, such
    as pushing live updates: a new group starts at the end of each topic instead of
    reading the history, and no inbox row is written, so a redelivered event may be
    handled twice.
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
    ) -> None:
        self.name = name
        self.exactly_once = exactly_once
        self.from_start = from_start
        self._sessions = sessions
        self._dead_letters = dead_letters
        self._handlers: dict[str, Handler] = {}
        self._topics: dict[str, None] = {}
        self._max_attempts = max_attempts
        self._backoff = backoff_seconds
        self._max_backoff = max_backoff_seconds

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
        announced = headers_to_dict(delivery.headers).get("ce_type")
        if announced in EVENT_TYPES and announced not in self._handlers:
            # a catalogued event this consumer does not react to: skip it unread. A type
            # the catalog does not know is decoded below and dead-lettered, to be
            # redriven once this consumer is upgraded.
            return self._count(delivery, Outcome.IGNORED)
        try:
            envelope = decode(delivery.headers, delivery.value)
        except EventDecodeError as exc:
            await self._dead_letter(delivery, exc, attempts=1)
            return self._count(delivery, Outcome.DEAD_LETTERED)
        handler = self._handlers.get(envelope.ce_type)
        if handler is None:
            return self._count(delivery, Outcome.IGNORED)

        attempt = 0
        while True:
            attempt += 1
            try:
                applied = await self._apply_once(handler, envelope, delivery)
                return self._count(delivery, Outcome.APPLIED if applied else Outcome.DUPLICATE)
            except Exception as exc:
                delay = min(self._backoff * 2 ** (attempt - 1), self._max_backoff)
                if is_transient(exc):
                    # the event is fine, our store is not: never dead-letter for that
                    log.warning("store unavailable, will redeliver in %.2fs: %s", delay, type(exc).__name__)
                    await asyncio.sleep(delay)
                    raise InfrastructureUnavailable(str(type(exc).__name__)) from exc
                if attempt >= self._max_attempts:
                    log.exception(
                        "event failed %d times, dead-lettering",
                        attempt,
                        extra={"consumer": self.name, "ce_type": envelope.ce_type},
                    )
                    await self._dead_letter(delivery, exc, attempts=attempt)
                    return self._count(delivery, Outcome.DEAD_LETTERED)
                log.warning(
                    "event failed (attempt %d/%d), retrying in %.2fs: %s",
                    attempt,
                    self._max_attempts,
                    delay,
                    type(exc).__name__,
                    extra={"consumer": self.name, "ce_type": envelope.ce_type},
                )
                await asyncio.sleep(delay)

    async def _apply_once(self, handler: Handler, envelope: Envelope, delivery: Delivery) -> bool:
        async with self._sessions() as session, session.begin():
            if not self.exactly_once:
                await handler(envelope.event, HandlerContext(session, envelope, delivery))
                return True
            recorded = await session.scalar(
                text(
                    'INSERT INTO inbox (consumer, event_id, event_type, topic, partition, "offset")'
                    " VALUES (:consumer, :event_id, :event_type, :topic, :partition, :offset)"
                    " ON CONFLICT DO NOTHING RETURNING 1"
                ),
                {
                    "consumer": self.name,
                    "event_id": envelope.event.event_id,
                    "event_type": envelope.ce_type,
                    "topic": delivery.topic,
                    "partition": delivery.partition,
                    "offset": delivery.offset,
                },
            )
            if recorded is None:
                return False
            await handler(envelope.event, HandlerContext(session, envelope, delivery))
            return True

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
            title=f"{self.name}:consumer",
            description=f"Consumer group `{self.name}`: CloudEvents binary mode; handles {handled}.",
            decoder=_raw_value,
        )

        async def deliver(message: KafkaMessage | FastAPIKafkaMessage) -> None:
            raw = message.raw_message
            assert not isinstance(raw, tuple)
            await self.handle(
                Delivery(
                    topic=raw.topic,
                    partition=raw.partition,
                    offset=raw.offset,
                    key=raw.key,
                    headers=list(raw.headers),
                    value=raw.value,
                )
            )

        # the message is injected by annotation, and FastStream's FastAPI integration wants
        # its own (FastAPI-flavoured) annotation where a plain broker wants the core one
        if isinstance(router, KafkaRouter):

            @subscriber
            async def consume_in_app(body: bytes, message: FastAPIKafkaMessage) -> None:
                await deliver(message)

        else:

            @subscriber
            async def consume(body: bytes, message: KafkaMessage) -> None:
                await deliver(message)

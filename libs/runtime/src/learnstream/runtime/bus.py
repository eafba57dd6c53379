"""Producing to Kafka, and making sure the topics exist.

Records are already CloudEvents (see ``learnstream.events.codec``); this module
only delivers them with ``acks=all``. Idempotent producing is a setting because
real Kafka supports it and the embedded Tansu broker refuses ``InitProducerId``;
nothing relies on it, since every consumer dedupes by event id.

Every call that waits on the broker is bounded (:data:`BROKER_WAIT_SECONDS`): a client
left waiting on a broker that restarted is dropped and a new one made at the next call,
so the outbox relay, which holds its batch while it waits, never waits for ever.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Sequence
from typing import Protocol

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaTimeoutError, TopicAlreadyExistsError

from learnstream.events import KafkaRecord, dlq_topic_name, topic_name
from learnstream.events.base import CONTEXTS

log = logging.getLogger(__name__)

BROKER_WAIT_SECONDS = 30.0
"""The longest a publish, or a look at the log's ends, waits for the broker (twice the
producer's request timeout: a batch the broker did not take is retried once in it)."""
CLIENT_STOP_SECONDS = 5.0
"""The longest a client given up on may take to stop (a producer's stop flushes what it
holds, which waits on the broker)."""


class RecordPublisher(Protocol):
    """Delivers records; returns only once the broker has them (or raises)."""

    async def publish(self, records: Sequence[KafkaRecord]) -> None: ...


class KafkaPublisher:
    """An aiokafka producer that sends batches in order and waits for every ack."""

    def __init__(self, bootstrap_servers: str, *, idempotent: bool, client_id: str) -> None:
        self._options = {
            "bootstrap_servers": bootstrap_servers,
            "client_id": client_id,
            "acks": "all",
            "enable_idempotence": idempotent,
            "linger_ms": 5,
            "request_timeout_ms": 15_000,
        }
        self._producer: AIOKafkaProducer | None = None
        self._started = False
        self._written: dict[TopicPartition, int] = {}
        """Per partition written to: the lowest offset of the latest write (a log that ends
        at or before it has lost that write)."""
        self._watch: AIOKafkaConsumer | None = None

    async def start(self) -> None:
        self._started = True
        await self._producing()

    async def stop(self) -> None:
        self._started = False
        producer, self._producer = self._producer, None
        if producer is not None:
            await producer.stop()
        await self._drop_watch()

    async def _producing(self) -> AIOKafkaProducer:
        if self._producer is None:
            # aiokafka binds to the running loop, so the producer is made here, not in __init__
            producer = AIOKafkaProducer(**self._options)
            await producer.start()
            self._producer = producer
        return self._producer

    async def publish(self, records: Sequence[KafkaRecord]) -> None:
        if not self._started:
            raise ConnectionError("the Kafka producer is not started")
        try:
            async with asyncio.timeout(BROKER_WAIT_SECONDS):
                producer = await self._producing()
                # send() queues in call order, so records of one partition keep their order
                futures = [
                    await producer.send(
                        record.topic, value=record.value, key=record.key, headers=record.headers
                    )
                    for record in records
                ]
                acked = await asyncio.gather(*futures)
        except TimeoutError:
            # the records may still go out from the old producer: at least once, as ever
            producer, self._producer = self._producer, None
            if producer is not None:
                await _stopped(producer)
            raise KafkaTimeoutError(
                f"the broker did not acknowledge {len(records)} records within {BROKER_WAIT_SECONDS:g} s"
            ) from None
        first: dict[TopicPartition, int] = {}
        for sent in acked:
            tp = TopicPartition(sent.topic, sent.partition)
            first[tp] = min(first.get(tp, sent.offset), sent.offset)
        for tp, offset in first.items():
            self._written[tp] = max(self._written.get(tp, offset), offset)

    async def log_was_lost(self, topics: Iterable[str]) -> bool:
        """Whether the broker lost its log of ``topics`` (the embedded broker keeps topics in
        memory, so a restart empties them): a partition this producer wrote to now ends at
        or before the first offset of its latest write there, or, for a topic it has not
        written to since it started, the topic is gone or every partition is empty. (The
        first offset, not the last: Tansu reports the end of a partition whose last write
        was a batch of several records as the batch's first offset plus one.) Forgets what
        it wrote to those topics when it says so, so one loss is reported once."""
        try:
            async with asyncio.timeout(BROKER_WAIT_SECONDS):
                return await self._log_was_lost(topics)
        except TimeoutError:
            await self._drop_watch()
            raise KafkaTimeoutError(
                f"the broker did not tell the log's ends within {BROKER_WAIT_SECONDS:g} s"
            ) from None

    async def _drop_watch(self) -> None:
        watch, self._watch = self._watch, None
        if watch is not None:
            await _stopped(watch)

    async def _log_was_lost(self, topics: Iterable[str]) -> bool:
        if self._watch is None:
            self._watch = AIOKafkaConsumer(**_client_options(self._options), enable_auto_commit=False)
            await self._watch.start()
        watch = self._watch
        known = await watch.topics()  # from fresh metadata: a topic the broker lost is not in it
        lost = False
        for topic in set(topics):
            if topic not in known:
                lost = True
                continue
            written = {tp: offset for tp, offset in self._written.items() if tp.topic == topic}
            partitions = list(written) or [
                TopicPartition(topic, p) for p in sorted(watch.partitions_for_topic(topic) or ())
            ]
            if not partitions:
                continue
            ends = await watch.end_offsets(partitions)
            if (
                any(ends.get(tp, 0) <= offset for tp, offset in written.items())
                if written
                else all(ends.get(tp, 0) == 0 for tp in partitions)
            ):
                lost = True
                for tp in written:
                    del self._written[tp]
        return lost


async def _stopped(client: AIOKafkaProducer | AIOKafkaConsumer) -> None:
    """Stop a client, giving up after :data:`CLIENT_STOP_SECONDS`."""
    try:
        async with asyncio.timeout(CLIENT_STOP_SECONDS):
            await client.stop()
    except Exception as exc:  # a client given up on: the next is made anew
        log.warning("a Kafka client did not stop cleanly (%s)", type(exc).__name__)


def _client_options(options: dict[str, object]) -> dict[str, object]:
    return {"bootstrap_servers": options["bootstrap_servers"], "client_id": f"{options['client_id']}-watch"}


async def log_is_empty(bootstrap_servers: str, topics: list[str]) -> bool:
    """True when every partition of ``topics`` ends at offset 0 (nothing was ever kept)."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap_servers, enable_auto_commit=False)
    await consumer.start()
    try:
        await consumer.topics()  # fetches the cluster's metadata, so partitions are known
        partitions = [
            TopicPartition(topic, partition)
            for topic in topics
            for partition in sorted(consumer.partitions_for_topic(topic) or ())
        ]
        if not partitions:
            return True
        ends = await consumer.end_offsets(partitions)
        return all(offset == 0 for offset in ends.values())
    finally:
        await consumer.stop()


def all_topics(contexts: Iterable[str] = CONTEXTS) -> list[str]:
    """Every context topic and its dead-letter topic."""
    names: list[str] = []
    for context in contexts:
        names += [topic_name(context), dlq_topic_name(topic_name(context))]
    return names


async def ensure_topics(
    bootstrap_servers: str, topics: Iterable[str], *, partitions: int, replication: int = 1
) -> list[str]:
    """Create the topics that do not exist yet; return the names created now."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers, client_id="learnstream-admin")
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [name for name in topics if name not in existing]
        if not missing:
            return []
        try:
            await admin.create_topics([NewTopic(name, partitions, replication) for name in missing])
        except TopicAlreadyExistsError:
            log.info("topics created concurrently by someone else")
        return missing
    finally:
        await admin.close()

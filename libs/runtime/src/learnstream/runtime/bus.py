"""Producing to Kafka, and making sure the topics exist.

Records are already CloudEvents (see ``learnstream.events.codec``); this module
only delivers them with ``acks=all``. Idempotent producing is a setting because
real Kafka supports it and the embedded Tansu broker refuses ``InitProducerId``;
nothing relies on it, since every consumer dedupes by event id.

Every call that waits on the broker is bounded (:data:`BROKER_WAIT_SECONDS`): a client
left waiting on a broker that restarted is retired (it stops in the background) and a new
one made at the next call, so the outbox relay, which holds its batch while it waits,
never waits for ever.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Sequence
from typing import Protocol

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError, KafkaTimeoutError, TopicAlreadyExistsError

from learnstream.events import KafkaRecord, dlq_topic_name, topic_name
from learnstream.events.base import CONTEXTS

log = logging.getLogger(__name__)

BROKER_WAIT_SECONDS = 30.0
"""The longest a publish, or a look at the log's ends, waits for the broker (twice the
producer's request timeout)."""
CLIENT_STOP_SECONDS = 5.0
"""The longest :meth:`KafkaPublisher.stop` waits for each client to stop (a producer's stop
flushes what it holds, which waits on the broker; nothing unacknowledged was recorded as
published, so the relay sends it again after a restart)."""


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
        self._making = asyncio.Lock()
        """Held while a producer is made: the relay and dead-letter publishing share this."""
        self._retiring: set[asyncio.Task[None]] = set()
        """Clients given up on, stopping in the background."""

    async def start(self) -> None:
        self._started = True
        await self._producing()

    async def stop(self) -> None:
        self._started = False
        producer, self._producer = self._producer, None
        watch, self._watch = self._watch, None
        for client in (producer, watch):
            if client is not None:
                await _stopped(client, bound=CLIENT_STOP_SECONDS)
        for task in self._retiring:
            task.cancel()
        await asyncio.gather(*self._retiring, return_exceptions=True)

    async def _producing(self) -> AIOKafkaProducer:
        async with self._making:
            if self._producer is None:
                # aiokafka binds to the running loop, so the producer is made here, not in __init__
                producer = AIOKafkaProducer(**self._options)
                try:
                    await producer.start()
                except BaseException:
                    self._retire(producer)
                    raise
                if not self._started:  # stopped while this one started
                    self._retire(producer)
                    raise ConnectionError("the Kafka producer is stopped")
                self._producer = producer
            return self._producer

    def _retire(self, client: AIOKafkaProducer | AIOKafkaConsumer) -> None:
        """Let a client given up on stop in the background: its stop waits for what it holds
        (an idempotent producer never gives a batch up), and cut short it would leave its
        tasks and sockets running. :meth:`stop` cuts short what is still stopping then."""
        task = asyncio.create_task(_stopped(client, bound=None))
        self._retiring.add(task)
        task.add_done_callback(self._retiring.discard)

    async def publish(self, records: Sequence[KafkaRecord]) -> None:
        if not self._started:
            raise ConnectionError("the Kafka producer is not started")
        producer: AIOKafkaProducer | None = None
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
            if producer is not None and self._producer is producer:
                self._producer = None
                self._retire(producer)
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
        except (TimeoutError, KafkaError) as exc:
            # a consumer that failed once may never recover its metadata: the next is made anew
            watch, self._watch = self._watch, None
            if watch is not None:
                self._retire(watch)
            if isinstance(exc, TimeoutError):
                raise KafkaTimeoutError(
                    f"the broker did not tell the log's ends within {BROKER_WAIT_SECONDS:g} s"
                ) from None
            raise

    async def _log_was_lost(self, topics: Iterable[str]) -> bool:
        if self._watch is None:
            watch = AIOKafkaConsumer(**_client_options(self._options), enable_auto_commit=False)
            try:
                await watch.start()
            except BaseException:
                self._retire(watch)
                raise
            self._watch = watch
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


async def _stopped(client: AIOKafkaProducer | AIOKafkaConsumer, *, bound: float | None) -> None:
    """Stop a client, giving up after ``bound`` seconds (``None``: when it has stopped)."""
    try:
        async with asyncio.timeout(bound):
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

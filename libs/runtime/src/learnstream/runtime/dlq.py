"""The dead-letter topics: list what was parked and why, and send it back (re-drive).

``python -m learnstream.runtime.dlq list`` prints every message of the ``<topic>.dlq``
topics with the reason, the error, the consumer that parked it and where it came from
(``dlq_*`` headers, :func:`~learnstream.runtime.consumer.dead_letter_record`), and whether
it was re-driven already. ``python -m learnstream.runtime.dlq redrive`` publishes each
message not yet re-driven to the topic it came from, with its own key, value and headers
(without the ``dlq_*`` ones), then records how far it got as the offsets of the consumer
group ``learnstream-dlq-redrive``; a second run sends nothing twice, and a message that
fails again is parked again as a new one. Every consumer dedupes by event id, so the
consumers that had handled the message before do nothing with it; the one that parked it
(fixed or upgraded since) applies it.

The broker is ``LEARNSTREAM_KAFKA_BOOTSTRAP_SERVERS`` (``--bootstrap-servers``), the
topics every context's (``--topic`` for some).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.structs import OffsetAndMetadata

from learnstream.events import dlq_topic_name, topic_name
from learnstream.events.base import CONTEXTS

_ABOUT = "The dead-letter topics: list what was parked and why, and send it back (re-drive)."
REDRIVE_GROUP = "learnstream-dlq-redrive"
"""The consumer group whose committed offsets say how far each dead-letter partition was re-driven."""


@dataclass(frozen=True)
class Parked:
    """One message of a dead-letter topic."""

    dlq_topic: str
    partition: int
    offset: int
    redriven: bool
    reason: str
    error: str
    consumer: str
    attempts: int | None
    original: str
    event_type: str
    event_id: str
    key: str
    headers: dict[str, str] = field(repr=False)
    value: bytes = field(repr=False)

    def original_topic(self) -> str:
        return self.headers.get("dlq_original_topic") or self.dlq_topic.removesuffix(".dlq")

    def summary(self) -> dict[str, object]:
        described = asdict(self)
        del described["headers"], described["value"]
        described["bytes"] = len(self.value)
        return described


def dead_letter_topics(topics: Sequence[str] = ()) -> list[str]:
    """``<topic>.dlq`` for each topic given (either name), else for every context's topic."""
    chosen = topics or [topic_name(context) for context in CONTEXTS]
    return [name if name.endswith(".dlq") else dlq_topic_name(name) for name in chosen]


def _parked(record: object, redriven_below: int | None) -> Parked:
    headers = {k: v.decode(errors="replace") for k, v in getattr(record, "headers", ())}
    attempts = headers.get("dlq_attempts")
    offset: int = getattr(record, "offset", 0)
    key: bytes | None = getattr(record, "key", None)
    return Parked(
        dlq_topic=getattr(record, "topic", ""),
        partition=getattr(record, "partition", 0),
        offset=offset,
        redriven=redriven_below is not None and offset < redriven_below,
        reason=headers.get("dlq_reason", ""),
        error=headers.get("dlq_error", ""),
        consumer=headers.get("dlq_consumer", ""),
        attempts=int(attempts) if attempts and attempts.isdigit() else None,
        original="{}[{}]@{}".format(
            headers.get("dlq_original_topic", "?"),
            headers.get("dlq_original_partition", "?"),
            headers.get("dlq_original_offset", "?"),
        ),
        event_type=headers.get("ce_type", ""),
        event_id=headers.get("ce_id", ""),
        key=(key or b"").decode(errors="replace"),
        headers=headers,
        value=getattr(record, "value", None) or b"",
    )


class DeadLetters:
    """Reads the dead-letter topics of one broker; re-drives them."""

    def __init__(self, bootstrap_servers: str, topics: Sequence[str] = ()) -> None:
        self.bootstrap_servers = bootstrap_servers
        self.topics = dead_letter_topics(topics)

    async def _partitions(self, consumer: AIOKafkaConsumer) -> list[TopicPartition]:
        await consumer.topics()  # the cluster's metadata, so partitions are known
        return [
            TopicPartition(topic, partition)
            for topic in self.topics
            for partition in sorted(consumer.partitions_for_topic(topic) or ())
        ]

    async def _read(self, *, pending_only: bool) -> tuple[list[Parked], dict[TopicPartition, int]]:
        """Every message (or only those not re-driven), and how far each partition was read."""
        consumer = AIOKafkaConsumer(
            bootstrap_servers=self.bootstrap_servers,
            group_id=REDRIVE_GROUP,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
        )
        await consumer.start()
        try:
            partitions = await self._partitions(consumer)
            if not partitions:
                return [], {}
            consumer.assign(partitions)
            ends = await consumer.end_offsets(partitions)
            starts = await consumer.beginning_offsets(partitions)
            done: dict[TopicPartition, int | None] = {}
            for tp in partitions:
                committed = await consumer.committed(tp)
                done[tp] = committed
                begin = max(committed or 0, starts[tp]) if pending_only else starts[tp]
                consumer.seek(tp, begin)
            found: list[Parked] = []
            # read until a fetch brings nothing more: an end offset alone cannot say where the
            # log ends, since the embedded broker (Tansu) reports the end of a partition whose
            # last write was a batch of several records as the batch's first offset plus one
            deadline = time.monotonic() + 60
            while True:
                batches = await consumer.getmany(*partitions, timeout_ms=500, max_records=500)
                for tp, records in batches.items():
                    found += [_parked(r, done[tp]) for r in records]
                if not batches:
                    positions = {tp: await consumer.position(tp) for tp in partitions}
                    if all(positions[tp] >= ends[tp] for tp in partitions) or time.monotonic() > deadline:
                        break
            found.sort(key=lambda p: (p.dlq_topic, p.partition, p.offset))
            return found, positions
        finally:
            await consumer.stop()

    async def parked(self) -> list[Parked]:
        """Every message of the dead-letter topics, oldest first per partition."""
        return (await self._read(pending_only=False))[0]

    async def redrive(self, *, dry_run: bool = False) -> list[Parked]:
        """Publish every message not re-driven yet to its original topic; what was sent."""
        pending, ends = await self._read(pending_only=True)
        if dry_run or not ends:
            return pending
        producer = AIOKafkaProducer(bootstrap_servers=self.bootstrap_servers, acks="all")
        await producer.start()
        try:
            sends = [
                await producer.send(
                    parked.original_topic(),
                    value=parked.value,
                    key=parked.key.encode() or None,
                    headers=[(k, v.encode()) for k, v in parked.headers.items() if not k.startswith("dlq_")],
                )
                for parked in pending
            ]
            await asyncio.gather(*sends)
        finally:
            await producer.stop()
        # only once the broker has every message: a crash before this re-sends (consumers dedupe)
        committer = AIOKafkaConsumer(
            bootstrap_servers=self.bootstrap_servers, group_id=REDRIVE_GROUP, enable_auto_commit=False
        )
        await committer.start()
        try:
            committer.assign(list(ends))
            await committer.commit({tp: OffsetAndMetadata(end, "") for tp, end in ends.items()})
        finally:
            await committer.stop()
        return pending


def _print(parked: list[Parked], as_json: bool, verb: str) -> None:
    if as_json:
        for item in parked:
            print(json.dumps(item.summary()))
        return
    for item in parked:
        state = "re-driven" if item.redriven else "pending"
        print(
            f"{item.dlq_topic}[{item.partition}]@{item.offset} {state}: {item.event_type or '?'}"
            f" {item.event_id or '?'} from {item.original}, parked by {item.consumer or '?'}"
            f" ({item.reason}{f', {item.attempts} attempts' if item.attempts else ''}): {item.error}"
        )
    print(f"{len(parked)} message(s) {verb}", file=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    from learnstream.runtime.settings import ServiceSettings

    parser = argparse.ArgumentParser(prog="python -m learnstream.runtime.dlq", description=_ABOUT)
    add = parser.add_argument
    add("command", choices=["list", "redrive"])
    add("--bootstrap-servers", default=None, help="default: LEARNSTREAM_KAFKA_BOOTSTRAP_SERVERS")
    add("--topic", action="append", default=[], help="a context topic or its .dlq (repeatable)")
    add("--json", action="store_true", help="one JSON object a message")
    add("--dry-run", action="store_true", help="redrive: say what would be sent, send nothing")
    args = parser.parse_args(argv)
    servers = args.bootstrap_servers or ServiceSettings(service_name="dlq").kafka_bootstrap_servers
    letters = DeadLetters(servers, args.topic)
    if args.command == "list":
        _print(asyncio.run(letters.parked()), args.json, "parked")
    else:
        sent = asyncio.run(letters.redrive(dry_run=args.dry_run))
        _print(sent, args.json, "would be re-driven" if args.dry_run else "re-driven")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The dead-letter command against the real broker: list what was parked and why, re-drive it
to where it came from once, and a message parked later on its own."""

from __future__ import annotations

import asyncio
import json
import uuid

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition

from learnstream.devstack.testing import Infra
from learnstream.events import dlq_topic_name, encode
from learnstream.events.codec import headers_to_dict
from learnstream.events.identity import UserRegistered
from learnstream.runtime.bus import KafkaPublisher, ensure_topics
from learnstream.runtime.consumer import Delivery, dead_letter_record
from learnstream.runtime.dlq import DeadLetters, main

pytestmark = [pytest.mark.integration, pytest.mark.faults]


def parked(topic: str, offset: int, value: bytes, reason: str, *, event: UserRegistered | None = None):  # type: ignore[no-untyped-def]
    headers = list(encode(event, source="/test").headers) if event else [("ce_type", b"?")]
    delivery = Delivery(topic=topic, partition=0, offset=offset, key=b"k1", headers=headers, value=value)
    return dead_letter_record(delivery, reason=reason, error=ValueError("bad"), consumer="tester", attempts=3)


async def read_all(servers: str, topic: str) -> list:  # type: ignore[type-arg]
    consumer = AIOKafkaConsumer(bootstrap_servers=servers, enable_auto_commit=False)
    await consumer.start()
    try:
        tp = TopicPartition(topic, 0)
        consumer.assign([tp])
        consumer.seek(tp, 0)
        end = (await consumer.end_offsets([tp]))[tp]
        records = []
        while (await consumer.position(tp)) < end:
            batch = await consumer.getmany(tp, timeout_ms=1000)
            records += batch.get(tp, [])
        return records
    finally:
        await consumer.stop()


async def test_parked_messages_are_listed_with_their_reason_and_re_driven_once(
    session_infra: Infra, capsys: pytest.CaptureFixture[str]
) -> None:
    servers = session_infra.kafka_bootstrap_servers
    topic = f"test-dlq-{uuid.uuid4().hex[:8]}"
    await ensure_topics(servers, [topic, dlq_topic_name(topic)], partitions=1)
    event = UserRegistered(user_id=uuid.uuid4(), role="student", display_name="Ann", timezone="UTC")
    good = encode(event, source="/test")
    publisher = KafkaPublisher(servers, idempotent=False, client_id="dlq-test")
    await publisher.start()
    try:
        await publisher.publish(
            [
                parked(topic, 4, b"not json", "not-json"),
                parked(topic, 9, good.value, "handler-failed", event=event),
            ]
        )
        letters = DeadLetters(servers, [topic])

        listed = await letters.parked()
        assert [(p.offset, p.reason, p.redriven, p.consumer, p.attempts) for p in listed] == [
            (0, "not-json", False, "tester", 3),
            (1, "handler-failed", False, "tester", 3),
        ]
        assert listed[1].original == f"{topic}[0]@9" and listed[1].event_id == str(event.event_id)

        assert len(await letters.redrive(dry_run=True)) == 2
        assert await read_all(servers, topic) == []  # a dry run sends nothing

        sent = await letters.redrive()
        assert [p.reason for p in sent] == ["not-json", "handler-failed"]
        back = await read_all(servers, topic)
        assert [(r.key, r.value) for r in back] == [(b"k1", b"not json"), (b"k1", good.value)]
        assert not any(k.startswith("dlq_") for k, _ in back[1].headers)
        assert headers_to_dict(back[1].headers)["ce_id"] == str(event.event_id)

        assert all(p.redriven for p in await letters.parked())
        assert await letters.redrive() == []  # nothing twice

        await publisher.publish([parked(topic, 12, b"{}", "unknown-type")])
        assert [p.reason for p in await letters.redrive()] == ["unknown-type"]
        assert len(await read_all(servers, topic)) == 3
    finally:
        await publisher.stop()

    command = ["list", "--bootstrap-servers", servers, "--topic", topic, "--json"]
    assert await asyncio.to_thread(main, command) == 0  # the command runs its own event loop
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(line["reason"], line["redriven"]) for line in lines] == [
        ("not-json", True),
        ("handler-failed", True),
        ("unknown-type", True),
    ]

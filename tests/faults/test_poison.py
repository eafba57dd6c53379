"""Poison messages and redelivery on the real topics of a running stack.

A careless producer writes three messages onto ``learnstream.progress`` that no consumer can
apply (not JSON, a type nobody catalogued, an enrollment without its fields), and every
event about a course (progress and catalog topics) is delivered a second time, the second
copies in reverse order.
Each consumer group parks each poison message in ``learnstream.progress.dlq`` with the
reason in its headers and goes on: the stream after them is counted exactly, the
duplicates change nothing, and the stack is back at rest shortly after (no retry loop).
The dead-letter command lists them and re-drives them: still poison, they are parked again,
and still nothing else changes.
"""

from __future__ import annotations

import asyncio
import time
import uuid

import pytest

from learnstream.events import KafkaRecord, topic_name
from learnstream.runtime.bus import KafkaPublisher
from learnstream.runtime.dlq import DeadLetters

from .conftest import KAFKA, Course, Platform, report

pytestmark = [pytest.mark.integration, pytest.mark.faults]

TOPIC = topic_name("progress")
ENROLLING = {"analytics", "achievements", "chat"}
"""The consumer groups that read enrollments: each parks a broken one (exports skips the type
unread, as it does every type it does not handle)."""
EVERYONE = ENROLLING | {"exports"}
"""The consumer groups of the progress topic: each parks a type nobody catalogued, for a
re-drive once it is upgraded."""


def poison(course: Course) -> dict[str, tuple[KafkaRecord, set[str]]]:
    """Each poison message by event id, with the consumer groups that must park it."""

    def record(ce_type: str, value: bytes, parkers: set[str]) -> tuple[str, tuple[KafkaRecord, set[str]]]:
        event_id = str(uuid.uuid4())
        headers = [
            ("ce_specversion", b"1.0"),
            ("ce_id", event_id.encode()),
            ("ce_type", ce_type.encode()),
            ("ce_source", b"/faults/careless-producer"),
            ("ce_time", b"2026-12-07T00:00:00Z"),
            ("content-type", b"application/json"),
        ]
        return event_id, (KafkaRecord(TOPIC, course.id.encode(), value, headers), parkers)

    return dict(
        [
            record("learnstream.progress.EnrollmentCreated.v1", b"{not json", ENROLLING),
            record("learnstream.progress.SomethingNobodyKnows.v1", b"{}", EVERYONE),
            record("learnstream.progress.EnrollmentCreated.v1", b'{"course_id": "not a uuid"}', ENROLLING),
        ]
    )


async def parked_by_group(event_ids: set[str]) -> dict[str, set[str]]:
    """For each poison event id, the consumer groups that parked it (not re-driven ones too)."""
    found: dict[str, set[str]] = {event_id: set() for event_id in event_ids}
    for item in await DeadLetters(KAFKA, [TOPIC]).parked():
        if item.event_id in found:
            found[item.event_id].add(item.consumer)
    return found


async def test_poison_and_duplicates_are_parked_or_ignored_and_the_stream_is_counted(
    platform: Platform,
) -> None:
    course = await platform.course()
    bad = poison(course)
    producer = KafkaPublisher(KAFKA, idempotent=False, client_id="faults-careless")
    await producer.start()
    try:
        await producer.publish([message for message, _ in bad.values()])
        await platform.stream(course, 8)
        counts = await platform.settled(course)
        assert counts.counted() == counts.expected()

        # every event about the course again (progress and catalog topics), in reverse order
        again = list(reversed(await platform.records_about(course)))
        assert len(again) >= sum(counts.sent.values())
        await producer.publish(again)
        await asyncio.sleep(5)
        counts = await platform.settled(course)
        report(f"3 poison messages, then all {len(again)} events about the course delivered twice", counts)
        assert counts.counted() == counts.expected()

        def all_parked(groups: dict[str, set[str]]) -> bool:
            return all(bad[event_id][1] <= parked for event_id, parked in groups.items())

        deadline = time.monotonic() + 60
        groups = await parked_by_group(set(bad))
        while not all_parked(groups) and time.monotonic() < deadline:
            await asyncio.sleep(1)
            groups = await parked_by_group(set(bad))
        assert all_parked(groups), groups
        reasons = {item.reason for item in await DeadLetters(KAFKA, [TOPIC]).parked() if item.event_id in bad}
        assert reasons == {"invalid-data", "unknown-type"}, reasons

        # no retry loop: the stack is back at rest
        assert platform.stack.cpu_percent(3.0) < 60

        # re-driven, they are parked again by every group, and nothing else changes
        before = len([i for i in await DeadLetters(KAFKA, [TOPIC]).parked() if i.event_id in bad])
        sent = [item for item in await DeadLetters(KAFKA, [TOPIC]).redrive() if item.event_id in bad]
        assert len(sent) == before
        deadline = time.monotonic() + 60
        after = before
        while after < 2 * before and time.monotonic() < deadline:
            await asyncio.sleep(1)
            after = len([i for i in await DeadLetters(KAFKA, [TOPIC]).parked() if i.event_id in bad])
        assert after >= 2 * before
        counts = await platform.settled(course)
        report(f"{len(sent)} parked copies re-driven with the dead-letter command", counts)
        assert counts.counted() == counts.expected()
    finally:
        await producer.stop()

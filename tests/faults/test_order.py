"""A learner's events out of order.

Progress keys its events by learner, so in production one learner's events reach every
consumer in the order they happened. A replay, a re-drive from a dead-letter topic or a
producer bug can deliver them otherwise, and each consumer must cope: nothing lost, nothing
counted twice, and the same derived state as the history in order gives.

Learners go through a course over the gateway. Then, straight onto ``learnstream.progress``
with the CloudEvents headers the outbox relay writes (``learnstream.events.codec.encode``):

- every event of one of them (the template) again, same ids, in a shuffled order
  (redeliveries: nothing may change);
- the same history for a fresh learner (new event, enrollment and view ids), their original
  events published only in reverse order: the course completion first, each lesson's
  completion before its time and before the enrollment, the enrollment last;
- a learner who enrolled and left the course, the cancellation published before the
  enrollment (in order: not enrolled any more).

Once every consumer group has committed past all of them, each consumer's counts are what
progress published plus the fresh learners' events, the template's state is what it was,
the fresh learner's is the template's, and the leaver is not enrolled.
"""

from __future__ import annotations

import asyncio
import base64
import json
import random
import time
import uuid
from collections import Counter
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from learnstream.events import DomainEvent, KafkaRecord, decode, encode, topic_name
from learnstream.events.progress import EnrollmentCancelled, EnrollmentCreated

from .conftest import CONSUMERS, KAFKA, PROGRESS_TYPES, Counts, Course, Platform, report

pytestmark = [pytest.mark.integration, pytest.mark.faults]

LEARNERS = 4
TOPIC = topic_name("progress")
SOURCE = "/learnstream/progress"
SEED = 20261207
CAUGHT_UP_SECONDS = 120.0


def user_id(token: str) -> uuid.UUID:
    """The user a gateway access token names (its ``sub``; the signature is the gateway's
    business, not this test's)."""
    payload = token.split(".")[1]
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    return uuid.UUID(claims["sub"])


def history_of(records: Sequence[KafkaRecord], learner: uuid.UUID) -> list[tuple[KafkaRecord, DomainEvent]]:
    """The learner's records on the progress topic with their events, as published (in order)."""
    found = []
    for record in records:
        if record.topic != TOPIC:
            continue
        event = decode(record.headers, record.value).event
        if getattr(event, "learner_id", None) == learner:
            found.append((record, event))
    return found


def relived(history: Sequence[DomainEvent], learner: uuid.UUID) -> list[DomainEvent]:
    """The same history for another learner: the same course, lessons and moments, with ids
    of its own (events, enrollment, viewing sessions), as progress would have published it."""
    enrollment = uuid.uuid4()
    views: dict[uuid.UUID, uuid.UUID] = {}
    events = []
    for event in history:
        update: dict[str, Any] = {"event_id": uuid.uuid4(), "learner_id": learner, "actor_id": learner}
        if hasattr(event, "enrollment_id"):
            update["enrollment_id"] = enrollment
        if (view := getattr(event, "view_id", None)) is not None:
            update["view_id"] = views.setdefault(view, uuid.uuid4())
        events.append(event.model_copy(update=update))
    return events


async def publish(records: Sequence[KafkaRecord]) -> dict[TopicPartition, int]:
    """Publish ``records`` one after the other (each acknowledged before the next is sent, so
    they land in this order); the offset after the last one written to each partition."""
    producer = AIOKafkaProducer(bootstrap_servers=KAFKA, acks="all", client_id="faults-out-of-order")
    await producer.start()
    try:
        ends: dict[TopicPartition, int] = {}
        for record in records:
            sent = await producer.send_and_wait(
                record.topic, value=record.value, key=record.key, headers=record.headers
            )
            tp = TopicPartition(sent.topic, sent.partition)
            ends[tp] = max(ends.get(tp, 0), sent.offset + 1)
        return ends
    finally:
        await producer.stop()


async def committed_by(group: str, partitions: Sequence[TopicPartition]) -> dict[TopicPartition, int]:
    consumer = AIOKafkaConsumer(bootstrap_servers=KAFKA, group_id=group, enable_auto_commit=False)
    await consumer.start()
    try:
        return {tp: (await consumer.committed(tp)) or 0 for tp in partitions}
    finally:
        await consumer.stop()


async def all_caught_up(ends: dict[TopicPartition, int]) -> dict[str, dict[TopicPartition, int]]:
    """Wait until every consumer group has committed past ``ends``; who is still behind."""
    deadline = time.monotonic() + CAUGHT_UP_SECONDS
    while True:
        behind = {}
        for group in CONSUMERS:
            committed = await committed_by(group, list(ends))
            late = {tp: committed[tp] for tp, end in ends.items() if committed[tp] < end}
            if late:
                behind[group] = late
        if not behind or time.monotonic() > deadline:
            return behind
        await asyncio.sleep(1.0)


async def state_of(platform: Platform, course: Course, learner: uuid.UUID) -> dict[str, Any]:
    """What each consumer derived about the learner in the course."""
    [model] = await platform.clickhouse(
        "SELECT enrolled, progress, completed_at IS NOT NULL, length(done_lessons), seconds,"
        " length(enrollments), length(course_completions), milestone, started_lessons"
        " FROM learnstream.course_learners FINAL WHERE course_id = {c:UUID} AND learner_id = {l:UUID}",
        c=course.id,
        l=str(learner),
    ) or [[]]
    cid = uuid.UUID(course.id)
    achievements = await platform.pg("achievements")
    try:
        row = await achievements.fetchrow(
            "SELECT enrolled_at IS NOT NULL AS enrolled, completed_at IS NOT NULL AS completed,"
            " days_to_complete FROM learner_courses WHERE learner_id = $1 AND course_id = $2",
            learner,
            cid,
        )
        lessons = await achievements.fetchval(
            "SELECT count(*) FROM learner_lessons WHERE learner_id = $1 AND course_id = $2", learner, cid
        )
        xp = await achievements.fetchval("SELECT xp FROM learners WHERE learner_id = $1", learner)
        earned = await achievements.fetch(
            "SELECT achievement_id FROM earned_achievements WHERE learner_id = $1", learner
        )
        ledger = await achievements.fetch(
            "SELECT reason, amount FROM xp_ledger WHERE learner_id = $1 ORDER BY reason, amount", learner
        )
    finally:
        await achievements.close()
    chat = await platform.pg("chat")
    try:
        active = await chat.fetchval(
            "SELECT active FROM chat_enrollments WHERE learner_id = $1 AND course_id = $2", learner, cid
        )
    finally:
        await chat.close()
    exports = await platform.pg("exports")
    try:
        certificates = await exports.fetchval(
            "SELECT count(*) FROM certificates WHERE learner_id = $1 AND course_id = $2", learner, cid
        )
    finally:
        await exports.close()
    return {
        "analytics": dict(
            zip(
                (
                    "enrolled",
                    "progress",
                    "completed",
                    "lessons",
                    "seconds",
                    "enrollments",
                    "completions",
                    "milestone",
                    "started",
                ),
                model,
                strict=False,
            )
        ),
        "achievements": {
            "course": dict(row) if row is not None else None,
            "lessons": lessons,
            "xp": xp,
            "earned": sorted(r["achievement_id"] for r in earned),
            "ledger": [tuple(r) for r in ledger],
        },
        "chat": {"enrolled": active},
        "exports": {"certificates": certificates},
    }


def plus(counts: Counts, added: Counter[str], *, enrolled_in_chat: int) -> dict[str, dict[str, int]]:
    """What each consumer must hold: what progress published plus the events added here."""
    expected = counts.expected()
    for name in PROGRESS_TYPES:
        expected["analytics"][name] += added[name]
    expected["achievements"]["enrolled"] += added["EnrollmentCreated"]
    expected["achievements"]["lessons"] += added["LessonCompleted"]
    expected["achievements"]["completed"] += added["CourseCompleted"]
    expected["chat"]["enrolled"] += enrolled_in_chat
    expected["exports"]["certificates"] += added["CourseCompleted"]
    return expected


async def test_a_learners_events_out_of_order_are_counted_once_and_derive_the_same_state(
    platform: Platform,
) -> None:
    course = await platform.course()
    await platform.stream(course, LEARNERS)
    before = await platform.settled(course)
    assert before.counted() == before.expected()

    on_topics = await platform.records_about(course)
    completed = sorted(
        {
            event.learner_id  # type: ignore[attr-defined]
            for record in on_topics
            if record.topic == TOPIC
            and (event := decode(record.headers, record.value).event).event_name() == "CourseCompleted"
        }
    )
    assert len(completed) == LEARNERS, completed
    template = completed[0]
    history = history_of(on_topics, template)
    names = Counter(event.event_name() for _, event in history)
    assert names["EnrollmentCreated"] == 1 and names["CourseCompleted"] == 1, names
    template_state = await state_of(platform, course, template)

    # 1. the template's whole history again (same ids: redeliveries), shuffled
    again = [record for record, _ in history]
    rng = random.Random(SEED)
    while [dict(r.headers)["ce_id"] for r in again] == [dict(r.headers)["ce_id"] for r, _ in history]:
        rng.shuffle(again)
    redelivered = [decode(r.headers, r.value).event.event_name() for r in again]

    # 2. a fresh learner living the same history, their original events only in reverse order
    fresh = user_id(await platform.token("student", "fresh"))
    lived = relived([event for _, event in history], fresh)
    [finished] = [e for e in lived if e.event_name() == "CourseCompleted"]
    [enrolling] = [e for e in lived if e.event_name() == "EnrollmentCreated"]
    reverse = [finished, *(e for e in reversed(lived) if e not in (finished, enrolling)), enrolling]

    # 3. a learner who enrolled and left, the cancellation first
    leaver = user_id(await platform.token("student", "leaver"))
    enrollment = uuid.uuid4()
    enrolled = EnrollmentCreated(
        learner_id=leaver,
        enrollment_id=enrollment,
        course_id=uuid.UUID(course.id),
        enrolled_at=history[0][1].occurred_at,
        occurred_at=history[0][1].occurred_at,
        actor_id=leaver,
    )
    left = EnrollmentCancelled(
        learner_id=leaver,
        enrollment_id=enrollment,
        course_id=uuid.UUID(course.id),
        occurred_at=enrolled.occurred_at + timedelta(minutes=1),
        actor_id=leaver,
    )

    ends = await publish(
        [
            *again,
            *(encode(event, source=SOURCE) for event in reverse),
            encode(left, source=SOURCE),
            encode(enrolled, source=SOURCE),
        ]
    )
    behind = await all_caught_up(ends)
    assert not behind, f"consumer groups still behind {CAUGHT_UP_SECONDS:.0f} s after: {behind}"

    counts = await platform.counts(course)
    added = Counter(event.event_name() for event in lived) + Counter({"EnrollmentCreated": 1})
    expected = plus(counts, added, enrolled_in_chat=1)  # the leaver is not enrolled any more
    fresh_state = await state_of(platform, course, fresh)
    leaver_state = await state_of(platform, course, leaver)
    template_after = await state_of(platform, course, template)
    report(
        f"{len(again)} events of a learner redelivered shuffled ({', '.join(redelivered)}); a fresh learner's"
        f" {len(reverse)} events in reverse order ({', '.join(e.event_name() for e in reverse)}); a"
        " cancellation before its enrollment",
        Counts(
            sent={name: counts.sent.get(name, 0) + added[name] for name in PROGRESS_TYPES},
            analytics=counts.analytics,
            achievements=counts.achievements,
            chat=counts.chat,
            exports=counts.exports,
        ),
    )
    print(
        f"  template {template}: {template_state}\n  fresh {fresh}: {fresh_state}\n  leaver: {leaver_state}"
    )

    # redeliveries changed nothing
    assert template_after == template_state
    # the fresh learner's events, each early for what it refers to, derive what the template's did
    assert fresh_state == template_state
    # the leaver left, whichever of the two came first
    assert leaver_state["analytics"]["enrolled"] == "0"  # (the analysts' endpoint answers text)
    assert leaver_state["chat"] == {"enrolled": False}, (
        "chat keeps the learner enrolled in a course they left"
    )
    # nothing lost, nothing counted twice
    assert counts.counted() == expected

"""``kill -9`` of each consuming service in the middle of a stream of events.

Learners enroll and complete a course's lessons through the gateway while one consumer is
killed outright after 40 % of the requests; the supervisor restarts it. Afterwards every
consumer holds exactly what progress published: nothing lost (the killed one had not
committed its offsets, so the broker hands the rest again) and nothing counted twice (what
it had applied before the kill is in its inbox, or deduplicated by event id in ClickHouse).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from learnstream.runtime import failpoints

from .conftest import CONSUMERS, Platform, report

pytestmark = [pytest.mark.integration, pytest.mark.faults]

LEARNERS = 16


async def test_a_quiet_stream_is_counted_exactly(platform: Platform) -> None:
    """The baseline: the same stream with nothing broken."""
    course = await platform.course()
    await platform.stream(course, LEARNERS)
    counts = await platform.settled(course)
    report("no fault (baseline)", counts)
    assert counts.counted() == counts.expected()
    assert counts.sent["LessonCompleted"] == LEARNERS * len(course.lessons)


@pytest.mark.parametrize("victim", CONSUMERS)
async def test_a_consumer_killed_mid_stream_loses_nothing_and_counts_nothing_twice(
    platform: Platform, victim: str
) -> None:
    course = await platform.course()
    killed: list[int] = []

    async def kill() -> None:
        killed.append(platform.kill(victim))

    await platform.stream(course, LEARNERS, fault=kill)
    await platform.restarted(victim, killed[0])
    counts = await platform.settled(course)
    report(f"kill -9 of {victim} after 40 % of the requests", counts)
    assert counts.counted() == counts.expected()
    assert counts.sent["CourseCompleted"] == LEARNERS


async def test_an_outbox_relay_killed_between_publishing_and_recording_it_publishes_again(
    platform: Platform,
) -> None:
    """Progress's relay dies (SIGKILL, at the failpoint) after the broker acknowledged a batch
    and before ``published_at`` was written: the restarted relay sends the batch again, and
    the consumers count each event once."""
    course = await platform.course()
    before = platform.service("progress").pid
    armed: list[Path] = []

    async def arm() -> None:  # after 40 % of the requests: the next batch the relay publishes
        armed.append(
            failpoints.arm(platform.stack.data_dir / "failpoints", "outbox.after-publish", "progress")
        )

    await platform.stream(course, LEARNERS, fault=arm)
    assert not armed[0].exists(), "the relay never reached the failpoint"
    await platform.restarted("progress", before)
    counts = await platform.settled(course)
    on_topic = await platform.records_about(course)
    ids = [dict(record.headers)["ce_id"] for record in on_topic]
    report(
        f"kill -9 of progress's outbox relay between the broker's ack and recording it"
        f" ({len(ids)} records on the topic for {len(set(ids))} events)",
        counts,
    )
    assert counts.counted() == counts.expected()
    assert len(ids) > len(set(ids)), "no event was published twice: the crash missed its moment"

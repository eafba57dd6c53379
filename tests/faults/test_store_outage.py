"""The analytics store out of reach for a while under a stream of events.

In production ClickHouse is a server of its own; in the embedded stack it is chDB inside the
analytics process, which nothing outside can stop, so the outage is the failpoint
``clickhouse.unavailable@analytics``: while it is armed every call of analytics' ClickHouse
adapter fails as a call to a stopped server does (clickhouse-connect's ``OperationalError``,
connection refused).

Learners enroll and complete a course's lessons through the gateway; after 40 % of the
requests ClickHouse goes away for ``OUTAGE_SECONDS`` while the rest of the stream goes in.
Meanwhile analytics commits no offset past what it had written (no event published after the
outage began is below its group's committed offsets), its freshness does not claim such an
event either, its reports answer 503 problem+json on a connection that stays open (the
gateway's pool reuses it), and its projection waits with backoff instead of spinning (a
bounded number of log lines and little CPU). Once ClickHouse is back, analytics catches up:
every consumer holds exactly what progress published.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition

from learnstream.analytics.adapters.clickhouse import UNAVAILABLE
from learnstream.events import topic_name
from learnstream.runtime import failpoints
from learnstream.runtime.settings import DEV_SERVICE_TOKEN

from .conftest import KAFKA, Course, Platform, read_topics, report

pytestmark = [pytest.mark.integration, pytest.mark.faults]

LEARNERS = 16
OUTAGE_SECONDS = 25.0
SERVICE = "analytics"
GROUP = "analytics"
"""The projection's consumer group (named after the service)."""
TOPIC = topic_name("progress")
MAX_LOG_LINES = 80
"""Lines analytics may log over the whole outage: its projection's retries with backoff
(about one a backoff step, capped at 5 s) and one warning per 503 this test provokes. A
retry loop without backoff logs thousands."""
MAX_CPU_SHARE = 0.25
"""Share of one core analytics may use while it waits for its store (a hot loop takes a
whole core)."""
PROBES = 5


@dataclass(frozen=True)
class Placed:
    """Where a record about the course is on the progress topic, and when it was produced."""

    partition: int
    offset: int
    timestamp_ms: int
    event_id: str


@dataclass
class Outage:
    """What was seen while ClickHouse was out of reach."""

    armed_at: float = 0.0
    ended_at: float = 0.0
    committed: list[dict[int, int]] = field(default_factory=list)
    """The group's committed offsets of the progress topic, sampled through the outage."""
    freshness: list[dict[str, Any]] = field(default_factory=list)
    reports: list[tuple[int, str, dict[str, Any], Any]] = field(default_factory=list)
    """(status, content type, body, local address of the connection) of each report asked."""
    gateway: list[int] = field(default_factory=list)
    log_lines: int = 0
    cpu_seconds: float = 0.0
    measured_seconds: float = 0.0


async def committed_offsets(partitions: list[int]) -> dict[int, int]:
    """The analytics group's committed offset of each partition of the progress topic (0:
    none yet), read as the dead-letter command reads its own, without joining the group."""
    consumer = AIOKafkaConsumer(bootstrap_servers=KAFKA, group_id=GROUP, enable_auto_commit=False)
    await consumer.start()
    try:
        found = {}
        for partition in partitions:
            committed = await consumer.committed(TopicPartition(TOPIC, partition))
            found[partition] = committed or 0
        return found
    finally:
        await consumer.stop()


async def placed_about(course: Course) -> list[Placed]:
    """Every record about the course on the progress topic, with offset and timestamp."""
    return [
        Placed(r.partition, r.offset, r.timestamp, dict(r.headers)["ce_id"].decode())
        for _, r in await read_topics([TOPIC])
        if course.id.encode() in (r.value or b"")
    ]


async def progress_partitions() -> list[int]:
    consumer = AIOKafkaConsumer(bootstrap_servers=KAFKA)
    await consumer.start()
    try:
        await consumer.topics()
        return sorted(consumer.partitions_for_topic(TOPIC) or ())
    finally:
        await consumer.stop()


def analytics_log_lines(platform: Platform) -> int:
    """How many lines analytics has logged so far (the supervisor prefixes each with its name)."""
    text = (platform.stack.data_dir / "supervisor.log").read_text(errors="replace")
    return sum(1 for line in text.splitlines() if f"{SERVICE} |" in line)


async def ask_reports(platform: Platform, course: Course, outage: Outage) -> None:
    """A course report straight from analytics, ``PROBES`` times on one connection, as the
    gateway's pool would send them; and the same report through the gateway."""
    headers = {
        "X-Service-Token": DEV_SERVICE_TOKEN,
        "X-Actor-Id": str(uuid.uuid4()),
        "X-Actor-Role": "admin",
    }
    limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
    async with httpx.AsyncClient(base_url=platform.stack.url(SERVICE), limits=limits, timeout=30) as http:
        for _ in range(PROBES):
            try:
                answer = await http.get(f"/api/instructor/courses/{course.id}/students", headers=headers)
            except httpx.TransportError as exc:  # the connection dropped before an answer
                outage.reports.append((0, f"no answer: {type(exc).__name__}", {}, None))
                continue
            stream = answer.extensions.get("network_stream")
            local = stream.get_extra_info("client_addr") if stream is not None else None
            body: dict[str, Any] = {}
            with contextlib.suppress(ValueError):
                body = answer.json()
            outage.reports.append((answer.status_code, answer.headers.get("content-type", ""), body, local))
    # through the gateway, as the instructor's browser asks it (not retried: Platform.call would)
    answer = await platform.http.get(
        f"/api/instructor/courses/{course.id}/analytics",
        headers={"Authorization": f"Bearer {course.instructor}"},
    )
    outage.gateway.append(answer.status_code)


async def freshness(platform: Platform) -> dict[str, Any]:
    answer = await platform.http.get(
        f"{platform.stack.url(SERVICE)}/api/analytics/freshness",
        headers={"X-Service-Token": DEV_SERVICE_TOKEN},
    )
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


async def keep_clickhouse_away(
    platform: Platform, course: Course, outage: Outage, partitions: list[int]
) -> None:
    """The outage, from the moment it was armed: look at analytics meanwhile, then disarm."""
    directory = platform.stack.data_dir / "failpoints"
    try:
        await asyncio.sleep(2.0)  # a write under way when it began has failed or finished by now
        process = platform.service(SERVICE)
        cpu_before = sum(process.cpu_times()[:2])
        lines_before = analytics_log_lines(platform)
        measured_from = time.monotonic()
        await ask_reports(platform, course, outage)
        while time.time() < outage.armed_at + OUTAGE_SECONDS - 1.0:
            outage.committed.append(await committed_offsets(partitions))
            outage.freshness.append(await freshness(platform))
            await asyncio.sleep(3.0)
        outage.committed.append(await committed_offsets(partitions))
        outage.freshness.append(await freshness(platform))
        outage.cpu_seconds = sum(process.cpu_times()[:2]) - cpu_before
        outage.measured_seconds = time.monotonic() - measured_from
        outage.log_lines = analytics_log_lines(platform) - lines_before
    finally:
        failpoints.disarm(directory, UNAVAILABLE, SERVICE)
        outage.ended_at = time.time()


async def test_clickhouse_out_of_reach_for_a_while_loses_nothing_and_counts_nothing_twice(
    platform: Platform,
) -> None:
    course = await platform.course()
    partitions = await progress_partitions()
    outage = Outage()
    running: list[asyncio.Task[None]] = []

    async def clickhouse_goes_away() -> None:
        failpoints.arm(platform.stack.data_dir / "failpoints", UNAVAILABLE, SERVICE)
        outage.armed_at = time.time()
        running.append(asyncio.create_task(keep_clickhouse_away(platform, course, outage, partitions)))

    try:
        await platform.stream(course, LEARNERS, fault=clickhouse_goes_away)
        await running[0]
    finally:
        failpoints.disarm(platform.stack.data_dir / "failpoints", UNAVAILABLE, SERVICE)
        for task in running:
            task.cancel()
    counts = await platform.settled(course)
    placed = await placed_about(course)
    after = [p for p in placed if p.timestamp_ms > outage.armed_at * 1000 + 1]
    first_after: dict[int, int] = {}
    for p in after:
        first_after[p.partition] = min(p.offset, first_after.get(p.partition, p.offset))
    # partition: (the highest offset committed during the outage, the first event published in it)
    committed_past = {
        partition: (highest, offset)
        for partition, offset in first_after.items()
        if (highest := max(sample[partition] for sample in outage.committed)) > offset
    }
    statuses = [status for status, *_ in outage.reports]
    cpu_share = outage.cpu_seconds / outage.measured_seconds
    report(
        f"ClickHouse out of reach for {outage.ended_at - outage.armed_at:.0f} s after 40 % of the requests"
        f" ({len(after)} of {len(placed)} events about the course published meanwhile; reports answered"
        f" {sorted(set(statuses))}, through the gateway {sorted(set(outage.gateway))}; analytics logged"
        f" {outage.log_lines} lines and used {cpu_share:.0%} of a core while it waited)",
        counts,
    )
    print(f"  committed offsets sampled: {len(outage.committed)}; freshness: {outage.freshness}")

    # the outage did hold events back, and analytics committed none of them
    assert after, "no event was published during the outage: the stream ended before it"
    assert not committed_past, f"offsets committed past events it could not have written: {committed_past}"
    began = datetime.fromtimestamp(outage.armed_at, UTC)
    claimed = [s["asOf"] for s in outage.freshness if s["asOf"] and datetime.fromisoformat(s["asOf"]) > began]
    assert not claimed, f"freshness claims events it could not have written (outage from {began}): {claimed}"

    # its reports said "unavailable, try again" on a connection that stayed open
    for status, content_type, body, _ in outage.reports:
        assert status == 503, outage.reports
        assert content_type.startswith("application/problem+json"), outage.reports
        assert body.get("status") == 503, outage.reports
    assert len({local for *_, local in outage.reports}) == 1, f"the connection was dropped: {outage.reports}"
    assert outage.gateway == [503]

    # it waited for its store, not in a loop
    assert outage.log_lines <= MAX_LOG_LINES, f"{outage.log_lines} log lines in {OUTAGE_SECONDS:.0f} s"
    assert cpu_share <= MAX_CPU_SHARE, f"analytics used {cpu_share:.0%} of a core while its store was down"

    # and once back it caught up: nothing lost, nothing twice
    assert counts.counted() == counts.expected()
    assert counts.sent["CourseCompleted"] == LEARNERS
    deadline = time.monotonic() + 30
    ends = {p: max(x.offset for x in placed if x.partition == p) + 1 for p in {x.partition for x in placed}}
    while True:
        committed = await committed_offsets(partitions)
        behind = {p: (committed[p], end) for p, end in ends.items() if committed[p] < end}
        if not behind or time.monotonic() > deadline:
            break
        await asyncio.sleep(1)
    assert not behind, f"analytics has not committed what it wrote after the outage: {behind}"

"""Restarts of the embedded servers under a stream of events (the supervisor starts a
server that stopped again).

The embedded broker (Tansu) keeps its topics in memory: killed and restarted by the
supervisor (which creates the topics again), it comes back empty, without the consumer
groups' offsets. Each service's outbox relay sees a partition it had written to empty
again and republishes its event store, which is the history; each consumer group starts
again from the beginning and dedupes what it had applied. Nothing is lost and nothing is
counted twice.
"""

from __future__ import annotations

import signal

import pytest

from .conftest import Platform, report

pytestmark = [pytest.mark.integration, pytest.mark.faults]

LEARNERS = 16


async def test_a_broker_restart_loses_nothing_and_counts_nothing_twice(platform: Platform) -> None:
    course = await platform.course()
    killed: list[int] = []

    async def kill_the_broker() -> None:
        broker = platform.server("kafka")
        broker.kill()
        killed.append(broker.pid)

    await platform.stream(course, LEARNERS, fault=kill_the_broker)
    await platform.server_restarted("kafka", killed[0])
    counts = await platform.settled(course)
    # the new broker holds the whole history again, the events from before the kill included
    on_topics = {dict(record.headers)["ce_id"] for record in await platform.records_about(course)}
    stored = await platform.stored_about(course)
    report(
        "kill -9 of the broker (topics in memory) after 40 % of the requests"
        f" ({len(on_topics)} of the {stored} stored events about the course on the new broker)",
        counts,
    )
    assert counts.counted() == counts.expected()
    assert counts.sent["CourseCompleted"] == LEARNERS
    assert len(on_topics) == stored


async def test_a_postgresql_restart_loses_nothing_and_counts_nothing_twice(platform: Platform) -> None:
    """PostgreSQL stops (a fast shutdown: every connection of every service is cut) and the
    supervisor starts it again; requests in between are answered 503 and retried by the
    client, consumers wait for their store and take up again where they had committed."""
    course = await platform.course()
    stopped: list[int] = []

    async def stop_postgres() -> None:
        postgres = platform.server("postgres")
        postgres.send_signal(signal.SIGINT)  # fast shutdown (SIGTERM would wait for every client)
        stopped.append(postgres.pid)

    await platform.stream(course, LEARNERS, fault=stop_postgres)
    await platform.server_restarted("postgres", stopped[0])
    counts = await platform.settled(course)
    report("PostgreSQL stopped (fast shutdown) and started again after 40 % of the requests", counts)
    assert counts.counted() == counts.expected()
    assert counts.sent["CourseCompleted"] == LEARNERS

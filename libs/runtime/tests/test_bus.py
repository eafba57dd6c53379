"""The Kafka publisher never waits on the broker for ever (the aiokafka client is faked here:
a broker that takes a connection and then never answers a produce is hard to make)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from aiokafka.errors import KafkaConnectionError, KafkaTimeoutError

from learnstream.events import KafkaRecord
from learnstream.runtime import bus


class SilentProducer:
    """Starts, queues records and never hears an acknowledgement."""

    made: list[SilentProducer] = []

    def __init__(self, **_options: Any) -> None:
        self.stopped = False
        SilentProducer.made.append(self)

    async def start(self) -> None:
        return None

    async def send(self, *_args: Any, **_kwargs: Any) -> asyncio.Future[Any]:
        return asyncio.get_running_loop().create_future()

    async def stop(self) -> None:
        self.stopped = True
        await asyncio.Event().wait()  # flushing what the broker never takes


async def test_a_publish_the_broker_never_acknowledges_fails_and_the_next_uses_a_new_producer(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(bus, "AIOKafkaProducer", SilentProducer)
    monkeypatch.setattr(bus, "BROKER_WAIT_SECONDS", 0.2)
    monkeypatch.setattr(bus, "CLIENT_STOP_SECONDS", 0.2)
    SilentProducer.made.clear()
    publisher = bus.KafkaPublisher("localhost:1", idempotent=False, client_id="test")
    await publisher.start()
    record = KafkaRecord(topic="learnstream.test", key=b"k", value=b"{}", headers=[])

    with pytest.raises(KafkaTimeoutError, match="did not acknowledge 1 records"):
        await asyncio.wait_for(publisher.publish([record]), 10)
    with pytest.raises(KafkaTimeoutError):
        await asyncio.wait_for(publisher.publish([record]), 10)

    assert len(SilentProducer.made) == 2  # the silent one was given up on and a new one made
    assert SilentProducer.made[0].stopped  # stopping in the background
    await asyncio.wait_for(publisher.stop(), 10)  # cuts short what is still stopping


class CountingProducer(SilentProducer):
    """Takes a while to start, then acknowledges every record at once."""

    async def start(self) -> None:
        await asyncio.sleep(0.05)

    async def send(self, topic: str, **_kwargs: Any) -> asyncio.Future[Any]:
        acked: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        acked.set_result(type("Sent", (), {"topic": topic, "partition": 0, "offset": 0})())
        return acked


async def test_publishes_at_the_same_time_share_one_new_producer(monkeypatch: pytest.MonkeyPatch) -> None:
    """The relay and dead-letter publishing use one publisher at once: a producer made anew
    is made once."""
    monkeypatch.setattr(bus, "AIOKafkaProducer", CountingProducer)
    monkeypatch.setattr(bus, "CLIENT_STOP_SECONDS", 0.2)
    SilentProducer.made.clear()
    publisher = bus.KafkaPublisher("localhost:1", idempotent=False, client_id="test")
    publisher._started = True  # as after start() and a producer given up on
    record = KafkaRecord(topic="learnstream.test", key=b"k", value=b"{}", headers=[])

    await asyncio.gather(*(publisher.publish([record]) for _ in range(5)))

    assert len(SilentProducer.made) == 1
    await publisher.stop()


class FailingWatch:
    """A consumer whose first start finds no broker."""

    made: list[FailingWatch] = []

    def __init__(self, **_options: Any) -> None:
        FailingWatch.made.append(self)

    async def start(self) -> None:
        if len(FailingWatch.made) == 1:
            raise KafkaConnectionError("no broker")

    async def topics(self) -> set[str]:
        return set()

    async def stop(self) -> None:
        return None


async def test_a_watch_that_failed_to_start_is_made_anew(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bus, "AIOKafkaConsumer", FailingWatch)
    FailingWatch.made.clear()
    publisher = bus.KafkaPublisher("localhost:1", idempotent=False, client_id="test")

    with pytest.raises(KafkaConnectionError):
        await publisher.log_was_lost(["learnstream.test"])
    assert await publisher.log_was_lost(["learnstream.test"]) is True  # the topic is gone

    assert len(FailingWatch.made) == 2


async def test_a_publisher_not_started_refuses() -> None:
    publisher = bus.KafkaPublisher("localhost:1", idempotent=False, client_id="test")
    with pytest.raises(ConnectionError, match="not started"):
        await publisher.publish([])

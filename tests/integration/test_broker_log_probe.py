"""The relay's probe for a broker that lost its log, against the real broker."""

from __future__ import annotations

import pytest

from learnstream.devstack.testing import Infra
from learnstream.events import encode
from learnstream.events.examples import example_events
from learnstream.events.exports import ExportFailed
from learnstream.runtime.bus import KafkaPublisher, log_is_empty

pytestmark = pytest.mark.integration


async def test_a_topic_is_empty_until_something_is_published_to_it(infra: Infra) -> None:
    topic = "learnstream.exports"
    assert await log_is_empty(infra.kafka_bootstrap_servers, [topic]) is True

    publisher = KafkaPublisher(infra.kafka_bootstrap_servers, idempotent=False, client_id="probe-test")
    await publisher.start()
    try:
        event = example_events()[ExportFailed.ce_type()]
        await publisher.publish([encode(event, source="/test")])
    finally:
        await publisher.stop()

    assert await log_is_empty(infra.kafka_bootstrap_servers, [topic]) is False
    assert await log_is_empty(infra.kafka_bootstrap_servers, [topic, "learnstream.chat"]) is False

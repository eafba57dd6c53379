"""The CloudEvents binary-mode envelope, as any Kafka client sees it."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime

import pytest

from learnstream.events import (
    InvalidEventError,
    MissingHeaderError,
    UnknownEventTypeError,
    decode,
    encode,
    from_structured,
    structured,
    structured_json,
)
from learnstream.events.codec import headers_to_dict
from learnstream.events.identity import UserRegistered


def ada() -> UserRegistered:
    return UserRegistered(
        user_id=uuid.UUID("5d6f2a7e-3c1b-4f0a-8e2d-1a2b3c4d5e6f"),
        role="student",
        display_name="Ada",
        timezone="Europe/Berlin",
        occurred_at=datetime(2026, 11, 22, 9, 15, 30, 125_999, tzinfo=UTC),
    )


def test_an_event_round_trips_through_headers_and_json_value() -> None:
    event = ada()
    record = encode(
        event, source="/learnstream/gateway", traceparent="00-" + "a" * 32 + "-" + "b" * 16 + "-01"
    )

    envelope = decode(record.headers, record.value)

    assert envelope.event == event
    assert envelope.ce_type == "learnstream.identity.UserRegistered.v1"
    assert envelope.source == "/learnstream/gateway"
    assert envelope.subject == str(event.user_id)
    assert envelope.traceparent is not None and envelope.traceparent.startswith("00-aaaa")


def test_the_cloudevents_json_format_carries_the_same_event() -> None:
    event = ada()
    record = encode(
        event, source="/learnstream/gateway", traceparent="00-" + "a" * 32 + "-" + "b" * 16 + "-01"
    )
    document = json.loads(json.dumps(structured(record)))  # as written to and read from a file

    assert document["specversion"] == "1.0"
    assert document["type"] == "learnstream.identity.UserRegistered.v1"
    assert document["id"] == str(event.event_id)
    assert document["time"] == "2026-11-22T09:15:30.125Z"
    assert document["data"]["display_name"] == "Ada"
    headers, value = from_structured(document)
    envelope = decode(headers, value)
    assert envelope.event == decode(record.headers, record.value).event
    assert envelope.traceparent == "00-" + "a" * 32 + "-" + "b" * 16 + "-01"
    assert json.loads(structured_json(record)) == structured(record)
    # a document without its type is refused as a message without the header would be
    with pytest.raises(MissingHeaderError):
        decode(*from_structured({k: v for k, v in document.items() if k != "type"}))


def test_the_headers_alone_say_what_the_message_is() -> None:
    event = ada()
    record = encode(event, source="/learnstream/gateway")
    headers = headers_to_dict(record.headers)

    assert headers == {
        "ce_specversion": "1.0",
        "ce_id": str(event.event_id),
        "ce_type": "learnstream.identity.UserRegistered.v1",
        "ce_source": "/learnstream/gateway",
        "ce_time": "2026-11-22T09:15:30.125Z",
        "ce_subject": str(event.user_id),
        "content-type": "application/json",
    }
    assert record.topic == "learnstream.identity"
    assert record.key == str(event.user_id).encode()
    value = json.loads(record.value)
    assert value["display_name"] == "Ada"
    assert value["occurred_at"] == "2026-11-22T09:15:30.125000Z"


def test_times_must_carry_a_zone_and_are_kept_to_the_millisecond() -> None:
    with pytest.raises(ValueError, match="time zone"):
        UserRegistered(
            user_id=uuid.uuid4(),
            role="student",
            display_name="A",
            timezone="UTC",
            occurred_at=datetime(2026, 1, 1, 12, 0),
        )
    assert ada().occurred_at.microsecond == 125_000


@pytest.mark.parametrize(
    ("mutate", "error"),
    [
        (lambda h, v: ([x for x in h if x[0] != "ce_id"], v), MissingHeaderError),
        (
            lambda h, v: (
                [(k, b"learnstream.identity.Nope.v1" if k == "ce_type" else x) for k, x in h],
                v,
            ),
            UnknownEventTypeError,
        ),
        (lambda h, v: (h, b"{not json"), InvalidEventError),
        (lambda h, v: (h, b"[1, 2]"), InvalidEventError),
        (
            lambda h, v: (h, json.dumps({**json.loads(v), "role": "wizard"}).encode()),
            InvalidEventError,
        ),
        (
            lambda h, v: (h, json.dumps({**json.loads(v), "event_id": str(uuid.uuid4())}).encode()),
            InvalidEventError,
        ),
        (
            lambda h, v: ([(k, b"0.3" if k == "ce_specversion" else x) for k, x in h], v),
            InvalidEventError,
        ),
        (
            lambda h, v: ([(k, b"yesterday" if k == "ce_time" else x) for k, x in h], v),
            InvalidEventError,
        ),
    ],
    ids=[
        "no-id",
        "unknown-type",
        "not-json",
        "not-object",
        "bad-field",
        "id-mismatch",
        "old-spec",
        "bad-time",
    ],
)
def test_unreadable_messages_raise_a_typed_error(mutate, error) -> None:  # type: ignore[no-untyped-def]
    record = encode(ada(), source="/t")
    headers, value = mutate(list(record.headers), record.value)
    with pytest.raises(error):
        decode(headers, value)

"""Learnstream's event contracts: every domain event, its topic and key, and the
CloudEvents codec used on Kafka. Services depend on this package, never on each other."""

from learnstream.events.base import CONTEXTS, DomainEvent, dlq_topic_name, topic_name, utc_now
from learnstream.events.codec import (
    Envelope,
    EventDecodeError,
    InvalidEventError,
    KafkaRecord,
    MissingHeaderError,
    UnknownEventTypeError,
    decode,
    encode,
    from_structured,
    structured,
    structured_json,
)
from learnstream.events.registry import EVENT_TYPES, events_of_topic, model_for, topics

__all__ = [
    "CONTEXTS",
    "EVENT_TYPES",
    "DomainEvent",
    "Envelope",
    "EventDecodeError",
    "InvalidEventError",
    "KafkaRecord",
    "MissingHeaderError",
    "UnknownEventTypeError",
    "decode",
    "dlq_topic_name",
    "encode",
    "events_of_topic",
    "from_structured",
    "model_for",
    "structured",
    "structured_json",
    "topic_name",
    "topics",
    "utc_now",
]

"""The base every Learnstream domain event is built on.

An event is a frozen pydantic model holding primitives, UUIDs and datetimes only.
Its identity on the bus (context, name, version, topic, key) is class-level
metadata, so the JSON on the wire is exactly the event's data and any Kafka client
can read it with the CloudEvents headers alone.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, ClassVar
from uuid import UUID, uuid4

from pydantic import BaseModel, ConfigDict, Field, field_validator

TOPIC_PREFIX = "learnstream"
CONTEXTS = ("identity", "catalog", "progress", "chat", "achievements", "exports")


PII: dict[str, Any] = {"x-pii": True}
"""``json_schema_extra`` of a personal field: one that identifies or quotes a person.

Services seal such fields with the person's key before an event leaves them and consumers
reveal them (``learnstream.runtime.vault``); erasure shreds the key, so every stored copy
becomes unreadable. On the bus the value is ``pii:v1:…`` unless the deployment runs without
a key vault."""


def utc_now() -> datetime:
    """The current time in UTC, truncated to milliseconds as the catalog requires."""
    now = datetime.now(UTC)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


def topic_name(context: str) -> str:
    """The Kafka topic a context publishes to, e.g. ``learnstream.progress``."""
    return f"{TOPIC_PREFIX}.{context}"


def dlq_topic_name(topic: str) -> str:
    """Where messages of ``topic`` that keep failing are parked."""
    return f"{topic}.dlq"


class DomainEvent(BaseModel):
    """Something that happened, in the past tense, as published on the bus.

    Subclasses set ``context`` (which topic), ``key_field`` (the field whose value
    is the Kafka key, so one learner's or one course's events stay ordered) and,
    for a new incompatible shape, ``version``.

    Readers are tolerant (unknown fields are ignored), so a producer may add an
    optional field before its consumers know it; anything else is a new version.
    """

    model_config = ConfigDict(frozen=True, extra="ignore", ser_json_timedelta="float")

    context: ClassVar[str]
    key_field: ClassVar[str]
    version: ClassVar[int] = 1

    event_id: UUID = Field(
        default_factory=uuid4,
        description="Unique id of this event; the CloudEvents `ce_id`. Consumers dedupe on it.",
        examples=["0b9f3c1e-6a55-4a8e-9a40-6f2c1b7f1d10"],
    )
    occurred_at: datetime = Field(
        default_factory=utc_now,
        description="When it happened, UTC with millisecond precision; the CloudEvents `ce_time`.",
        examples=["2026-11-22T09:15:30.125Z"],
    )
    actor_id: UUID | None = Field(
        default=None,
        description="Who caused it (learner, instructor or admin user id); null for the system.",
        examples=["5d6f2a7e-3c1b-4f0a-8e2d-1a2b3c4d5e6f"],
    )

    @field_validator("occurred_at")
    @classmethod
    def _utc_milliseconds(cls, value: datetime) -> datetime:
        if value.tzinfo is None:
            raise ValueError("occurred_at must carry a time zone (UTC)")
        value = value.astimezone(UTC)
        return value.replace(microsecond=value.microsecond // 1000 * 1000)

    @classmethod
    def event_name(cls) -> str:
        """The past-tense name, e.g. ``LessonCompleted``."""
        return cls.__name__

    @classmethod
    def ce_type(cls) -> str:
        """The CloudEvents type: ``learnstream.<context>.<Name>.v<N>``."""
        return f"{TOPIC_PREFIX}.{cls.context}.{cls.event_name()}.v{cls.version}"

    @classmethod
    def topic(cls) -> str:
        """The topic this event is published to."""
        return topic_name(cls.context)

    def key(self) -> str:
        """The Kafka message key: the learner id, course id or requester id."""
        return str(getattr(self, self.key_field))

    def subject(self) -> str:
        """The CloudEvents subject: what the event is about (same as the key)."""
        return self.key()

    def to_json_data(self) -> dict[str, Any]:
        """The event's data as JSON-compatible primitives."""
        return self.model_dump(mode="json")

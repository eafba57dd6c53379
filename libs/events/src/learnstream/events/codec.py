"""CloudEvents 1.0 binary content mode for Kafka.

The event's attributes travel as ``ce_*`` headers and the value is the event's JSON
data, so kcat or a Java consumer understands a topic without our code. Written by
hand because the ``cloudevents`` package's Kafka binding would add a dependency for
a dozen lines and does not know our registry, upcasters or error types.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError

from learnstream.events.base import DomainEvent
from learnstream.events.registry import resolve

SPECVERSION = "1.0"
CONTENT_TYPE = "application/json"
REQUIRED_HEADERS = ("ce_id", "ce_type", "ce_source", "ce_specversion")


class EventDecodeError(Exception):
    """A message that is not a Learnstream event we can read; it belongs in the DLQ."""

    reason = "undecodable"

    def __init__(self, message: str, *, ce_type: str | None = None) -> None:
        super().__init__(message)
        self.ce_type = ce_type


class MissingHeaderError(EventDecodeError):
    """A required CloudEvents header is absent."""

    reason = "missing-header"


class UnknownEventTypeError(EventDecodeError):
    """The ``ce_type`` names no event in the catalog (nor an upcastable old version)."""

    reason = "unknown-type"


class InvalidEventError(EventDecodeError):
    """The value is not JSON, or does not match the event's schema."""

    reason = "invalid-data"


@dataclass(frozen=True)
class KafkaRecord:
    """What to hand a Kafka producer: topic, key, value and headers."""

    topic: str
    key: bytes
    value: bytes
    headers: list[tuple[str, bytes]]


@dataclass(frozen=True)
class Envelope:
    """A decoded event with the CloudEvents attributes it arrived with."""

    event: DomainEvent
    ce_type: str
    source: str
    subject: str | None
    time: datetime | None
    traceparent: str | None = None
    extra_headers: dict[str, str] = field(default_factory=dict)


def _iso(value: datetime) -> str:
    return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def encode(event: DomainEvent, *, source: str, traceparent: str | None = None) -> KafkaRecord:
    """The Kafka record for ``event`` published by ``source`` (e.g. ``/services/progress``)."""
    headers = [
        ("ce_specversion", SPECVERSION.encode()),
        ("ce_id", str(event.event_id).encode()),
        ("ce_type", event.ce_type().encode()),
        ("ce_source", source.encode()),
        ("ce_time", _iso(event.occurred_at).encode()),
        ("ce_subject", event.subject().encode()),
        ("content-type", CONTENT_TYPE.encode()),
    ]
    if traceparent:
        headers.append(("traceparent", traceparent.encode()))
    value = json.dumps(event.to_json_data(), separators=(",", ":")).encode()
    return KafkaRecord(topic=event.topic(), key=event.key().encode(), value=value, headers=headers)


def headers_to_dict(
    headers: Iterable[tuple[str, bytes | str]] | Mapping[str, Any],
) -> dict[str, str]:
    """Kafka headers (a list of pairs or a mapping) as a str → str dict."""
    pairs = headers.items() if isinstance(headers, Mapping) else headers
    out: dict[str, str] = {}
    for name, raw in pairs:
        out[name] = raw.decode("utf-8", "replace") if isinstance(raw, bytes | bytearray) else str(raw)
    return out


def decode(headers: Iterable[tuple[str, bytes | str]] | Mapping[str, Any], value: bytes | None) -> Envelope:
    """The event carried by a Kafka message, or an :class:`EventDecodeError` saying why not."""
    attrs = headers_to_dict(headers)
    missing = [name for name in REQUIRED_HEADERS if not attrs.get(name)]
    if missing:
        raise MissingHeaderError(f"missing CloudEvents headers: {', '.join(missing)}")
    if attrs["ce_specversion"] != SPECVERSION:
        raise InvalidEventError(
            f"unsupported CloudEvents specversion {attrs['ce_specversion']!r}",
            ce_type=attrs["ce_type"],
        )
    ce_type = attrs["ce_type"]
    try:
        data = json.loads(value or b"")
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidEventError(f"value is not JSON: {exc}", ce_type=ce_type) from exc
    if not isinstance(data, dict):
        raise InvalidEventError("value is not a JSON object", ce_type=ce_type)

    resolved = resolve(ce_type, data)
    if resolved is None:
        raise UnknownEventTypeError(f"unknown event type {ce_type!r}", ce_type=ce_type)
    current_type, model, data = resolved

    data.setdefault("event_id", attrs["ce_id"])
    try:
        event = model.model_validate(data)
    except ValidationError as exc:
        raise InvalidEventError(
            f"{ce_type} does not match its schema: {exc.errors(include_url=False)}",
            ce_type=ce_type,
        ) from exc
    if str(event.event_id) != attrs["ce_id"]:
        raise InvalidEventError("ce_id header and event_id differ", ce_type=ce_type)

    try:
        time = datetime.fromisoformat(attrs["ce_time"]) if attrs.get("ce_time") else None
    except ValueError as exc:
        raise InvalidEventError(f"ce_time is not an ISO 8601 time: {exc}", ce_type=ce_type) from exc
    known = {*REQUIRED_HEADERS, "ce_time", "ce_subject", "content-type", "traceparent"}
    return Envelope(
        event=event,
        ce_type=current_type,
        source=attrs["ce_source"],
        subject=attrs.get("ce_subject"),
        time=time,
        traceparent=attrs.get("traceparent"),
        extra_headers={k: v for k, v in attrs.items() if k not in known},
    )


# CloudEvents JSON format (structured mode): the attributes beside the data in one document.
# Used to move events outside Kafka, e.g. analytics' backfill import of archived history.
_STRUCTURED = {
    "specversion": "ce_specversion",
    "id": "ce_id",
    "type": "ce_type",
    "source": "ce_source",
    "time": "ce_time",
    "subject": "ce_subject",
    "datacontenttype": "content-type",
    "traceparent": "traceparent",
}


def structured(record: KafkaRecord) -> dict[str, Any]:
    """The record as a CloudEvents JSON document: its attributes and its ``data``."""
    document: dict[str, Any] = json.loads(structured_json(record))
    return document


def from_structured(document: Mapping[str, Any]) -> tuple[list[tuple[str, bytes]], bytes]:
    """Kafka headers and value of an event given as a CloudEvents JSON document (the inverse
    of :func:`structured`); :func:`decode` checks them as it checks any message."""
    headers = [
        (header, str(document[attribute]).encode())
        for attribute, header in _STRUCTURED.items()
        if document.get(attribute) is not None
    ]
    value = json.dumps(document.get("data"), separators=(",", ":")).encode()
    return headers, value


def structured_json(record: KafkaRecord) -> bytes:
    """:func:`structured` as one JSON line, the record's data copied as it is (not parsed
    again): for writing millions of events."""
    headers = headers_to_dict(record.headers)
    attributes = {
        attribute: headers[header] for attribute, header in _STRUCTURED.items() if header in headers
    }
    head = json.dumps(attributes, separators=(",", ":")).encode()
    return head[:-1] + b',"data":' + (record.value or b"null") + b"}"

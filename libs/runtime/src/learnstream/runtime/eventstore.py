"""The event store: append-only streams with optimistic concurrency.

A stream (one aggregate: a course, an enrollment, a chat session) is the ordered
list of its events. Appending names the version the writer last saw; if someone
else appended meanwhile the unique ``(stream_id, stream_version)`` constraint
fires and :class:`ConcurrencyError` tells the caller to reload and retry.

Projections (the read models a service serves itself) run inside the same
transaction as the append, so a read model never disagrees with its events. The
same rows are the outbox the relay publishes from.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from opentelemetry import propagate
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from learnstream.events import DomainEvent, model_for


class ConcurrencyError(Exception):
    """The stream moved on since the writer read it; reload and decide again."""

    def __init__(self, stream_id: str, expected_version: int, actual_version: int) -> None:
        super().__init__(f"stream {stream_id!r} is at version {actual_version}, expected {expected_version}")
        self.stream_id = stream_id
        self.expected_version = expected_version
        self.actual_version = actual_version


@dataclass(frozen=True)
class StoredEvent:
    """An event as recorded: where it sits in its stream and in the store."""

    global_position: int
    stream_id: str
    stream_version: int
    event: DomainEvent
    metadata: dict[str, Any] = field(default_factory=dict)
    recorded_at: datetime | None = None


Projector = Callable[[AsyncSession, StoredEvent], Awaitable[None]]
"""Updates a read model from one event, inside the appending transaction."""

ANY_VERSION = -1
"""Expected version that skips the check (for streams with one writer, e.g. a log)."""


def current_trace_metadata() -> dict[str, str]:
    """The W3C trace context of the current span, stored so the relay can continue it."""
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    return carrier


class EventStore:
    """Appends and loads streams in a service's own PostgreSQL database."""

    def __init__(self, projectors: Sequence[Projector] = ()) -> None:
        self._projectors = list(projectors)

    def add_projector(self, projector: Projector) -> None:
        self._projectors.append(projector)

    async def version(self, session: AsyncSession, stream_id: str) -> int:
        """The stream's current version: 0 when it has no events."""
        current = await session.scalar(
            text("SELECT max(stream_version) FROM event_store WHERE stream_id = :s"),
            {"s": stream_id},
        )
        return int(current or 0)

    async def append(
        self,
        session: AsyncSession,
        stream_id: str,
        expected_version: int,
        events: Sequence[DomainEvent],
        *,
        metadata: dict[str, Any] | None = None,
    ) -> list[StoredEvent]:
        """Append ``events`` after ``expected_version`` and run the projections.

        Runs in the caller's transaction: the caller commits, so several streams
        can change atomically. Raises :class:`ConcurrencyError` on a conflict.
        """
        if not events:
            return []
        actual = await self.version(session, stream_id)
        if expected_version == ANY_VERSION:
            expected_version = actual
        if actual != expected_version:
            raise ConcurrencyError(stream_id, expected_version, actual)
        meta = {**current_trace_metadata(), **(metadata or {})}
        stored: list[StoredEvent] = []
        for offset, event in enumerate(events, start=1):
            version = expected_version + offset
            try:
                async with session.begin_nested():
                    position = await session.scalar(
                        text(
                            "INSERT INTO event_store (event_id, stream_id, stream_version, event_type,"
                            " schema_version, data, metadata, occurred_at)"
                            " VALUES (:event_id, :stream_id, :version, :event_type, :schema_version,"
                            " CAST(:data AS jsonb), CAST(:metadata AS jsonb), :occurred_at)"
                            " RETURNING global_position"
                        ),
                        {
                            "event_id": event.event_id,
                            "stream_id": stream_id,
                            "version": version,
                            "event_type": event.ce_type(),
                            "schema_version": event.version,
                            "data": event.model_dump_json(),
                            "metadata": _json(meta),
                            "occurred_at": event.occurred_at,
                        },
                    )
            except IntegrityError as exc:
                if "event_store_stream_version_unique" in str(exc.orig):
                    raise ConcurrencyError(
                        stream_id, expected_version, await self.version(session, stream_id)
                    ) from exc
                raise
            stored.append(StoredEvent(int(position), stream_id, version, event, meta))
        for item in stored:
            for projector in self._projectors:
                await projector(session, item)
        return stored

    async def load(
        self, session: AsyncSession, stream_id: str, *, after_version: int = 0
    ) -> list[StoredEvent]:
        """The stream's events after ``after_version``, oldest first."""
        rows = await session.execute(
            text(
                "SELECT global_position, stream_version, event_type, data, metadata, recorded_at"
                " FROM event_store WHERE stream_id = :s AND stream_version > :v"
                " ORDER BY stream_version"
            ),
            {"s": stream_id, "v": after_version},
        )
        return [
            StoredEvent(
                global_position=position,
                stream_id=stream_id,
                stream_version=version,
                event=_rehydrate(event_type, data),
                metadata=metadata,
                recorded_at=recorded_at,
            )
            for position, version, event_type, data, metadata, recorded_at in rows
        ]


def _rehydrate(event_type: str, data: dict[str, Any]) -> DomainEvent:
    model = model_for(event_type)
    if model is None:
        raise LookupError(f"event store holds an unknown event type {event_type!r}")
    return model.model_validate(data)


def _json(value: dict[str, Any]) -> str:
    return json.dumps(value, separators=(",", ":"), default=str)

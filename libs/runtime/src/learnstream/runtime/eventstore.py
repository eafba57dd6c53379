"""The event store: append-only streams with optimistic concurrency.

A stream (one aggregate: a course, an enrollment, a chat session) is the ordered
list of its events. Appending names the version the writer last saw; if someone
else appended meanwhile the unique ``(stream_id, stream_version)`` constraint
fires and :class:`ConcurrencyError` tells the caller to reload and retry.

Projections (the read models a service serves itself) run inside the same
transaction as the append, so a read model never disagrees with its events. The
same rows are the outbox the relay publishes from, so personal fields are sealed
(``learnstream.runtime.vault``) before they are stored: projections see them in clear,
the stored rows and everything published from them do not.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from opentelemetry import propagate
from sqlalchemy import event as sa_event
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from learnstream.events import DomainEvent
from learnstream.events.registry import rehydrate
from learnstream.runtime.vault import KeyVault


class ConcurrencyError(Exception):
    """The stream moved on since the writer read it; reload and decide again."""

    def __init__(self, stream_id: str, expected_version: int, actual_version: int | None) -> None:
        actual = "a later version" if actual_version is None else f"version {actual_version}"
        super().__init__(f"stream {stream_id!r} is at {actual}, expected {expected_version}")
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


def current_trace_metadata() -> dict[str, str]:
    """The W3C trace context of the current span, stored so the relay can continue it."""
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    return carrier


class EventStore:
    """Appends and loads streams in a service's own PostgreSQL database."""

    def __init__(self, projectors: Sequence[Projector] = (), *, vault: KeyVault | None = None) -> None:
        self._projectors = list(projectors)
        self.vault = vault
        """Seals personal fields before they are stored (and so before they are published)."""
        self._committed: list[Callable[[], None]] = []

    def add_projector(self, projector: Projector) -> None:
        self._projectors.append(projector)

    def on_commit(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` after each transaction that appended events has committed.

        The outbox relay of the same process is woken this way instead of polling the
        table; writes of other processes reach it through its slower fallback poll.
        """
        self._committed.append(callback)

    def _tell_when_committed(self, session: AsyncSession) -> None:
        sync = session.sync_session
        if self._committed and not sa_event.contains(sync, "after_commit", self._after_commit):
            sa_event.listen(sync, "after_commit", self._after_commit)

    def _after_commit(self, _session: object) -> None:
        for callback in self._committed:
            callback()

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
        if actual != expected_version:
            raise ConcurrencyError(stream_id, expected_version, actual)
        meta = {**current_trace_metadata(), **(metadata or {})}
        datas = await self.vault.seal(events) if self.vault else [event.to_json_data() for event in events]
        rows = [
            {
                "event_id": str(event.event_id),
                "stream_id": stream_id,
                "version": expected_version + offset,
                "event_type": event.ce_type(),
                "schema_version": event.version,
                "data": data,
                "metadata": meta,
                "occurred_at": event.occurred_at.isoformat(),
            }
            for offset, (event, data) in enumerate(zip(events, datas, strict=True), start=1)
        ]
        try:
            # one statement, no savepoints: PostgreSQL's per-backend subtransaction cache
            # overflows past 64 and then slows every snapshot on the server
            result = await session.execute(
                text(
                    "INSERT INTO event_store (event_id, stream_id, stream_version, event_type,"
                    " schema_version, data, metadata, occurred_at)"
                    " SELECT * FROM jsonb_to_recordset(CAST(:rows AS jsonb)) AS r("
                    " event_id uuid, stream_id text, version integer, event_type text,"
                    " schema_version integer, data jsonb, metadata jsonb, occurred_at timestamptz)"
                    " ORDER BY version"
                    " RETURNING global_position, stream_version"
                ),
                {"rows": json.dumps(rows, separators=(",", ":"), default=str)},
            )
        except IntegrityError as exc:
            if violates(exc, "event_store_stream_version_unique"):
                # a concurrent writer committed this version first; the transaction is
                # aborted, so the caller reloads in a new one
                raise ConcurrencyError(stream_id, expected_version, None) from exc
            raise
        self._tell_when_committed(session)
        positions = dict(sorted((version, position) for position, version in result))
        stored = [
            StoredEvent(int(positions[version]), stream_id, version, event, meta)
            for version, event in enumerate(events, start=expected_version + 1)
        ]
        for item in stored:
            for projector in self._projectors:
                await projector(session, item)
        return stored

    async def load(
        self, session: AsyncSession, stream_id: str, *, after_version: int = 0
    ) -> list[StoredEvent]:
        """The stream's events after ``after_version``, oldest first."""
        result = await session.execute(
            text(
                "SELECT global_position, stream_version, event_type, data, metadata, recorded_at"
                " FROM event_store WHERE stream_id = :s AND stream_version > :v"
                " ORDER BY stream_version"
            ),
            {"s": stream_id, "v": after_version},
        )
        rows = list(result)
        events = [rehydrate(event_type, data) for _, _, event_type, data, _, _ in rows]
        if self.vault is not None:
            events = await self.vault.reveal(events)
        return [
            StoredEvent(
                global_position=position,
                stream_id=stream_id,
                stream_version=version,
                event=event,
                metadata=metadata,
                recorded_at=recorded_at,
            )
            for (position, version, _, _, metadata, recorded_at), event in zip(rows, events, strict=True)
        ]


def violates(error: IntegrityError, constraint: str) -> bool:
    """Whether ``error`` is a violation of the named constraint."""
    cause = error.orig.__cause__ if error.orig is not None else None
    return getattr(cause, "constraint_name", None) == constraint or constraint in str(error.orig)

"""Writing events into ClickHouse: the projection's sink, erasure and rebuilds.

The projection writes every event to ``events`` once per batch; the materialized
views of :mod:`.schema` derive the other tables in the same insert. An erased
learner's rows are deleted from every table, and events about them that arrive
later (redelivered, replayed, or published by a context that had not yet heard of
the erasure) are dropped, so a rebuild cannot bring them back. Last, the read model's
rows (``course_learners``) of every learner and course the batch touched are derived
again from their whole history, so the reports see the batch at once.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from uuid import UUID

from learnstream.analytics.adapters.clickhouse import ClickHouse
from learnstream.analytics.adapters.schema import (
    DERIVED_TABLES,
    LEARNER_MODEL,
    ddl,
    learner_model_insert,
    rebuild_statements,
)
from learnstream.events.chat import ChatSessionDeleted
from learnstream.events.codec import headers_to_dict
from learnstream.events.identity import LearnerErasureRequested
from learnstream.runtime.projection import Projected

log = logging.getLogger(__name__)

EVENT_COLUMNS = (
    "event_id",
    "type",
    "context",
    "name",
    "version",
    "source",
    "subject",
    "time",
    "spec_version",
    "content_type",
    "traceparent",
    "topic",
    "partition",
    "offset",
    "data",
)

_ERASURE = LearnerErasureRequested.event_name()
_ZERO = UUID(int=0)
_SESSION_DELETED = ChatSessionDeleted.event_name()


def event_row(item: Projected) -> list[object]:
    """The ``events`` row of one delivered event: its CloudEvents attributes and JSON data."""
    envelope, delivery = item.envelope, item.delivery
    event = envelope.event
    headers = headers_to_dict(delivery.headers)
    return [
        event.event_id,
        envelope.ce_type,
        event.context,
        event.event_name(),
        event.version,
        envelope.source,
        envelope.subject or event.subject(),
        event.occurred_at,
        headers.get("ce_specversion", "1.0"),
        headers.get("content-type", "application/json"),
        envelope.traceparent or "",
        delivery.topic,
        delivery.partition,
        delivery.offset,
        (delivery.value or b"{}").decode(),
    ]


class Warehouse:
    """The analytics tables in ClickHouse, as the projection and the rebuild command see them.

    Deletes and truncations run without ``ON CLUSTER``: on replicated tables they replicate
    by themselves, and running them on every replica would queue each one several times.
    """

    def __init__(self, clickhouse: ClickHouse) -> None:
        self.clickhouse = clickhouse
        self._erased: set[str] = set()
        self._vanished = False
        """Whether this batch deleted rows from ``activity`` (a conversation), so a model row
        may have nothing left to derive from."""

    @property
    def _db(self) -> str:
        return f"`{self.clickhouse.database}`"

    @property
    def _consistent(self) -> str:
        """On a cluster, read what every replica has acknowledged (another writer's erasure)."""
        return " SETTINGS select_sequential_consistency = 1" if self.clickhouse.cluster else ""

    async def create(self) -> None:
        """Create every table and view (idempotent) and load the erased learners."""
        for statement in ddl(self.clickhouse.database, self.clickhouse.cluster):
            await self.clickhouse.command(statement)
        rows = await self.clickhouse.query_rows(f"SELECT DISTINCT user_id FROM {self._db}.erasures")
        self._erased = {str(row[0]) for row in rows}
        counts = await self.clickhouse.query_rows(
            f"SELECT (SELECT count() FROM {self._db}.{LEARNER_MODEL}),"
            f" (SELECT count() FROM {self._db}.activity)"
        )
        if not counts[0][0] and counts[0][1]:  # a store from before the read model: derive it once
            log.info("deriving the learner read model from %d activity rows", counts[0][1])
            await self.clickhouse.command(learner_model_insert(self.clickhouse.database))
        if self.clickhouse.embedded:
            # chDB spends about two seconds on a process's first client-side insert; pay it
            # now, into a table that keeps nothing, rather than on the first events
            await self.clickhouse.command(
                f"CREATE TABLE IF NOT EXISTS {self._db}.warm_up (x UInt8) ENGINE = Null"
            )
            await self.clickhouse.insert("warm_up", [[1]], ["x"])

    async def reachable(self) -> bool:
        """Whether ClickHouse answers and the ``events`` table is there (so a refused write is
        about the events written, not about the store)."""
        try:
            await self.clickhouse.query_rows(f"SELECT 1 FROM {self._db}.events LIMIT 0")
        except Exception:
            return False
        return True

    async def write(self, items: Sequence[Projected]) -> None:
        """Store a batch durably (the projection's sink); erase whoever it asks to erase."""
        erasures = [item for item in items if item.envelope.event.event_name() == _ERASURE]
        rows = [
            event_row(item)
            for item in items
            if item.envelope.event.event_name() == _ERASURE or self._subject(item) not in self._erased
        ]
        if rows:
            await self.clickhouse.insert("events", rows, EVENT_COLUMNS)
        newly_erased: dict[str, UUID] = {}
        for item in erasures:
            event = item.envelope.event
            assert isinstance(event, LearnerErasureRequested)
            newly_erased[str(event.user_id)] = event.request_id
        # a learner erased by another writer since we last looked: their rows must go too
        subjects = {self._subject(item) for item in items} - set(newly_erased) - self._erased
        if subjects:
            found = await self.clickhouse.query_rows(
                f"SELECT DISTINCT toString(user_id) FROM {self._db}.erasures"
                " WHERE toString(user_id) IN {subjects:Array(String)}" + self._consistent,
                {"subjects": sorted(subjects)},
            )
            for (user_id,) in found:
                newly_erased.setdefault(user_id, UUID(int=0))
        for user_id, request_id in newly_erased.items():
            await self.erase(user_id)
            if request_id.int:
                log.info(
                    "learner erased from analytics",
                    extra={"learner_id": user_id, "request_id": str(request_id)},
                )
        await self._drop_deleted_conversations(items)
        await self._derive_learners(items)

    async def _derive_learners(self, items: Sequence[Projected]) -> None:
        """Derive the read model's rows of the learners and courses ``items`` are about again.

        Every (course, learner) pair among the batch's learners and courses that has activity
        is re-derived (a superset of the pairs touched, which costs a little and is exact);
        a pair whose activity is all gone (a deleted conversation was all it had) loses its row.
        """
        learners: set[UUID] = set()
        courses: set[UUID] = set()
        for item in items:
            event = item.envelope.event
            learner = getattr(event, "learner_id", None)
            course = getattr(event, "course_id", None)
            if isinstance(learner, UUID) and str(learner) not in self._erased:
                learners.add(learner)
            if isinstance(course, UUID):
                courses.add(course)
        courses.discard(_ZERO)
        if not learners or not courses:
            return
        parameters = {"learners": sorted(learners), "courses": sorted(courses)}
        pairs = "learner_id IN {learners:Array(UUID)} AND course_id IN {courses:Array(UUID)}"
        await self.clickhouse.command(learner_model_insert(self.clickhouse.database, pairs), parameters)
        if self._vanished:
            await self.clickhouse.command(
                f"DELETE FROM {self._db}.{LEARNER_MODEL} WHERE {pairs}"
                f" AND (course_id, learner_id) NOT IN (SELECT course_id, learner_id FROM {self._db}.activity"
                f" WHERE {pairs})",
                parameters,
            )
            self._vanished = False

    async def _drop_deleted_conversations(self, items: Sequence[Projected]) -> None:
        """A conversation the learner deleted is dropped from every table, whichever arrives first:
        the deletion (its event stays, as a tombstone) or the conversation's other events."""
        sessions = {
            str(session)
            for item in items
            if item.envelope.event.context == "chat"
            and (session := getattr(item.envelope.event, "session_id", None)) is not None
        }
        if not sessions:
            return
        rows = await self.clickhouse.query_rows(
            f"SELECT DISTINCT toString(session_id) FROM {self._db}.activity"
            f" WHERE name = '{_SESSION_DELETED}' AND toString(session_id) IN {{sessions:Array(String)}}",
            {"sessions": sorted(sessions)},
        )
        deleted = sorted(row[0] for row in rows)
        if not deleted:
            return
        self._vanished = True
        parameters = {"sessions": deleted}
        await self.clickhouse.command(
            f"DELETE FROM {self._db}.activity"
            f" WHERE name != '{_SESSION_DELETED}' AND toString(session_id) IN {{sessions:Array(String)}}",
            parameters,
        )
        await self.clickhouse.command(
            f"DELETE FROM {self._db}.events"
            f" WHERE context = 'chat' AND name != '{_SESSION_DELETED}'"
            " AND JSONExtractString(data, 'session_id') IN {sessions:Array(String)}",
            parameters,
        )

    @staticmethod
    def _subject(item: Projected) -> str:
        return item.envelope.subject or item.envelope.event.subject()

    async def erase(self, user_id: str) -> None:
        """Delete every row about ``user_id`` (the erasure request itself stays, as a tombstone)."""
        parameters = {"user": user_id}
        for table, where in (
            ("events", f"subject = {{user:String}} AND name != '{_ERASURE}'"),
            ("activity", "learner_id = toUUID({user:String})"),
            ("users", "user_id = toUUID({user:String})"),
            (LEARNER_MODEL, "learner_id = toUUID({user:String})"),
        ):
            await self.clickhouse.command(f"DELETE FROM {self._db}.{table} WHERE {where}", parameters)
        # only now: a failed delete is retried with the batch, which finds the learner again
        self._erased.add(user_id)

    async def clear(self) -> None:
        """Empty every table, ``events`` included (before replaying the topics); erased
        learners stay remembered, so the replay drops their events again."""
        for table in ("events", *DERIVED_TABLES):
            await self.clickhouse.command(f"TRUNCATE TABLE IF EXISTS {self._db}.{table}")

    async def rebuild(self) -> int:
        """Re-derive every table from ``events``; returns how many events were replayed."""
        for statement in rebuild_statements(self.clickhouse.database):
            await self.clickhouse.command(statement)
        rows = await self.clickhouse.query_rows(f"SELECT count() FROM {self._db}.events FINAL")
        return int(rows[0][0])

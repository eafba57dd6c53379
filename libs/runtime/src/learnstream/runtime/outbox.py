"""The outbox relay: publishes committed events from the event store to Kafka.

Commit-order safety. ``global_position`` comes from a sequence taken at insert, not
at commit, so a transaction holding position 10 may commit after one holding 11.
A relay that remembered "the last position I sent" would skip 10 for ever. This
relay instead marks each row it published (``published_at``) and only considers
rows whose writing transaction is older than every transaction still running in its
database (:data:`_NEXT_BATCH`): such a row's fate is final, and a row of a transaction
that has not ended yet is never skipped, only published later. Stream order rests on
visibility and ``UNIQUE (stream_id, stream_version)``: version v + 1 can commit only after
v did, so v is visible whenever v + 1 is, and holds the lower position; events of one
stream go out in order. Across streams the order is that of positions as far as commits
allow (a transaction with a lower id may commit a higher position first).

Only this database's transactions count. ``pg_snapshot_xmin`` of the current snapshot
would be simpler, but transaction ids are server-wide: one long transaction in another
service's database (an export being rendered in its consumer's transaction) held back
every relay on the server. The running transactions of the snapshot are matched to the
sessions of this database (``pg_stat_activity``, read in the same statement). One that
ends between the two is not waited for; its rows, invisible to the statement, go out in
the next batch.

One relay per database publishes at a time: each batch is selected, published and
marked inside one transaction holding a transaction-level advisory lock, so
replicas of a service can all run the relay and a dead one leaves nothing held.
A crash between the broker's ack and the ``published_at`` update republishes a
batch: delivery is at least once and consumers dedupe by event id. A long-running
transaction in the relay's own database holds it back until it ends (and is logged: the
oldest running transaction, when the leading relay has found nothing it may publish for
``stuck_after`` seconds).
Should a role not see other roles' sessions in ``pg_stat_activity``, no harm: only the
service's own role writes its event store.

Waking. The event store tells the relay of its own process when a transaction that
appended events has committed (:meth:`OutboxRelay.wake`); the relay then waits a few
milliseconds so that commits arriving together go out as one batch, and publishes.
While committed rows are still waiting (held back by an older transaction, or another
replica is publishing) it looks again every ``poll_interval``, and when they have waited
``stuck_after`` seconds it logs the oldest transaction of the database holding them back;
with nothing waiting it
sleeps until woken, or ``idle_interval`` at most, which picks up rows written by other
processes. Polling the table ten times a second in each of six idle services cost
more CPU than the broker (``bench/README.md``); PostgreSQL's ``NOTIFY`` would wake
replicas too, but it serialises the commits of every notifying transaction on the server.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from aiokafka.errors import KafkaError
from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from prometheus_client import Counter, Gauge
from sqlalchemy import text
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from learnstream.events import KafkaRecord, encode, model_for
from learnstream.events.registry import rehydrate
from learnstream.runtime import failpoints
from learnstream.runtime.bus import RecordPublisher

log = logging.getLogger(__name__)
tracer = trace.get_tracer("learnstream.outbox")

_RELAY_LOCK = 7_340_002  # advisory lock id for "outbox relay leader"

_NEXT_BATCH = text(
    """
    WITH snapshot AS (SELECT pg_current_snapshot() AS s),
    running_here AS (
        SELECT backend_xid::text::bigint AS xid FROM pg_stat_activity
        WHERE datname = current_database() AND backend_xid IS NOT NULL
    ),
    horizon AS (
        SELECT coalesce(
            (SELECT min(x) FROM snapshot, pg_snapshot_xip(snapshot.s) AS x
             WHERE x::text::bigint % 4294967296 IN (SELECT xid FROM running_here)),
            (SELECT pg_snapshot_xmax(s) FROM snapshot)
        ) AS tx_id
    )
    SELECT global_position, event_type, data, metadata FROM event_store, horizon
    WHERE published_at IS NULL AND event_store.tx_id < horizon.tx_id
    ORDER BY global_position LIMIT :n
    """
)
"""The next rows to publish: those written before the oldest transaction still running in
this database (with none running, before the first not yet started), whose fate is final.
The snapshot's running ``xid8`` are matched to the 32-bit ``backend_xid`` of this
database's sessions by their low bits."""

_HOLDING_BACK = text(
    "SELECT pid, application_name, state, now() - xact_start AS open_for, left(query, 200) AS query"
    " FROM pg_stat_activity WHERE datname = current_database() AND backend_xid IS NOT NULL"
    " ORDER BY age(backend_xid) DESC LIMIT 1"
)

PUBLISHED = Counter("learnstream_outbox_published_total", "Events the outbox relay published")
PENDING = Gauge("learnstream_outbox_pending", "Committed events not yet published")


@dataclass(frozen=True)
class RelayBatch:
    positions: list[int]
    records: list[KafkaRecord]


class OutboxRelay:
    """Moves committed event-store rows to Kafka, in order, at least once."""

    def __init__(
        self,
        engine: AsyncEngine,
        publisher: RecordPublisher,
        *,
        source: str,
        batch_size: int = 500,
        poll_interval: float = 0.1,
        idle_interval: float = 2.0,
        linger: float = 0.005,
        watch_interval: float = 5.0,
        stuck_after: float = 30.0,
    ) -> None:
        self._engine = engine
        self._publisher = publisher
        self._source = source
        self._batch_size = batch_size
        self._poll_interval = poll_interval
        self._idle_interval = idle_interval
        self._linger = linger
        self._watch_interval = watch_interval
        self._stuck_after = stuck_after
        self._led = False
        """Whether this relay held the lead in its last batch (another may publish meanwhile)."""
        self._topics: set[str] = set()
        """The topics this relay has published to (watched for a lost log)."""
        self._committed = asyncio.Event()

    def wake(self) -> None:
        """Events were committed: publish them now rather than at the next poll."""
        self._committed.set()

    async def publish_pending(self) -> int:
        """Publish everything publishable now; return how many (0 if another relay leads)."""
        total = 0
        async with self._engine.connect() as conn:
            while True:
                published = await self._publish_one_batch(conn)
                if not published:
                    return total
                total += published

    async def _publish_one_batch(self, conn: AsyncConnection) -> int:
        # Leadership is taken per batch, in the batch's own transaction: while this
        # transaction publishes and marks a batch, no other relay of this database can,
        # and nothing is left holding a lock if the connection breaks.
        try:
            published = await self._publish_while_leading(conn)
        except BaseException:
            # a failure (or a cancellation, which can leave the connection invalidated) must
            # reach the caller as it was: an error of the rollback would replace it, and a
            # swallowed cancellation keeps the relay running after its service has stopped
            with contextlib.suppress(Exception):
                await conn.rollback()
            raise
        await conn.commit()
        PUBLISHED.inc(published)
        return published

    async def _publish_while_leading(self, conn: AsyncConnection) -> int:
        leading = await conn.scalar(text("SELECT pg_try_advisory_xact_lock(:id)"), {"id": _RELAY_LOCK})
        self._led = bool(leading)
        if not leading:
            return 0
        batch = await self._next_batch(conn)
        if not batch.records:
            return 0
        await self._publisher.publish(batch.records)
        self._topics.update(record.topic for record in batch.records)
        failpoints.reached("outbox.after-publish")  # the crash this module's docstring describes
        await conn.execute(
            text("UPDATE event_store SET published_at = now() WHERE global_position = ANY(:p)"),
            {"p": batch.positions},
        )
        return len(batch.records)

    async def replay_if_broker_forgot(self, log_is_empty: Callable[[list[str]], Awaitable[bool]]) -> int:
        """Republish the whole store when the broker has lost its log; return how many rows.

        The embedded broker keeps topics in memory, so after it restarts the event
        stores are the only copy of the history. When rows were published but the
        broker's log of their topics is gone (``log_is_empty``: at start, every partition
        is empty; while running, a partition this process wrote to is empty again), they
        are marked unpublished and go out again in order; consumers dedupe what they had
        already applied. A real Kafka log never returns to offset 0, so this does nothing
        in production.
        """
        async with self._engine.connect() as conn:
            types = (
                await conn.scalars(
                    text("SELECT DISTINCT event_type FROM event_store WHERE published_at IS NOT NULL")
                )
            ).all()
            await conn.commit()
            topics = sorted({model.topic() for t in types if (model := model_for(t)) is not None})
        self._topics.update(topics)
        if not topics or not await log_is_empty(topics):
            return 0
        return await self._republish_all()

    async def _replay_if_log_lost(self, log_was_lost: Callable[[list[str]], Awaitable[bool]]) -> int:
        """While running: republish the store if a partition this relay wrote to is empty again."""
        if not self._topics or not await log_was_lost(sorted(self._topics)):
            return 0
        return await self._republish_all()

    async def _republish_all(self) -> int:
        async with self._engine.begin() as conn:
            result = await conn.execute(
                text("UPDATE event_store SET published_at = NULL WHERE published_at IS NOT NULL")
            )
        log.warning("the broker lost its log; republishing %d events", result.rowcount)
        return int(result.rowcount)

    async def run(
        self,
        log_is_empty: Callable[[list[str]], Awaitable[bool]] | None = None,
        log_was_lost: Callable[[list[str]], Awaitable[bool]] | None = None,
    ) -> None:
        """Relay for ever, publishing as events commit; survive broker and database outages.

        ``log_is_empty`` is asked once at start (:meth:`replay_if_broker_forgot`), and
        ``log_was_lost`` (a partition this process wrote to is empty again: the broker
        restarted) every ``watch_interval`` seconds and after each broker error, whether to
        republish the store."""
        replay_checked = log_is_empty is None
        watched = time.monotonic()
        moved = time.monotonic()  # when the relay last had nothing waiting, or published
        while True:
            # cleared before looking, so a commit while this pass runs wakes the next one
            self._committed.clear()
            try:
                if not replay_checked and log_is_empty is not None:
                    await self.replay_if_broker_forgot(log_is_empty)
                    replay_checked = True
                if log_was_lost is not None and time.monotonic() - watched >= self._watch_interval:
                    watched = time.monotonic()
                    await self._replay_if_log_lost(log_was_lost)
                published = await self.publish_pending()
                async with self._engine.connect() as conn:
                    pending = int(
                        await conn.scalar(text("SELECT count(*) FROM event_store WHERE published_at IS NULL"))
                        or 0
                    )
                    PENDING.set(pending)
                    if published or not pending or not self._led:
                        moved = time.monotonic()
                    elif time.monotonic() - moved >= self._stuck_after:
                        moved = time.monotonic()
                        await self._say_what_holds_back(conn, pending)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if _being_cancelled():
                    raise  # an error while a cancellation unwinds is no reason to go on
                if isinstance(exc, KafkaError | OSError | OperationalError):
                    log.warning("outbox relay cannot publish yet (%s); retrying", type(exc).__name__)
                    watched = 0.0  # the broker may come back without its log: look first
                else:
                    log.exception("outbox relay failed; retrying")
                await asyncio.sleep(1.0)
                continue
            if pending:
                await asyncio.sleep(self._poll_interval)
            else:
                await self._until_woken()

    @staticmethod
    async def _say_what_holds_back(conn: AsyncConnection, pending: int) -> None:
        oldest = (await conn.execute(_HOLDING_BACK)).mappings().first()
        log.warning(
            "outbox relay: %d committed events waiting behind an older transaction",
            pending,
            extra={"holding_back": dict(oldest) if oldest else "none still running"},
        )

    async def _until_woken(self) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._committed.wait(), self._idle_interval)
            await asyncio.sleep(self._linger)

    async def _next_batch(self, conn: AsyncConnection) -> RelayBatch:
        rows = await conn.execute(
            _NEXT_BATCH,
            {"n": self._batch_size},
        )
        positions: list[int] = []
        records: list[KafkaRecord] = []
        for position, event_type, data, metadata in rows:
            event = rehydrate(event_type, data)
            records.append(encode(event, source=self._source, traceparent=_traceparent(metadata)))
            positions.append(position)
        return RelayBatch(positions, records)


def _being_cancelled() -> bool:
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0


def _traceparent(metadata: dict[str, str]) -> str | None:
    """A child span of the trace that appended the event, so the trace crosses Kafka."""
    parent = propagate.extract(metadata)
    token = otel_context.attach(parent)
    try:
        with tracer.start_as_current_span("outbox publish", kind=trace.SpanKind.PRODUCER):
            carrier: dict[str, str] = {}
            propagate.inject(carrier)
            return carrier.get("traceparent") or metadata.get("traceparent")
    finally:
        otel_context.detach(token)

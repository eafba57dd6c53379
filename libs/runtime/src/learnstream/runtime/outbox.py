"""The outbox relay: publishes committed events from the event store to Kafka.

Commit-order safety. ``global_position`` comes from a sequence taken at insert, not
at commit, so a transaction holding position 10 may commit after one holding 11.
A relay that remembered "the last position I sent" would skip 10 for ever. This
relay instead marks each row it published (``published_at``) and only considers
rows whose writing transaction is older than every transaction still running
(``tx_id < pg_snapshot_xmin(pg_current_snapshot())``): such a row's fate is
final, and everything before it in position order is visible too, so events go
out in position order — which is stream order, since an append reads the previous
version first.

One relay per database publishes at a time (a PostgreSQL advisory lock), so
replicas of a service can all run it; if the holder dies another takes over. A
crash between the broker's ack and the ``published_at`` update republishes a
batch: delivery is at least once and consumers dedupe by event id.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass

from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from prometheus_client import Counter, Gauge
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from learnstream.events import KafkaRecord, encode, model_for
from learnstream.runtime.bus import RecordPublisher

log = logging.getLogger(__name__)
tracer = trace.get_tracer("learnstream.outbox")

_RELAY_LOCK = 7_340_002  # advisory lock id for "outbox relay leader"

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
    ) -> None:
        self._engine = engine
        self._publisher = publisher
        self._source = source
        self._batch_size = batch_size
        self._poll_interval = poll_interval
        self._wakeup = asyncio.Event()

    def notify(self) -> None:
        """Hint that something was appended, so the relay looks now instead of at the next poll."""
        self._wakeup.set()

    async def publish_pending(self) -> int:
        """Publish everything publishable now (one pass, no leader lock); return how many."""
        total = 0
        async with self._engine.connect() as conn:
            while True:
                batch = await self._next_batch(conn)
                if not batch.records:
                    return total
                await self._publisher.publish(batch.records)
                await conn.execute(
                    text("UPDATE event_store SET published_at = now() WHERE global_position = ANY(:p)"),
                    {"p": batch.positions},
                )
                await conn.commit()
                PUBLISHED.inc(len(batch.records))
                total += len(batch.records)

    async def run(self) -> None:
        """Relay for ever: take the leader lock, then publish as events commit."""
        while True:
            try:
                async with self._engine.connect() as lock_conn:
                    if not await lock_conn.scalar(
                        text("SELECT pg_try_advisory_lock(:id)"), {"id": _RELAY_LOCK}
                    ):
                        await lock_conn.rollback()
                        await asyncio.sleep(1.0)
                        continue
                    await lock_conn.commit()
                    try:
                        await self._lead(lock_conn)
                    finally:
                        with contextlib.suppress(Exception):
                            await lock_conn.execute(
                                text("SELECT pg_advisory_unlock(:id)"), {"id": _RELAY_LOCK}
                            )
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("outbox relay failed; retrying")
                await asyncio.sleep(1.0)

    async def _lead(self, lock_conn: AsyncConnection) -> None:
        while True:
            await self.publish_pending()
            pending = await lock_conn.scalar(
                text("SELECT count(*) FROM event_store WHERE published_at IS NULL")
            )
            await lock_conn.commit()
            PENDING.set(int(pending or 0))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wakeup.wait(), timeout=self._poll_interval)
            self._wakeup.clear()

    async def _next_batch(self, conn: AsyncConnection) -> RelayBatch:
        rows = await conn.execute(
            text(
                "SELECT global_position, event_type, data, metadata FROM event_store"
                " WHERE published_at IS NULL"
                " AND tx_id < pg_snapshot_xmin(pg_current_snapshot())"
                " ORDER BY global_position LIMIT :n"
            ),
            {"n": self._batch_size},
        )
        positions: list[int] = []
        records: list[KafkaRecord] = []
        for position, event_type, data, metadata in rows:
            model = model_for(event_type)
            if model is None:
                raise LookupError(f"event store row {position} has unknown type {event_type!r}")
            event = model.model_validate(data)
            records.append(encode(event, source=self._source, traceparent=_traceparent(metadata)))
            positions.append(position)
        await conn.commit()
        return RelayBatch(positions, records)


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

"""Live updates for ``GET /api/stream``, fanned out through Redis to every gateway replica.

One replica consumes an event from the bus (the consumer group shares the work) and
:meth:`LiveHub.publish` writes the update for its recipient twice in one transaction:
into the recipient's capped Redis stream (kept a day, so a client that reconnects with
``Last-Event-ID`` gets what it missed) and onto one pub/sub channel. Every replica
listens on that channel once and hands each update to the connections of its
recipient that it holds; the others are dropped.

Live updates are a convenience on top of state that the contexts keep: when Redis is
down, publishing is skipped with a warning and open streams keep their heartbeat.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections import defaultdict
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from redis.asyncio import Redis
from redis.exceptions import RedisError

log = logging.getLogger(__name__)

CHANNEL = "learnstream:live"
KEEP_PER_USER = 200
KEEP_SECONDS = 24 * 3600


@dataclass(frozen=True)
class Update:
    """One server-sent event: its stream id (``id:``), kind (``event:``) and JSON data."""

    id: str
    kind: str
    data: dict[str, Any]

    def encode(self) -> bytes:
        body = json.dumps(self.data, separators=(",", ":"), default=str)
        return f"id: {self.id}\nevent: {self.kind}\ndata: {body}\n\n".encode()


def _text(value: bytes | str | None) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _key(user_id: UUID | str) -> str:
    return f"{CHANNEL}:{user_id}"


class LiveHub:
    def __init__(self, redis: Redis, *, max_streams_per_user: int = 5) -> None:
        self._redis = redis
        self._local: dict[str, set[asyncio.Queue[Update]]] = defaultdict(set)
        self.max_streams_per_user = max_streams_per_user

    async def publish(self, user_id: UUID, kind: str, data: dict[str, Any]) -> str | None:
        """Deliver an update to ``user_id``'s open streams (on any replica); its id, or None."""
        fields: dict[Any, Any] = {"kind": kind, "data": json.dumps(data, separators=(",", ":"), default=str)}
        try:
            async with self._redis.pipeline(transaction=True) as pipe:
                pipe.xadd(_key(user_id), fields, maxlen=KEEP_PER_USER, approximate=True)
                pipe.expire(_key(user_id), KEEP_SECONDS)
                entry_id, _ = await pipe.execute()
            entry = entry_id.decode() if isinstance(entry_id, bytes) else str(entry_id)
            message = json.dumps({"user": str(user_id), "id": entry, **fields})
            await self._redis.publish(CHANNEL, message)
        except (RedisError, OSError) as exc:
            log.warning("live update %s for %s not sent: Redis failed (%s)", kind, user_id, exc)
            return None
        return entry

    async def forget(self, user_id: UUID) -> None:
        """Drop the updates kept for ``user_id`` (erasure)."""
        try:
            await self._redis.delete(_key(user_id))
        except (RedisError, OSError) as exc:
            log.warning(
                "live updates of %s not dropped: Redis failed (%s); they expire in a day", user_id, exc
            )

    def open_streams(self, user_id: UUID) -> int:
        return len(self._local.get(str(user_id), ()))

    @contextlib.asynccontextmanager
    async def subscribe(self, user_id: UUID) -> AsyncIterator[asyncio.Queue[Update]]:
        """A queue receiving ``user_id``'s updates while the context is open."""
        queue: asyncio.Queue[Update] = asyncio.Queue(maxsize=1000)
        subscribers = self._local[str(user_id)]
        subscribers.add(queue)
        try:
            yield queue
        finally:
            subscribers.discard(queue)
            if not subscribers:
                self._local.pop(str(user_id), None)

    async def missed(self, user_id: UUID, last_id: str) -> list[Update]:
        """Updates after ``last_id`` still kept for ``user_id`` (a reconnecting client's gap)."""
        try:
            entries = await self._redis.xrange(_key(user_id), min=f"({last_id}", count=KEEP_PER_USER)
        except (RedisError, OSError) as exc:
            log.warning("missed live updates of %s not read: %s", user_id, exc)
            return []
        updates = []
        for entry_id, fields in entries or []:
            decoded = {_text(k): _text(v) for k, v in (fields or {}).items()}
            updates.append(Update(_text(entry_id), decoded["kind"], json.loads(decoded["data"])))
        return updates

    def _dispatch(self, raw: bytes | str) -> None:
        try:
            message = json.loads(raw)
            queues = self._local.get(message["user"])
            if not queues:
                return
            update = Update(message["id"], message["kind"], json.loads(message["data"]))
        except (ValueError, KeyError, TypeError):
            log.warning("ignoring a malformed live update on %s", CHANNEL)
            return
        for queue in list(queues):
            with contextlib.suppress(asyncio.QueueFull):  # a stuck client loses updates, not memory
                queue.put_nowait(update)

    async def listen(self) -> None:
        """Receive every replica's updates (a background job; reconnects after Redis failures)."""
        while True:
            pubsub = self._redis.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.subscribe(CHANNEL)
                while True:
                    message = await pubsub.get_message(timeout=1.0)
                    if message is not None and message.get("type") == "message":
                        self._dispatch(message["data"])
            except (RedisError, OSError) as exc:
                log.warning("live updates paused, Redis failed (%s); retrying in 1 s", exc)
                await asyncio.sleep(1.0)
            finally:
                with contextlib.suppress(Exception):
                    await pubsub.aclose()  # type: ignore[no-untyped-call]

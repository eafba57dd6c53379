"""The gateway's Redis connection (rate limits, live-update fan-out)."""

from __future__ import annotations

from redis.asyncio import Redis


def connect(url: str) -> Redis:
    return Redis.from_url(url, socket_timeout=2.0, socket_connect_timeout=2.0)


async def ping(redis: Redis) -> None:
    if not await redis.ping():
        raise ConnectionError("Redis did not answer PING")

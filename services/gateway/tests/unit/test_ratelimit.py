"""The in-process fallback of the rate limiter (Redis failing at the edge)."""

from __future__ import annotations

from typing import Any

from redis.exceptions import ConnectionError as RedisConnectionError

from learnstream.gateway.adapters.ratelimit import Limit, RateLimiter


class DownRedis:
    def register_script(self, _source: str) -> Any:
        async def script(**_kwargs: Any) -> Any:
            raise RedisConnectionError("Connection refused")

        return script


async def test_without_redis_the_same_limit_holds_in_this_process() -> None:
    limiter = RateLimiter(DownRedis())  # type: ignore[arg-type]
    limit = Limit("reads", 10, period_seconds=60)
    decisions = [await limiter.hit(limit, "user:a") for _ in range(12)]
    assert [d.allowed for d in decisions] == [True] * 10 + [False] * 2
    assert decisions[0].remaining == 9 and decisions[9].remaining == 0
    refused = decisions[-1]
    assert 5.5 < refused.retry_after_seconds <= 6.0 and refused.retry_after_header == "6"
    assert (await limiter.hit(limit, "user:b")).allowed  # subjects are separate
    assert limiter.fallbacks == 13


def test_the_limit_spreads_its_requests_over_the_period() -> None:
    limit = Limit("reads", 300)
    assert (limit.interval_ms, limit.period_ms) == (200, 60_000)

"""Rate limits kept in Redis with GCRA (the generic cell rate algorithm).

One key per limited subject holds its *theoretical arrival time*; one Lua script reads
it, decides and writes it back with an expiry in the same step, so replicas share the
limit, concurrent requests cannot both take the last slot, and no key is ever left
without an expiry. ``limit`` requests per ``period`` may come at once (the burst);
after that one more every ``period / limit``. Redis's own clock decides, so replicas
with skewed clocks agree.

When Redis cannot be reached the limiter falls back to the same algorithm in this
process (each replica then limits on its own, so a caller may get up to ``limit`` per
replica): requests keep being served, brute force stays bounded, and ``/health`` shows
Redis as failing. The choice is documented in the README.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass

from redis.asyncio import Redis
from redis.exceptions import RedisError

log = logging.getLogger(__name__)

_GCRA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local interval = tonumber(ARGV[1])
local period = tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
local new_tat = tat + interval
local allowed_at = new_tat - period
if allowed_at > now then
  return {0, allowed_at - now, 0}
end
redis.call('SET', KEYS[1], new_tat, 'PX', new_tat - now)
return {1, 0, math.floor((period - (new_tat - now)) / interval)}
"""


@dataclass(frozen=True)
class Limit:
    """``requests`` per ``period_seconds``, all of which may come at once."""

    name: str
    requests: int
    period_seconds: float = 60.0

    @property
    def interval_ms(self) -> int:
        return max(1, round(self.period_seconds * 1000 / self.requests))

    @property
    def period_ms(self) -> int:
        return self.interval_ms * self.requests


@dataclass(frozen=True)
class Decision:
    allowed: bool
    retry_after_seconds: float
    remaining: int
    limit: Limit

    @property
    def retry_after_header(self) -> str:
        """Whole seconds, rounded up (``Retry-After`` takes no fractions)."""
        return str(max(1, math.ceil(self.retry_after_seconds)))


class RateLimiter:
    """Checks and counts one request against a :class:`Limit` for one subject."""

    def __init__(self, redis: Redis, *, prefix: str = "learnstream:ratelimit") -> None:
        self._redis = redis
        self._prefix = prefix
        self._script = redis.register_script(_GCRA)
        self._local: dict[str, float] = {}
        self._last_warning = 0.0
        self.fallbacks = 0
        """How many decisions were taken in-process because Redis failed."""

    async def hit(self, limit: Limit, subject: str) -> Decision:
        key = f"{self._prefix}:{limit.name}:{subject}"
        try:
            allowed, wait_ms, remaining = await self._script(
                keys=[key], args=[limit.interval_ms, limit.period_ms]
            )
        except (RedisError, OSError) as exc:
            return self._hit_locally(limit, key, exc)
        return Decision(bool(allowed), int(wait_ms) / 1000, int(remaining), limit)

    def _hit_locally(self, limit: Limit, key: str, exc: Exception) -> Decision:
        self.fallbacks += 1
        now_ms = time.monotonic() * 1000
        if now_ms - self._last_warning > 30_000:
            self._last_warning = now_ms
            log.warning("rate limits fall back to this process: Redis failed (%s)", exc)
        if len(self._local) > 100_000:  # keep memory bounded: drop subjects whose slots refilled
            self._local = {k: tat for k, tat in self._local.items() if tat > now_ms}
        tat = max(self._local.get(key, now_ms), now_ms)
        new_tat = tat + limit.interval_ms
        allowed_at = new_tat - limit.period_ms
        if allowed_at > now_ms:
            return Decision(False, (allowed_at - now_ms) / 1000, 0, limit)
        self._local[key] = new_tat
        remaining = int((limit.period_ms - (new_tat - now_ms)) // limit.interval_ms)
        return Decision(True, 0.0, remaining, limit)

"""Leaderboards: Redis sorted sets of XP per learner, weekly, monthly and all-time, for the
whole platform and per course; a cache of the XP ledger, rebuilt from it at will.

Periods are the same for everyone: weeks start on Monday 00:00 UTC, months on the 1st
00:00 UTC. An award counts in the period of when the learner earned it (the cause's
``occurred_at``), so a late or replayed event lands in the right week.

A learner's score is written as their total in that board, summed from the ledger in
the transaction that recorded the award, with ``ZADD GT``: totals only grow, so writing
one twice, late or out of order never lowers a score or counts an award twice. Weekly
and monthly boards expire some time after their period ends.
"""

from __future__ import annotations

import logging
import uuid
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal
from uuid import UUID

from redis.asyncio import Redis
from redis.exceptions import RedisError
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

log = logging.getLogger(__name__)

Period = Literal["weekly", "monthly", "all-time"]
PERIODS: tuple[Period, ...] = ("weekly", "monthly", "all-time")
KEEP_AFTER_END = {"weekly": timedelta(weeks=8), "monthly": timedelta(days=400)}
"""How long a finished period's board stays (a rebuild restores only these)."""


@dataclass(frozen=True)
class Window:
    period: Period
    label: str
    start: datetime | None
    end: datetime | None


def window(period: Period, at: datetime) -> Window:
    """The period of ``period`` that contains ``at``."""
    at = at.astimezone(UTC)
    if period == "weekly":
        start = datetime(at.year, at.month, at.day, tzinfo=UTC) - timedelta(days=at.weekday())
        year, week, _ = start.isocalendar()
        return Window(period, f"{year}-W{week:02d}", start, start + timedelta(weeks=1))
    if period == "monthly":
        start = datetime(at.year, at.month, 1, tzinfo=UTC)
        end = datetime(at.year + (at.month == 12), at.month % 12 + 1, 1, tzinfo=UTC)
        return Window(period, f"{at.year}-{at.month:02d}", start, end)
    return Window(period, "all", None, None)


class LeaderboardsUnavailable(ConnectionError):
    """Redis could not be reached (a ``ConnectionError``: the consumer redelivers the event)."""


class Leaderboards:
    def __init__(self, redis: Redis, *, prefix: str = "learnstream:leaderboard") -> None:
        self.redis = redis
        self.prefix = prefix

    def key(self, board: Window, course_id: UUID | None = None) -> str:
        scope = f"course:{course_id}:" if course_id else ""
        return f"{self.prefix}:{scope}{board.period}:{board.label}"

    @property
    def built_marker(self) -> str:
        return f"{self.prefix}:built"

    # -- writing ----------------------------------------------------------------------------

    async def record(
        self, session: AsyncSession, learner_id: UUID, earned: Iterable[tuple[datetime, UUID | None]]
    ) -> None:
        """Write the learner's totals in every board that awards earned at these times (in these
        courses) count in, summed from the ledger as ``session`` sees it."""
        boards: set[tuple[Window, UUID | None]] = set()
        for at, course_id in earned:
            for period in PERIODS:
                boards.add((window(period, at), None))
                if course_id:
                    boards.add((window(period, at), course_id))
        if not boards:
            return
        scores: dict[str, tuple[float, Window]] = {}
        for board, course_id in boards:
            total = await session.scalar(
                text(
                    "SELECT coalesce(sum(amount), 0) FROM xp_ledger WHERE learner_id = :l"
                    " AND (CAST(:start AS timestamptz) IS NULL OR awarded_at >= :start)"
                    " AND (CAST(:end AS timestamptz) IS NULL OR awarded_at < :end)"
                    " AND (CAST(:c AS uuid) IS NULL OR course_id = :c)"
                ),
                {"l": learner_id, "start": board.start, "end": board.end, "c": course_id},
            )
            scores[self.key(board, course_id)] = (float(total or 0), board)
        await self._write(
            {key: {str(learner_id): score} for key, (score, _) in scores.items()},
            {key: board for key, (_, board) in scores.items()},
        )

    async def _write(self, scores: dict[str, dict[str, float]], boards: dict[str, Window]) -> None:
        try:
            async with self.redis.pipeline(transaction=False) as pipe:
                for key, members in scores.items():
                    pipe.zadd(key, members, gt=True)
                    expiry = self._expiry(boards[key])
                    if expiry:
                        pipe.expireat(key, expiry)
                await pipe.execute()
        except RedisError as exc:
            raise LeaderboardsUnavailable(f"Redis: {type(exc).__name__}: {exc}") from exc

    @staticmethod
    def _expiry(board: Window) -> datetime | None:
        return board.end + KEEP_AFTER_END[board.period] if board.end else None

    async def forget(self, learner_id: UUID) -> int:
        """Take the learner off every board; how many boards they were on."""
        removed = 0
        try:
            async for key in self.redis.scan_iter(match=f"{self.prefix}:*", count=500):
                if key.decode() == self.built_marker:
                    continue
                removed += int(await self.redis.zrem(key, str(learner_id)))
        except RedisError as exc:
            raise LeaderboardsUnavailable(f"Redis: {type(exc).__name__}: {exc}") from exc
        return removed

    # -- reading ----------------------------------------------------------------------------

    async def top(
        self, period: Period, *, course_id: UUID | None, limit: int, me: UUID | None, now: datetime
    ) -> dict[str, Any]:
        """The board's first ``limit`` learners with their ranks (equal XP, equal rank), and
        ``me``'s place on it."""
        board = window(period, now)
        key = self.key(board, course_id)
        try:
            async with self.redis.pipeline(transaction=False) as pipe:
                pipe.zrevrange(key, 0, limit - 1, withscores=True)
                pipe.zcard(key)
                if me:
                    pipe.zscore(key, str(me))
                answers = await pipe.execute()
            mine = answers[2] if me else None
            above_me = await self.redis.zcount(key, f"({mine}", "+inf") if mine is not None else None
        except RedisError as exc:
            raise LeaderboardsUnavailable(f"Redis: {type(exc).__name__}: {exc}") from exc
        entries = []
        rank = 0
        previous: float | None = None
        for position, (member, score) in enumerate(answers[0], start=1):
            if score != previous:
                rank, previous = position, score
            entries.append({"rank": rank, "learner_id": UUID(member.decode()), "xp": int(score)})
        return {
            "window": board,
            "entries": entries,
            "total": int(answers[1]),
            "me": {"rank": int(above_me) + 1, "xp": int(mine)}
            if mine is not None and above_me is not None
            else None,
        }

    async def board(self, key: str) -> dict[str, float]:
        """Every member and score of one board (for tests and checks)."""
        members: list[Any] = await self.redis.zrange(key, 0, -1, withscores=True)
        return {member.decode(): float(score) for member, score in members}

    async def keys(self) -> list[str]:
        found: list[str] = []
        async for key in self.redis.scan_iter(match=f"{self.prefix}:*", count=500):
            if key.decode() != self.built_marker:
                found.append(key.decode())
        return sorted(found)

    # -- rebuilding -------------------------------------------------------------------------

    async def rebuild(self, session: AsyncSession, *, now: datetime) -> dict[str, int]:
        """Replace every board with the ledger's sums: ``{board key: learners}``.

        Each board is built under a temporary key and renamed over the live one, so readers
        never see a half-built board; boards the ledger no longer supports are deleted.
        Awards recorded while the rebuild read the ledger are written again afterwards
        (``ZADD GT`` keeps whichever total is higher).
        """
        started = await session.scalar(text("SELECT clock_timestamp()"))
        oldest_week = _start(window("weekly", now)) - KEEP_AFTER_END["weekly"]
        oldest_month = _start(window("monthly", now)) - KEEP_AFTER_END["monthly"]
        rows = await session.execute(
            text(
                "SELECT learner_id, course_id, date_trunc('week', awarded_at AT TIME ZONE 'UTC') AS week,"
                " date_trunc('month', awarded_at AT TIME ZONE 'UTC') AS month, sum(amount) AS xp"
                " FROM xp_ledger GROUP BY learner_id, course_id, week, month"
            )
        )
        scores: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
        boards: dict[str, Window] = {}
        for row in rows:
            member = str(row.learner_id)
            week = window("weekly", row.week.replace(tzinfo=UTC))
            month = window("monthly", row.month.replace(tzinfo=UTC))
            everything = window("all-time", now)
            wanted = [everything]
            if week.start and week.start >= oldest_week:
                wanted.append(week)
            if month.start and month.start >= oldest_month:
                wanted.append(month)
            for board in wanted:
                for course_id in (None, row.course_id) if row.course_id else (None,):
                    key = self.key(board, course_id)
                    scores[key][member] += float(row.xp)
                    boards[key] = board
        token = uuid.uuid4().hex[:8]
        try:
            stale = set(await self.keys()) - set(scores)
            for key, members in scores.items():
                staging = f"{self.prefix}-rebuild-{token}:{key}"
                async with self.redis.pipeline(transaction=True) as pipe:
                    pipe.delete(staging)
                    for chunk in _chunks(list(members.items()), 1000):
                        pipe.zadd(staging, dict(chunk))
                    pipe.rename(staging, key)
                    expiry = self._expiry(boards[key])
                    if expiry:
                        pipe.expireat(key, expiry)
                    await pipe.execute()
            if stale:
                await self.redis.delete(*stale)
            await self.redis.set(self.built_marker, now.isoformat())
        except RedisError as exc:
            raise LeaderboardsUnavailable(f"Redis: {type(exc).__name__}: {exc}") from exc
        # awards recorded meanwhile may have been written before a rename replaced them
        late = await session.execute(
            text(
                "SELECT DISTINCT learner_id, awarded_at, course_id FROM xp_ledger"
                " WHERE recorded_at >= CAST(:t AS timestamptz) - interval '1 second'"
            ),
            {"t": started},
        )
        by_learner: dict[UUID, list[tuple[datetime, UUID | None]]] = defaultdict(list)
        for row in late:
            by_learner[row.learner_id].append((row.awarded_at, row.course_id))
        for learner_id, earned in by_learner.items():
            await self.record(session, learner_id, earned)
        log.info("leaderboards rebuilt", extra={"boards": len(scores), "late_learners": len(by_learner)})
        return {key: len(members) for key, members in scores.items()}

    async def built(self) -> bool:
        try:
            return bool(await self.redis.exists(self.built_marker))
        except RedisError as exc:
            raise LeaderboardsUnavailable(f"Redis: {type(exc).__name__}: {exc}") from exc


def _start(board: Window) -> datetime:
    assert board.start is not None
    return board.start


def _chunks(items: list[Any], size: int) -> Iterable[list[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]

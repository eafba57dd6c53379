"""The achievements service's use cases.

Each input event is applied in the consumer's transaction (the inbox row is written in
it too): lock the learner, record the facts, award XP through the ledger, recompute the
streak when a new local day became active, unlock what the learner now meets, append
what happened to the learner's ``achievements-<id>`` stream (the outbox), and write the
learner's new totals to the leaderboards. An event applied twice finds every key taken
and changes nothing.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from typing import Any
from uuid import UUID

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from learnstream.achievements.adapters.leaderboards import Leaderboards, Period
from learnstream.achievements.adapters.state import Award, Learner, State
from learnstream.achievements.domain import rules
from learnstream.events.achievements import (
    AchievementsEvent,
    AchievementUnlocked,
    LearnerAchievementsErased,
    LevelReached,
    StreakBroken,
    StreakExtended,
    XpAwarded,
)
from learnstream.events.base import DomainEvent
from learnstream.runtime.actors import Actor
from learnstream.runtime.eventstore import EventStore
from learnstream.runtime.timezones import LearnerTimeZones

log = logging.getLogger(__name__)

STREAK_ACHIEVEMENTS = ("streak_7", "streak_30", "centurion")


def stream_of(learner_id: UUID) -> str:
    return f"achievements-{learner_id}"


@dataclass
class Outcome:
    """What one input event did for a learner."""

    awards: list[Award]
    events: list[AchievementsEvent]


class AchievementsService:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        reads: async_sessionmaker[AsyncSession],
        snapshots: async_sessionmaker[AsyncSession],
        store: EventStore,
        leaderboards: Leaderboards,
        *,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.sessions = sessions
        self.reads = reads
        self.snapshots = snapshots
        self.store = store
        self.leaderboards = leaderboards
        self.state = State()
        self.time_zones = LearnerTimeZones()
        self.now = now

    # -- applying events (in the consumer's transaction) ---------------------------------------

    async def enrolled(
        self, session: AsyncSession, event: DomainEvent, learner_id: UUID, course_id: UUID
    ) -> Outcome:
        learner = await self.state.lock(session, learner_id)
        await self.state.enroll(session, learner_id, course_id, event.occurred_at)
        return await self._settle(
            session, learner, event, [], candidates=["first_course"], course_id=course_id
        )

    async def lesson_completed(
        self, session: AsyncSession, event: DomainEvent, learner_id: UUID, course_id: UUID, lesson_id: UUID
    ) -> Outcome:
        learner = await self.state.lock(session, learner_id)
        at = rules.local(event.occurred_at, await self.time_zones.time_zone(session, learner_id))
        first_time = await self.state.complete_lesson(
            session, learner_id, lesson_id, course_id, event.occurred_at, at.hour
        )
        if not first_time:  # the same lesson again: nothing more to earn from it
            return Outcome([], [])
        activated, _ = await self.state.add_to_day(
            session, learner_id, at.date(), lessons=1, active_seconds=rules.ACTIVE_DAY_SECONDS
        )
        awards = [
            _award(event, course_id, "lesson_completed", rules.XP_LESSON_COMPLETED, lesson_id),
            _award(event, course_id, "first_lesson", rules.XP_FIRST_LESSON),
            _award(event, course_id, "daily_activity", rules.XP_DAILY_ACTIVITY, at.date()),
        ]
        return await self._settle(
            session,
            learner,
            event,
            awards,
            candidates=["night_owl", "early_bird"],
            course_id=course_id,
            activated=at.date() if activated else None,
        )

    async def quiz_submitted(
        self,
        session: AsyncSession,
        event: DomainEvent,
        learner_id: UUID,
        course_id: UUID,
        quiz_id: UUID,
        score: float,
        passed: bool,
    ) -> Outcome:
        learner = await self.state.lock(session, learner_id)
        at = rules.local(event.occurred_at, await self.time_zones.time_zone(session, learner_id))
        await self.state.submit_quiz(session, learner_id, quiz_id, score, passed, event.occurred_at)
        activated, _ = await self.state.add_to_day(
            session, learner_id, at.date(), quizzes=1, active_seconds=rules.ACTIVE_DAY_SECONDS
        )
        awards = []
        if passed:
            awards.append(_award(event, course_id, "quiz_passed", rules.XP_QUIZ_PASSED, quiz_id))
        if score >= 100:
            awards.append(_award(event, course_id, "perfect_quiz", rules.XP_PERFECT_QUIZ, quiz_id))
        return await self._settle(
            session,
            learner,
            event,
            awards,
            candidates=["quiz_ace"],
            course_id=course_id,
            activated=at.date() if activated else None,
        )

    async def course_completed(
        self, session: AsyncSession, event: DomainEvent, learner_id: UUID, course_id: UUID, days: int
    ) -> Outcome:
        learner = await self.state.lock(session, learner_id)
        if not await self.state.complete_course(session, learner_id, course_id, event.occurred_at, days):
            return Outcome([], [])
        awards = [_award(event, course_id, "course_completed", rules.XP_COURSE_COMPLETED, course_id)]
        return await self._settle(
            session,
            learner,
            event,
            awards,
            candidates=["course_completed", "fast_learner", "bookworm", "subject_master"],
            course_id=course_id,
        )

    async def time_spent(
        self, session: AsyncSession, event: DomainEvent, learner_id: UUID, course_id: UUID, seconds: int
    ) -> Outcome:
        learner = await self.state.lock(session, learner_id)
        at = rules.local(event.occurred_at, await self.time_zones.time_zone(session, learner_id))
        activated, day_seconds = await self.state.add_to_day(
            session, learner_id, at.date(), seconds=seconds, active_seconds=rules.ACTIVE_DAY_SECONDS
        )
        candidates = ["marathon"] if day_seconds >= rules.MARATHON_SECONDS else []
        if not candidates and not activated:
            return Outcome([], [])
        return await self._settle(
            session,
            learner,
            event,
            [],
            candidates=candidates,
            course_id=course_id,
            activated=at.date() if activated else None,
        )

    async def question_asked(
        self, session: AsyncSession, event: DomainEvent, learner_id: UUID, course_id: UUID
    ) -> Outcome:
        learner = await self.state.lock(session, learner_id)
        learner = replace(learner, questions_asked=learner.questions_asked + 1)
        return await self._settle(
            session, learner, event, [], candidates=["curious_mind"], course_id=course_id
        )

    async def course_changed(self, session: AsyncSession, event: DomainEvent, course_id: UUID) -> int:
        """Look again at subject master for the learners who completed the course: its category
        may have been learnt only now (the catalog's topic is read apart from progress's)."""
        learners = list(
            await session.scalars(
                text(
                    "SELECT lc.learner_id FROM learner_courses lc WHERE lc.course_id = :c"
                    " AND lc.completed_at IS NOT NULL AND NOT EXISTS (SELECT 1 FROM earned_achievements e"
                    "  WHERE e.learner_id = lc.learner_id AND e.achievement_id = 'subject_master')"
                    " ORDER BY lc.learner_id"
                ),
                {"c": course_id},
            )
        )
        for learner_id in learners:
            learner = await self.state.lock(session, learner_id)
            await self._settle(
                session, learner, event, [], candidates=["subject_master"], course_id=course_id
            )
        return len(learners)

    async def _settle(
        self,
        session: AsyncSession,
        learner: Learner,
        cause: DomainEvent,
        awards: Sequence[Award],
        *,
        candidates: Sequence[str],
        course_id: UUID | None,
        activated: date | None = None,
    ) -> Outcome:
        """Award, recompute the streak, unlock, publish and rank, for one input event."""
        learner_id = learner.learner_id
        at = cause.occurred_at
        events: list[AchievementsEvent] = []
        new = await self.state.award(session, learner_id, list(awards))
        xp = learner.xp
        for award in new:
            xp += award.amount
            events.append(
                XpAwarded(
                    learner_id=learner_id,
                    amount=award.amount,
                    reason=award.reason,
                    caused_by_event_id=award.caused_by,
                    course_id=award.course_id,
                    total_xp=xp,
                    occurred_at=at,
                    actor_id=learner_id,
                )
            )
        level = rules.level_of(xp)
        if level > learner.level:
            events.append(
                LevelReached(
                    learner_id=learner_id, level=level, total_xp=xp, occurred_at=at, actor_id=learner_id
                )
            )
        learner = replace(learner, xp=xp, level=max(level, learner.level))
        candidates = list(candidates)
        if activated is not None:
            streak = rules.streak_of(await self.state.active_days(session, learner_id))
            learner = replace(
                learner,
                streak_days=streak.current,
                longest_streak_days=max(streak.longest, learner.longest_streak_days),
                last_active_date=streak.last_day,
                streak_broken=False if streak.last_day != learner.last_active_date else learner.streak_broken,
            )
            if activated == streak.last_day:
                events.append(
                    StreakExtended(
                        learner_id=learner_id,
                        current_streak_days=streak.current,
                        longest_streak_days=learner.longest_streak_days,
                        local_date=activated,
                        occurred_at=at,
                        actor_id=learner_id,
                    )
                )
            candidates += STREAK_ACHIEVEMENTS
        if candidates:
            earned = {row["achievement_id"] for row in await self.state.earned(session, learner_id)}
            pending = [c for c in candidates if c not in earned]
            if pending:
                metrics = await self.state.metrics(session, learner, learner.streak_days)
                for achievement in rules.newly_met(metrics, earned, pending):
                    bound = course_id if achievement.course_bound else None
                    if await self.state.unlock(
                        session, learner_id, achievement.id, at, bound, cause.event_id
                    ):
                        events.append(
                            AchievementUnlocked(
                                learner_id=learner_id,
                                achievement_id=achievement.id,
                                title=achievement.title,
                                rarity=achievement.rarity,
                                course_id=bound,
                                occurred_at=at,
                                actor_id=learner_id,
                            )
                        )
        await self.state.save(session, learner)
        if events:
            stream = stream_of(learner_id)
            await self.store.append(session, stream, await self.store.version(session, stream), events)
        if new:
            await self.leaderboards.record(session, learner_id, [(a.awarded_at, a.course_id) for a in new])
        return Outcome(new, events)

    # -- the daily streak check ----------------------------------------------------------------

    async def break_streaks(self, *, batch: int = 500) -> int:
        """Publish ``StreakBroken`` for every running streak whose learner missed a whole local
        day; each once (the row is marked), safe to run from several replicas at once."""
        broken = 0
        while True:
            async with self.sessions() as session, session.begin():
                rows = (
                    await session.execute(
                        text(
                            "SELECT l.learner_id, l.streak_days, l.last_active_date FROM learners l"
                            " LEFT JOIN learner_time_zones z ON z.learner_id = l.learner_id"
                            " WHERE l.streak_days > 0 AND NOT l.streak_broken"
                            " AND l.last_active_date"
                            "  < (now() AT TIME ZONE coalesce(z.timezone, 'UTC'))::date - 1"
                            " ORDER BY l.last_active_date LIMIT :n FOR UPDATE OF l SKIP LOCKED"
                        ),
                        {"n": batch},
                    )
                ).all()
                for row in rows:
                    missed = date.fromordinal(row.last_active_date.toordinal() + 1)
                    stream = stream_of(row.learner_id)
                    await self.store.append(
                        session,
                        stream,
                        await self.store.version(session, stream),
                        [
                            StreakBroken(
                                learner_id=row.learner_id,
                                previous_streak_days=row.streak_days,
                                local_date=missed,
                                actor_id=row.learner_id,
                            )
                        ],
                    )
                    await session.execute(
                        text("UPDATE learners SET streak_broken = true WHERE learner_id = :l"),
                        {"l": row.learner_id},
                    )
            broken += len(rows)
            if len(rows) < batch:
                return broken

    async def maintain(self, interval_seconds: float) -> None:
        """Background job: rebuild the leaderboards when Redis lost them, and end broken streaks."""
        while True:
            try:
                if not await self.leaderboards.built():
                    async with self.reads() as session:
                        await self.leaderboards.rebuild(session, now=self.now())
                ended = await self.break_streaks()
                if ended:
                    log.info("streaks broken", extra={"learners": ended})
            except Exception as exc:  # the next round tries again; the job itself must not die
                log.warning("maintenance round failed: %s: %s", type(exc).__name__, exc)
            await asyncio.sleep(interval_seconds)

    async def rebuild_leaderboards(self) -> dict[str, int]:
        async with self.reads() as session:
            return await self.leaderboards.rebuild(session, now=self.now())

    # -- erasure -------------------------------------------------------------------------------

    async def erase_learner(self, session: AsyncSession, learner_id: UUID, request_id: UUID) -> int:
        """Erase the learner in the consumer's transaction and confirm it on the bus."""
        await self.state.lock(session, learner_id)
        xp = await self.state.erase(session, learner_id)
        await self.time_zones.forget(session, learner_id)
        await self.leaderboards.forget(learner_id)
        confirmation = LearnerAchievementsErased(learner_id=learner_id, request_id=request_id)
        await self.store.append(session, f"erasure-{request_id}", 0, [confirmation])
        return xp

    # -- reading -------------------------------------------------------------------------------

    async def overview(self, actor: Actor) -> dict[str, Any]:
        """Earned achievements with dates, locked ones with progress, XP, level and streaks."""
        # one snapshot: an event applied meanwhile shows in the totals and the badges, or in neither
        async with self.snapshots() as session, session.begin():
            return await self._overview(session, actor)

    async def _overview(self, session: AsyncSession, actor: Actor) -> dict[str, Any]:
        learner = await self.state.learner(session, actor.user_id) or _nobody(actor.user_id)
        timezone = await self.time_zones.time_zone(session, actor.user_id)
        earned = await self.state.earned(session, actor.user_id)
        today = rules.local(self.now(), timezone).date()
        current = rules.current_streak(learner.streak_days, learner.last_active_date, today)
        metrics = await self.state.metrics(session, learner, current)
        have = {row["achievement_id"]: row for row in earned}
        return {
            "earned": [
                {
                    **_definition(rules.BY_ID[row["achievement_id"]]),
                    "earned_at": row["earned_at"],
                    "course_id": row["course_id"],
                }
                for row in earned
                if row["achievement_id"] in rules.BY_ID
            ],
            "available": [
                {**_definition(achievement), "progress": _progress(achievement, metrics)}
                for achievement in rules.ACHIEVEMENTS
                if achievement.id not in have
            ],
            "xp": learner.xp,
            "level": learner.level,
            "level_starts_at_xp": rules.xp_for_level(learner.level),
            "next_level_at_xp": rules.xp_for_level(learner.level + 1),
            "current_streak": current,
            "longest_streak": learner.longest_streak_days,
            "last_active_date": learner.last_active_date,
            "timezone": timezone,
        }

    async def announce(self, actor: Actor) -> list[dict[str, Any]]:
        """Achievements the learner has not been told of yet; from now on they have been."""
        async with self.sessions() as session, session.begin():
            rows = await self.state.announce(session, actor.user_id)
        return [
            {
                **_definition(rules.BY_ID[row["achievement_id"]]),
                "earned_at": row["earned_at"],
                "course_id": row["course_id"],
            }
            for row in rows
            if row["achievement_id"] in rules.BY_ID
        ]

    async def leaderboard(
        self, actor: Actor, period: Period, course_id: UUID | None, limit: int
    ) -> dict[str, Any]:
        board = await self.leaderboards.top(
            period, course_id=course_id, limit=limit, me=actor.user_id, now=self.now()
        )
        async with self.reads() as session:
            names = await self.state.display_names(
                session, [entry["learner_id"] for entry in board["entries"]]
            )
        window = board["window"]
        return {
            "period": period,
            "course_id": course_id,
            "starts_at": window.start,
            "ends_at": window.end,
            "entries": [
                {
                    **entry,
                    "display_name": names.get(entry["learner_id"], (None, 0))[0] or "Learner",
                    "level": names.get(entry["learner_id"], (None, 0))[1],
                    "is_me": entry["learner_id"] == actor.user_id,
                }
                for entry in board["entries"]
            ],
            "total_learners": board["total"],
            "me": board["me"],
        }

    async def ledger(self, actor: Actor, limit: int, offset: int) -> dict[str, Any]:
        async with self.reads() as session:
            rows = await self.state.ledger(session, actor.user_id, limit=limit + 1, offset=offset)
        return {"awards": rows[:limit], "has_more": len(rows) > limit}

    async def export(self, actor: Actor) -> dict[str, Any]:
        async with self.snapshots() as session, session.begin():
            return {
                **(await self._overview(session, actor)),
                **(await self.state.export(session, actor.user_id)),
            }


def _award(
    event: DomainEvent, course_id: UUID | None, reason: str, amount: int, subject: object = None
) -> Award:
    """An award caused by ``event``; its ledger key is the reason and, when the rule pays once
    per something (a lesson, a quiz, a day), that something: ``lesson_completed:<lesson id>``."""
    key = reason if subject is None else f"{reason}:{subject}"
    return Award(key, reason, amount, event.event_id, course_id, event.occurred_at)


def _nobody(learner_id: UUID) -> Learner:
    return Learner(learner_id, None, 0, 0, 0, 0, None, False, 0)


def _definition(achievement: rules.Achievement) -> dict[str, Any]:
    return {
        "id": achievement.id,
        "title": achievement.title,
        "description": achievement.description,
        "icon": achievement.icon,
        "rarity": achievement.rarity,
    }


def _progress(achievement: rules.Achievement, metrics: rules.Metrics) -> dict[str, Any]:
    current, target = achievement.measure(metrics)
    shown = min(current, target)
    return {
        "current": shown,
        "target": target,
        "unit": achievement.unit,
        "percentage": round(100 * shown / target, 1) if target else 0.0,
    }

"""The achievements service's PostgreSQL state: learners, the XP ledger, the facts the
criteria are measured in, earned achievements and the copy of the catalog's categories.

Every write is keyed so that applying an event twice changes nothing (``ON CONFLICT``);
the consumer's inbox already drops a redelivered event, and these keys also absorb a
repeated domain fact (the same lesson reported complete twice).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from uuid import UUID

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from learnstream.achievements.domain.rules import (
    EARLY_BEFORE_HOUR,
    FAST_LEARNER_DAYS,
    NIGHT_FROM_HOUR,
    SUBJECT_MIN_COURSES,
    Metrics,
)


@dataclass(frozen=True)
class Learner:
    learner_id: UUID
    display_name: str | None
    xp: int
    level: int
    streak_days: int
    longest_streak_days: int
    last_active_date: date | None
    streak_broken: bool
    questions_asked: int


@dataclass(frozen=True)
class Award:
    """One ledger row: ``key`` names the rule and its subject, so it is awarded once."""

    key: str
    reason: str
    amount: int
    caused_by: UUID
    course_id: UUID | None
    awarded_at: datetime


_LEARNER_COLUMNS = (
    "learner_id, display_name, xp, level, streak_days, longest_streak_days, last_active_date,"
    " streak_broken, questions_asked"
)


class State:
    # -- learners ---------------------------------------------------------------------------

    async def lock(self, session: AsyncSession, learner_id: UUID) -> Learner:
        """The learner's row, created if new and locked until the transaction ends: every
        change to one learner takes this lock first, so their changes never interleave."""
        row = (
            await session.execute(
                text(
                    "INSERT INTO learners (learner_id) VALUES (:l) ON CONFLICT (learner_id)"
                    f" DO UPDATE SET learner_id = EXCLUDED.learner_id RETURNING {_LEARNER_COLUMNS}"
                ),
                {"l": learner_id},
            )
        ).one()
        return Learner(**row._mapping)

    async def learner(self, session: AsyncSession, learner_id: UUID) -> Learner | None:
        row = (
            await session.execute(
                text(f"SELECT {_LEARNER_COLUMNS} FROM learners WHERE learner_id = :l"), {"l": learner_id}
            )
        ).one_or_none()
        return Learner(**row._mapping) if row else None

    async def save(self, session: AsyncSession, learner: Learner) -> None:
        await session.execute(
            text(
                "UPDATE learners SET xp = :xp, level = :level, streak_days = :streak,"
                " longest_streak_days = :longest, last_active_date = :last, streak_broken = :broken,"
                " questions_asked = :questions WHERE learner_id = :l"
            ),
            {
                "l": learner.learner_id,
                "xp": learner.xp,
                "level": learner.level,
                "streak": learner.streak_days,
                "longest": learner.longest_streak_days,
                "last": learner.last_active_date,
                "broken": learner.streak_broken,
                "questions": learner.questions_asked,
            },
        )

    async def keep_display_name(self, session: AsyncSession, learner_id: UUID, name: str) -> None:
        await session.execute(
            text(
                "INSERT INTO learners (learner_id, display_name) VALUES (:l, :n)"
                " ON CONFLICT (learner_id) DO UPDATE SET display_name = EXCLUDED.display_name"
            ),
            {"l": learner_id, "n": name},
        )

    async def display_names(
        self, session: AsyncSession, ids: list[UUID]
    ) -> dict[UUID, tuple[str | None, int]]:
        """``{learner: (display name, level)}`` of ``ids``."""
        rows = await session.execute(
            text("SELECT learner_id, display_name, level FROM learners WHERE learner_id = ANY(:ids)"),
            {"ids": ids},
        )
        return {row.learner_id: (row.display_name, row.level) for row in rows}

    # -- the ledger -------------------------------------------------------------------------

    async def award(self, session: AsyncSession, learner_id: UUID, awards: list[Award]) -> list[Award]:
        """Record ``awards``; those that were new (an award already in the ledger is not again)."""
        new: list[Award] = []
        for award in awards:
            inserted = await session.scalar(
                text(
                    "INSERT INTO xp_ledger (learner_id, award_key, reason, amount, caused_by_event_id,"
                    " course_id, awarded_at) VALUES (:l, :k, :r, :a, :e, :c, :at)"
                    " ON CONFLICT DO NOTHING RETURNING 1"
                ),
                {
                    "l": learner_id,
                    "k": award.key,
                    "r": award.reason,
                    "a": award.amount,
                    "e": award.caused_by,
                    "c": award.course_id,
                    "at": award.awarded_at,
                },
            )
            if inserted:
                new.append(award)
        return new

    async def ledger(
        self, session: AsyncSession, learner_id: UUID, *, limit: int, offset: int
    ) -> list[dict[str, Any]]:
        rows = await session.execute(
            text(
                "SELECT reason, amount, caused_by_event_id, course_id, awarded_at FROM xp_ledger"
                " WHERE learner_id = :l ORDER BY awarded_at DESC, award_key LIMIT :n OFFSET :o"
            ),
            {"l": learner_id, "n": limit, "o": offset},
        )
        return [dict(row._mapping) for row in rows]

    # -- facts ------------------------------------------------------------------------------

    async def enroll(self, session: AsyncSession, learner_id: UUID, course_id: UUID, at: datetime) -> bool:
        """Whether this is a course the learner had not enrolled in before."""
        inserted = await session.scalar(
            text(
                "INSERT INTO learner_courses (learner_id, course_id, enrolled_at) VALUES (:l, :c, :at)"
                " ON CONFLICT (learner_id, course_id) DO UPDATE SET enrolled_at = EXCLUDED.enrolled_at"
                " WHERE learner_courses.enrolled_at IS NULL RETURNING 1"
            ),
            {"l": learner_id, "c": course_id, "at": at},
        )
        return bool(inserted)

    async def complete_course(
        self, session: AsyncSession, learner_id: UUID, course_id: UUID, at: datetime, days: int
    ) -> bool:
        """Whether the course was not completed before."""
        changed = await session.scalar(
            text(
                "INSERT INTO learner_courses (learner_id, course_id, completed_at, days_to_complete)"
                " VALUES (:l, :c, :at, :d) ON CONFLICT (learner_id, course_id) DO UPDATE"
                " SET completed_at = EXCLUDED.completed_at, days_to_complete = EXCLUDED.days_to_complete"
                " WHERE learner_courses.completed_at IS NULL RETURNING 1"
            ),
            {"l": learner_id, "c": course_id, "at": at, "d": days},
        )
        return bool(changed)

    async def complete_lesson(
        self,
        session: AsyncSession,
        learner_id: UUID,
        lesson_id: UUID,
        course_id: UUID,
        at: datetime,
        hour: int,
    ) -> bool:
        """Whether this is the learner's first completion of the lesson."""
        inserted = await session.scalar(
            text(
                "INSERT INTO learner_lessons (learner_id, lesson_id, course_id, completed_at, local_hour)"
                " VALUES (:l, :lesson, :c, :at, :h) ON CONFLICT DO NOTHING RETURNING 1"
            ),
            {"l": learner_id, "lesson": lesson_id, "c": course_id, "at": at, "h": hour},
        )
        return bool(inserted)

    async def submit_quiz(
        self, session: AsyncSession, learner_id: UUID, quiz_id: UUID, score: float, passed: bool, at: datetime
    ) -> None:
        await session.execute(
            text(
                "INSERT INTO learner_quizzes (learner_id, quiz_id, best_score, passed_at, perfect_at)"
                " VALUES (:l, :q, CAST(:s AS real),"
                " CASE WHEN CAST(:p AS boolean) THEN CAST(:at AS timestamptz) END,"
                " CASE WHEN CAST(:s AS real) >= 100 THEN CAST(:at AS timestamptz) END)"
                " ON CONFLICT (learner_id, quiz_id) DO UPDATE SET"
                " best_score = greatest(learner_quizzes.best_score, EXCLUDED.best_score),"
                " passed_at = coalesce(learner_quizzes.passed_at, EXCLUDED.passed_at),"
                " perfect_at = coalesce(learner_quizzes.perfect_at, EXCLUDED.perfect_at)"
            ),
            {"l": learner_id, "q": quiz_id, "s": score, "p": passed, "at": at},
        )

    async def add_to_day(
        self,
        session: AsyncSession,
        learner_id: UUID,
        day: date,
        *,
        seconds: int = 0,
        lessons: int = 0,
        quizzes: int = 0,
        active_seconds: int,
    ) -> tuple[bool, int]:
        """Count learning on a local day: ``(whether the day just became active, its seconds)``."""
        row = (
            await session.execute(
                text(
                    "WITH before AS (SELECT active FROM learner_days"
                    "  WHERE learner_id = :l AND local_date = :d)"
                    " INSERT INTO learner_days AS d (learner_id, local_date, seconds, lessons_completed,"
                    " quizzes_submitted, active)"
                    " SELECT :l, :d, v.s, v.n, v.q, v.n > 0 OR v.q > 0 OR v.s >= v.t"
                    " FROM (SELECT CAST(:s AS integer) AS s, CAST(:n AS integer) AS n,"
                    "  CAST(:q AS integer) AS q, CAST(:threshold AS integer) AS t) v"
                    " ON CONFLICT (learner_id, local_date) DO UPDATE"
                    " SET seconds = d.seconds + EXCLUDED.seconds,"
                    " lessons_completed = d.lessons_completed + EXCLUDED.lessons_completed,"
                    " quizzes_submitted = d.quizzes_submitted + EXCLUDED.quizzes_submitted,"
                    " active = d.active OR EXCLUDED.lessons_completed > 0 OR EXCLUDED.quizzes_submitted > 0"
                    " OR d.seconds + EXCLUDED.seconds >= CAST(:threshold AS integer)"
                    " RETURNING d.active AND NOT coalesce((SELECT active FROM before), false) AS activated,"
                    " d.seconds"
                ),
                {
                    "l": learner_id,
                    "d": day,
                    "s": seconds,
                    "n": lessons,
                    "q": quizzes,
                    "threshold": active_seconds,
                },
            )
        ).one()
        return bool(row.activated), int(row.seconds)

    async def active_days(self, session: AsyncSession, learner_id: UUID) -> list[date]:
        rows = await session.scalars(
            text("SELECT local_date FROM learner_days WHERE learner_id = :l AND active ORDER BY local_date"),
            {"l": learner_id},
        )
        return list(rows)

    async def metrics(self, session: AsyncSession, learner: Learner, current_streak: int) -> Metrics:
        """Everything the criteria measure, for one learner (a handful of index lookups)."""
        row = (
            await session.execute(
                text(
                    "SELECT"
                    " (SELECT count(*) FROM learner_courses"
                    "   WHERE learner_id = :l AND enrolled_at IS NOT NULL)"
                    "   AS enrollments,"
                    " (SELECT count(*) FROM learner_courses"
                    "   WHERE learner_id = :l AND completed_at IS NOT NULL)"
                    "   AS completions,"
                    " (SELECT count(*) FROM learner_courses"
                    "   WHERE learner_id = :l AND days_to_complete < :fast)"
                    "   AS fast_completions,"
                    " (SELECT count(*) FROM learner_lessons WHERE learner_id = :l AND local_hour >= :night)"
                    "   AS night_lessons,"
                    " (SELECT count(*) FROM learner_lessons WHERE learner_id = :l AND local_hour < :early)"
                    "   AS early_lessons,"
                    " (SELECT coalesce(max(seconds), 0) FROM learner_days WHERE learner_id = :l)"
                    "   AS best_day_seconds,"
                    " (SELECT count(*) FROM learner_quizzes WHERE learner_id = :l AND perfect_at IS NOT NULL)"
                    "   AS perfect_quizzes"
                ),
                {
                    "l": learner.learner_id,
                    "fast": FAST_LEARNER_DAYS,
                    "night": NIGHT_FROM_HOUR,
                    "early": EARLY_BEFORE_HOUR,
                },
            )
        ).one()
        subject = (
            await session.execute(
                text(
                    # the categories the learner completed a course in, with enough published courses
                    "SELECT count(lc.completed_at) AS done, count(*) AS published FROM courses c"
                    " LEFT JOIN learner_courses lc ON lc.course_id = c.course_id AND lc.learner_id = :l"
                    " WHERE c.status = 'published'"
                    " AND c.category IN (SELECT c2.category FROM learner_courses x"
                    "  JOIN courses c2 ON c2.course_id = x.course_id"
                    "  WHERE x.learner_id = :l AND x.completed_at IS NOT NULL)"
                    " GROUP BY c.category HAVING count(*) >= :min"
                    " ORDER BY count(lc.completed_at)::float / count(*) DESC, count(*) LIMIT 1"
                ),
                {"l": learner.learner_id, "min": SUBJECT_MIN_COURSES},
            )
        ).one_or_none()
        return Metrics(
            enrollments=row.enrollments,
            completions=row.completions,
            fast_completions=row.fast_completions,
            current_streak=current_streak,
            longest_streak=learner.longest_streak_days,
            questions=learner.questions_asked,
            night_lessons=row.night_lessons,
            early_lessons=row.early_lessons,
            best_day_seconds=row.best_day_seconds,
            perfect_quizzes=row.perfect_quizzes,
            subject_completed=subject.done if subject else 0,
            subject_published=subject.published if subject else 0,
        )

    # -- achievements -----------------------------------------------------------------------

    async def earned(self, session: AsyncSession, learner_id: UUID) -> list[dict[str, Any]]:
        rows = await session.execute(
            text(
                "SELECT achievement_id, earned_at, course_id FROM earned_achievements WHERE learner_id = :l"
                " ORDER BY earned_at, achievement_id"
            ),
            {"l": learner_id},
        )
        return [dict(row._mapping) for row in rows]

    async def unlock(
        self,
        session: AsyncSession,
        learner_id: UUID,
        achievement_id: str,
        at: datetime,
        course_id: UUID | None,
        caused_by: UUID,
    ) -> bool:
        inserted = await session.scalar(
            text(
                "INSERT INTO earned_achievements (learner_id, achievement_id, earned_at, course_id,"
                " caused_by_event_id) VALUES (:l, :a, :at, :c, :e) ON CONFLICT DO NOTHING RETURNING 1"
            ),
            {"l": learner_id, "a": achievement_id, "at": at, "c": course_id, "e": caused_by},
        )
        return bool(inserted)

    async def announce(self, session: AsyncSession, learner_id: UUID) -> list[dict[str, Any]]:
        """The learner's achievements not yet announced, now marked announced."""
        rows = await session.execute(
            text(
                "UPDATE earned_achievements SET announced = true WHERE learner_id = :l AND NOT announced"
                " RETURNING achievement_id, earned_at, course_id"
            ),
            {"l": learner_id},
        )
        return sorted(
            (dict(row._mapping) for row in rows), key=lambda r: (r["earned_at"], r["achievement_id"])
        )

    # -- the catalog ------------------------------------------------------------------------

    async def keep_course(
        self, session: AsyncSession, course_id: UUID, category: str, status: str | None
    ) -> None:
        """Keep the course's category; ``status`` None leaves the status as it is."""
        await session.execute(
            text(
                "INSERT INTO courses (course_id, category, status)"
                " VALUES (:c, :cat, coalesce(CAST(:s AS text), 'draft'))"
                " ON CONFLICT (course_id) DO UPDATE SET category = EXCLUDED.category,"
                " status = coalesce(CAST(:s AS text), courses.status)"
            ),
            {"c": course_id, "cat": category, "s": status},
        )

    # -- erasure ----------------------------------------------------------------------------

    async def erase(self, session: AsyncSession, learner_id: UUID) -> int:
        """Delete everything kept about the learner, their events included; XP that was erased."""
        xp = await session.scalar(
            text("SELECT coalesce(sum(amount), 0) FROM xp_ledger WHERE learner_id = :l"), {"l": learner_id}
        )
        for table in (
            "xp_ledger",
            "learner_days",
            "learner_lessons",
            "learner_courses",
            "learner_quizzes",
            "earned_achievements",
            "learners",
        ):
            await session.execute(text(f"DELETE FROM {table} WHERE learner_id = :l"), {"l": learner_id})
        # the events go too, or a replay of the store after a broker loss would publish them again
        await session.execute(
            text("DELETE FROM event_store WHERE stream_id = :s"), {"s": f"achievements-{learner_id}"}
        )
        return int(xp or 0)

    async def export(self, session: AsyncSession, learner_id: UUID) -> dict[str, Any]:
        """Everything kept about the learner (their right of access)."""
        ledger = await session.execute(
            text(
                "SELECT reason, amount, caused_by_event_id, course_id, awarded_at FROM xp_ledger"
                " WHERE learner_id = :l ORDER BY awarded_at, award_key"
            ),
            {"l": learner_id},
        )
        days = await session.execute(
            text(
                "SELECT local_date, seconds, lessons_completed, quizzes_submitted, active FROM learner_days"
                " WHERE learner_id = :l ORDER BY local_date"
            ),
            {"l": learner_id},
        )
        return {
            "ledger": [dict(row._mapping) for row in ledger],
            "days": [dict(row._mapping) for row in days],
        }

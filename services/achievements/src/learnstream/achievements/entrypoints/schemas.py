"""Response bodies of the achievements API (camelCase JSON, as the gateway's clients expect)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal
from uuid import UUID

from pydantic import Field

from learnstream.runtime.schemas import CamelModel


class AchievementOut(CamelModel):
    id: str = Field(examples=["streak_7"])
    title: str = Field(examples=["Week Warrior"])
    description: str = Field(examples=["Learn 7 days in a row"])
    icon: str = Field(examples=["🔥"])
    rarity: Literal["common", "rare", "epic", "legendary"]


class EarnedOut(AchievementOut):
    earned_at: datetime = Field(description="When the learner did what earned it.")
    course_id: UUID | None = Field(description="The course it was earned in, for course-bound achievements.")


class ProgressOut(CamelModel):
    current: int = Field(examples=[3])
    target: int = Field(examples=[7])
    unit: str = Field(examples=["days"])
    percentage: float = Field(examples=[42.9])


class LockedOut(AchievementOut):
    progress: ProgressOut = Field(description="How far the learner is toward it (e.g. 3 of 7 days).")


class OverviewOut(CamelModel):
    earned: list[EarnedOut] = Field(description="Earned achievements, oldest first.")
    available: list[LockedOut] = Field(description="Achievements not earned yet, with progress toward each.")
    xp: int = Field(examples=[630])
    level: int = Field(description="floor(sqrt(xp / 100)).", examples=[2])
    level_starts_at_xp: int = Field(examples=[400])
    next_level_at_xp: int = Field(examples=[900])
    current_streak: int = Field(
        description="Consecutive local days of learning, today or yesterday included."
    )
    longest_streak: int
    last_active_date: date | None = Field(description="The learner's last local day of learning.")
    timezone: str = Field(description="The time zone days are counted in.", examples=["Europe/Paris"])


class AnnouncedOut(CamelModel):
    new_achievements: list[EarnedOut] = Field(
        description="Earned since the learner was last told, oldest first."
    )


class EntryOut(CamelModel):
    rank: int = Field(description="1 is first; learners with equal XP share a rank.")
    learner_id: UUID
    display_name: str
    xp: int = Field(description="XP earned in the period (in the course, for a course board).")
    level: int = Field(description="The learner's overall level.")
    is_me: bool


class MyPlaceOut(CamelModel):
    rank: int
    xp: int


class LeaderboardOut(CamelModel):
    period: Literal["weekly", "monthly", "all-time"]
    course_id: UUID | None
    starts_at: datetime | None = Field(
        description="Monday 00:00 UTC, the 1st 00:00 UTC, or null for all time."
    )
    ends_at: datetime | None
    entries: list[EntryOut]
    total_learners: int = Field(description="Learners on this board.")
    me: MyPlaceOut | None = Field(
        description="The caller's place, null when they earned no XP in the period."
    )


class AwardOut(CamelModel):
    reason: str = Field(examples=["lesson_completed"])
    amount: int = Field(examples=[50])
    caused_by_event_id: UUID
    course_id: UUID | None
    awarded_at: datetime


class LedgerOut(CamelModel):
    awards: list[AwardOut] = Field(description="Newest first.")
    has_more: bool


class DayOut(CamelModel):
    local_date: date
    seconds: int
    lessons_completed: int
    quizzes_submitted: int
    active: bool


class ExportOut(OverviewOut):
    ledger: list[AwardOut]
    days: list[DayOut]


class RebuildOut(CamelModel):
    boards: dict[str, int] = Field(description="Each rebuilt board's key and how many learners are on it.")

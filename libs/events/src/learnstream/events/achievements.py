"""Events of the achievements context, published by the achievements service to
``learnstream.achievements``.

They record gamification outcomes derived from progress and chat events: XP awards
(each naming the event that earned it), levels, daily streaks in the learner's local
time, and unlocked badges (the service keeps its leaderboards from its own ledger;
analytics projects these events like any other). All are keyed by
the learner id.
"""

from __future__ import annotations

from datetime import date
from typing import ClassVar, Literal, Self
from uuid import UUID

from pydantic import Field, model_validator

from learnstream.events.base import DomainEvent

Rarity = Literal["common", "rare", "epic", "legendary"]


class AchievementsEvent(DomainEvent):
    """An event about one learner's gamification state, keyed by the learner id."""

    context: ClassVar[str] = "achievements"
    key_field: ClassVar[str] = "learner_id"

    learner_id: UUID = Field(description="The learner the event is about.")


class XpAwarded(AchievementsEvent):
    """A learner earned experience points for something they did."""

    amount: int = Field(gt=0, description="XP awarded.", examples=[50])
    reason: str = Field(
        pattern=r"^[a-z][a-z0-9_]*$",
        description="The rule that awarded it, in snake_case; an open set so new rules need "
        "no new event version.",
        examples=[
            "lesson_completed",
            "quiz_passed",
            "perfect_quiz",
            "course_completed",
            "first_lesson",
            "daily_activity",
        ],
    )
    caused_by_event_id: UUID = Field(
        description="The event that earned it; one award per rule and event, so replays are safe."
    )
    course_id: UUID | None = Field(default=None, description="The course it was earned in, if any.")
    total_xp: int = Field(ge=0, description="The learner's total XP after this award.", examples=[1250])

    @model_validator(mode="after")
    def _total_includes_amount(self) -> Self:
        if self.total_xp < self.amount:
            raise ValueError("total_xp cannot be less than the amount just awarded")
        return self


class LevelReached(AchievementsEvent):
    """A learner's XP took them to a new level."""

    level: int = Field(ge=1, description="The level reached.", examples=[3])
    total_xp: int = Field(ge=0, description="The learner's total XP when it was reached.", examples=[1250])


class StreakExtended(AchievementsEvent):
    """A learner was active on another consecutive local day."""

    current_streak_days: int = Field(
        ge=1, description="Consecutive active days, this one included.", examples=[7]
    )
    longest_streak_days: int = Field(
        ge=1, description="The learner's longest streak so far, this one included.", examples=[12]
    )
    local_date: date = Field(
        description="The day in the learner's time zone that extended the streak.",
        examples=["2026-11-22"],
    )

    @model_validator(mode="after")
    def _longest_at_least_current(self) -> Self:
        if self.longest_streak_days < self.current_streak_days:
            raise ValueError("longest_streak_days cannot be less than current_streak_days")
        return self


class StreakBroken(AchievementsEvent):
    """A learner missed a local day, which ended their streak."""

    previous_streak_days: int = Field(ge=1, description="Length of the streak that ended.", examples=[7])
    local_date: date = Field(
        description="The first day in the learner's time zone without activity.",
        examples=["2026-11-23"],
    )


class AchievementUnlocked(AchievementsEvent):
    """A learner earned a badge."""

    achievement_id: str = Field(
        pattern=r"^[a-z][a-z0-9_]*$",
        description="The badge's stable id.",
        examples=["first_course", "streak_7", "fast_learner", "night_owl", "curious_mind"],
    )
    title: str = Field(
        min_length=1,
        description="The badge's name as shown to learners.",
        examples=["7-Day Streak"],
    )
    rarity: Rarity = Field(description="How rare the badge is.", examples=["rare"])
    course_id: UUID | None = Field(
        default=None, description="The course it was earned in, for course-bound badges."
    )


class LearnerAchievementsErased(AchievementsEvent):
    """The achievements service erased a learner's data after an erasure request."""

    request_id: UUID = Field(description="The erasure request this confirms.")


EVENTS: tuple[type[DomainEvent], ...] = (
    XpAwarded,
    LevelReached,
    StreakExtended,
    StreakBroken,
    AchievementUnlocked,
    LearnerAchievementsErased,
)
"""The events this context publishes, in catalog order."""

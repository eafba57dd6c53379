"""The rules of the game, free of I/O: what earns XP, what a level is, what counts as a
day of learning and a streak, and the achievements with their criteria.

Days are the learner's calendar days (their IANA time zone), computed from when the
learner did something (the event's ``occurred_at``), never from when it was processed:
a replay or a late event lands on the same day. Day arithmetic is on dates, so a day
of 23 or 25 hours (a DST change) is still one day.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

Rarity = Literal["common", "rare", "epic", "legendary"]

XP_LESSON_COMPLETED = 50
XP_QUIZ_PASSED = 100
XP_PERFECT_QUIZ = 50
XP_COURSE_COMPLETED = 500
XP_FIRST_LESSON = 10
XP_DAILY_ACTIVITY = 20
"""For each local day with at least one completed lesson, the first such day included."""

ACTIVE_DAY_SECONDS = 300
"""A day counts toward a streak with a completed lesson, a submitted quiz, or this much learning."""
NIGHT_FROM_HOUR = 22
"""A lesson completed at 22:00 local time or later counts toward night owl."""
EARLY_BEFORE_HOUR = 7
"""A lesson completed before 07:00 local time counts toward early bird."""
MARATHON_SECONDS = 4 * 3600
FAST_LEARNER_DAYS = 7
"""A course completed in fewer whole days than this after enrolling."""
SUBJECT_MIN_COURSES = 3
"""A category needs this many published courses before mastering it means something."""


def level_of(xp: int) -> int:
    """Level = floor(sqrt(xp / 100)): 100 XP is level 1, 400 level 2, 900 level 3."""
    # isqrt of the whole hundreds is exact where sqrt of a float may round up
    return math.isqrt(max(xp, 0) // 100)


def xp_for_level(level: int) -> int:
    """The XP at which ``level`` starts."""
    return 100 * level * level


def zone(name: str | None) -> ZoneInfo:
    """The learner's zone; UTC for an unknown or missing name."""
    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def local(at: datetime, timezone: str | None) -> datetime:
    return at.astimezone(zone(timezone))


@dataclass(frozen=True)
class Streak:
    current: int
    """Consecutive active days ending on the latest active day."""
    longest: int
    last_day: date | None


def streak_of(days: Iterable[date]) -> Streak:
    """The current run (ending on the latest active day) and the longest run of ``days``."""
    ordered = sorted(set(days))
    if not ordered:
        return Streak(0, 0, None)
    longest = run = 1
    for previous, day in itertools.pairwise(ordered):
        run = run + 1 if day - previous == timedelta(days=1) else 1
        longest = max(longest, run)
    return Streak(run, longest, ordered[-1])


def current_streak(streak_days: int, last_day: date | None, today: date) -> int:
    """The streak as the learner sees it today: it survives until a whole local day is missed."""
    if last_day is None or (today - last_day).days > 1:
        return 0
    return streak_days


@dataclass(frozen=True)
class Metrics:
    """What the achievements' criteria are measured in, for one learner."""

    enrollments: int = 0
    completions: int = 0
    fast_completions: int = 0
    current_streak: int = 0
    longest_streak: int = 0
    questions: int = 0
    night_lessons: int = 0
    early_lessons: int = 0
    best_day_seconds: int = 0
    perfect_quizzes: int = 0
    subject_completed: int = 0
    """Courses completed in the learner's best category (of those with enough courses)."""
    subject_published: int = 0
    """Published courses in that category (0 when no category has enough)."""


Metric = Literal[
    "enrollments",
    "completions",
    "fast_completions",
    "streak",
    "questions",
    "night_lessons",
    "early_lessons",
    "best_day_seconds",
    "perfect_quizzes",
    "subject",
]


@dataclass(frozen=True)
class Achievement:
    id: str
    title: str
    description: str
    icon: str
    rarity: Rarity
    metric: Metric
    target: int
    unit: str
    course_bound: bool = False
    """Earned in a course (the course of the event that unlocked it)."""

    def measure(self, metrics: Metrics) -> tuple[int, int]:
        """``(current, target)`` toward this achievement."""
        if self.metric == "streak":
            # earned by the longest streak; progress shows the streak that is running now
            return max(metrics.current_streak, 0), self.target
        if self.metric == "subject":
            target = max(metrics.subject_published, SUBJECT_MIN_COURSES)
            return metrics.subject_completed, target
        value: int = getattr(metrics, self.metric)
        return value, self.target

    def met_by(self, metrics: Metrics) -> bool:
        if self.metric == "streak":
            return metrics.longest_streak >= self.target
        if self.metric == "subject":
            return (
                metrics.subject_published >= SUBJECT_MIN_COURSES
                and metrics.subject_completed >= metrics.subject_published
            )
        current, target = self.measure(metrics)
        return current >= target


ACHIEVEMENTS: tuple[Achievement, ...] = (
    Achievement(
        id="first_course",
        title="First Steps",
        description="Enroll in your first course",
        icon="🎒",
        rarity="common",
        metric="enrollments",
        target=1,
        unit="courses",
        course_bound=True,
    ),
    Achievement(
        id="course_completed",
        title="Course Conqueror",
        description="Complete your first course",
        icon="🏆",
        rarity="common",
        metric="completions",
        target=1,
        unit="courses",
        course_bound=True,
    ),
    Achievement(
        id="streak_7",
        title="Week Warrior",
        description="Learn 7 days in a row",
        icon="🔥",
        rarity="rare",
        metric="streak",
        target=7,
        unit="days",
    ),
    Achievement(
        id="streak_30",
        title="Monthly Master",
        description="Keep a 30-day learning streak",
        icon="📅",
        rarity="epic",
        metric="streak",
        target=30,
        unit="days",
    ),
    Achievement(
        id="fast_learner",
        title="Speed Demon",
        description=f"Complete a course within {FAST_LEARNER_DAYS} days of enrolling",
        icon="⚡",
        rarity="rare",
        metric="fast_completions",
        target=1,
        unit="courses",
        course_bound=True,
    ),
    Achievement(
        id="bookworm",
        title="Bookworm",
        description="Complete 5 courses",
        icon="📚",
        rarity="epic",
        metric="completions",
        target=5,
        unit="courses",
    ),
    Achievement(
        id="curious_mind",
        title="Curious Mind",
        description="Ask the AI assistant 50 questions",
        icon="💡",
        rarity="rare",
        metric="questions",
        target=50,
        unit="questions",
    ),
    Achievement(
        id="night_owl",
        title="Night Owl",
        description="Complete 10 lessons after 10 PM (your time)",
        icon="🦉",
        rarity="rare",
        metric="night_lessons",
        target=10,
        unit="lessons",
    ),
    Achievement(
        id="early_bird",
        title="Early Bird",
        description="Complete 10 lessons before 7 AM (your time)",
        icon="🐦",
        rarity="rare",
        metric="early_lessons",
        target=10,
        unit="lessons",
    ),
    Achievement(
        id="marathon",
        title="Marathon Learner",
        description="Learn for 4 hours in a single day",
        icon="🏃",
        rarity="rare",
        metric="best_day_seconds",
        target=MARATHON_SECONDS,
        unit="seconds",
    ),
    Achievement(
        id="subject_master",
        title="Subject Master",
        description=f"Complete every published course of a category (at least {SUBJECT_MIN_COURSES})",
        icon="🎓",
        rarity="epic",
        metric="subject",
        target=SUBJECT_MIN_COURSES,
        unit="courses",
        course_bound=True,
    ),
    Achievement(
        id="quiz_ace",
        title="Quiz Ace",
        description="Score 100 % on 10 different quizzes",
        icon="🎯",
        rarity="epic",
        metric="perfect_quizzes",
        target=10,
        unit="quizzes",
    ),
    Achievement(
        id="centurion",
        title="Centurion",
        description="Learn 100 days in a row",
        icon="👑",
        rarity="legendary",
        metric="streak",
        target=100,
        unit="days",
    ),
)
"""Every achievement, in the order they are shown."""

BY_ID = {achievement.id: achievement for achievement in ACHIEVEMENTS}


def newly_met(
    metrics: Metrics, earned: Iterable[str], candidates: Sequence[str] | None = None
) -> list[Achievement]:
    """The achievements ``metrics`` meet that are not ``earned`` yet (of ``candidates``, if given)."""
    have = set(earned)
    pool = ACHIEVEMENTS if candidates is None else tuple(BY_ID[c] for c in candidates)
    return [a for a in pool if a.id not in have and a.met_by(metrics)]

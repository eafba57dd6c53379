"""The rules of the game without I/O: levels, local days, streaks and the achievements' criteria."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from learnstream.achievements.adapters.leaderboards import window
from learnstream.achievements.domain import rules
from learnstream.achievements.domain.rules import ACHIEVEMENTS, BY_ID, Metrics, newly_met, streak_of


@pytest.mark.parametrize(
    ("xp", "level"),
    [(0, 0), (99, 0), (100, 1), (399, 1), (400, 2), (630, 2), (899, 2), (900, 3), (1_000_000, 100)],
)
def test_level_is_the_floor_of_the_square_root_of_xp_over_100(xp: int, level: int) -> None:
    assert rules.level_of(xp) == level
    assert rules.xp_for_level(level) <= xp < rules.xp_for_level(level + 1)


def test_there_are_at_least_twelve_achievements_of_every_rarity_with_unique_ids() -> None:
    assert len(ACHIEVEMENTS) >= 12
    assert len(BY_ID) == len(ACHIEVEMENTS)
    assert {a.rarity for a in ACHIEVEMENTS} == {"common", "rare", "epic", "legendary"}
    required = {"first_course", "course_completed", "streak_7", "streak_30", "fast_learner", "bookworm"}
    required |= {"curious_mind", "night_owl", "early_bird", "marathon", "subject_master"}
    assert required <= set(BY_ID)


def test_night_owl_at_half_past_eleven_in_tokyo_is_the_afternoon_in_utc() -> None:
    at = datetime(2026, 11, 20, 14, 30, tzinfo=UTC)
    assert rules.local(at, "Asia/Tokyo").hour == 23  # counts toward night owl there
    assert rules.local(at, "UTC").hour == 14  # and would not in UTC terms
    assert rules.local(at, "Not/AZone").hour == 14  # an unknown zone counts as UTC


def test_a_streak_is_consecutive_local_days_however_long_the_days() -> None:
    # New York's spring-forward day (2026-03-08) has 23 hours: still one day in the run
    days = [date(2026, 3, 7), date(2026, 3, 8), date(2026, 3, 9)]
    assert streak_of(days) == rules.Streak(3, 3, date(2026, 3, 9))
    times = [datetime(2026, 3, d, 23, 30) for d in (7, 8, 9)]  # 23:30 local each evening
    local_days = [
        rules.local(
            t.replace(tzinfo=rules.zone("America/New_York")).astimezone(UTC), "America/New_York"
        ).date()
        for t in times
    ]
    assert local_days == days


def test_the_current_run_and_the_longest_run_are_told_apart() -> None:
    days = [date(2026, 1, 1) + timedelta(days=n) for n in range(5)] + [date(2026, 2, 1), date(2026, 2, 2)]
    assert streak_of(days) == rules.Streak(2, 5, date(2026, 2, 2))
    assert streak_of(days + days) == streak_of(days)  # a day counted twice is one day
    assert streak_of([]) == rules.Streak(0, 0, None)


def test_a_streak_survives_until_a_whole_local_day_is_missed() -> None:
    last = date(2026, 5, 10)
    assert rules.current_streak(4, last, date(2026, 5, 10)) == 4
    assert rules.current_streak(4, last, date(2026, 5, 11)) == 4  # not yet learned today
    assert rules.current_streak(4, last, date(2026, 5, 12)) == 0
    assert rules.current_streak(0, None, last) == 0


def test_what_metrics_meet_and_the_progress_toward_the_rest() -> None:
    metrics = Metrics(enrollments=1, completions=1, fast_completions=1, current_streak=3, longest_streak=3)
    met = {a.id for a in newly_met(metrics, earned=[])}
    assert met == {"first_course", "course_completed", "fast_learner"}
    assert {a.id for a in newly_met(metrics, earned=["first_course"])} == {"course_completed", "fast_learner"}
    assert BY_ID["streak_7"].measure(metrics) == (3, 7)
    # a streak achievement is earned by the longest run, even once the run is over
    assert BY_ID["streak_7"].met_by(Metrics(current_streak=0, longest_streak=8))


def test_subject_master_needs_every_published_course_of_a_category_of_at_least_three() -> None:
    master = BY_ID["subject_master"]
    assert not master.met_by(Metrics(subject_completed=0, subject_published=0))
    assert not master.met_by(Metrics(subject_completed=2, subject_published=3))
    assert master.measure(Metrics(subject_completed=2, subject_published=3)) == (2, 3)
    assert master.met_by(Metrics(subject_completed=4, subject_published=4))


def test_leaderboard_periods_are_utc_weeks_from_monday_and_utc_months() -> None:
    sunday_night = datetime(2026, 11, 29, 23, 59, 59, tzinfo=UTC)
    monday = datetime(2026, 11, 30, 0, 0, tzinfo=UTC)
    assert window("weekly", sunday_night).label == "2026-W48"
    assert window("weekly", monday).label == "2026-W49"
    assert window("weekly", monday).start == monday
    assert window("weekly", sunday_night).end == monday
    assert window("monthly", sunday_night).label == "2026-11"
    assert window("monthly", datetime(2026, 12, 31, 23, 59, tzinfo=UTC)).end == datetime(
        2027, 1, 1, tzinfo=UTC
    )
    # ISO weeks: 2027-01-01 is a Friday of 2026's 53rd week
    assert window("weekly", datetime(2027, 1, 1, tzinfo=UTC)).label == "2026-W53"
    assert window("all-time", monday).start is None

"""The differential tests' reference computation, checked on small stories worked out by hand,
and on the generated workload it will be compared over (every at-risk reason and tier occurs)."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

import pytest

from learnstream.devstack.workload import generate
from learnstream.events import DomainEvent
from learnstream.events.achievements import XpAwarded
from learnstream.events.catalog import (
    CourseCreated,
    CourseStructureChanged,
    LessonOutline,
    QuizOutline,
    SectionOutline,
)
from learnstream.events.chat import AssistantReplied, AssistantReplyRated, ChatMessageSent
from learnstream.events.identity import LearnerErasureRequested, UserRegistered
from learnstream.events.progress import (
    CourseCompleted,
    CourseMilestoneReached,
    EnrollmentCancelled,
    EnrollmentCreated,
    LessonCompleted,
    LessonStarted,
    LessonTimeTracked,
    QuestionResult,
    QuizSubmitted,
    VideoProgressed,
    WatchedRange,
)

from .reference import Reference, keywords

NOW = datetime(2026, 3, 4, 12, 0, tzinfo=UTC)  # a Wednesday


def days_ago(days: float, hours: float = 0) -> datetime:
    return NOW - timedelta(days=days, hours=hours)


class Story:
    """A course of one instructor and what its learners did, event by event."""

    def __init__(self, *kinds: str, zone: str = "UTC", video_seconds: int = 12) -> None:
        self.events: list[DomainEvent] = []
        self.instructor = uuid4()
        self.course = uuid4()
        self.lessons = [uuid4() for _ in kinds]
        self.quizzes: dict[UUID, tuple[UUID, list[UUID]]] = {}
        self.add(
            UserRegistered(
                occurred_at=days_ago(100),
                user_id=self.instructor,
                role="instructor",
                display_name="Ines Teacher",
                timezone=zone,
            )
        )
        self.add(
            CourseCreated(
                occurred_at=days_ago(90),
                course_id=self.course,
                instructor_id=self.instructor,
                title="Python 101",
                category="programming",
                difficulty="beginner",
            )
        )
        outline = [
            LessonOutline(
                lesson_id=lesson,
                title=f"Lesson {i + 1}",
                order=i,
                content_type=kind,
                duration_seconds=video_seconds if kind == "video" else 300,
            )
            for i, (lesson, kind) in enumerate(zip(self.lessons, kinds, strict=True))
        ]
        quizzes = []
        for lesson, kind in zip(self.lessons, kinds, strict=True):
            if kind == "quiz":
                quiz, questions = uuid4(), [uuid4(), uuid4()]
                self.quizzes[lesson] = (quiz, questions)
                quizzes.append(
                    QuizOutline(
                        quiz_id=quiz,
                        lesson_id=lesson,
                        question_ids=questions,
                        question_count=2,
                        passing_score=50,
                    )
                )
        self.add(
            CourseStructureChanged(
                occurred_at=days_ago(90) + timedelta(hours=1),
                course_id=self.course,
                sections=[SectionOutline(section_id=uuid4(), title="Basics", order=0, lessons=outline)],
                quizzes=quizzes,
            )
        )

    def add(self, event: DomainEvent) -> DomainEvent:
        self.events.append(event)
        return event

    def reference(self) -> Reference:
        return Reference(self.events)

    def learner(self, name: str | None = None) -> UUID:
        learner = uuid4()
        if name:
            self.add(
                UserRegistered(
                    occurred_at=days_ago(95),
                    user_id=learner,
                    role="student",
                    display_name=name,
                    timezone="UTC",
                )
            )
        return learner

    def enroll(self, learner: UUID, at: datetime) -> None:
        self.add(
            EnrollmentCreated(
                occurred_at=at,
                learner_id=learner,
                enrollment_id=uuid4(),
                course_id=self.course,
                enrolled_at=at,
            )
        )

    def cancel(self, learner: UUID, at: datetime) -> None:
        self.add(
            EnrollmentCancelled(
                occurred_at=at, learner_id=learner, enrollment_id=uuid4(), course_id=self.course
            )
        )

    def start(self, learner: UUID, lesson: UUID, at: datetime, view: UUID | None = None) -> None:
        self.add(
            LessonStarted(
                occurred_at=at,
                learner_id=learner,
                course_id=self.course,
                lesson_id=lesson,
                view_id=view or uuid4(),
            )
        )

    def track(
        self, learner: UUID, lesson: UUID, seconds: int, at: datetime, view: UUID | None = None
    ) -> None:
        self.add(
            LessonTimeTracked(
                occurred_at=at,
                learner_id=learner,
                course_id=self.course,
                lesson_id=lesson,
                view_id=view or uuid4(),
                seconds=seconds,
            )
        )

    def watch(
        self, learner: UUID, lesson: UUID, ranges: list[tuple[int, int]], pct: float, at: datetime
    ) -> None:
        self.add(
            VideoProgressed(
                occurred_at=at,
                learner_id=learner,
                course_id=self.course,
                lesson_id=lesson,
                view_id=uuid4(),
                position_seconds=ranges[-1][1] if ranges else 0,
                duration_seconds=12,
                watched_ranges=[WatchedRange(from_seconds=a, to_seconds=b) for a, b in ranges],
                watched_percentage=pct,
            )
        )

    def complete(self, learner: UUID, lesson: UUID, pct: float, at: datetime) -> None:
        self.add(
            LessonCompleted(
                occurred_at=at,
                learner_id=learner,
                course_id=self.course,
                lesson_id=lesson,
                total_seconds_spent=60,
                completion_percentage=pct,
            )
        )

    def milestone(self, learner: UUID, milestone: int, at: datetime) -> None:
        self.add(
            CourseMilestoneReached(
                occurred_at=at,
                learner_id=learner,
                course_id=self.course,
                milestone=milestone,
                completion_percentage=float(milestone),
            )
        )

    def finish(self, learner: UUID, at: datetime, days: int = 3) -> None:
        self.add(
            CourseCompleted(
                occurred_at=at,
                learner_id=learner,
                course_id=self.course,
                enrollment_id=uuid4(),
                days_to_complete=days,
                total_seconds_spent=600,
            )
        )

    def attempt(self, learner: UUID, lesson: UUID, number: int, correct: list[bool], at: datetime) -> None:
        quiz, questions = self.quizzes[lesson]
        score = round(sum(correct) * 100 / len(correct), 1)
        self.add(
            QuizSubmitted(
                occurred_at=at,
                learner_id=learner,
                course_id=self.course,
                lesson_id=lesson,
                quiz_id=quiz,
                attempt_number=number,
                score_percentage=score,
                passed=score >= 50,
                question_results=[
                    QuestionResult(question_id=q, correct=ok)
                    for q, ok in zip(questions, correct, strict=True)
                ],
            )
        )

    def ask(self, learner: UUID, lesson: UUID | None, at: datetime, text: str = "How do loops work?") -> UUID:
        message = uuid4()
        self.add(
            ChatMessageSent(
                occurred_at=at,
                learner_id=learner,
                session_id=uuid4(),
                message_id=message,
                course_id=self.course,
                lesson_id=lesson,
                text=text,
            )
        )
        return message


def by_stage(funnel: list[dict[str, Any]]) -> dict[str, tuple[int, float, float]]:
    return {row["stage"]: (row["count"], row["percentage"], row["dropOff"]) for row in funnel}


# --- course analytics ----------------------------------------------------------------------------


def test_the_funnel_follows_the_learners_enrolled_in_the_window() -> None:
    story = Story("video", "video", "video", "video")
    first = story.lessons[0]
    only_enrolled, started, halfway, done, old_timer, leaver = (story.learner() for _ in range(6))
    for learner in (only_enrolled, started, halfway, done):
        story.enroll(learner, days_ago(20))
    story.enroll(old_timer, days_ago(40))  # enrolled before the 30-day window
    story.enroll(leaver, days_ago(20))
    story.cancel(leaver, days_ago(19))
    for learner in (started, halfway, done, old_timer, leaver):
        story.start(learner, first, days_ago(18))
    story.milestone(halfway, 25, days_ago(10))
    story.milestone(halfway, 50, days_ago(9))
    story.finish(done, days_ago(5))  # completion implies every milestone

    funnel = by_stage(story.reference().course_analytics(story.course, now=NOW)["funnelData"])

    assert funnel == {
        "enrolled": (4, 100.0, 0.0),
        "started": (3, 75.0, 25.0),
        "progress25": (2, 50.0, 33.3),
        "progress50": (2, 50.0, 0.0),
        "progress75": (1, 25.0, 50.0),
        "completed": (1, 25.0, 0.0),
    }


def test_progress_is_the_latest_completion_and_buckets_by_tens() -> None:
    story = Story("video")
    lesson = story.lessons[0]
    learners = [story.learner() for _ in range(6)]
    for learner in learners:
        story.enroll(learner, days_ago(30))
    _nothing, tenth, later, almost, finished, gone = learners
    story.complete(tenth, lesson, 10.0, days_ago(9))
    story.complete(later, lesson, 80.0, days_ago(9))
    story.complete(later, lesson, 55.5, days_ago(8))  # the latest counts, not the highest
    story.complete(almost, lesson, 99.9, days_ago(8))
    story.complete(finished, lesson, 90.0, days_ago(7))
    story.finish(finished, days_ago(7))
    story.complete(gone, lesson, 40.0, days_ago(7))
    story.cancel(gone, days_ago(6))

    analytics = story.reference().course_analytics(story.course, now=NOW)

    counts = {row["range"]: row["count"] for row in analytics["progressDistribution"]}
    assert counts == {
        "0-10": 1,
        "10-20": 1,
        "20-30": 0,
        "30-40": 0,
        "40-50": 0,
        "50-60": 1,
        "60-70": 0,
        "70-80": 0,
        "80-90": 0,
        "90-100": 2,
    }
    assert analytics["progressDistribution"][9] == {"range": "90-100", "min": 90, "max": 100, "count": 2}
    stats = analytics["stats"]
    assert stats["totalStudents"] == 5
    assert stats["averageProgress"] == round((0 + 10 + 55.5 + 99.9 + 100) / 5, 1)
    assert stats["completionRate"] == 20.0
    assert stats["averageTimeToComplete"] == 3.0


def test_stats_compare_with_the_previous_window() -> None:
    story = Story("video")
    lesson = story.lessons[0]
    early, late = story.learner(), story.learner()
    story.enroll(early, days_ago(50))
    story.track(early, lesson, 100, days_ago(45))
    story.enroll(late, days_ago(20))
    story.track(early, lesson, 30, days_ago(10))
    story.track(late, lesson, 20, days_ago(9))

    stats = story.reference().course_analytics(story.course, now=NOW)["stats"]

    assert (stats["totalStudents"], stats["previous"]["totalStudents"], stats["change"]["totalStudents"]) == (
        2,
        1,
        100.0,
    )
    assert (stats["totalTimeSpent"], stats["previous"]["totalTimeSpent"]) == (50, 100)
    assert stats["change"]["totalTimeSpent"] == -50.0
    assert stats["activeStudents"] == 2
    assert stats["previous"]["activeStudents"] == 1
    assert stats["change"]["averageTimeToComplete"] is None
    everything = story.reference().course_analytics(story.course, now=NOW, period="all")["stats"]
    assert set(everything["change"].values()) == {None}


def test_the_heatmap_buckets_in_the_instructors_time_zone() -> None:
    story = Story("video", zone="Asia/Tokyo")
    learner = story.learner()
    story.enroll(learner, days_ago(20))
    sunday_night_utc = datetime(2026, 3, 1, 23, 30, tzinfo=UTC)  # Monday 08:30 in Tokyo
    story.track(learner, story.lessons[0], 45, sunday_night_utc)

    reference = story.reference()
    tokyo = reference.course_analytics(story.course, now=NOW)["activityHeatmap"]
    utc = reference.course_analytics(story.course, now=NOW, tz="UTC")["activityHeatmap"]

    assert len(tokyo) == 168
    assert [c for c in tokyo if c["value"]] == [{"dayOfWeek": 1, "hour": 8, "value": 1, "timeSpent": 45}]
    assert [c for c in utc if c["value"]] == [{"dayOfWeek": 7, "hour": 23, "value": 1, "timeSpent": 45}]
    engagement = reference.course_analytics(story.course, now=NOW)["trends"]["engagementData"]
    assert {"date": "2026-03-02", "active": 1} in engagement


def test_trends_have_a_point_per_local_day_with_end_of_day_totals() -> None:
    story = Story("video")
    a, b = story.learner(), story.learner()
    story.enroll(a, datetime(2026, 3, 2, 10, tzinfo=UTC))
    story.enroll(b, datetime(2026, 3, 3, 10, tzinfo=UTC))
    story.cancel(b, datetime(2026, 3, 3, 18, tzinfo=UTC))
    story.finish(a, datetime(2026, 3, 3, 12, tzinfo=UTC))

    trends = story.reference().course_analytics(story.course, now=NOW, period="7d")["trends"]

    assert trends["enrollmentData"][0]["date"] == "2026-02-26"
    assert len(trends["enrollmentData"]) == 7  # today (so far) and the six days before
    assert trends["enrollmentData"][-3:] == [
        {"date": "2026-03-02", "count": 1, "total": 1},
        {"date": "2026-03-03", "count": 1, "total": 1},
        {"date": "2026-03-04", "count": 0, "total": 1},
    ]
    assert trends["completionData"][-3:] == [
        {"date": "2026-03-02", "rate": 0.0, "completions": 0},
        {"date": "2026-03-03", "rate": 100.0, "completions": 1},
        {"date": "2026-03-04", "rate": 100.0, "completions": 0},
    ]


def test_a_cancellation_at_the_same_moment_as_an_enrollment_wins() -> None:
    story = Story("video")
    learner = story.learner()
    story.enroll(learner, days_ago(3))
    story.cancel(learner, days_ago(3))

    assert story.reference().students(story.course, now=NOW) == []


# --- lessons, videos, quizzes ----------------------------------------------------------------------


def test_drop_off_counts_from_enrolling_then_from_each_previous_lesson() -> None:
    story = Story("video", "article", "video")
    first, second, third = story.lessons
    a, b, c, d = (story.learner() for _ in range(4))
    for learner in (a, b, c, d):
        story.enroll(learner, days_ago(20))
    story.cancel(d, days_ago(19))  # enrolled once: still part of the first step
    for learner in (a, b, c):
        story.complete(learner, first, 33.3, days_ago(10))
    for learner in (a, b):
        story.complete(learner, second, 66.7, days_ago(9))
    story.complete(a, third, 100.0, days_ago(8))
    story.ask(b, second, days_ago(2))

    lessons = story.reference().lessons(story.course, now=NOW)

    assert [row["dropOffRate"] for row in lessons] == [25.0, 33.3, 50.0]
    assert [row["completions"] for row in lessons] == [3, 2, 1]
    assert [row["questions"] for row in lessons] == [0, 1, 0]
    assert [row["position"] for row in lessons] == [0, 1, 2]


def test_views_viewers_and_time_per_viewer() -> None:
    story = Story("article")
    lesson = story.lessons[0]
    a, b = story.learner(), story.learner()
    view = uuid4()
    story.start(a, lesson, days_ago(3), view)
    story.track(a, lesson, 40, days_ago(3), view)
    story.track(a, lesson, 20, days_ago(2))
    story.track(b, lesson, 30, days_ago(2))
    story.complete(a, lesson, 100.0, days_ago(2))

    (row,) = story.reference().lessons(story.course, now=NOW)

    assert (row["views"], row["viewers"], row["completions"]) == (3, 2, 1)
    assert row["completionRate"] == 50.0
    assert row["averageTimeSpent"] == 45.0


def test_video_segments_count_each_learner_once() -> None:
    story = Story("video", video_seconds=12)
    video = story.lessons[0]
    a, b, c = story.learner(), story.learner(), story.learner()
    story.watch(a, video, [(0, 6)], 50.0, days_ago(3))
    story.watch(a, video, [(4, 12)], 100.0, days_ago(2))  # overlaps its own earlier stretch
    story.watch(a, video, [], 100.0, days_ago(1))  # a rewatch adds nothing new
    story.watch(b, video, [(5, 10)], 41.7, days_ago(2))  # touches [0, 5) and [10, 15) only at the edges
    story.watch(c, video, [(9, 10)], 8.3, days_ago(2))
    story.complete(a, video, 100.0, days_ago(2))

    (row,) = story.reference().videos(story.course, now=NOW)

    assert row["segments"] == [
        {"start": 0, "end": 5, "viewers": 1},
        {"start": 5, "end": 10, "viewers": 3},
        {"start": 10, "end": 15, "viewers": 1},
    ]
    assert (row["duration"], row["viewers"], row["completionRate"]) == (12, 3, 33.3)
    assert row["averageWatchPercentage"] == 50.0


def test_quiz_pass_rates_scores_and_hardest_questions() -> None:
    story = Story("quiz")
    quiz_lesson = story.lessons[0]
    quiz, (q1, q2) = story.quizzes[quiz_lesson]
    second_try, first_try, never = story.learner(), story.learner(), story.learner()
    story.attempt(second_try, quiz_lesson, 1, [False, False], days_ago(5))
    story.attempt(second_try, quiz_lesson, 2, [True, False], days_ago(4))
    story.attempt(first_try, quiz_lesson, 1, [True, True], days_ago(4))
    for number in (1, 2, 3):
        story.attempt(never, quiz_lesson, number, [False, False], days_ago(4 - number))

    result = story.reference().quizzes(story.course, now=NOW)

    (row,) = result["quizzes"]
    assert row["id"] == str(quiz)
    assert (row["attempts"], row["learners"]) == (6, 3)
    assert (row["passRate"], row["firstAttemptPassRate"]) == (66.7, 33.3)
    assert row["averageScore"] == round((0 + 50 + 100 + 0 + 0 + 0) / 6, 1)
    assert result["hardestQuestions"] == [
        {"quizId": str(quiz), "questionId": str(q2), "position": 2, "answered": 6, "correctRate": 16.7},
        {"quizId": str(quiz), "questionId": str(q1), "position": 1, "answered": 6, "correctRate": 33.3},
    ]


# --- students, at risk, tiers -----------------------------------------------------------------------


def test_every_at_risk_reason_and_who_is_not_at_risk() -> None:
    story = Story("video", "quiz", "video")
    first, quiz_lesson, _ = story.lessons
    gone_quiet = story.learner("Quiet")
    stuck = story.learner("Stuck")
    never_finished_one = story.learner("Slow")
    failing = story.learner("Failing")
    recovered = story.learner("Recovered")
    asking = story.learner("Asking")
    asked_long_ago = story.learner("Asked long ago")
    completed = story.learner("Completed")
    everything = story.learner()
    for learner in (
        gone_quiet,
        stuck,
        never_finished_one,
        failing,
        recovered,
        asking,
        asked_long_ago,
        completed,
    ):
        story.enroll(learner, days_ago(40))
    story.enroll(everything, days_ago(30))

    story.complete(gone_quiet, first, 33.3, days_ago(8))
    story.complete(stuck, first, 33.3, days_ago(15))
    story.track(stuck, first, 30, days_ago(1))
    story.track(never_finished_one, first, 30, days_ago(1))
    story.complete(failing, first, 33.3, days_ago(2))
    for number in (1, 2, 3):
        story.attempt(failing, quiz_lesson, number, [False, False], days_ago(2))
    story.complete(recovered, first, 33.3, days_ago(2))
    for number in (1, 2, 3):
        story.attempt(recovered, quiz_lesson, number, [False, False], days_ago(2, hours=number))
    story.attempt(recovered, quiz_lesson, 4, [True, True], days_ago(1))
    story.complete(asking, first, 33.3, days_ago(2))
    for hours in range(5):
        story.ask(asking, first, days_ago(13, hours=hours))
    story.complete(asked_long_ago, first, 33.3, days_ago(2))
    story.ask(asked_long_ago, first, days_ago(15))
    for hours in range(4):
        story.ask(asked_long_ago, first, days_ago(2, hours=hours))
    story.ask(asked_long_ago, None, days_ago(1))  # not about a lesson
    story.finish(completed, days_ago(20))
    story.track(everything, first, 30, days_ago(20))

    reference = story.reference()
    rows = {row["name"]: row for row in reference.at_risk(story.course, now=NOW)}

    assert {name: row["reasons"] for name, row in rows.items()} == {
        "Quiet": ["inactive"],
        "Stuck": ["stuck"],
        "Slow": ["stuck"],
        "Failing": ["struggling"],
        "Asking": ["struggling"],
        f"Learner {everything.hex[:8]}": ["inactive", "stuck"],
    }
    assert rows[f"Learner {everything.hex[:8]}"]["reason"] == "inactive"
    assert rows["Quiet"]["lastActive"] == days_ago(8)
    assert rows["Quiet"]["progress"] == 33.3
    students = {row["name"]: row for row in reference.students(story.course, now=NOW)}
    assert students["Completed"]["status"] == "completed"
    assert students["Completed"]["lastActive"] == days_ago(40)  # no activity: the enrollment
    assert students["Quiet"]["status"] == "inactive"
    assert (students["Stuck"]["status"], students["Stuck"]["atRisk"]) == ("active", True)
    assert students["Recovered"]["atRisk"] is False
    narrower = reference.at_risk(story.course, now=NOW, inactive_days=10, stuck_days=20, quiz_failures=4)
    assert {row["name"] for row in narrower} == {"Slow", "Asking", f"Learner {everything.hex[:8]}"}


def test_each_engagement_tier() -> None:
    story = Story(*["video"] * 10)
    videos = story.lessons
    names = ("inactive", "at risk", "low", "high", "engaged", "moderate", "new and idle")
    learners = {name: story.learner(name) for name in names}
    for name in names:
        story.enroll(learners[name], days_ago(3 if name in ("moderate", "new and idle") else 30))

    def watch(name: str, count: int, at: datetime) -> None:
        for video in videos[:count]:
            story.watch(learners[name], video, [(0, 12)], 100.0, at)

    watch("inactive", 10, days_ago(15))
    watch("at risk", 10, days_ago(8))
    watch("low", 2, days_ago(1))
    watch("high", 10, days_ago(1))
    story.complete(learners["high"], videos[9], 80.0, days_ago(1))
    watch("engaged", 10, days_ago(1))
    story.complete(learners["engaged"], videos[9], 70.0, days_ago(1))
    watch("moderate", 4, days_ago(1))
    story.add(
        XpAwarded(
            occurred_at=days_ago(1),
            learner_id=learners["high"],
            amount=10,
            reason="lesson_completed",
            caused_by_event_id=uuid4(),
            course_id=story.course,
            total_xp=10,
        )
    )

    rows = {row["name"]: row for row in story.reference().creator_students(story.instructor, now=NOW)}

    assert {name: row["tier"] for name, row in rows.items()} == {
        "inactive": "inactive",
        "at risk": "at_risk",
        "low": "low_engagement",
        "high": "highly_engaged",
        "engaged": "engaged",
        "moderate": "moderate",
        "new and idle": "moderate",
    }
    assert (rows["high"]["videosWatched"], rows["high"]["progress"], rows["high"]["xp"]) == (10, 80.0, 10)
    assert rows["low"]["courses"] == 1


# --- assistant, creator, admin, learner ------------------------------------------------------------


def test_assistant_topics_rates_and_hours() -> None:
    story = Story("video", zone="Europe/Berlin")
    lesson = story.lessons[0]
    learner = story.learner()
    story.enroll(learner, days_ago(10))
    first = story.ask(learner, lesson, datetime(2026, 3, 2, 9, tzinfo=UTC), "How does a for loop work?")
    story.ask(learner, None, datetime(2026, 3, 2, 10, tzinfo=UTC), "Loop, LOOP, loop: what's a für-loop?")
    story.ask(learner, lesson, datetime(2026, 3, 2, 11, tzinfo=UTC), "Why is my café variable empty?")
    replies = [uuid4(), uuid4()]
    for reply, answered in zip(replies, (True, False), strict=True):
        story.add(
            AssistantReplied(
                occurred_at=datetime(2026, 3, 2, 9, 1, tzinfo=UTC),
                learner_id=learner,
                session_id=uuid4(),
                message_id=reply,
                reply_to_message_id=first,
                course_id=story.course,
                text="…",
                model="m",
                prompt_tokens=1,
                completion_tokens=1,
                latency_ms=1,
                answered=answered,
            )
        )
    for reply, helpful, hours in ((replies[0], True, 1), (replies[0], False, 2), (replies[1], True, 1)):
        story.add(
            AssistantReplyRated(
                occurred_at=datetime(2026, 3, 2, 9 + hours, tzinfo=UTC),
                learner_id=learner,
                session_id=uuid4(),
                message_id=reply,
                course_id=story.course,
                helpful=helpful,
            )
        )

    ai = story.reference().ai(story.course, now=NOW)

    assert ai["totalQuestions"] == 3
    assert ai["questionsPerStudent"] == 3.0
    assert ai["topTopics"][:2] == [{"topic": "loop", "count": 2}, {"topic": "café", "count": 1}]
    assert {t["topic"] for t in ai["topTopics"]} == {"loop", "café", "empty", "für", "variable"}
    assert (ai["unansweredRate"], ai["satisfactionRate"]) == (50.0, 50.0)
    assert ai["questionsByHour"][10:13] == [1, 1, 1]  # 09-11 UTC is 10-12 in Berlin
    assert ai["questionsPerLesson"] == [{"lessonId": str(lesson), "questions": 2, "dropOffRate": 100.0}]


def test_keywords_are_letter_runs_of_three_or_more_without_stop_words() -> None:
    assert keywords("What's the DataFrame's index? x2 for-loop, für café!") == {
        "dataframe",
        "index",
        "loop",
        "für",
        "café",
    }


def test_creator_dashboard_and_admin_overview() -> None:
    story = Story("video")
    video = story.lessons[0]
    a, b = story.learner(), story.learner()
    story.enroll(a, days_ago(40))
    story.enroll(b, days_ago(5))
    view = uuid4()
    story.track(a, video, 120, days_ago(2), view)
    story.watch(a, video, [(0, 6)], 50.0, days_ago(2))
    story.ask(b, video, days_ago(0.5), "How do  I install   pandas?")
    story.ask(a, video, days_ago(0.4), "how do i install pandas?")

    reference = story.reference()
    dashboard = reference.creator_dashboard(story.instructor, now=NOW)
    overview = reference.admin_overview(now=NOW)

    assert dashboard["students"] == {
        "total": 2,
        "active": 2,
        "activePercentage": 100.0,
        "newThisMonth": 1,
        # nobody was active in the previous window; one enrolled in it, as in this one
        "trends": {"active": None, "new": 0.0},
    }
    assert dashboard["progress"] == {"avgCompletion": 0.0, "videosWatched": 1, "quizzesPassed": 0}
    assert dashboard["engagement"]["avgSessionTime"] == 1.0  # 120 s over two views
    assert dashboard["support"]["topQuestions"] == [{"question": "how do i install pandas?", "count": 2}]
    assert (overview["dau"], overview["wau"], overview["mau"], overview["dauMauRatio"]) == (2, 2, 2, 100.0)
    assert overview["enrollments"] == 1
    assert overview["topCourses"] == [{"id": str(story.course), "enrollments": 1}]
    assert overview["topInstructors"] == [{"id": str(story.instructor), "activeLearners": 2}]


def test_learner_activity_uses_the_learners_own_days() -> None:
    story = Story("article")
    learner = uuid4()
    story.add(
        UserRegistered(
            occurred_at=days_ago(50),
            user_id=learner,
            role="student",
            display_name="Kai",
            timezone="Asia/Tokyo",
        )
    )
    story.track(learner, story.lessons[0], 100, datetime(2026, 3, 3, 16, tzinfo=UTC))  # Mar 4, 01:00 Tokyo
    story.complete(learner, story.lessons[0], 100.0, datetime(2026, 3, 3, 14, tzinfo=UTC))  # Mar 3, 23:00

    days = story.reference().learner_activity(learner, now=NOW, days=3)

    assert days == [
        {"date": "2026-03-02", "timeSpent": 0, "lessonsCompleted": 0},
        {"date": "2026-03-03", "timeSpent": 0, "lessonsCompleted": 1},
        {"date": "2026-03-04", "timeSpent": 100, "lessonsCompleted": 0},
    ]


# --- conventions -----------------------------------------------------------------------------------


def test_an_erased_learner_is_gone_from_every_answer() -> None:
    story = Story("video")
    kept, erased = story.learner("Kept"), story.learner("Erased")
    for learner in (kept, erased):
        story.enroll(learner, days_ago(10))
        story.track(learner, story.lessons[0], 60, days_ago(2))
    story.add(LearnerErasureRequested(occurred_at=days_ago(1), user_id=erased, request_id=uuid4()))

    reference = story.reference()

    assert [row["name"] for row in reference.students(story.course, now=NOW)] == ["Kept"]
    assert reference.course_analytics(story.course, now=NOW)["stats"]["totalTimeSpent"] == 60


def everything_about(
    reference: Reference, story_course: UUID, instructor: UUID, now: datetime
) -> dict[str, Any]:
    learners = sorted({row["id"] for row in reference.students(story_course, now=now)})
    return {
        "course": reference.course_analytics(story_course, now=now),
        "all": reference.course_analytics(story_course, now=now, period="all"),
        "lessons": reference.lessons(story_course, now=now),
        "videos": reference.videos(story_course, now=now),
        "quizzes": reference.quizzes(story_course, now=now),
        "students": sorted(reference.students(story_course, now=now), key=lambda r: r["id"]),
        "at_risk": sorted(reference.at_risk(story_course, now=now), key=lambda r: r["id"]),
        "ai": reference.ai(story_course, now=now),
        "creator": reference.creator_dashboard(instructor, now=now),
        "creator_students": sorted(reference.creator_students(instructor, now=now), key=lambda r: r["id"]),
        "admin": reference.admin_overview(now=now),
        "activity": [reference.learner_activity(UUID(learner), now=now) for learner in learners],
    }


def test_redelivered_and_reordered_events_change_nothing() -> None:
    workload = generate(21, learners=40)
    course, instructor = workload.courses[0], workload.courses[0].instructor_id
    shuffled = list(workload.events) + random.Random(1).sample(workload.events, 300)
    random.Random(2).shuffle(shuffled)

    expected = everything_about(Reference(workload.events), course.course_id, instructor, workload.now)

    assert everything_about(Reference(shuffled), course.course_id, instructor, workload.now) == expected
    assert everything_about(
        Reference(reversed(workload.events)), course.course_id, instructor, workload.now
    ) == (expected)


@pytest.fixture(scope="module")
def workload_reference() -> tuple[Reference, datetime, Any]:
    workload = generate(7)
    return Reference(workload.events), workload.now, workload


def test_the_generated_workload_has_every_at_risk_reason_and_tier(
    workload_reference: tuple[Reference, datetime, Any],
) -> None:
    reference, now, workload = workload_reference
    reasons = {
        reason
        for course in workload.courses
        for row in reference.at_risk(course.course_id, now=now)
        for reason in row["reasons"]
    }
    first_reasons = {
        row["reason"] for course in workload.courses for row in reference.at_risk(course.course_id, now=now)
    }
    tiers = {
        row["tier"]
        for instructor in workload.instructors
        for row in reference.creator_students(instructor.user_id, now=now)
    }

    assert reasons == first_reasons == {"inactive", "stuck", "struggling"}
    assert tiers == {"inactive", "at_risk", "low_engagement", "highly_engaged", "engaged", "moderate"}
    assert workload.erased_learner_id is not None
    assert workload.erased_learner_id in reference.erased
    statuses = {
        row["status"] for course in workload.courses for row in reference.students(course.course_id, now=now)
    }
    assert statuses == {"completed", "active", "inactive"}


def test_a_period_is_whole_local_days_ending_today() -> None:
    evening = datetime(2026, 2, 25, 20, 0, tzinfo=UTC)  # 8 days before NOW's day in UTC, 7 in Tokyo
    for zone, inside in (("UTC", False), ("Asia/Tokyo", True)):
        story = Story("video", zone=zone)
        learner = story.learner()
        story.enroll(learner, days_ago(30))
        story.track(learner, story.lessons[0], 60, evening)

        analytics = story.reference().course_analytics(story.course, now=NOW, period="7d")

        engagement = analytics["trends"]["engagementData"]
        assert [engagement[0]["date"], engagement[-1]["date"], len(engagement)] == [
            "2026-02-26",
            "2026-03-04",
            7,
        ]
        stats = analytics["stats"]
        assert (stats["totalTimeSpent"], stats["previous"]["totalTimeSpent"]) == (
            (60, 0) if inside else (0, 60)
        )

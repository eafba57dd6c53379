"""Builders for the progress domain's unit tests: a small course, published, and a learner in it.

The standard course has four lessons, so each one completed is a quarter of it:

- section "Basics": video "Welcome" (600 s, with a transcript), article "Variables",
  quiz "Check yourself" (two questions, pass mark 70, three attempts)
- section "Loops": article "For loops"
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from uuid import UUID, uuid4

import pytest

from learnstream.progress.domain.catalog import (
    Course,
    CourseDraft,
    LessonDraft,
    QuestionDraft,
    QuizDraft,
    SectionDraft,
    create_course,
    publish,
)
from learnstream.progress.domain.enrollment import Enrollment

COURSE_CREATED_AT = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)

Publish = Callable[[CourseDraft], Course]
Enroll = Callable[..., Enrollment]


def check_yourself_quiz() -> QuizDraft:
    return QuizDraft(
        passing_score=70,
        max_attempts=3,
        questions=(
            QuestionDraft("What does `x = 1` do?", ("binds x to 1", "compares x with 1"), correct_index=0),
            QuestionDraft("Which is a string?", ("1", "'1'", "1.0"), correct_index=1),
        ),
    )


@pytest.fixture
def instructor_id() -> UUID:
    return uuid4()


@pytest.fixture
def course_draft() -> CourseDraft:
    return CourseDraft(
        title="Python 101",
        description="From zero to loops.",
        category="programming",
        difficulty="beginner",
        sections=(
            SectionDraft(
                "Basics",
                (
                    LessonDraft("Welcome", "video", 600, body="Hello and welcome to Python."),
                    LessonDraft("Variables", "article", 300, body="A variable names a value."),
                    LessonDraft("Check yourself", "quiz", 120, quiz=check_yourself_quiz()),
                ),
            ),
            SectionDraft("Loops", (LessonDraft("For loops", "article", 300, body="A for loop repeats."),)),
        ),
    )


@pytest.fixture
def published(instructor_id: UUID) -> Publish:
    """Turns a draft into a published course, as learners meet it."""

    def _published(draft: CourseDraft) -> Course:
        course, _ = create_course(draft, instructor_id=instructor_id, at=COURSE_CREATED_AT)
        course, _ = publish(course, actor_id=instructor_id, at=COURSE_CREATED_AT)
        return course

    return _published


@pytest.fixture
def course(published: Publish, course_draft: CourseDraft) -> Course:
    return published(course_draft)


@pytest.fixture
def enroll() -> Enroll:
    """A new learner enrolled in ``course`` at ``at``."""

    def _enroll(course: Course, *, at: datetime) -> Enrollment:
        enrollment = Enrollment(uuid4(), uuid4(), course.course_id)
        enrollment.enroll(at)
        return enrollment

    return _enroll

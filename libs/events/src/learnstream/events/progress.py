"""Events of the progress context, published by the progress service to ``learnstream.progress``.

They record what a learner did in a course: enrollments, lesson views and time spent,
video watching, completions, quiz results and milestones. Analytics aggregates them,
achievements awards XP, streaks and badges from them. All are keyed by the learner id,
so one learner's events arrive in order.
"""

from __future__ import annotations

from typing import ClassVar, Literal, Self
from uuid import UUID

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from learnstream.events.base import DomainEvent

Milestone = Literal[25, 50, 75]


class WatchedRange(BaseModel):
    """A stretch of a video the learner watched, in whole seconds from its start."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    from_seconds: int = Field(ge=0, description="Where the stretch starts.", examples=[120])
    to_seconds: int = Field(gt=0, description="Where the stretch ends (exclusive).", examples=[180])

    @model_validator(mode="after")
    def _ends_after_start(self) -> Self:
        if self.to_seconds <= self.from_seconds:
            raise ValueError("to_seconds must be greater than from_seconds")
        return self


class QuestionResult(BaseModel):
    """Whether the learner answered one quiz question correctly."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    question_id: UUID = Field(description="The question.")
    correct: bool = Field(description="True when the answer was correct.", examples=[True])


class ProgressEvent(DomainEvent):
    """An event about one learner's progress, keyed by the learner id."""

    context: ClassVar[str] = "progress"
    key_field: ClassVar[str] = "learner_id"

    learner_id: UUID = Field(description="The learner the event is about.")


class EnrollmentCreated(ProgressEvent):
    """A learner enrolled in a course."""

    enrollment_id: UUID = Field(description="The new enrollment.")
    course_id: UUID = Field(description="The course enrolled in.")
    enrolled_at: AwareDatetime = Field(
        description="When the enrollment took effect; completion times are counted from it.",
        examples=["2026-11-01T08:00:00.000Z"],
    )
    instructor_id: UUID | None = Field(
        default=None,
        description="The course's instructor at the time, so news of the enrollment reaches them "
        "without a copy of the catalog (absent in events written before it was added).",
    )


class EnrollmentCancelled(ProgressEvent):
    """A learner's enrollment in a course ended before completion."""

    enrollment_id: UUID = Field(description="The cancelled enrollment.")
    course_id: UUID = Field(description="The course left.")


class LessonStarted(ProgressEvent):
    """A learner opened a lesson for the first time."""

    course_id: UUID = Field(description="The course the lesson belongs to.")
    lesson_id: UUID = Field(description="The lesson started.")
    view_id: UUID = Field(
        description="The viewing session in which it was opened; later time and video events "
        "of that session carry the same id."
    )


class LessonTimeTracked(ProgressEvent):
    """A learner spent more time on a lesson; the seconds are a delta, deduplicated already."""

    course_id: UUID = Field(description="The course the lesson belongs to.")
    lesson_id: UUID = Field(description="The lesson the time was spent on.")
    view_id: UUID = Field(description="The viewing session the time was spent in.")
    seconds: int = Field(
        gt=0,
        description="Seconds newly spent since the previous report of this view; add them up.",
        examples=[30],
    )


class VideoProgressed(ProgressEvent):
    """A learner watched more of a lesson's video."""

    course_id: UUID = Field(description="The course the lesson belongs to.")
    lesson_id: UUID = Field(description="The video lesson.")
    view_id: UUID = Field(description="The viewing session it was watched in.")
    position_seconds: int = Field(ge=0, description="Playback position when reported.", examples=[180])
    duration_seconds: int = Field(gt=0, description="Length of the video.", examples=[754])
    watched_ranges: list[WatchedRange] = Field(
        description="Stretches newly watched since the previous report; for drop-off analysis."
    )
    watched_percentage: float = Field(
        ge=0,
        le=100,
        description="Share of the whole video this learner has watched so far, in percent.",
        examples=[23.9],
    )

    @model_validator(mode="after")
    def _within_video(self) -> Self:
        if self.position_seconds > self.duration_seconds:
            raise ValueError("position_seconds is past the end of the video")
        if any(r.to_seconds > self.duration_seconds for r in self.watched_ranges):
            raise ValueError("a watched range ends past the end of the video")
        return self


class LessonCompleted(ProgressEvent):
    """A learner completed a lesson."""

    course_id: UUID = Field(description="The course the lesson belongs to.")
    lesson_id: UUID = Field(description="The lesson completed.")
    total_seconds_spent: int = Field(
        ge=0, description="All time the learner spent on this lesson.", examples=[612]
    )
    completion_percentage: float = Field(
        ge=0,
        le=100,
        description="Share of the course's lessons the learner has completed, this one included.",
        examples=[37.5],
    )


class QuizSubmitted(ProgressEvent):
    """A learner submitted an attempt at a quiz and it was graded."""

    course_id: UUID = Field(description="The course the quiz belongs to.")
    lesson_id: UUID = Field(description="The lesson that holds the quiz.")
    quiz_id: UUID = Field(description="The quiz.")
    attempt_number: int = Field(
        ge=1, description="Which attempt at this quiz this was, from 1.", examples=[1]
    )
    score_percentage: float = Field(
        ge=0, le=100, description="Score of this attempt in percent.", examples=[80.0]
    )
    passed: bool = Field(description="True when the score reached the pass mark.", examples=[True])
    question_results: list[QuestionResult] = Field(
        description="Per-question correctness, for question difficulty analysis."
    )


class CourseMilestoneReached(ProgressEvent):
    """A learner's completion of a course crossed 25, 50 or 75 percent."""

    course_id: UUID = Field(description="The course.")
    milestone: Milestone = Field(description="The threshold crossed, in percent.", examples=[50])
    completion_percentage: float = Field(
        ge=0,
        le=100,
        description="The learner's completion of the course when it was crossed, in percent.",
        examples=[52.0],
    )

    @model_validator(mode="after")
    def _at_or_past_milestone(self) -> Self:
        if self.completion_percentage < self.milestone:
            raise ValueError("completion_percentage is below the milestone")
        return self


class CourseCompleted(ProgressEvent):
    """A learner completed every lesson of a course."""

    course_id: UUID = Field(description="The course completed.")
    enrollment_id: UUID = Field(description="The enrollment that was completed.")
    days_to_complete: int = Field(
        ge=0,
        description="Whole days from enrollment to completion, rounded down (fast-learner badge).",
        examples=[12],
    )
    total_seconds_spent: int = Field(
        ge=0, description="All time the learner spent on the course.", examples=[45_000]
    )


class InstructorNoteAdded(ProgressEvent):
    """An instructor wrote a private note about a learner in a course.

    The note's text stays in the progress service: consumers only count and date notes
    (a learner's timeline, "students needing help"), and leaving an instructor's remarks
    about a person off the bus keeps them out of every other store and erasure.
    """

    note_id: UUID = Field(description="The note.")
    instructor_id: UUID = Field(description="The instructor who wrote it.")
    course_id: UUID = Field(description="The course the note is about the learner in.")


class LearnerProgressErased(ProgressEvent):
    """The progress service erased a learner's data after an erasure request."""

    request_id: UUID = Field(description="The erasure request this confirms.")


EVENTS: tuple[type[DomainEvent], ...] = (
    EnrollmentCreated,
    EnrollmentCancelled,
    LessonStarted,
    LessonTimeTracked,
    VideoProgressed,
    LessonCompleted,
    QuizSubmitted,
    CourseMilestoneReached,
    CourseCompleted,
    InstructorNoteAdded,
    LearnerProgressErased,
)
"""The events this context publishes, in catalog order."""

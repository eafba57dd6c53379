"""Request and response bodies of the progress service's HTTP API (camelCase on the wire).

They follow the gateway contract (``spec/API.md``) so the gateway can pass them
through. Requests are translated into domain commands here; responses are
validated from the service layer's read models.
"""

from __future__ import annotations

import math
from datetime import date as date_type
from datetime import datetime
from typing import Any, Literal
from uuid import UUID

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from learnstream.progress.domain.catalog import (
    CourseDraft,
    LessonDraft,
    QuestionDraft,
    QuizDraft,
    SectionDraft,
)
from learnstream.progress.domain.enrollment import TrackReport
from learnstream.progress.service_layer.services import TrackItem

MAX_BATCH_ITEMS = 1000


class CamelModel(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="ignore")


# --- catalog ------------------------------------------------------------------------------------


class QuestionIn(CamelModel):
    id: UUID | None = Field(
        default=None, description="Keep an existing question's id; leave out for a new one."
    )
    text: str = Field(
        min_length=1, max_length=2000, description="The question.", examples=["What does len([1, 2]) return?"]
    )
    options: list[str] = Field(min_length=2, max_length=10, description="The answer options, in order.")
    correct_index: int = Field(description="Index of the correct option, from 0.", examples=[1])


class QuizIn(CamelModel):
    id: UUID | None = Field(default=None, description="Keep an existing quiz's id; leave out for a new one.")
    passing_score: int = Field(default=70, description="Score in percent needed to pass.", examples=[70])
    max_attempts: int | None = Field(default=None, description="Attempts allowed; unlimited when left out.")
    questions: list[QuestionIn] = Field(max_length=200, description="The questions, in order.")


class LessonIn(CamelModel):
    id: UUID | None = Field(
        default=None, description="Keep an existing lesson's id (and learners' progress on it)."
    )
    title: str = Field(min_length=1, max_length=300, description="The lesson's title.")
    content_type: Literal["video", "article", "quiz"] = Field(description="What the lesson is made of.")
    duration_seconds: int = Field(
        ge=0, le=86_400, description="Video length, or estimated reading or answering time.", examples=[754]
    )
    body: str | None = Field(
        default=None, max_length=500_000, description="Article text or video transcript (Markdown)."
    )
    quiz: QuizIn | None = Field(default=None, description="The quiz of a quiz lesson.")
    order: int | None = Field(
        default=None, ge=0, description="Position in the section; array order if left out."
    )

    def draft(self) -> LessonDraft:
        quiz = None
        if self.quiz is not None:
            quiz = QuizDraft(
                passing_score=self.quiz.passing_score,
                max_attempts=self.quiz.max_attempts,
                id=self.quiz.id,
                questions=tuple(
                    QuestionDraft(
                        text=q.text, options=tuple(q.options), correct_index=q.correct_index, id=q.id
                    )
                    for q in self.quiz.questions
                ),
            )
        return LessonDraft(
            title=self.title,
            content_type=self.content_type,
            duration_seconds=self.duration_seconds,
            body=self.body,
            quiz=quiz,
            order=self.order,
            id=self.id,
        )


class SectionIn(CamelModel):
    id: UUID | None = Field(
        default=None, description="Keep an existing section's id; leave out for a new one."
    )
    title: str = Field(min_length=1, max_length=300, description="The section's title.")
    lessons: list[LessonIn] = Field(max_length=500, description="The section's lessons, in order.")
    order: int | None = Field(
        default=None, ge=0, description="Position in the course; array order if left out."
    )


class CourseIn(CamelModel):
    """A course's details and its whole outline."""

    title: str = Field(min_length=1, max_length=300, examples=["Python for Data Analysis"])
    description: str = Field(default="", max_length=20_000)
    category: str = Field(min_length=1, max_length=100, examples=["programming"])
    difficulty: Literal["beginner", "intermediate", "advanced"] = Field(examples=["beginner"])
    sections: list[SectionIn] = Field(max_length=200, description="The sections, in order.")

    def draft(self) -> CourseDraft:
        return CourseDraft(
            title=self.title,
            description=self.description,
            category=self.category,
            difficulty=self.difficulty,
            sections=tuple(
                SectionDraft(
                    title=s.title,
                    lessons=tuple(lesson.draft() for lesson in s.lessons),
                    order=s.order,
                    id=s.id,
                )
                for s in self.sections
            ),
        )


class QuestionOut(CamelModel):
    id: UUID
    text: str
    options: list[str]
    correct_index: int | None = Field(description="Shown to the course's instructor and admins only.")


class QuizOut(CamelModel):
    id: UUID
    passing_score: int
    max_attempts: int | None
    questions: list[QuestionOut]


class LessonOut(CamelModel):
    id: UUID
    title: str
    order: int
    content_type: str
    duration_seconds: int
    body: str | None
    quiz: QuizOut | None


class SectionOut(CamelModel):
    id: UUID
    title: str
    order: int
    lessons: list[LessonOut]


class CourseSummaryOut(CamelModel):
    id: UUID
    instructor_id: UUID
    title: str
    description: str
    category: str
    difficulty: str
    status: Literal["draft", "published", "archived"]
    lesson_count: int
    total_duration_seconds: int
    created_at: datetime
    published_at: datetime | None
    enrollment_count: int | None = Field(default=None, description="Learners enrolled (in lists).")


class CourseOut(CourseSummaryOut):
    sections: list[SectionOut]


class CourseListOut(CamelModel):
    courses: list[CourseSummaryOut]
    total: int
    limit: int
    offset: int


# --- enrollments and progress ----------------------------------------------------------------------


class EnrollmentOut(CamelModel):
    id: UUID
    course_id: UUID
    learner_id: UUID
    status: Literal["active", "completed", "cancelled"]
    enrolled_at: datetime
    completed_at: datetime | None
    cancelled_at: datetime | None
    last_accessed_at: datetime | None
    last_lesson_id: UUID | None
    completion_percentage: float


class LessonRef(CamelModel):
    lesson_id: UUID
    title: str


class LearnerCourseOut(EnrollmentOut):
    course: CourseSummaryOut
    lessons_completed: int
    total_lessons: int
    time_spent_seconds: int
    time_remaining_seconds: int = Field(description="Length of the lessons not completed yet.")
    next_lesson: LessonRef | None = Field(description="Where Continue leads.")


class LearnerCoursesOut(CamelModel):
    courses: list[LearnerCourseOut]
    total: int
    limit: int
    offset: int


class LearnerSummaryOut(CamelModel):
    total_courses: int = Field(description="Enrollments not cancelled.")
    completed_courses: int
    in_progress_courses: int
    total_time_spent_seconds: int
    average_completion: float
    last_active_at: datetime | None


class ActivityDayOut(CamelModel):
    date: date_type = Field(description="A day in the learner's time zone.")
    time_spent: int = Field(description="Seconds spent on lessons that day.", examples=[1800])
    lessons_completed: int = Field(description="Lessons completed that day.", examples=[2])


class LearnerActivityOut(CamelModel):
    days: int = Field(description="How many days the series covers, today included.", examples=[30])
    timezone: str = Field(description="The learner's time zone the days are counted in.", examples=["UTC"])
    activity_data: list[ActivityDayOut] = Field(description="One entry per day, oldest first.")


class LearnerOverviewOut(CamelModel):
    """The learner dashboard's share of progress, in one answer."""

    summary: LearnerSummaryOut
    courses: LearnerCoursesOut = Field(description="Active courses, last accessed first.")
    activity: LearnerActivityOut


class ModuleProgressOut(CamelModel):
    section_id: UUID
    title: str
    order: int
    lessons_completed: int
    total_lessons: int
    completion_percentage: float
    time_spent_seconds: int


class QuizProgressOut(CamelModel):
    quiz_id: UUID
    attempts: int
    best_score: float | None
    passed: bool
    max_attempts: int | None


class LessonProgressOut(CamelModel):
    lesson_id: UUID
    section_id: UUID
    title: str
    content_type: str
    duration_seconds: int
    status: Literal["not_started", "in_progress", "completed"]
    time_spent_seconds: int
    started_at: datetime | None
    completed_at: datetime | None
    last_viewed_at: datetime | None
    video_position_seconds: int | None = Field(description="Where to resume a video lesson.")
    watched_percentage: float | None
    quiz: QuizProgressOut | None


class CourseStatsOut(CamelModel):
    total_time_spent_seconds: int
    lessons_completed: int
    total_lessons: int
    completion_percentage: float
    average_time_per_lesson_seconds: int = Field(
        description="Time on completed lessons per completed lesson."
    )
    fastest_lesson_seconds: int | None
    estimated_seconds_to_completion: int = Field(
        description="Length of the lessons left, scaled by the learner's own pace so far."
    )
    lessons_per_week: float


class CourseProgressOut(CamelModel):
    course: CourseSummaryOut
    enrollment: EnrollmentOut
    module_progress: list[ModuleProgressOut]
    lessons: list[LessonProgressOut]
    next_lesson: LessonRef | None
    stats: CourseStatsOut


# --- tracking ------------------------------------------------------------------------------------------


class TrackLessonIn(CamelModel):
    """One report from a lesson page: a heartbeat, a completion or a video update."""

    course_id: UUID
    lesson_id: UUID
    view_id: UUID = Field(description="Id the client makes up for one viewing session of the lesson.")
    time_spent_seconds: float = Field(
        ge=0, description="Seconds spent in this view so far (cumulative, not a delta).", examples=[90]
    )
    completed: bool = Field(default=False, description="The learner finished an article lesson.")
    video_position_seconds: float | None = Field(default=None, ge=0, description="Playback position.")
    video_duration_seconds: float | None = Field(default=None, gt=0, description="The player's video length.")
    watched_ranges: list[tuple[float, float]] | None = Field(
        default=None, max_length=1000, description="Stretches played, [[from, to], ...] in seconds."
    )
    occurred_at: AwareDatetime | None = Field(
        default=None, description="When an offline client made the report; now when left out."
    )

    def item(self) -> TrackItem:
        return TrackItem(
            course_id=self.course_id,
            occurred_at=self.occurred_at,
            report=TrackReport(
                lesson_id=self.lesson_id,
                view_id=self.view_id,
                time_spent_seconds=math.floor(self.time_spent_seconds),
                completed=self.completed,
                video_position_seconds=self.video_position_seconds,
                video_duration_seconds=self.video_duration_seconds,
                watched_ranges=tuple(self.watched_ranges or ()),
            ),
        )


class TrackProgressOut(CamelModel):
    completion_percentage: float = Field(description="The learner's completion of the course.")
    lesson_completed: bool
    course_completed: bool
    lesson_time_spent_seconds: int
    resume_position_seconds: int | None = Field(description="Where to resume a video lesson.")
    watched_percentage: float | None = Field(description="Share of the video watched (union of ranges).")


class TrackOut(CamelModel):
    success: bool = True
    progress: TrackProgressOut
    notices: list[str] = Field(
        default_factory=list, description="Parts of the report that were ignored, and why."
    )


class TrackBatchIn(CamelModel):
    events: list[dict[str, Any]] = Field(
        max_length=MAX_BATCH_ITEMS,
        description=f"Up to {MAX_BATCH_ITEMS} track-lesson bodies, oldest first; "
        "each is accepted or rejected alone.",
    )


class TrackBatchItemOut(CamelModel):
    index: int
    status: Literal["accepted", "rejected"]
    reason: str | None = Field(default=None, description="Stable code of why it was rejected.")
    detail: str | None = None
    progress: TrackProgressOut | None = None


class TrackBatchOut(CamelModel):
    accepted: int
    rejected: int
    results: list[TrackBatchItemOut]


class QuizAttemptIn(CamelModel):
    answers: list[int] = Field(max_length=200, description="Chosen option index for each question, in order.")
    occurred_at: AwareDatetime | None = Field(
        default=None,
        description="When an offline client took the quiz (at most the offline age ago); now when left out.",
    )


class EnrollIn(CamelModel):
    enrolled_at: AwareDatetime | None = Field(
        default=None,
        description="Dev mode only (demo data): when the enrollment happened, within the offline age.",
    )


class QuestionResultOut(CamelModel):
    question_id: UUID
    selected_index: int
    correct: bool
    correct_index: int | None = Field(description="Revealed once the quiz is passed or no attempts are left.")


class QuizAttemptOut(CamelModel):
    quiz_id: UUID
    attempt_number: int
    score: float = Field(description="Percent of questions answered correctly.")
    passed: bool
    passing_score: int
    attempts_left: int | None
    results: list[QuestionResultOut]
    lesson_completed: bool
    completion_percentage: float


class NoteIn(CamelModel):
    course_id: UUID
    note: str = Field(min_length=1, max_length=10_000)


class NoteOut(CamelModel):
    id: UUID
    instructor_id: UUID
    note: str
    created_at: datetime


class NotesOut(CamelModel):
    notes: list[NoteOut]

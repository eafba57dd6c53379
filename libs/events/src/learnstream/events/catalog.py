"""Events of the catalog context, published by the progress service to ``learnstream.catalog``.

They carry what consumers need to keep their own copy of a course: its summary, its
ordered outline (progress computes completion from it, analytics labels lessons with
it) and each lesson's text (the chat assistant answers from it).
"""

from __future__ import annotations

from typing import ClassVar, Literal, Self
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, model_validator

from learnstream.events.base import DomainEvent

Difficulty = Literal["beginner", "intermediate", "advanced"]
ContentType = Literal["video", "article", "quiz"]


class LessonOutline(BaseModel):
    """One lesson in a section of a course outline."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    lesson_id: UUID = Field(description="The lesson.")
    title: str = Field(min_length=1, description="The lesson's title.", examples=["Your first loop"])
    order: int = Field(ge=0, description="Position of the lesson within its section.", examples=[0])
    content_type: ContentType = Field(description="What the lesson is made of.", examples=["video"])
    duration_seconds: int = Field(
        ge=0,
        description="Length of the video, or estimated reading or answering time otherwise.",
        examples=[754],
    )


class SectionOutline(BaseModel):
    """One section of a course outline with its lessons in order."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    section_id: UUID = Field(description="The section.")
    title: str = Field(
        min_length=1, description="The section's title.", examples=["Variables and data types"]
    )
    order: int = Field(ge=0, description="Position of the section within the course.", examples=[1])
    lessons: list[LessonOutline] = Field(description="The section's lessons, in order.")


class QuizOutline(BaseModel):
    """A quiz of the course and the lesson it belongs to."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    quiz_id: UUID = Field(description="The quiz.")
    lesson_id: UUID = Field(description="The lesson that holds the quiz.")
    question_ids: list[UUID] = Field(description="The quiz's questions, in order.")
    question_count: int = Field(
        ge=0, description="Number of questions; equals the length of question_ids.", examples=[10]
    )
    passing_score: int = Field(ge=0, le=100, description="Score in percent needed to pass.", examples=[70])

    @model_validator(mode="after")
    def _count_matches_questions(self) -> Self:
        if self.question_count != len(self.question_ids):
            raise ValueError("question_count must equal the number of question_ids")
        return self


class CatalogEvent(DomainEvent):
    """An event about one course, keyed by the course id."""

    context: ClassVar[str] = "catalog"
    key_field: ClassVar[str] = "course_id"

    course_id: UUID = Field(description="The course the event is about.")


class CourseCreated(CatalogEvent):
    """An instructor created a course; it is a draft until published."""

    instructor_id: UUID = Field(description="The instructor who owns the course.")
    title: str = Field(min_length=1, description="The course title.", examples=["Python 101"])
    category: str = Field(min_length=1, description="The course category.", examples=["programming"])
    difficulty: Difficulty = Field(description="The course's level.", examples=["beginner"])


class CoursePublished(CatalogEvent):
    """A course became visible and open for enrollment."""

    instructor_id: UUID = Field(description="The instructor who owns the course.")
    title: str = Field(min_length=1, description="The course title.", examples=["Python 101"])
    category: str = Field(min_length=1, description="The course category.", examples=["programming"])
    difficulty: Difficulty = Field(description="The course's level.", examples=["beginner"])


class CourseArchived(CatalogEvent):
    """A course was withdrawn; enrolled learners keep their history."""

    instructor_id: UUID = Field(description="The instructor who owns the course.")
    title: str = Field(min_length=1, description="The course title.", examples=["Python 101"])
    category: str = Field(min_length=1, description="The course category.", examples=["programming"])
    difficulty: Difficulty = Field(description="The course's level.", examples=["beginner"])


class CourseDetailsChanged(CatalogEvent):
    """An instructor changed a course's title, category or level; consumers relabel it."""

    instructor_id: UUID = Field(description="The instructor who owns the course.")
    title: str = Field(min_length=1, description="The course title.", examples=["Python 101"])
    category: str = Field(min_length=1, description="The course category.", examples=["programming"])
    difficulty: Difficulty = Field(description="The course's level.", examples=["beginner"])


class CourseStructureChanged(CatalogEvent):
    """A course's outline changed; the event holds all of it and consumers replace their copy."""

    sections: list[SectionOutline] = Field(description="The course's sections, in order.")
    quizzes: list[QuizOutline] = Field(default_factory=list, description="Every quiz of the course.")

    @model_validator(mode="after")
    def _consistent_outline(self) -> Self:
        lesson_ids = [lesson.lesson_id for section in self.sections for lesson in section.lessons]
        if len(lesson_ids) != len(set(lesson_ids)):
            raise ValueError("a lesson appears more than once in the outline")
        orphans = {quiz.lesson_id for quiz in self.quizzes} - set(lesson_ids)
        if orphans:
            missing = ", ".join(sorted(map(str, orphans)))
            raise ValueError(f"quizzes refer to lessons not in the outline: {missing}")
        return self


class LessonContentChanged(CatalogEvent):
    """A lesson's text was written or edited; the chat assistant answers from it."""

    lesson_id: UUID = Field(description="The lesson whose content changed.")
    title: str = Field(min_length=1, description="The lesson's title.", examples=["Your first loop"])
    text: str = Field(
        description="The lesson's full text (article body or video transcript), as Markdown.",
        examples=["A `for` loop repeats a block once for every item of a sequence..."],
    )


EVENTS: tuple[type[DomainEvent], ...] = (
    CourseCreated,
    CoursePublished,
    CourseArchived,
    CourseDetailsChanged,
    CourseStructureChanged,
    LessonContentChanged,
)
"""The events this context publishes, in catalog order."""

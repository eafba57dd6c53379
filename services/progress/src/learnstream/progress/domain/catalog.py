"""Courses: an instructor's outline of sections, lessons and quizzes, and its life cycle.

A course is state-stored: its row holds the whole definition, including each quiz's
answer key, which must never go on the bus. Every change also appends the catalog
events consumers need (summary, public outline, lesson text) to the course's stream
in the same transaction, and those are what the rest of the platform sees.

Instructors send the whole outline each time (create, or replace). Items they send
with an ``id`` keep it, so learners' progress on a lesson survives an edit; items
without one are new and get fresh ids.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal
from uuid import UUID, uuid4

from learnstream.events import DomainEvent
from learnstream.events.catalog import (
    CourseArchived,
    CourseCreated,
    CourseDetailsChanged,
    CoursePublished,
    CourseStructureChanged,
    LessonContentChanged,
    LessonOutline,
    QuizOutline,
    SectionOutline,
)
from learnstream.progress.domain.errors import Conflict, FieldError, InvalidInput

ContentType = Literal["video", "article", "quiz"]
Difficulty = Literal["beginner", "intermediate", "advanced"]
CourseStatus = Literal["draft", "published", "archived"]


# --- what an instructor sends -------------------------------------------------------------


@dataclass(frozen=True)
class QuestionDraft:
    text: str
    options: tuple[str, ...]
    correct_index: int
    id: UUID | None = None


@dataclass(frozen=True)
class QuizDraft:
    passing_score: int
    questions: tuple[QuestionDraft, ...]
    max_attempts: int | None = None
    id: UUID | None = None


@dataclass(frozen=True)
class LessonDraft:
    title: str
    content_type: ContentType
    duration_seconds: int
    body: str | None = None
    quiz: QuizDraft | None = None
    order: int | None = None
    id: UUID | None = None


@dataclass(frozen=True)
class SectionDraft:
    title: str
    lessons: tuple[LessonDraft, ...]
    order: int | None = None
    id: UUID | None = None


@dataclass(frozen=True)
class CourseDraft:
    """A course as an instructor writes it: details and the full outline."""

    title: str
    description: str
    category: str
    difficulty: Difficulty
    sections: tuple[SectionDraft, ...]


# --- the course -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Question:
    question_id: UUID
    text: str
    options: tuple[str, ...]
    correct_index: int


@dataclass(frozen=True)
class Quiz:
    quiz_id: UUID
    lesson_id: UUID
    passing_score: int
    max_attempts: int | None
    questions: tuple[Question, ...]


@dataclass(frozen=True)
class Lesson:
    lesson_id: UUID
    section_id: UUID
    title: str
    content_type: ContentType
    duration_seconds: int
    body: str | None
    quiz: Quiz | None


@dataclass(frozen=True)
class Section:
    section_id: UUID
    title: str
    lessons: tuple[Lesson, ...]


@dataclass(frozen=True)
class Course:
    """A course with its outline; ``version`` is its stream's version in the event store."""

    course_id: UUID
    instructor_id: UUID
    title: str
    description: str
    category: str
    difficulty: Difficulty
    status: CourseStatus
    sections: tuple[Section, ...]
    created_at: datetime
    version: int = 0
    published_at: datetime | None = None
    archived_at: datetime | None = None
    _lessons: dict[UUID, Lesson] = field(default_factory=dict, repr=False, compare=False)
    _quizzes: dict[UUID, Quiz] = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        for lesson in self.lessons():
            self._lessons[lesson.lesson_id] = lesson
            if lesson.quiz is not None:
                self._quizzes[lesson.quiz.quiz_id] = lesson.quiz

    def lessons(self) -> Iterator[Lesson]:
        """Every lesson, in course order."""
        for section in self.sections:
            yield from section.lessons

    @property
    def lesson_ids(self) -> frozenset[UUID]:
        return frozenset(self._lessons)

    @property
    def lesson_count(self) -> int:
        return len(self._lessons)

    @property
    def total_duration_seconds(self) -> int:
        return sum(lesson.duration_seconds for lesson in self._lessons.values())

    def lesson(self, lesson_id: UUID) -> Lesson | None:
        return self._lessons.get(lesson_id)

    def quiz(self, quiz_id: UUID) -> Quiz | None:
        return self._quizzes.get(quiz_id)

    def quizzes(self) -> list[Quiz]:
        return list(self._quizzes.values())

    def with_changes(self, **changes: object) -> Course:
        return dataclasses.replace(self, _lessons={}, _quizzes={}, **changes)  # type: ignore[arg-type]


# --- decisions ---------------------------------------------------------------------------------


def create_course(
    draft: CourseDraft, *, instructor_id: UUID, at: datetime, course_id: UUID | None = None
) -> tuple[Course, list[DomainEvent]]:
    """A new draft course from ``draft``, with the events announcing it."""
    course_id = course_id or uuid4()
    sections = _build_outline(draft, existing=None)
    course = Course(
        course_id=course_id,
        instructor_id=instructor_id,
        title=draft.title.strip(),
        description=draft.description.strip(),
        category=draft.category.strip(),
        difficulty=draft.difficulty,
        status="draft",
        sections=sections,
        created_at=at,
    )
    events: list[DomainEvent] = [
        CourseCreated(
            course_id=course_id,
            instructor_id=instructor_id,
            title=course.title,
            category=course.category,
            difficulty=course.difficulty,
            occurred_at=at,
            actor_id=instructor_id,
        ),
        structure_event(course, at=at, actor_id=instructor_id),
    ]
    events += [
        _content_event(course, lesson, at=at, actor_id=instructor_id)
        for lesson in course.lessons()
        if lesson.body
    ]
    return course, events


def replace_outline(
    course: Course, draft: CourseDraft, *, actor_id: UUID, at: datetime
) -> tuple[Course, list[DomainEvent]]:
    """``course`` with the details and outline of ``draft``; events only for what changed."""
    sections = _build_outline(draft, existing=course)
    updated = course.with_changes(
        title=draft.title.strip(),
        description=draft.description.strip(),
        category=draft.category.strip(),
        difficulty=draft.difficulty,
        sections=sections,
    )
    events: list[DomainEvent] = []
    if _summary(updated) != _summary(course):
        events.append(CourseDetailsChanged(**_summary(updated), occurred_at=at, actor_id=actor_id))
    if _public_outline(updated) != _public_outline(course):
        events.append(structure_event(updated, at=at, actor_id=actor_id))
    for lesson in updated.lessons():
        before = course.lesson(lesson.lesson_id)
        old_text = (before.title, before.body or "") if before else ("", "")
        if (lesson.title, lesson.body or "") != old_text and (lesson.body or before is not None):
            events.append(_content_event(updated, lesson, at=at, actor_id=actor_id))
    return updated, events


def publish(course: Course, *, actor_id: UUID, at: datetime) -> tuple[Course, list[DomainEvent]]:
    """Open the course for enrollment; publishing a published course changes nothing."""
    if course.status == "published":
        return course, []
    updated = course.with_changes(status="published", published_at=at, archived_at=None)
    return updated, [CoursePublished(**_summary(updated), occurred_at=at, actor_id=actor_id)]


def archive(course: Course, *, actor_id: UUID, at: datetime) -> tuple[Course, list[DomainEvent]]:
    """Close the course to new learners; enrolled learners keep their access and history."""
    if course.status == "archived":
        return course, []
    updated = course.with_changes(status="archived", archived_at=at)
    return updated, [CourseArchived(**_summary(updated), occurred_at=at, actor_id=actor_id)]


def ensure_enrollable(course: Course) -> None:
    if course.status == "archived":
        raise Conflict(f"course {course.course_id} is archived and closed to new enrollments")


def structure_event(course: Course, *, at: datetime, actor_id: UUID | None) -> CourseStructureChanged:
    sections, quizzes = _public_outline(course)
    return CourseStructureChanged(
        course_id=course.course_id, sections=sections, quizzes=quizzes, occurred_at=at, actor_id=actor_id
    )


def _summary(course: Course) -> dict[str, object]:
    return {
        "course_id": course.course_id,
        "instructor_id": course.instructor_id,
        "title": course.title,
        "category": course.category,
        "difficulty": course.difficulty,
    }


def _content_event(course: Course, lesson: Lesson, *, at: datetime, actor_id: UUID) -> LessonContentChanged:
    return LessonContentChanged(
        course_id=course.course_id,
        lesson_id=lesson.lesson_id,
        title=lesson.title,
        text=lesson.body or "",
        occurred_at=at,
        actor_id=actor_id,
    )


def _public_outline(course: Course) -> tuple[list[SectionOutline], list[QuizOutline]]:
    """The outline as consumers see it: no lesson text, no answer key."""
    sections = [
        SectionOutline(
            section_id=section.section_id,
            title=section.title,
            order=s_index,
            lessons=[
                LessonOutline(
                    lesson_id=lesson.lesson_id,
                    title=lesson.title,
                    order=l_index,
                    content_type=lesson.content_type,
                    duration_seconds=lesson.duration_seconds,
                )
                for l_index, lesson in enumerate(section.lessons)
            ],
        )
        for s_index, section in enumerate(course.sections)
    ]
    quizzes = [
        QuizOutline(
            quiz_id=quiz.quiz_id,
            lesson_id=quiz.lesson_id,
            question_ids=[q.question_id for q in quiz.questions],
            question_count=len(quiz.questions),
            passing_score=quiz.passing_score,
        )
        for quiz in course.quizzes()
    ]
    return sections, quizzes


# --- validation and id assignment --------------------------------------------------------------


class _Ids:
    """Hands out ids: the client's where it names an existing item of the right kind, fresh otherwise."""

    def __init__(self, existing: Course | None, errors: list[FieldError]) -> None:
        self.errors = errors
        self.seen: set[UUID] = set()
        self.sections: set[UUID] = set()
        self.lessons: set[UUID] = set()
        self.quizzes: set[UUID] = set()
        self.questions: set[UUID] = set()
        if existing is not None:
            for section in existing.sections:
                self.sections.add(section.section_id)
            for lesson in existing.lessons():
                self.lessons.add(lesson.lesson_id)
                if lesson.quiz is not None:
                    self.quizzes.add(lesson.quiz.quiz_id)
                    self.questions.update(q.question_id for q in lesson.quiz.questions)

    def take(self, given: UUID | None, known: set[UUID], kind: str, path: str) -> UUID:
        if given is None:
            return uuid4()
        if given in self.seen:
            self.errors.append(FieldError(f"{path}.id", f"{kind} id {given} appears more than once"))
            return uuid4()
        if given not in known:
            self.errors.append(
                FieldError(f"{path}.id", f"no {kind} {given} in this course; leave id out for a new {kind}")
            )
            return uuid4()
        self.seen.add(given)
        return given


def _blank(value: str) -> bool:
    return not value.strip()


def _in_order(items: Sequence[_Ordered], path: str, errors: list[FieldError]) -> list[tuple[int, _Ordered]]:
    """Items with their index in the request, sorted by their explicit ``order`` if any was given."""
    indexed = list(enumerate(items))
    given = [(index, item.order) for index, item in indexed if item.order is not None]
    if not given:
        return indexed
    if len(given) != len(indexed):
        errors.append(FieldError(path, "give an order to every item or to none"))
        return indexed
    first_at: dict[int, int] = {}
    for index, order in given:
        if order in first_at:
            errors.append(
                FieldError(
                    f"{path}[{index}].order", f"order {order} is already used by {path}[{first_at[order]}]"
                )
            )
        else:
            first_at[order] = index
    return sorted(indexed, key=lambda pair: (pair[1].order or 0, pair[0]))


_Ordered = SectionDraft | LessonDraft


def _build_outline(draft: CourseDraft, existing: Course | None) -> tuple[Section, ...]:
    """The outline of ``draft`` with ids assigned; raises InvalidInput listing every problem."""
    errors: list[FieldError] = []
    ids = _Ids(existing, errors)
    for name in ("title", "category"):
        if _blank(getattr(draft, name)):
            errors.append(FieldError(name, f"{name} must not be empty"))
    if not draft.sections:
        errors.append(FieldError("sections", "a course needs at least one section with a lesson"))
    sections: list[Section] = []
    for s_index, section_draft in _in_order(draft.sections, "sections", errors):
        path = f"sections[{s_index}]"
        assert isinstance(section_draft, SectionDraft)
        section_id = ids.take(section_draft.id, ids.sections, "section", path)
        if _blank(section_draft.title):
            errors.append(FieldError(f"{path}.title", "title must not be empty"))
        if not section_draft.lessons:
            errors.append(FieldError(f"{path}.lessons", "a section needs at least one lesson"))
        lessons = []
        for l_index, lesson_draft in _in_order(section_draft.lessons, f"{path}.lessons", errors):
            assert isinstance(lesson_draft, LessonDraft)
            lessons.append(_build_lesson(lesson_draft, section_id, f"{path}.lessons[{l_index}]", ids))
        sections.append(Section(section_id, section_draft.title.strip(), tuple(lessons)))
    if errors:
        raise InvalidInput(errors)
    return tuple(sections)


def _build_lesson(draft: LessonDraft, section_id: UUID, path: str, ids: _Ids) -> Lesson:
    errors = ids.errors
    lesson_id = ids.take(draft.id, ids.lessons, "lesson", path)
    if _blank(draft.title):
        errors.append(FieldError(f"{path}.title", "title must not be empty"))
    if draft.duration_seconds < 0:
        errors.append(FieldError(f"{path}.durationSeconds", "duration must not be negative"))
    if draft.content_type == "video" and draft.duration_seconds <= 0:
        errors.append(FieldError(f"{path}.durationSeconds", "a video lesson needs its length in seconds"))
    quiz = None
    if draft.content_type == "quiz":
        if draft.quiz is None:
            errors.append(FieldError(f"{path}.quiz", "a quiz lesson needs its quiz"))
        else:
            quiz = _build_quiz(draft.quiz, lesson_id, f"{path}.quiz", ids)
    elif draft.quiz is not None:
        errors.append(
            FieldError(f"{path}.quiz", f"only quiz lessons have a quiz, this one is {draft.content_type}")
        )
    body = draft.body.strip() if draft.body else None
    return Lesson(
        lesson_id, section_id, draft.title.strip(), draft.content_type, draft.duration_seconds, body, quiz
    )


def _build_quiz(draft: QuizDraft, lesson_id: UUID, path: str, ids: _Ids) -> Quiz:
    errors = ids.errors
    quiz_id = ids.take(draft.id, ids.quizzes, "quiz", path)
    if not 0 <= draft.passing_score <= 100:
        errors.append(FieldError(f"{path}.passingScore", "the pass mark is a percentage from 0 to 100"))
    if draft.max_attempts is not None and draft.max_attempts < 1:
        errors.append(FieldError(f"{path}.maxAttempts", "allow at least one attempt, or leave it out"))
    if not draft.questions:
        errors.append(FieldError(f"{path}.questions", "a quiz needs at least one question"))
    questions = []
    for q_index, question in enumerate(draft.questions):
        q_path = f"{path}.questions[{q_index}]"
        question_id = ids.take(question.id, ids.questions, "question", q_path)
        if _blank(question.text):
            errors.append(FieldError(f"{q_path}.text", "the question text must not be empty"))
        if len(question.options) < 2:
            errors.append(FieldError(f"{q_path}.options", "a question needs at least two options"))
        for o_index, option in enumerate(question.options):
            if _blank(option):
                errors.append(FieldError(f"{q_path}.options[{o_index}]", "an option must not be empty"))
        if not 0 <= question.correct_index < len(question.options):
            errors.append(
                FieldError(
                    f"{q_path}.correctIndex",
                    f"correctIndex {question.correct_index} is out of range for "
                    f"{len(question.options)} options (0 to {len(question.options) - 1})",
                )
            )
        questions.append(
            Question(question_id, question.text.strip(), question.options, question.correct_index)
        )
    return Quiz(quiz_id, lesson_id, draft.passing_score, draft.max_attempts, tuple(questions))

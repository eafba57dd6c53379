"""The course repository: courses as rows holding their whole definition as JSON.

Tracking reads a course's outline on every report, so parsed courses are cached in
the process by ``(course id, version)``; a version check (one indexed lookup) keeps
the cache honest when another replica edits the course.
"""

from __future__ import annotations

import json
from collections import OrderedDict
from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from learnstream.progress.domain.catalog import Course, Lesson, Question, Quiz, Section


def course_definition(course: Course) -> dict[str, Any]:
    """The JSON kept in ``courses.definition``."""
    return {
        "description": course.description,
        "sections": [
            {
                "id": str(section.section_id),
                "title": section.title,
                "lessons": [_lesson_json(lesson) for lesson in section.lessons],
            }
            for section in course.sections
        ],
    }


def _lesson_json(lesson: Lesson) -> dict[str, Any]:
    quiz = lesson.quiz
    return {
        "id": str(lesson.lesson_id),
        "title": lesson.title,
        "contentType": lesson.content_type,
        "durationSeconds": lesson.duration_seconds,
        "body": lesson.body,
        "quiz": None
        if quiz is None
        else {
            "id": str(quiz.quiz_id),
            "passingScore": quiz.passing_score,
            "maxAttempts": quiz.max_attempts,
            "questions": [
                {
                    "id": str(q.question_id),
                    "text": q.text,
                    "options": list(q.options),
                    "correctIndex": q.correct_index,
                }
                for q in quiz.questions
            ],
        },
    }


def _course_from_row(row: Any) -> Course:
    definition = row.definition if isinstance(row.definition, dict) else json.loads(row.definition)
    sections = []
    for section in definition["sections"]:
        section_id = UUID(section["id"])
        lessons = []
        for lesson in section["lessons"]:
            lesson_id = UUID(lesson["id"])
            quiz_json = lesson.get("quiz")
            quiz = None
            if quiz_json:
                quiz = Quiz(
                    quiz_id=UUID(quiz_json["id"]),
                    lesson_id=lesson_id,
                    passing_score=quiz_json["passingScore"],
                    max_attempts=quiz_json.get("maxAttempts"),
                    questions=tuple(
                        Question(UUID(q["id"]), q["text"], tuple(q["options"]), q["correctIndex"])
                        for q in quiz_json["questions"]
                    ),
                )
            lessons.append(
                Lesson(
                    lesson_id=lesson_id,
                    section_id=section_id,
                    title=lesson["title"],
                    content_type=lesson["contentType"],
                    duration_seconds=lesson["durationSeconds"],
                    body=lesson.get("body"),
                    quiz=quiz,
                )
            )
        sections.append(Section(section_id, section["title"], tuple(lessons)))
    return Course(
        course_id=row.course_id,
        instructor_id=row.instructor_id,
        title=row.title,
        description=definition.get("description", ""),
        category=row.category,
        difficulty=row.difficulty,
        status=row.status,
        sections=tuple(sections),
        created_at=row.created_at,
        version=row.version,
        published_at=row.published_at,
        archived_at=row.archived_at,
    )


_COLUMNS = (
    "course_id, instructor_id, title, category, difficulty, status, definition, version,"
    " created_at, published_at, archived_at"
)


class CourseRepository:
    """Loads and saves courses in the service's database."""

    def __init__(self, cache_size: int = 512) -> None:
        self._cache: OrderedDict[UUID, Course] = OrderedDict()
        self._cache_size = cache_size

    async def get(self, session: AsyncSession, course_id: UUID, *, for_update: bool = False) -> Course | None:
        """The course, or None; ``for_update`` locks its row until the transaction ends."""
        lock = " FOR UPDATE" if for_update else ""
        version = await session.scalar(
            text(f"SELECT version FROM courses WHERE course_id = :c{lock}"), {"c": course_id}
        )
        if version is None:
            return None
        cached = self._cache.get(course_id)
        if cached is not None and cached.version == version:
            self._cache.move_to_end(course_id)
            return cached
        row = (
            await session.execute(
                text(f"SELECT {_COLUMNS} FROM courses WHERE course_id = :c"), {"c": course_id}
            )
        ).one()
        course = _course_from_row(row)
        self._remember(course)
        return course

    async def get_many(self, session: AsyncSession, course_ids: list[UUID]) -> dict[UUID, Course]:
        rows = await session.execute(
            text(f"SELECT {_COLUMNS} FROM courses WHERE course_id = ANY(:ids)"), {"ids": course_ids}
        )
        return {row.course_id: _course_from_row(row) for row in rows}

    async def course_of_quiz(self, session: AsyncSession, quiz_id: UUID) -> UUID | None:
        result = await session.scalar(
            text("SELECT course_id FROM quiz_index WHERE quiz_id = :q"), {"q": quiz_id}
        )
        return result if result is None else UUID(str(result))

    async def save(self, session: AsyncSession, course: Course, *, at: datetime) -> None:
        """Insert or update the course row (and its quiz index) as ``course`` says."""
        await session.execute(
            text(
                "INSERT INTO courses (course_id, instructor_id, title, category, difficulty, status,"
                " definition, lesson_count, total_duration_seconds, version, created_at, updated_at,"
                " published_at, archived_at)"
                " VALUES (:course_id, :instructor_id, :title, :category, :difficulty, :status,"
                " CAST(:definition AS jsonb), :lesson_count, :duration, :version, :created_at, :at,"
                " :published_at, :archived_at)"
                " ON CONFLICT (course_id) DO UPDATE SET title = EXCLUDED.title,"
                " category = EXCLUDED.category, difficulty = EXCLUDED.difficulty,"
                " status = EXCLUDED.status, definition = EXCLUDED.definition,"
                " lesson_count = EXCLUDED.lesson_count,"
                " total_duration_seconds = EXCLUDED.total_duration_seconds,"
                " version = EXCLUDED.version, updated_at = EXCLUDED.updated_at,"
                " published_at = EXCLUDED.published_at, archived_at = EXCLUDED.archived_at"
            ),
            {
                "course_id": course.course_id,
                "instructor_id": course.instructor_id,
                "title": course.title,
                "category": course.category,
                "difficulty": course.difficulty,
                "status": course.status,
                "definition": json.dumps(course_definition(course)),
                "lesson_count": course.lesson_count,
                "duration": course.total_duration_seconds,
                "version": course.version,
                "created_at": course.created_at,
                "at": at,
                "published_at": course.published_at,
                "archived_at": course.archived_at,
            },
        )
        await session.execute(text("DELETE FROM quiz_index WHERE course_id = :c"), {"c": course.course_id})
        quiz_ids = [quiz.quiz_id for quiz in course.quizzes()]
        if quiz_ids:
            await session.execute(
                text("INSERT INTO quiz_index (quiz_id, course_id) SELECT unnest(CAST(:q AS uuid[])), :c"),
                {"q": quiz_ids, "c": course.course_id},
            )

    def _remember(self, course: Course) -> None:
        self._cache[course.course_id] = course
        self._cache.move_to_end(course.course_id)
        while len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)

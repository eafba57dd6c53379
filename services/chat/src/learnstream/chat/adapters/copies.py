"""What chat keeps of other contexts, from their events: courses and their lesson text
(catalog), who is enrolled where (progress) and each learner's time zone (identity).

Lesson text is cut into passages of about 700 characters at paragraph (else sentence)
boundaries; the assistant is given the passages that best match a question. Matching
uses the question's words as an OR query (``to_tsvector`` of the question, each lexeme
quoted), so nothing the learner types is read as query syntax.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import datetime
from uuid import UUID

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from learnstream.chat.domain.assistant import Passage

PASSAGE_CHARACTERS = 700


def passages_of(body: str, size: int = PASSAGE_CHARACTERS) -> list[str]:
    """``body`` cut at paragraph, then sentence, boundaries into pieces of about ``size``."""
    pieces: list[str] = []
    for paragraph in re.split(r"\n\s*\n", body):
        paragraph = paragraph.strip()
        if not paragraph:
            continue
        sentences = re.split(r"(?<=[.!?])\s+", paragraph) if len(paragraph) > size else [paragraph]
        for sentence in sentences:
            while len(sentence) > size:  # one over-long sentence: cut at a space
                cut = sentence.rfind(" ", 0, size)
                cut = cut if cut > size // 2 else size
                pieces.append(sentence[:cut].strip())
                sentence = sentence[cut:].strip()
            pieces.append(sentence)
    merged: list[str] = []
    for piece in pieces:  # small neighbours join up to ``size``
        if merged and len(merged[-1]) + len(piece) + 1 <= size:
            merged[-1] = f"{merged[-1]} {piece}"
        else:
            merged.append(piece)
    return [piece for piece in merged if piece]


class Copies:
    # -- catalog ------------------------------------------------------------------------------

    async def keep_course(
        self, session: AsyncSession, course_id: UUID, instructor_id: UUID, title: str, status: str | None
    ) -> None:
        """Keep the course's owner and title; ``status`` None leaves the status as it is."""
        await session.execute(
            text(
                "INSERT INTO chat_courses (course_id, instructor_id, title, status)"
                " VALUES (:c, :i, :t, coalesce(CAST(:s AS text), 'draft'))"
                " ON CONFLICT (course_id) DO UPDATE SET instructor_id = EXCLUDED.instructor_id,"
                " title = EXCLUDED.title, status = coalesce(CAST(:s AS text), chat_courses.status)"
            ),
            {"c": course_id, "i": instructor_id, "t": title, "s": status},
        )

    async def keep_lesson_text(
        self, session: AsyncSession, course_id: UUID, lesson_id: UUID, title: str, body: str
    ) -> int:
        await session.execute(text("DELETE FROM lesson_passages WHERE lesson_id = :l"), {"l": lesson_id})
        pieces = passages_of(body)
        if pieces:
            await session.execute(
                text(
                    "INSERT INTO lesson_passages (course_id, lesson_id, position, lesson_title, body)"
                    " SELECT :c, :l, p.position - 1, :t, p.body"
                    " FROM unnest(CAST(:bodies AS text[])) WITH ORDINALITY AS p(body, position)"
                ),
                {"c": course_id, "l": lesson_id, "t": title, "bodies": pieces},
            )
        return len(pieces)

    async def keep_outline(
        self, session: AsyncSession, course_id: UUID, lessons: Iterable[tuple[UUID, str]]
    ) -> None:
        """Drop the text of lessons no longer in the outline and follow renamed lessons."""
        current = dict(lessons)
        await session.execute(
            text("DELETE FROM lesson_passages WHERE course_id = :c AND NOT (lesson_id = ANY(:ids))"),
            {"c": course_id, "ids": list(current)},
        )
        for lesson_id, title in current.items():
            await session.execute(
                text(
                    "UPDATE lesson_passages SET lesson_title = :t WHERE lesson_id = :l AND lesson_title <> :t"
                ),
                {"t": title, "l": lesson_id},
            )

    async def course(self, session: AsyncSession, course_id: UUID) -> tuple[UUID, str, str] | None:
        """``(instructor_id, title, status)`` of a course chat knows."""
        row = (
            await session.execute(
                text("SELECT instructor_id, title, status FROM chat_courses WHERE course_id = :c"),
                {"c": course_id},
            )
        ).one_or_none()
        return (row.instructor_id, row.title, row.status) if row else None

    async def passages(
        self, session: AsyncSession, course_id: UUID, question: str, *, prefer_lesson: UUID | None, limit: int
    ) -> list[Passage]:
        """The course's passages that share the most words with ``question``, best first; those
        of ``prefer_lesson`` (where the learner is) count a little more."""
        rows = await session.execute(
            text(
                "WITH words AS (SELECT string_agg(quote_literal(lexeme), ' | ') AS q"
                "  FROM unnest(to_tsvector('english', chat_html_escaped(:question)))),"
                " query AS (SELECT to_tsquery('simple', q) AS q FROM words WHERE q IS NOT NULL)"
                " SELECT p.lesson_id, p.lesson_title, p.body FROM lesson_passages p, query"
                " WHERE p.course_id = :c AND p.search @@ query.q"
                " ORDER BY ts_rank(p.search, query.q)"
                " * CASE WHEN p.lesson_id = CAST(:lesson AS uuid) THEN 1.5 ELSE 1 END DESC,"
                " p.lesson_id, p.position LIMIT :n"
            ),
            {"question": question, "c": course_id, "lesson": prefer_lesson, "n": limit},
        )
        return [Passage(str(row.lesson_id), row.lesson_title, row.body) for row in rows]

    # -- enrollments ----------------------------------------------------------------------------

    async def keep_enrollment(
        self, session: AsyncSession, learner_id: UUID, course_id: UUID, active: bool, at: datetime
    ) -> None:
        """Keep whether the learner is enrolled, as the enrollment event of moment ``at`` says,
        unless a later one was kept already (events can arrive out of order: a replay, a
        re-drive); at the same moment the later arrival wins."""
        await session.execute(
            text(
                "INSERT INTO chat_enrollments (learner_id, course_id, active, changed_at)"
                " VALUES (:l, :c, :a, :at)"
                " ON CONFLICT (learner_id, course_id) DO UPDATE"
                " SET active = EXCLUDED.active, changed_at = EXCLUDED.changed_at"
                " WHERE chat_enrollments.changed_at IS NULL"
                " OR chat_enrollments.changed_at <= EXCLUDED.changed_at"
            ),
            {"l": learner_id, "c": course_id, "a": active, "at": at},
        )

    async def enrolled(self, session: AsyncSession, learner_id: UUID, course_id: UUID) -> bool:
        found = await session.scalar(
            text("SELECT active FROM chat_enrollments WHERE learner_id = :l AND course_id = :c"),
            {"l": learner_id, "c": course_id},
        )
        return bool(found)

    async def forget_learner(self, session: AsyncSession, learner_id: UUID) -> None:
        await session.execute(text("DELETE FROM chat_enrollments WHERE learner_id = :l"), {"l": learner_id})

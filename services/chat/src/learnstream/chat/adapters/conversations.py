"""Conversations in PostgreSQL: their event streams and the read models projected from them.

:func:`project` runs in the transaction that appends a conversation's events (an event
store projector), so ``chat_sessions`` and ``chat_messages`` are always what the streams
say. A deleted conversation's rows go, and so do its earlier events: only the
``ChatSessionDeleted`` tombstone stays, so a replay of the store cannot bring its text back.
Searches use PostgreSQL full text with ``plainto_tsquery``, which reads the input as
words only (no operators, quotes or prefixes), ranked by ``ts_rank``. Each conversation
keeps the words of all its messages in one position-less vector next to its title's, so
finding conversations reads one row each, not every message.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from learnstream.chat.domain.conversation import Conversation, stream_id, title_from
from learnstream.events import DomainEvent
from learnstream.events.chat import (
    AssistantReplied,
    AssistantReplyRated,
    ChatMessageSent,
    ChatSessionDeleted,
    ChatSessionRenamed,
    ChatSessionStarted,
)
from learnstream.runtime.eventstore import EventStore, StoredEvent

_SESSION_COLUMNS = (
    "session_id, course_id, lesson_id, title, message_count, last_message_at, created_at, last_activity_at"
)
_MESSAGE_COLUMNS = "message_id, session_id, role, content, created_at, reply_to, answered, model, helpful"
_TIME_ZONE = "(SELECT timezone FROM learner_time_zones WHERE learner_id = :l) AS timezone"
_QUERY = "plainto_tsquery('english', :q)"
"""Written out where it is used, not in a CTE: the planner then sees the words and picks
the GIN index for a rare word and the newest-first index for a common one."""
SEARCH_CANDIDATES = 200
"""How many of the newest matches a search ranks: every match of a rare word, and a bounded
cost for a common one (ranking all of them is what made a search of 10,000 conversations
slow: ``ts_rank`` for every match, then a sort)."""


def _prefixed(alias: str, columns: str) -> str:
    return ", ".join(f"{alias}.{column.strip()}" for column in columns.split(","))


async def project(session: AsyncSession, stored: StoredEvent) -> None:
    """Keep the read models of the conversation ``stored`` belongs to."""
    event = stored.event
    version = stored.stream_version
    if isinstance(event, ChatSessionStarted):
        await session.execute(
            text(
                "INSERT INTO chat_sessions (session_id, learner_id, course_id, lesson_id, created_at,"
                " last_activity_at, version) VALUES (:s, :l, :c, :lesson, :at, :at, :v)"
            ),
            {
                "s": event.session_id,
                "l": event.learner_id,
                "c": event.course_id,
                "lesson": event.lesson_id,
                "at": event.occurred_at,
                "v": version,
            },
        )
    elif isinstance(event, ChatMessageSent | AssistantReplied):
        question = isinstance(event, ChatMessageSent)
        await session.execute(
            text(
                "INSERT INTO chat_messages (message_id, session_id, learner_id, role, content, created_at,"
                " reply_to, answered, model) VALUES (:m, :s, :l, :role, :content, :at, :reply_to,"
                " :answered, :model)"
            ),
            {
                "m": event.message_id,
                "s": event.session_id,
                "l": event.learner_id,
                "role": "user" if question else "assistant",
                "content": event.text,
                "at": event.occurred_at,
                "reply_to": None if question else event.reply_to_message_id,  # type: ignore[union-attr]
                "answered": None if question else event.answered,  # type: ignore[union-attr]
                "model": None if question else event.model,  # type: ignore[union-attr]
            },
        )
        await session.execute(
            text(
                "UPDATE chat_sessions SET message_count = message_count + 1, last_message_at = :at,"
                " last_activity_at = :at, version = :v,"
                " title = coalesce(title, CAST(:title AS text)),"
                " messages_search = strip(messages_search"
                " || to_tsvector('english', chat_html_escaped(CAST(:content AS text))))"
                " WHERE session_id = :s"
            ),
            {
                "s": event.session_id,
                "at": event.occurred_at,
                "v": version,
                "title": title_from(event.text) if question else None,
                "content": event.text,
            },
        )
    elif isinstance(event, AssistantReplyRated):
        await session.execute(
            text("UPDATE chat_messages SET helpful = :h WHERE message_id = :m"),
            {"h": event.helpful, "m": event.message_id},
        )
        await _bump(session, event.session_id, version)
    elif isinstance(event, ChatSessionRenamed):
        await session.execute(
            text(
                "UPDATE chat_sessions SET title = :t, title_is_custom = true, version = :v"
                " WHERE session_id = :s"
            ),
            {"t": event.title, "v": version, "s": event.session_id},
        )
    elif isinstance(event, ChatSessionDeleted):
        await session.execute(
            text("DELETE FROM chat_sessions WHERE session_id = :s"), {"s": event.session_id}
        )
        await session.execute(
            text("DELETE FROM event_store WHERE stream_id = :stream AND stream_version < :v"),
            {"stream": stream_id(event.session_id), "v": version},
        )


async def _bump(session: AsyncSession, session_id: UUID, version: int) -> None:
    await session.execute(
        text("UPDATE chat_sessions SET version = :v WHERE session_id = :s"), {"v": version, "s": session_id}
    )


class ConversationRepository:
    def __init__(self, store: EventStore) -> None:
        self._store = store

    async def load(self, session: AsyncSession, session_id: UUID, learner_id: UUID) -> Conversation | None:
        """The learner's conversation as the decisions need it; None when unknown, deleted or not theirs."""
        row = (
            await session.execute(
                text(
                    "SELECT session_id, learner_id, course_id, lesson_id, version, last_activity_at"
                    " FROM chat_sessions"
                    " WHERE session_id = :s AND learner_id = :l"
                ),
                {"s": session_id, "l": learner_id},
            )
        ).one_or_none()
        if row is None:
            return None
        replies = await session.execute(
            text(
                "SELECT message_id, helpful FROM chat_messages WHERE session_id = :s AND role = 'assistant'"
            ),
            {"s": session_id},
        )
        conversation = Conversation(
            row.session_id, row.learner_id, row.course_id, row.lesson_id, row.version, row.last_activity_at
        )
        for message_id, helpful in replies:
            conversation.assistant_messages.add(message_id)
            if helpful is not None:
                conversation.ratings[message_id] = helpful
        return conversation

    async def save(self, session: AsyncSession, conversation: Conversation) -> list[StoredEvent]:
        """Append what the conversation recorded (the projection runs in the same transaction)."""
        events: list[DomainEvent] = list(conversation.pending)
        stored = await self._store.append(
            session, stream_id(conversation.session_id), conversation.version, events
        )
        conversation.version += len(events)
        conversation.pending.clear()
        return stored

    async def session_row(self, session: AsyncSession, session_id: UUID) -> dict[str, Any]:
        row = (
            await session.execute(
                text(f"SELECT {_SESSION_COLUMNS} FROM chat_sessions WHERE session_id = :s"), {"s": session_id}
            )
        ).one()
        return dict(row._mapping)

    async def list_sessions(
        self, session: AsyncSession, learner_id: UUID, *, course_id: UUID | None, limit: int, offset: int
    ) -> tuple[list[dict[str, Any]], bool]:
        """The learner's conversations, newest activity first, each with the learner's time
        zone (one round trip for the sidebar); and whether more follow."""
        where = "learner_id = :l" + (" AND course_id = :c" if course_id else "")
        # OFFSET walks the index alone (a select list is computed for the rows it skips too);
        # the columns and the time zone are fetched for the page's rows only
        rows = await session.execute(
            text(
                f"SELECT {_prefixed('s', _SESSION_COLUMNS)}, {_TIME_ZONE} FROM ("
                f"  SELECT session_id, last_activity_at FROM chat_sessions WHERE {where}"
                "  ORDER BY last_activity_at DESC, session_id LIMIT :n OFFSET :o"
                ") page JOIN chat_sessions s USING (session_id)"
                " ORDER BY page.last_activity_at DESC, page.session_id"
            ),
            {"l": learner_id, "c": course_id, "n": limit + 1, "o": offset},
        )
        found = [dict(row._mapping) for row in rows]
        return found[:limit], len(found) > limit

    async def search_sessions(
        self,
        session: AsyncSession,
        learner_id: UUID,
        query: str,
        *,
        course_id: UUID | None,
        limit: int,
        offset: int = 0,
    ) -> list[dict[str, Any]]:
        """Conversations whose title or messages match ``query``, best match first (a title
        match counts double), among the newest :data:`SEARCH_CANDIDATES` that match; each
        with the learner's time zone. Ranked as they are found (only the candidates are
        ranked); the columns and the time zone are fetched for the page alone."""
        course = " AND course_id = :c" if course_id else ""
        rows = await session.execute(
            text(
                f"SELECT {_prefixed('s', _SESSION_COLUMNS)}, {_TIME_ZONE} FROM ("
                "  SELECT session_id, rank, last_activity_at FROM ("
                "    SELECT session_id, last_activity_at,"
                f"    ts_rank(title_search, {_QUERY}) * 2 + ts_rank(messages_search, {_QUERY}) AS rank"
                f"    FROM chat_sessions WHERE learner_id = :l{course}"
                f"    AND (title_search @@ {_QUERY} OR messages_search @@ {_QUERY})"
                "    ORDER BY last_activity_at DESC LIMIT :cap"
                "  ) candidates ORDER BY rank DESC, last_activity_at DESC, session_id LIMIT :n OFFSET :o"
                ") best JOIN chat_sessions s USING (session_id)"
                " ORDER BY best.rank DESC, best.last_activity_at DESC, best.session_id"
            ),
            {"q": query, "l": learner_id, "c": course_id, "n": limit, "o": offset, "cap": SEARCH_CANDIDATES},
        )
        return [dict(row._mapping) for row in rows]

    async def search_messages(
        self, session: AsyncSession, learner_id: UUID, query: str, *, course_id: UUID | None, limit: int
    ) -> list[dict[str, Any]]:
        """Messages that match ``query``, best match first among the newest
        :data:`SEARCH_CANDIDATES` that match, each with a highlighted excerpt (cut only for
        the ones returned: ``ts_headline`` is the costly part)."""
        course = (
            " AND session_id IN (SELECT session_id FROM chat_sessions WHERE course_id = :c)"
            if course_id
            else ""
        )
        rows = await session.execute(
            text(
                f"SELECT {_prefixed('m', _MESSAGE_COLUMNS)},"
                f" ts_headline('english', chat_html_escaped(m.content), {_QUERY},"
                " 'StartSel=<mark>, StopSel=</mark>, MaxWords=24, MinWords=8') AS excerpt FROM ("
                "  SELECT message_id, rank, created_at FROM ("
                f"    SELECT message_id, created_at, ts_rank(search, {_QUERY}) AS rank FROM chat_messages"
                f"    WHERE learner_id = :l{course} AND search @@ {_QUERY}"
                "    ORDER BY created_at DESC LIMIT :cap"
                "  ) candidates ORDER BY rank DESC, created_at DESC LIMIT :n"
                ") best JOIN chat_messages m USING (message_id)"
                " ORDER BY best.rank DESC, best.created_at DESC"
            ),
            {"q": query, "l": learner_id, "c": course_id, "n": limit, "cap": SEARCH_CANDIDATES},
        )
        return [dict(row._mapping) for row in rows]

    async def session_of_message(
        self, session: AsyncSession, message_id: UUID, learner_id: UUID
    ) -> UUID | None:
        found = await session.scalar(
            text("SELECT session_id FROM chat_messages WHERE message_id = :m AND learner_id = :l"),
            {"m": message_id, "l": learner_id},
        )
        return found if isinstance(found, UUID) else None

    async def messages(
        self, session: AsyncSession, session_id: UUID, *, limit: int, offset: int
    ) -> tuple[list[dict[str, Any]], bool]:
        rows = await session.execute(
            text(
                f"SELECT {_MESSAGE_COLUMNS} FROM chat_messages WHERE session_id = :s"
                " ORDER BY created_at, role DESC, message_id LIMIT :n OFFSET :o"
            ),
            {"s": session_id, "n": limit + 1, "o": offset},
        )
        found = [dict(row._mapping) for row in rows]
        return found[:limit], len(found) > limit

    async def history(self, session: AsyncSession, session_id: UUID, *, limit: int) -> list[dict[str, Any]]:
        """The conversation's latest ``limit`` messages, oldest first (the prompt's context)."""
        rows = await session.execute(
            text(
                "SELECT role, content FROM (SELECT role, content, created_at, message_id FROM chat_messages"
                " WHERE session_id = :s ORDER BY created_at DESC, message_id DESC LIMIT :n) latest"
                " ORDER BY created_at, message_id"
            ),
            {"s": session_id, "n": limit},
        )
        return [dict(row._mapping) for row in rows]

    async def latest_questions(
        self, session: AsyncSession, learner_id: UUID, since: datetime, limit: int
    ) -> list[datetime]:
        """When the learner asked their latest ``limit`` questions since ``since``, newest
        first (the send rate; an index range scan that stops at ``limit``)."""
        return list(
            await session.scalars(
                text(
                    "SELECT created_at FROM chat_messages WHERE learner_id = :l AND role = 'user'"
                    " AND created_at >= :since ORDER BY created_at DESC LIMIT :n"
                ),
                {"l": learner_id, "since": since, "n": limit},
            )
        )

    async def erase_learner(self, session: AsyncSession, learner_id: UUID) -> int:
        """Delete the learner's conversations, messages and their events; how many conversations."""
        ids = list(
            await session.scalars(
                text("SELECT session_id FROM chat_sessions WHERE learner_id = :l"), {"l": learner_id}
            )
        )
        # the events go too (deleted conversations left only tombstones), or a replay of
        # the store after a broker loss would publish the learner's questions again
        await session.execute(
            text("DELETE FROM event_store WHERE stream_id LIKE 'chat-%' AND data->>'learner_id' = :l"),
            {"l": str(learner_id)},
        )
        await session.execute(text("DELETE FROM chat_sessions WHERE learner_id = :l"), {"l": learner_id})
        return len(ids)

    async def export(self, session: AsyncSession, learner_id: UUID) -> list[dict[str, Any]]:
        """Every conversation of the learner with all its messages (their right of access)."""
        sessions = await session.execute(
            text(f"SELECT {_SESSION_COLUMNS} FROM chat_sessions WHERE learner_id = :l ORDER BY created_at"),
            {"l": learner_id},
        )
        out = [dict(row._mapping) for row in sessions]
        messages = await session.execute(
            text(
                f"SELECT {_MESSAGE_COLUMNS} FROM chat_messages WHERE learner_id = :l"
                " ORDER BY created_at, role DESC"
            ),
            {"l": learner_id},
        )
        by_session: dict[UUID, list[dict[str, Any]]] = {}
        for row in messages:
            by_session.setdefault(row.session_id, []).append(dict(row._mapping))
        for item in out:
            item["messages"] = by_session.get(item["session_id"], [])
        return out

"""A learner's conversation with a course's assistant: the rules, with no I/O.

A conversation is an event stream (``chat-<session id>``); :class:`Conversation` is the
state the decisions need (who owns it, its version, which messages are the assistant's),
and each decision returns the events to append. Titles, the sidebar's date groups and the
message rules live here too.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Literal
from uuid import UUID, uuid4
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from learnstream.events import DomainEvent
from learnstream.events.chat import (
    AssistantReplied,
    AssistantReplyRated,
    ChatMessageSent,
    ChatSessionDeleted,
    ChatSessionRenamed,
    ChatSessionStarted,
)

MAX_MESSAGE_CHARACTERS = 4_000
MAX_TITLE_CHARACTERS = 120
TITLE_CHARACTERS = 50

Group = Literal["today", "yesterday", "last7Days", "older"]


class ChatError(Exception):
    """A request the chat rules refuse."""


class InvalidMessage(ChatError):
    def __init__(self, field_name: str, message: str) -> None:
        super().__init__(f"{field_name}: {message}")
        self.field = field_name
        self.message = message


class NotFound(ChatError):
    """Unknown, deleted or someone else's: answered alike so ids cannot be probed."""


def stream_id(session_id: UUID) -> str:
    return f"chat-{session_id}"


def title_from(question: str) -> str:
    """The first 50 characters of the first question (whitespace collapsed), "..." when longer."""
    text = " ".join(question.split())
    return text if len(text) <= TITLE_CHARACTERS else text[:TITLE_CHARACTERS].rstrip() + "..."


def control_character(text: str) -> str | None:
    """The first control character other than tab and line breaks (PostgreSQL refuses NUL in
    text, and none of them belongs in a chat message)."""
    return next((c for c in text if c not in "\t\n\r" and unicodedata.category(c) == "Cc"), None)


def checked_message(content: str) -> str:
    text = content.strip()
    if not text:
        raise InvalidMessage("content", "a message cannot be empty")
    if (control := control_character(text)) is not None:
        raise InvalidMessage(
            "content", f"a message cannot contain control characters (found U+{ord(control):04X})"
        )
    if len(text) > MAX_MESSAGE_CHARACTERS:
        raise InvalidMessage(
            "content", f"a message may have at most {MAX_MESSAGE_CHARACTERS} characters; this has {len(text)}"
        )
    return text


def checked_query(query: str, field_name: str) -> str:
    """Search words: any text, except control characters (PostgreSQL refuses NUL)."""
    if (control := control_character(query)) is not None:
        raise InvalidMessage(
            field_name, f"a search cannot contain control characters (found U+{ord(control):04X})"
        )
    return query


def checked_title(title: str) -> str:
    text = " ".join(title.split())
    if not text:
        raise InvalidMessage("title", "a title cannot be empty")
    if (control := control_character(text)) is not None:
        raise InvalidMessage(
            "title", f"a title cannot contain control characters (found U+{ord(control):04X})"
        )
    if len(text) > MAX_TITLE_CHARACTERS:
        raise InvalidMessage("title", f"a title may have at most {MAX_TITLE_CHARACTERS} characters")
    return text


def zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def group_of(moment: datetime, now: datetime, timezone: str) -> Group:
    """Where the history sidebar files a conversation last active at ``moment``, counted in
    the learner's local days."""
    local = zone(timezone)
    day: date = moment.astimezone(local).date()
    today = now.astimezone(local).date()
    if day >= today:
        return "today"
    if day == today - timedelta(days=1):
        return "yesterday"
    if day > today - timedelta(days=7):
        return "last7Days"
    return "older"


@dataclass
class Conversation:
    """What the decisions about one conversation need to know."""

    session_id: UUID
    learner_id: UUID
    course_id: UUID
    lesson_id: UUID | None
    version: int
    last_activity_at: datetime | None = None
    """The newest message (or the start): a backdated moment is never put before it."""
    assistant_messages: set[UUID] = field(default_factory=set)
    ratings: dict[UUID, bool] = field(default_factory=dict)
    pending: list[DomainEvent] = field(default_factory=list)

    @classmethod
    def start(
        cls, learner_id: UUID, course_id: UUID, lesson_id: UUID | None, *, at: datetime
    ) -> Conversation:
        conversation = cls(uuid4(), learner_id, course_id, lesson_id, version=0)
        conversation.pending.append(
            ChatSessionStarted(
                learner_id=learner_id,
                actor_id=learner_id,
                session_id=conversation.session_id,
                course_id=course_id,
                lesson_id=lesson_id,
                occurred_at=at,
            )
        )
        return conversation

    def ask(self, content: str, *, lesson_id: UUID | None, at: datetime) -> ChatMessageSent:
        event = ChatMessageSent(
            learner_id=self.learner_id,
            actor_id=self.learner_id,
            session_id=self.session_id,
            message_id=uuid4(),
            course_id=self.course_id,
            lesson_id=lesson_id or self.lesson_id,
            text=checked_message(content),
            occurred_at=at,
        )
        self.pending.append(event)
        return event

    def reply(
        self,
        question: ChatMessageSent,
        text: str,
        *,
        model: str,
        prompt_tokens: int,
        completion_tokens: int,
        latency_ms: int,
        answered: bool,
        at: datetime,
    ) -> AssistantReplied:
        event = AssistantReplied(
            learner_id=self.learner_id,
            session_id=self.session_id,
            message_id=uuid4(),
            reply_to_message_id=question.message_id,
            course_id=self.course_id,
            text=text,
            model=model,
            prompt_tokens=prompt_tokens,
            completion_tokens=completion_tokens,
            latency_ms=latency_ms,
            answered=answered,
            occurred_at=at,
        )
        self.pending.append(event)
        return event

    def rate(self, message_id: UUID, helpful: bool, *, at: datetime) -> None:
        """Rate one of the assistant's replies; rating it the same way again changes nothing."""
        if message_id not in self.assistant_messages:
            raise NotFound(f"message {message_id} not found")
        if self.ratings.get(message_id) == helpful:
            return
        self.ratings[message_id] = helpful
        self.pending.append(
            AssistantReplyRated(
                learner_id=self.learner_id,
                actor_id=self.learner_id,
                session_id=self.session_id,
                message_id=message_id,
                course_id=self.course_id,
                helpful=helpful,
                occurred_at=at,
            )
        )

    def rename(self, title: str, *, at: datetime) -> str:
        checked = checked_title(title)
        self.pending.append(
            ChatSessionRenamed(
                learner_id=self.learner_id,
                actor_id=self.learner_id,
                session_id=self.session_id,
                title=checked,
                occurred_at=at,
            )
        )
        return checked

    def delete(self, *, at: datetime) -> None:
        self.pending.append(
            ChatSessionDeleted(
                learner_id=self.learner_id,
                actor_id=self.learner_id,
                session_id=self.session_id,
                occurred_at=at,
            )
        )

"""Request and response bodies of the chat API (camelCase JSON, as the gateway's clients expect)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal
from uuid import UUID

from pydantic import AwareDatetime, Field

from learnstream.chat.domain.conversation import MAX_MESSAGE_CHARACTERS, MAX_TITLE_CHARACTERS
from learnstream.runtime.schemas import CamelModel


class SessionIn(CamelModel):
    course_id: UUID = Field(
        description="The course to ask about (enrolled learners, its instructor, admins)."
    )
    lesson_id: UUID | None = Field(default=None, description="The lesson the conversation starts from.")
    started_at: AwareDatetime | None = Field(
        default=None,
        description="Dev mode only (demo data): when the conversation started, at most 90 days ago.",
    )


class RenameIn(CamelModel):
    title: str = Field(max_length=1_000, examples=["Loop syntax help"], description="The new title.")


class MessageIn(CamelModel):
    content: str = Field(
        max_length=MAX_MESSAGE_CHARACTERS * 4,
        examples=["Why does range(5) stop at 4?"],
        description=f"The question; 1 to {MAX_MESSAGE_CHARACTERS} characters once trimmed.",
    )
    sent_at: AwareDatetime | None = Field(
        default=None,
        description="Dev mode only (demo data): when the question was asked, at most 90 days ago"
        " (never before the conversation's newest message).",
    )


class RatingIn(CamelModel):
    helpful: bool = Field(description="True for a thumbs up.")
    rated_at: AwareDatetime | None = Field(
        default=None, description="Dev mode only (demo data): when the reply was rated, at most 90 days ago."
    )


class SessionOut(CamelModel):
    id: UUID
    course_id: UUID
    lesson_id: UUID | None
    title: str = Field(
        description="The first 50 characters of the first question (… when longer), or the name the "
        f"learner gave it (up to {MAX_TITLE_CHARACTERS} characters); “New conversation” before any question."
    )
    message_count: int
    last_message_at: datetime | None
    created_at: datetime
    group: Literal["today", "yesterday", "last7Days", "older"] = Field(
        description="Where the history sidebar files it: by the last activity, in the learner's time zone."
    )


class SessionListOut(CamelModel):
    sessions: list[SessionOut]
    has_more: bool


class MessageOut(CamelModel):
    id: UUID | None
    session_id: UUID | None = None
    role: Literal["user", "assistant"]
    content: str
    created_at: datetime | None = None
    reply_to: UUID | None = None
    answered: bool | None = Field(
        default=None, description="Assistant replies: false when the assistant could not answer."
    )
    model: str | None = None
    helpful: bool | None = Field(default=None, description="The learner's rating of an assistant reply.")


class MessagesOut(CamelModel):
    session: SessionOut
    messages: list[MessageOut] = Field(description="Oldest first.")
    has_more: bool


class AskOut(CamelModel):
    question: MessageOut
    reply: MessageOut


class FoundMessageOut(MessageOut):
    excerpt: str = Field(description="Where it matched, the matching words in <mark>…</mark>.")


class SearchOut(CamelModel):
    sessions: list[SessionOut]
    messages: list[FoundMessageOut]


class RatingOut(CamelModel):
    message_id: UUID
    helpful: bool


class ConversationExportOut(SessionOut):
    messages: list[MessageOut]


class ExportOut(CamelModel):
    conversations: list[ConversationExportOut]

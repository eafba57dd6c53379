"""Events of the chat context, published by the chat service to ``learnstream.chat``.

They record a learner's conversations with a course's AI assistant: sessions, the
questions asked, the assistant's replies with their cost and latency, and ratings.
Analytics measures assistant usage from them, achievements counts questions
("Curious Mind"). All are keyed by the learner id.
"""

from __future__ import annotations

from typing import ClassVar
from uuid import UUID

from pydantic import Field

from learnstream.events.base import PII, DomainEvent


class ChatEvent(DomainEvent):
    """An event about one learner's assistant conversations, keyed by the learner id."""

    context: ClassVar[str] = "chat"
    key_field: ClassVar[str] = "learner_id"

    learner_id: UUID = Field(description="The learner the event is about.")


class ChatSessionStarted(ChatEvent):
    """A learner started a new conversation with a course's assistant."""

    session_id: UUID = Field(description="The new conversation.")
    course_id: UUID = Field(description="The course the conversation is about.")
    lesson_id: UUID | None = Field(default=None, description="The lesson it was started from, if any.")


class ChatMessageSent(ChatEvent):
    """A learner asked the assistant a question."""

    session_id: UUID = Field(description="The conversation.")
    message_id: UUID = Field(description="The learner's message.")
    course_id: UUID = Field(description="The course the conversation is about.")
    lesson_id: UUID | None = Field(
        default=None, description="The lesson the learner was on when asking, if any."
    )
    text: str = Field(
        min_length=1,
        description=(
            "The question as the learner wrote it; analytics derives topics from it."
            " Personal: sealed on the bus."
        ),
        json_schema_extra=PII,
        examples=["Why does my for loop skip the last item?"],
    )


class AssistantReplied(ChatEvent):
    """The assistant replied to a learner's question, or said it could not answer."""

    session_id: UUID = Field(description="The conversation.")
    message_id: UUID = Field(description="The assistant's message.")
    reply_to_message_id: UUID = Field(description="The learner's message it answers.")
    course_id: UUID = Field(description="The course the conversation is about.")
    text: str = Field(
        description=(
            "The reply as shown to the learner; chat-history exports include it."
            " Personal (it may quote the question): sealed on the bus."
        ),
        json_schema_extra=PII,
        examples=["`range(n)` stops before n, so use `range(n + 1)` to include it."],
    )
    model: str = Field(
        min_length=1,
        description="The language model that wrote the reply.",
        examples=["gpt-4o-mini"],
    )
    prompt_tokens: int = Field(ge=0, description="Tokens sent to the model.", examples=[1830])
    completion_tokens: int = Field(ge=0, description="Tokens the model produced.", examples=[212])
    latency_ms: int = Field(
        ge=0, description="Milliseconds from the question to the complete reply.", examples=[2140]
    )
    answered: bool = Field(
        description="False when the assistant could not answer from the course material.",
        examples=[True],
    )


class AssistantReplyRated(ChatEvent):
    """A learner rated one of the assistant's replies as helpful or not."""

    session_id: UUID = Field(description="The conversation.")
    message_id: UUID = Field(description="The assistant's message that was rated.")
    course_id: UUID = Field(description="The course the conversation is about.")
    helpful: bool = Field(description="True for thumbs up, false for thumbs down.", examples=[True])


class ChatSessionRenamed(ChatEvent):
    """A learner gave a conversation a new title."""

    session_id: UUID = Field(description="The conversation.")
    title: str = Field(
        min_length=1,
        description="The new title. Personal: sealed on the bus.",
        examples=["Loop syntax help"],
        json_schema_extra=PII,
    )


class ChatSessionDeleted(ChatEvent):
    """A learner deleted a conversation; consumers drop what they keep of it."""

    session_id: UUID = Field(description="The deleted conversation.")


class LearnerChatErased(ChatEvent):
    """The chat service erased a learner's conversations after an erasure request."""

    request_id: UUID = Field(description="The erasure request this confirms.")


EVENTS: tuple[type[DomainEvent], ...] = (
    ChatSessionStarted,
    ChatMessageSent,
    AssistantReplied,
    AssistantReplyRated,
    ChatSessionRenamed,
    ChatSessionDeleted,
    LearnerChatErased,
)
"""The events this context publishes, in catalog order."""

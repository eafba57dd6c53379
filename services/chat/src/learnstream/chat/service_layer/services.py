"""Use cases of the chat service: load, decide, save, in one transaction each.

Asking is two transactions with the assistant in between: the question is stored (and
``ChatMessageSent`` on its way) before the assistant is asked, so it is never lost; the
reply is generated in a task of its own, so a client that goes away does not stop it,
and stored when complete, or, when the assistant fails, an apology with
``answered: false``. The HTTP route streams the task's text as it comes, or waits for it.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, TypeVar
from uuid import UUID

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from learnstream.chat.adapters.conversations import ConversationRepository
from learnstream.chat.adapters.copies import Copies
from learnstream.chat.domain.assistant import Assistant, AssistantUnavailable, Reply, Turn, build_prompt
from learnstream.chat.domain.conversation import (
    ChatError,
    Conversation,
    InvalidMessage,
    NotFound,
    checked_message,
    group_of,
)
from learnstream.events.base import utc_now
from learnstream.events.chat import ChatMessageSent, LearnerChatErased
from learnstream.runtime.actors import Actor
from learnstream.runtime.eventstore import ConcurrencyError, EventStore
from learnstream.runtime.timezones import LearnerTimeZones

log = logging.getLogger(__name__)
T = TypeVar("T")

_RETRIES = 3
HISTORY_MESSAGES = 40
PASSAGES = 4
UNTITLED = "New conversation"


class TooManyMessages(ChatError):
    def __init__(self, limit: int, retry_after: int) -> None:
        super().__init__(f"one learner may send {limit} messages a minute; try again in {retry_after} s")
        self.retry_after = retry_after


@dataclass(frozen=True)
class Limits:
    messages_per_minute: int = 30
    prompt_token_budget: int = 3_000
    backdate_max_age: timedelta = timedelta(days=90)
    """How far back a dev-mode moment may go (demo data: weeks of conversations)."""
    clock_skew: timedelta = timedelta(minutes=5)


@dataclass
class PendingReply:
    """A question that was stored, and the assistant's reply on its way."""

    question: dict[str, Any]
    streamed: bool = True
    _queue: asyncio.Queue[tuple[str, Any]] = field(default_factory=asyncio.Queue)
    _task: asyncio.Task[dict[str, Any]] | None = None

    async def text(self, chunk: str) -> None:
        await self._queue.put(("delta", chunk))

    async def events(self) -> AsyncIterator[tuple[str, Any]]:
        """``("delta", text)`` as the reply is written, then ``("done", reply)``."""
        while True:
            kind, payload = await self._queue.get()
            yield kind, payload
            if kind == "done":
                return

    async def reply(self) -> dict[str, Any]:
        assert self._task is not None
        return await asyncio.shield(self._task)


class ChatService:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        store: EventStore,
        assistant: Assistant,
        *,
        limits: Limits | None = None,
        clock: Callable[[], datetime] = utc_now,
        reads: async_sessionmaker[AsyncSession] | None = None,
    ) -> None:
        self.sessions = sessions
        self.reads = reads or sessions
        """For the one-statement reads of the sidebar and search (no transaction needed)."""
        self._store = store
        self.assistant = assistant
        self.conversations = ConversationRepository(store)
        self.copies = Copies()
        self.time_zones = LearnerTimeZones()
        self.limits = limits or Limits()
        self.clock = clock
        """What time it is (tests move it to see the sidebar's groups change)."""
        self._replies: set[asyncio.Task[dict[str, Any]]] = set()

    def now(self) -> datetime:
        return self.clock()

    def _moment(self, given: datetime | None, field_name: str, *, after: datetime | None = None) -> datetime:
        """Now; or ``given``, a past moment the dev-mode routes accept for demo data (not in
        the future, not older than the backdating age), never before ``after`` (the
        conversation's newest activity, so its messages keep their order)."""
        now = self.now()
        if given is None:
            return now
        if given > now + self.limits.clock_skew:
            raise InvalidMessage(field_name, f"{given.isoformat()} is in the future")
        if given < now - self.limits.backdate_max_age:
            raise InvalidMessage(field_name, f"is more than {self.limits.backdate_max_age.days} days ago")
        moment = min(given, now)
        return moment if after is None else max(moment, after)

    async def _transaction(self, work: Callable[[AsyncSession], Awaitable[T]]) -> T:
        for attempt in range(1, _RETRIES + 1):
            try:
                async with self.sessions() as session, session.begin():
                    return await work(session)
            except (ConcurrencyError, IntegrityError):
                if attempt == _RETRIES:
                    raise
        raise AssertionError("unreachable")

    async def close(self, timeout: float = 10.0) -> None:
        """Let replies being written finish (their questions are stored already), then stop."""
        if self._replies:
            await asyncio.wait(self._replies, timeout=timeout)
        for task in self._replies:
            task.cancel()

    # -- conversations ---------------------------------------------------------------------------

    async def start(
        self, actor: Actor, course_id: UUID, lesson_id: UUID | None, *, at: datetime | None = None
    ) -> dict[str, Any]:
        """A new conversation about a course the caller learns (or teaches); ``at`` names a
        past start (dev mode's demo data)."""

        async def work(session: AsyncSession) -> dict[str, Any]:
            await self._may_talk_about(session, actor, course_id)
            started = self._moment(at, "startedAt")
            conversation = Conversation.start(actor.user_id, course_id, lesson_id, at=started)
            await self.conversations.save(session, conversation)
            return await self._session_view(session, actor, conversation.session_id)

        return await self._transaction(work)

    async def _may_talk_about(self, session: AsyncSession, actor: Actor, course_id: UUID) -> tuple[UUID, str]:
        course = await self.copies.course(session, course_id)
        if course is None:
            raise NotFound(f"course {course_id} not found")
        instructor, title, status = course
        if actor.owns(instructor):
            return instructor, title
        if status == "draft" or not await self.copies.enrolled(session, actor.user_id, course_id):
            raise NotFound(f"course {course_id} not found")
        return instructor, title

    async def _own(self, session: AsyncSession, actor: Actor, session_id: UUID) -> Conversation:
        conversation = await self.conversations.load(session, session_id, actor.user_id)
        if conversation is None:
            raise NotFound(f"conversation {session_id} not found")
        return conversation

    async def list_sessions(
        self, actor: Actor, *, course_id: UUID | None, query: str | None, limit: int, offset: int
    ) -> dict[str, Any]:
        async with self.reads() as session:
            if query and query.strip():
                rows = await self.conversations.search_sessions(
                    session, actor.user_id, query, course_id=course_id, limit=limit + 1, offset=offset
                )
                rows, more = rows[:limit], len(rows) > limit
            else:
                rows, more = await self.conversations.list_sessions(
                    session, actor.user_id, course_id=course_id, limit=limit, offset=offset
                )
        now = self.now()
        return {"sessions": [session_view(row, row["timezone"], now) for row in rows], "has_more": more}

    async def messages(self, actor: Actor, session_id: UUID, *, limit: int, offset: int) -> dict[str, Any]:
        async with self.sessions() as session:
            await self._own(session, actor, session_id)
            view = await self._session_view(session, actor, session_id)
            rows, more = await self.conversations.messages(session, session_id, limit=limit, offset=offset)
        return {"session": view, "messages": [message_view(row) for row in rows], "has_more": more}

    async def rename(self, actor: Actor, session_id: UUID, title: str) -> dict[str, Any]:
        async def work(session: AsyncSession) -> dict[str, Any]:
            conversation = await self._own(session, actor, session_id)
            conversation.rename(title, at=self.now())
            await self.conversations.save(session, conversation)
            return await self._session_view(session, actor, session_id)

        return await self._transaction(work)

    async def delete(self, actor: Actor, session_id: UUID) -> None:
        async def work(session: AsyncSession) -> None:
            conversation = await self._own(session, actor, session_id)
            conversation.delete(at=self.now())
            await self.conversations.save(session, conversation)

        await self._transaction(work)

    async def search(
        self, actor: Actor, query: str, *, course_id: UUID | None, limit: int, message_limit: int = 10
    ) -> dict[str, Any]:
        """Conversations and messages, each search on a connection of its own, in parallel
        (cutting the messages' excerpts is the costly part, about 0.3 ms a message)."""

        async def conversations() -> list[dict[str, Any]]:
            async with self.reads() as session:
                return await self.conversations.search_sessions(
                    session, actor.user_id, query, course_id=course_id, limit=limit, offset=0
                )

        async def messages() -> list[dict[str, Any]]:
            if message_limit == 0:
                return []
            async with self.reads() as session:
                return await self.conversations.search_messages(
                    session, actor.user_id, query, course_id=course_id, limit=message_limit
                )

        sessions, found = await asyncio.gather(conversations(), messages())
        now = self.now()
        return {
            "sessions": [session_view(row, row["timezone"], now) for row in sessions],
            "messages": [{**message_view(row), "excerpt": row["excerpt"]} for row in found],
        }

    async def rate(
        self, actor: Actor, message_id: UUID, helpful: bool, *, at: datetime | None = None
    ) -> dict[str, Any]:
        async def work(session: AsyncSession) -> dict[str, Any]:
            session_id = await self.conversations.session_of_message(session, message_id, actor.user_id)
            if session_id is None:
                raise NotFound(f"message {message_id} not found")
            conversation = await self._own(session, actor, session_id)
            rated = self._moment(at, "ratedAt", after=conversation.last_activity_at)
            conversation.rate(message_id, helpful, at=rated)
            await self.conversations.save(session, conversation)
            return {"message_id": message_id, "helpful": helpful}

        return await self._transaction(work)

    async def _session_view(self, session: AsyncSession, actor: Actor, session_id: UUID) -> dict[str, Any]:
        row = await self.conversations.session_row(session, session_id)
        return session_view(row, await self.time_zones.time_zone(session, actor.user_id), self.now())

    # -- asking the assistant --------------------------------------------------------------------

    async def ask(
        self,
        actor: Actor,
        session_id: UUID,
        content: str,
        *,
        stream: bool = True,
        at: datetime | None = None,
    ) -> PendingReply:
        """Store the question, then have the assistant answer it in the background, its text
        coming through :meth:`PendingReply.events` as it is written when ``stream``. ``at``
        names a past moment for the question (dev mode's demo data); its reply is then dated
        the assistant's latency later."""
        checked_message(content)  # refuse a bad message before anything else

        async def work(session: AsyncSession) -> tuple[Conversation, ChatMessageSent, str, list[Turn], Any]:
            conversation = await self._own(session, actor, session_id)
            now = self.now()
            await self._check_rate(session, actor.user_id, now)
            asked = self._moment(at, "sentAt", after=conversation.last_activity_at)
            course = await self.copies.course(session, conversation.course_id)
            history = [
                Turn(row["role"], row["content"])
                for row in await self.conversations.history(session, session_id, limit=HISTORY_MESSAGES)
            ]
            question = conversation.ask(content, lesson_id=None, at=asked)
            await self.conversations.save(session, conversation)
            passages = await self.copies.passages(
                session,
                conversation.course_id,
                question.text,
                prefer_lesson=question.lesson_id,
                limit=PASSAGES,
            )
            return conversation, question, course[1] if course else "this course", history, passages

        conversation, question, course_title, history, passages = await self._transaction(work)
        prompt = build_prompt(
            course_title, question.text, passages, history, token_budget=self.limits.prompt_token_budget
        )
        pending = PendingReply(question=question_view(question), streamed=stream)
        task = asyncio.create_task(
            self._answer(conversation, question, prompt, pending, backdated=at is not None)
        )
        pending._task = task
        self._replies.add(task)
        task.add_done_callback(self._replies.discard)
        return pending

    async def _check_rate(self, session: AsyncSession, learner_id: UUID, now: datetime) -> None:
        window = timedelta(minutes=1)
        limit = self.limits.messages_per_minute
        recent = await self.conversations.latest_questions(session, learner_id, now - window, limit)
        if len(recent) >= limit:
            frees_at = recent[-1] + window  # when the oldest of them leaves the window
            raise TooManyMessages(limit, max(1, math.ceil((frees_at - now).total_seconds())))

    async def _answer(
        self,
        conversation: Conversation,
        question: ChatMessageSent,
        prompt: Any,
        pending: PendingReply,
        *,
        backdated: bool = False,
    ) -> dict[str, Any]:
        started = time.monotonic()
        try:
            reply = await self.assistant.answer(prompt, pending.text if pending.streamed else None)
        except AssistantUnavailable as exc:
            log.warning(
                "the assistant could not answer: %s", exc, extra={"session_id": str(question.session_id)}
            )
            reply = _apology(str(exc), self.assistant.model, prompt.estimated_tokens)
        except Exception as exc:
            log.exception("the assistant failed", extra={"session_id": str(question.session_id)})
            reply = _apology(
                f"it failed ({type(exc).__name__})", self.assistant.model, prompt.estimated_tokens
            )
        latency = int((time.monotonic() - started) * 1000)

        async def work(session: AsyncSession) -> dict[str, Any] | None:
            current = await self.conversations.load(session, conversation.session_id, conversation.learner_id)
            if current is None:  # deleted while the assistant was writing
                return None
            event = current.reply(
                question,
                reply.text,
                model=reply.model,
                prompt_tokens=reply.prompt_tokens,
                completion_tokens=reply.completion_tokens,
                latency_ms=latency,
                answered=reply.answered,
                at=question.occurred_at + timedelta(milliseconds=latency) if backdated else self.now(),
            )
            await self.conversations.save(session, current)
            return reply_view(event)

        stored = await self._transaction(work)
        view = stored or {"id": None, "content": reply.text, "answered": reply.answered, "role": "assistant"}
        await pending._queue.put(("done", view))
        return view

    # -- other contexts' events ------------------------------------------------------------------

    async def erase_learner(self, session: AsyncSession, learner_id: UUID, request_id: UUID) -> int:
        """Erase the learner in the consumer's transaction and confirm it on the bus."""
        erased = await self.conversations.erase_learner(session, learner_id)
        await self.copies.forget_learner(session, learner_id)
        await self.time_zones.forget(session, learner_id)
        confirmation = LearnerChatErased(learner_id=learner_id, request_id=request_id)
        await self._store.append(session, f"erasure-{request_id}", 0, [confirmation])
        return erased

    async def export(self, actor: Actor) -> dict[str, Any]:
        async with self.sessions() as session:
            conversations = await self.conversations.export(session, actor.user_id)
            timezone = await self.time_zones.time_zone(session, actor.user_id)
        now = self.now()
        return {
            "conversations": [
                {**session_view(row, timezone, now), "messages": [message_view(m) for m in row["messages"]]}
                for row in conversations
            ]
        }


def _apology(reason: str, model: str, prompt_tokens: int) -> Reply:
    text = (
        f"Sorry, I could not answer just now: {reason}. Your question is saved in this conversation; "
        "please ask again in a moment."
    )
    return Reply(text=text, model=model, prompt_tokens=prompt_tokens, completion_tokens=0, answered=False)


def session_view(row: dict[str, Any], timezone: str | None, now: datetime) -> dict[str, Any]:
    return {
        "id": row["session_id"],
        "course_id": row["course_id"],
        "lesson_id": row["lesson_id"],
        "title": row["title"] or UNTITLED,
        "message_count": row["message_count"],
        "last_message_at": row["last_message_at"],
        "created_at": row["created_at"],
        "group": group_of(row["last_activity_at"], now, timezone or "UTC"),
    }


def message_view(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": row["message_id"],
        "session_id": row["session_id"],
        "role": row["role"],
        "content": row["content"],
        "created_at": row["created_at"],
        "reply_to": row["reply_to"],
        "answered": row["answered"],
        "model": row["model"],
        "helpful": row["helpful"],
    }


def question_view(event: ChatMessageSent) -> dict[str, Any]:
    return message_view(
        {
            "message_id": event.message_id,
            "session_id": event.session_id,
            "role": "user",
            "content": event.text,
            "created_at": event.occurred_at,
            "reply_to": None,
            "answered": None,
            "model": None,
            "helpful": None,
        }
    )


def reply_view(event: Any) -> dict[str, Any]:
    return message_view(
        {
            "message_id": event.message_id,
            "session_id": event.session_id,
            "role": "assistant",
            "content": event.text,
            "created_at": event.occurred_at,
            "reply_to": event.reply_to_message_id,
            "answered": event.answered,
            "model": event.model,
            "helpful": None,
        }
    )

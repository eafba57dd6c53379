"""The conversation rules, the prompt and the passages, without I/O."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import uuid4

import pytest

from learnstream.chat.adapters.copies import passages_of
from learnstream.chat.domain.assistant import Passage, Turn, build_prompt, estimate_tokens
from learnstream.chat.domain.conversation import (
    Conversation,
    InvalidMessage,
    NotFound,
    checked_message,
    group_of,
    title_from,
)
from learnstream.events.chat import AssistantReplyRated, ChatMessageSent


def test_a_title_is_the_first_50_characters_with_dots_when_longer() -> None:
    assert title_from("How do loops work?") == "How do loops work?"
    exactly = "x" * 50
    assert title_from(exactly) == exactly
    longer = "Why does my for loop skip the last item of the list every time?"
    assert title_from(longer) == longer[:50].rstrip() + "..."
    assert title_from("  two\n\nlines  ") == "two lines"


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        ("", "empty"),
        ("   \n ", "empty"),
        ("x" * 4001, "4000"),
        ("nul\x00here", "U\\+0000"),
        ("\x1b[2J", "U\\+001B"),
    ],
)
def test_empty_and_over_long_messages_are_refused(content: str, reason: str) -> None:
    with pytest.raises(InvalidMessage, match=reason):
        checked_message(content)
    assert checked_message("x" * 4000) == "x" * 4000
    assert checked_message("two\tcolumns\r\nand lines") == "two\tcolumns\r\nand lines"


def test_groups_are_counted_in_the_learners_own_days() -> None:
    now = datetime(2026, 3, 10, 16, 0, tzinfo=UTC)  # 01:00 on the 11th in Tokyo
    evening = datetime(2026, 3, 10, 14, 30, tzinfo=UTC)  # 23:30 on the 10th in Tokyo
    assert group_of(evening, now, "UTC") == "today"
    assert group_of(evening, now, "Asia/Tokyo") == "yesterday"
    assert group_of(datetime(2026, 3, 5, 12, tzinfo=UTC), now, "UTC") == "last7Days"
    # the last seven days end today: the 4th is the earliest of them, the 3rd is older
    assert group_of(datetime(2026, 3, 4, 0, 1, tzinfo=UTC), now, "UTC") == "last7Days"
    assert group_of(datetime(2026, 3, 3, 23, 59, tzinfo=UTC), now, "UTC") == "older"
    assert group_of(evening, now, "Not/AZone") == "today"  # unknown zones count in UTC


def test_only_the_assistants_replies_can_be_rated_and_the_same_rating_twice_is_one_event() -> None:
    conversation = Conversation.start(uuid4(), uuid4(), None, at=datetime.now(UTC))
    question = conversation.ask("What is a list?", lesson_id=None, at=datetime.now(UTC))
    assert isinstance(question, ChatMessageSent)
    reply = conversation.reply(
        question,
        "A sequence.",
        model="m",
        prompt_tokens=1,
        completion_tokens=1,
        latency_ms=5,
        answered=True,
        at=datetime.now(UTC),
    )
    conversation.assistant_messages.add(reply.message_id)
    conversation.pending.clear()
    with pytest.raises(NotFound):
        conversation.rate(question.message_id, True, at=datetime.now(UTC))
    conversation.rate(reply.message_id, True, at=datetime.now(UTC))
    conversation.rate(reply.message_id, True, at=datetime.now(UTC))
    conversation.rate(reply.message_id, False, at=datetime.now(UTC))
    assert [type(e) for e in conversation.pending] == [AssistantReplyRated, AssistantReplyRated]


def test_the_prompt_keeps_the_material_and_the_latest_turns_that_fit() -> None:
    passages = [Passage("l1", "Loops", "A for loop repeats. " * 20), Passage("l2", "Lists", "x" * 8000)]
    history = [Turn("user", f"old question {i} " + "y" * 400) for i in range(30)]
    prompt = build_prompt("Python 101", "How do loops end?", passages, history, token_budget=2_000)
    assert [p.lesson_id for p in prompt.passages] == ["l1"]  # the second would not fit half the budget
    assert prompt.messages[0]["role"] == "system" and "Python 101" in prompt.messages[0]["content"]
    assert prompt.messages[-1] == {"role": "user", "content": "How do loops end?"}
    kept = prompt.messages[1:-1]
    assert 0 < len(kept) < 30 and kept[-1]["content"].startswith("old question 29")
    assert prompt.estimated_tokens <= 2_000
    assert estimate_tokens("abcd" * 10) == 10


def test_lesson_text_is_cut_at_paragraphs_and_sentences() -> None:
    body = "First paragraph.\n\n" + "A sentence here. " * 100 + "\n\nShort end."
    pieces = passages_of(body, size=300)
    assert all(len(piece) <= 300 for piece in pieces)
    assert pieces[0].startswith("First paragraph.") and pieces[-1].endswith("Short end.")
    assert " ".join(pieces).count("A sentence here.") == 100
    assert passages_of("   ") == []

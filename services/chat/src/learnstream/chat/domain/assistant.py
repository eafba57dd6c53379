"""What the assistant is asked and what it answers, independent of who answers.

:func:`build_prompt` puts together the system instructions, the course passages that
best match the question and as much of the conversation as fits a token budget (newest
first; about four characters a token, the usual rule of thumb for English, since the
endpoint may be any model and its tokenizer is unknown here). An :class:`Assistant`
streams its answer through ``on_text`` (when the client streams) and returns the
:class:`Reply`; when it cannot answer it raises :class:`AssistantUnavailable`.
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Literal, Protocol


@dataclass(frozen=True)
class Passage:
    lesson_id: str
    lesson_title: str
    body: str


@dataclass(frozen=True)
class Turn:
    role: Literal["user", "assistant"]
    content: str


@dataclass(frozen=True)
class Prompt:
    course_title: str
    question: str
    passages: tuple[Passage, ...]
    messages: tuple[dict[str, str], ...]
    """The chat messages to send: system, history that fits, the question."""

    @property
    def estimated_tokens(self) -> int:
        return sum(estimate_tokens(m["content"]) for m in self.messages)


@dataclass(frozen=True)
class Reply:
    text: str
    model: str
    prompt_tokens: int
    completion_tokens: int
    answered: bool


class AssistantUnavailable(Exception):
    """The assistant could not answer (endpoint down, refusing, too slow); says why."""


OnText = Callable[[str], Awaitable[None]]


class Assistant(Protocol):
    model: str

    async def answer(self, prompt: Prompt, on_text: OnText | None) -> Reply:
        """The reply; its text also goes through ``on_text`` as it is written, when given."""
        ...


def estimate_tokens(text: str) -> int:
    return max(1, math.ceil(len(text) / 4))


SYSTEM = (
    "You are the teaching assistant of the online course “{course}”. Answer the learner's "
    "question helpfully and concisely, using the course material below where it applies, "
    "and say so when the material does not cover the question. Never make up course content.\n\n"
    "Course material:\n{material}"
)


def build_prompt(
    course_title: str,
    question: str,
    passages: Sequence[Passage],
    history: Sequence[Turn],
    *,
    token_budget: int,
) -> Prompt:
    """The messages for the model: material first (up to half the budget), then the latest
    turns of the conversation that still fit, then the question."""
    material_budget = token_budget // 2
    kept: list[Passage] = []
    used = 0
    for passage in passages:
        cost = estimate_tokens(passage.body) + estimate_tokens(passage.lesson_title)
        if used + cost > material_budget:
            break
        kept.append(passage)
        used += cost
    material = "\n\n".join(f"[{p.lesson_title}]\n{p.body}" for p in kept) or "(none matched the question)"
    system = SYSTEM.format(course=course_title, material=material)
    remaining = token_budget - estimate_tokens(system) - estimate_tokens(question)
    turns: list[dict[str, str]] = []
    for turn in reversed(history):
        cost = estimate_tokens(turn.content)
        if cost > remaining:
            break
        turns.append({"role": turn.role, "content": turn.content})
        remaining -= cost
    messages = (
        {"role": "system", "content": system},
        *reversed(turns),
        {"role": "user", "content": question},
    )
    return Prompt(course_title, question, tuple(kept), tuple(messages))

"""The assistants: any OpenAI-compatible endpoint, or the offline course-notes responder.

:class:`OpenAICompatible` asks for a chat completion with the ``openai`` package, streamed
when the learner's client streams and whole otherwise; its
timeout and retries are bounded by settings (the client retries connection errors, 429
and 5xx with backoff, honouring ``Retry-After``). :class:`CourseNotes` needs no model: it
answers with the passages of the course that match the question best and says that it
is the offline assistant.
"""

from __future__ import annotations

from typing import Any

import openai

from learnstream.chat.domain.assistant import (
    AssistantUnavailable,
    OnText,
    Prompt,
    Reply,
    estimate_tokens,
)


class OpenAICompatible:
    def __init__(
        self, *, base_url: str, api_key: str, model: str, timeout_seconds: float, max_retries: int
    ) -> None:
        self.model = model
        self._client = openai.AsyncOpenAI(
            base_url=base_url, api_key=api_key, timeout=timeout_seconds, max_retries=max_retries
        )

    async def close(self) -> None:
        await self._client.close()

    async def answer(self, prompt: Prompt, on_text: OnText | None) -> Reply:
        """Stream the completion through ``on_text``; with ``None``, ask for it whole."""
        messages: list[Any] = list(prompt.messages)  # role/content dicts, as the API takes them
        try:
            if on_text is None:
                text, usage = await self._whole(messages)
            else:
                text, usage = await self._streamed(messages, on_text)
        except openai.APITimeoutError as exc:
            raise AssistantUnavailable("the language model did not answer in time") from exc
        except openai.RateLimitError as exc:
            raise AssistantUnavailable("the language model is busy (rate limited)") from exc
        except openai.APIStatusError as exc:
            raise AssistantUnavailable(f"the language model answered {exc.status_code}") from exc
        except openai.APIConnectionError as exc:
            raise AssistantUnavailable("the language model cannot be reached") from exc
        except openai.OpenAIError as exc:
            raise AssistantUnavailable(f"the language model failed ({type(exc).__name__})") from exc
        text = text.strip()
        if not text:
            raise AssistantUnavailable("the language model sent an empty answer")
        return Reply(
            text=text,
            model=self.model,
            prompt_tokens=usage.prompt_tokens if usage else prompt.estimated_tokens,
            completion_tokens=usage.completion_tokens if usage else estimate_tokens(text),
            answered=True,
        )

    async def _whole(self, messages: list[Any]) -> tuple[str, Any]:
        completion = await self._client.chat.completions.create(model=self.model, messages=messages)
        text = "".join(choice.message.content or "" for choice in completion.choices[:1])
        return text, completion.usage

    async def _streamed(self, messages: list[Any], on_text: OnText) -> tuple[str, Any]:
        parts: list[str] = []
        usage = None
        stream = await self._client.chat.completions.create(
            model=self.model, messages=messages, stream=True, stream_options={"include_usage": True}
        )
        async for chunk in stream:
            if chunk.usage is not None:
                usage = chunk.usage
            for choice in chunk.choices:
                if choice.index == 0 and choice.delta.content:
                    parts.append(choice.delta.content)
                    await on_text(choice.delta.content)
        return "".join(parts), usage


OFFLINE_MODEL = "offline-course-notes"


class CourseNotes:
    """The offline assistant of the embedded default: no model, the course's own words."""

    model = OFFLINE_MODEL

    async def close(self) -> None:
        return None

    async def answer(self, prompt: Prompt, on_text: OnText | None) -> Reply:
        if prompt.passages:
            lines = [
                "I'm the offline course assistant: no language model is configured here, so I answer "
                f"with the parts of “{prompt.course_title}” that best match your question.",
                "",
            ]
            for passage in prompt.passages:
                lines += [f"**{passage.lesson_title}**", passage.body.strip(), ""]
            text = "\n".join(lines).strip()
        else:
            text = (
                "I'm the offline course assistant: no language model is configured here, and I found "
                f"nothing in the notes of “{prompt.course_title}” that matches your question. "
                "Try other words, or ask your instructor."
            )
        if on_text is not None:
            for start in range(0, len(text), 200):
                await on_text(text[start : start + 200])
        return Reply(
            text=text,
            model=self.model,
            prompt_tokens=prompt.estimated_tokens,
            completion_tokens=estimate_tokens(text),
            answered=bool(prompt.passages),
        )

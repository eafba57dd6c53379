"""The embedded stack the benchmark measures (:class:`learnstream.devstack.harness.EmbeddedStack`)
and reading its answers."""

from __future__ import annotations

from typing import Any

import aiohttp

from learnstream.devstack.harness import EmbeddedStack

__all__ = ["EmbeddedStack", "json_of"]


async def json_of(answer: aiohttp.ClientResponse, expected: tuple[int, ...] = (200, 201)) -> Any:
    """The answer's JSON body; an error naming the request when its status is not expected."""
    body = await answer.json(content_type=None)
    if answer.status not in expected:
        raise RuntimeError(f"{answer.method} {answer.url} answered {answer.status}: {body}")
    return body

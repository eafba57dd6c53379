"""Pages the gateway composes from several contexts, asked in parallel with a deadline.

A page is a set of :class:`Section` s. Each is one call to the context that owns the
data, made as the caller (the context checks what the caller may see). A section that
fails — the context is down, slow, answers 5xx, or does not serve that route yet — is
``null`` in the page and named in its ``unavailable`` map with the reason; the rest of
the page is served. Nothing is invented for a missing section.

Sections that *guard* the page decide whether the caller may see it at all: any guard
answering 404 makes the page a 404 (so foreign and unknown objects look the same), and
when no guard could answer, the page is a 503 rather than served unchecked. A section that
*validates* only passes on the caller's mistakes (400/422, e.g. a bad period); its 404 is an
unavailable section, since another context is the judge of access and a projection may
simply not have caught up with a course created a moment ago.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from learnstream.gateway.adapters.services import ContextServices, Unavailable
from learnstream.runtime.actors import Actor
from learnstream.runtime.problems import Problem


@dataclass(frozen=True)
class Section:
    name: str
    service: str
    path: str
    params: Sequence[tuple[str, str]] = ()
    guard: bool = False
    validates: bool = False
    check: Callable[[dict[str, Any], Actor], bool] | None = None
    """For a guard: whether a 200 answer really gives the caller access (else 404)."""


@dataclass
class Composed:
    sections: dict[str, Any] = field(default_factory=dict)
    unavailable: dict[str, str] = field(default_factory=dict)

    def get(self, name: str) -> Any:
        return self.sections.get(name)


class _Missing(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Composer:
    def __init__(self, services: ContextServices, *, timeout: float) -> None:
        self.services = services
        self.timeout = timeout

    async def _one(self, section: Section, actor: Actor, cache_control: str | None) -> dict[str, Any]:
        # the deadline is the client's own, so a late section ends as Unavailable like any other
        try:
            answer = await self.services.forward(
                section.service,
                "GET",
                section.path,
                actor=(str(actor.user_id), actor.role),
                params=list(section.params),
                body=None,
                timeout=self.timeout,
                cache_control=cache_control,
            )
        except Unavailable as exc:
            raise _Missing(str(exc)) from exc
        if answer.status_code == 404 and section.guard:
            raise Problem(404, "Not found", _detail(answer, "not found"))
        if answer.status_code in (400, 422) and (section.guard or section.validates):
            raise Problem(answer.status_code, "Invalid request", _detail(answer, "invalid request"))
        if answer.status_code == 404:
            raise _Missing(f"the {section.service} service has nothing at {section.path} (404), or not yet")
        if answer.status_code != 200:
            raise _Missing(f"the {section.service} service answered {answer.status_code} for {section.path}")
        try:
            body = answer.json()
        except ValueError as exc:
            raise _Missing(f"the {section.service} service answered without JSON") from exc
        if section.check is not None and not section.check(body, actor):
            raise Problem(404, "Not found", f"{section.path} not found")
        return body if isinstance(body, dict) else {"items": body}

    async def compose(
        self, actor: Actor, sections: Sequence[Section], *, cache_control: str | None = None
    ) -> Composed:
        """Every section, asked at once; ``cache_control`` (the client's) goes with each request."""
        results = await asyncio.gather(
            *(self._one(s, actor, cache_control) for s in sections), return_exceptions=True
        )
        composed = Composed()
        for section, result in zip(sections, results, strict=True):
            if isinstance(result, Problem):
                raise result
            if isinstance(result, _Missing):
                composed.unavailable[section.name] = result.reason
                composed.sections[section.name] = None
            elif isinstance(result, BaseException):
                raise result
            else:
                composed.sections[section.name] = result
        guards = [s for s in sections if s.guard]
        if guards and all(s.name in composed.unavailable for s in guards):
            reasons = "; ".join(composed.unavailable[s.name] for s in guards)
            raise Problem(
                503,
                "Service unavailable",
                f"cannot check access to this page right now ({reasons}); try again shortly",
                retryAfter="5",
            )
        return composed


def _detail(answer: Any, default: str) -> str:
    try:
        return str(answer.json().get("detail") or default)
    except (ValueError, AttributeError):
        return default

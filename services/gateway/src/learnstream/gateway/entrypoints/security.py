"""Who is calling and how often: bearer tokens, live account checks and rate limits.

Every authenticated route depends on :meth:`Guard.user`: the token must be valid
(algorithm pinned, ``exp``/``iss``/``aud`` checked), the account must still exist
and not be erased, and the role used is the account's current one (a demoted
instructor loses access at once, not when their token expires). Then the caller's
rate limit for that kind of route is counted; the login and register routes count
per client address instead.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Header, Request
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from learnstream.gateway.adapters.ratelimit import Decision, Limit, RateLimiter
from learnstream.gateway.adapters.tokens import InvalidToken, Tokens
from learnstream.gateway.service_layer.identity import IdentityService
from learnstream.runtime.actors import Actor
from learnstream.runtime.problems import Problem


@dataclass(frozen=True)
class Limits:
    """The gateway's rate limits (from settings)."""

    reads: Limit
    tracking: Limit
    auth: Limit


def _refuse(decision: Decision, who: str) -> Problem:
    limit = decision.limit
    return Problem(
        429,
        "Too many requests",
        f"{who} may make {limit.requests} {limit.name} requests per {limit.period_seconds:g} s;"
        f" try again in {decision.retry_after_header} s.",
        retryAfter=decision.retry_after_header,
    )


def _remember(request: Request, decision: Decision) -> None:
    request.state.rate_limit = decision


class Guard:
    def __init__(
        self,
        tokens: Tokens,
        identity: IdentityService,
        limiter: RateLimiter,
        limits: Limits,
        *,
        trust_forwarded_for: bool = False,
    ) -> None:
        self.tokens = tokens
        self.identity = identity
        self.limiter = limiter
        self.limits = limits
        self.trust_forwarded_for = trust_forwarded_for

    async def authenticate(self, authorization: str | None) -> Actor:
        scheme, _, token = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Problem(401, "Authentication required", "Send Authorization: Bearer <access token>.")
        try:
            claims = self.tokens.check(token.strip())
        except InvalidToken as exc:
            raise Problem(401, "Invalid access token", str(exc)) from exc
        role = await self.identity.current_role(claims.user_id)
        if role is None:
            raise Problem(401, "Invalid access token", "the account no longer exists; register again")
        return Actor(claims.user_id, role)  # type: ignore[arg-type]

    def user(self, limit: Limit) -> Any:
        """Dependency: the authenticated caller, counted against ``limit``."""

        async def dependency(
            request: Request,
            authorization: Annotated[str | None, Header(description="Bearer <access token>")] = None,
        ) -> Actor:
            actor = await self.authenticate(authorization)
            decision = await self.limiter.hit(limit, f"user:{actor.user_id}")
            _remember(request, decision)
            if not decision.allowed:
                raise _refuse(decision, "One user")
            return actor

        return Depends(dependency)

    def address(self, limit: Limit) -> Any:
        """Dependency: count the request against ``limit`` for the client's address."""

        async def dependency(request: Request) -> None:
            decision = await self.limiter.hit(limit, f"ip:{self.client_address(request)}")
            _remember(request, decision)
            if not decision.allowed:
                raise _refuse(decision, "One address")

        return Depends(dependency)

    def client_address(self, request: Request) -> str:
        """The peer's address; the first ``X-Forwarded-For`` hop only behind a trusted proxy."""
        if self.trust_forwarded_for:
            forwarded = request.headers.get("x-forwarded-for", "")
            first = forwarded.split(",", 1)[0].strip()
            if first:
                return first
        return request.client.host if request.client else "unknown"


class RateLimitHeaders:
    """Adds ``RateLimit-Limit`` / ``RateLimit-Remaining`` of the limit a request was counted on."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            decision: Decision | None = (scope.get("state") or {}).get("rate_limit")
            if message["type"] == "http.response.start" and decision is not None:
                headers = MutableHeaders(scope=message)
                headers["RateLimit-Limit"] = str(decision.limit.requests)
                headers["RateLimit-Remaining"] = str(decision.remaining)
            await send(message)

        await self.app(scope, receive, with_headers)

"""Registering, logging in and the dev-mode token: accounts and their access tokens."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from uuid import UUID, uuid4

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from learnstream.events.identity import LearnerErasureRequested, UserProfileChanged
from learnstream.gateway.adapters.passwords import hash_password, verify_password
from learnstream.gateway.adapters.tokens import Tokens
from learnstream.gateway.adapters.users import User, UserRepository
from learnstream.gateway.domain.accounts import (
    AccountRejected,
    Problem,
    display_name_problems,
    email_problems,
    normalize_email,
    registration_problems,
    timezone_problems,
)
from learnstream.runtime.vault import KeyVault

ROLE_CACHE_SECONDS = 5.0
"""How long a replica trusts what it read about an account (role, erased) before reading again."""


class LoginFailed(Exception):
    """Wrong email or password (never saying which)."""


class NotFound(Exception):
    """No such account (or a route that does not exist in this mode)."""


@dataclass(frozen=True)
class Session:
    user: User
    access_token: str
    expires_at: datetime


class IdentityService:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        users: UserRepository,
        tokens: Tokens,
        *,
        vault: KeyVault | None = None,
    ) -> None:
        self._sessions = sessions
        self._users = users
        self._vault = vault
        self._tokens = tokens
        self._roles: dict[UUID, tuple[str | None, float]] = {}

    def _session(self, user: User) -> Session:
        token, expires = self._tokens.issue(user.user_id, user.role)
        return Session(user, token, expires)

    async def register(
        self, *, email: str, password: str, full_name: str, role: str = "student", timezone: str = "UTC"
    ) -> Session:
        email = email.strip()
        problems = registration_problems(
            email=email, password=password, full_name=full_name, role=role, timezone=timezone
        )
        if problems:
            raise AccountRejected(problems)
        password_hash = await asyncio.to_thread(hash_password, password)
        user = User(
            user_id=uuid4(),
            email=email,
            password_hash=password_hash,
            role=role,
            display_name=" ".join(full_name.split()),
            timezone=timezone,
            created_at=_now(),
        )
        async with self._sessions() as session, session.begin():
            await self._users.add(session, user, normalize_email(email))
        return self._session(user)

    async def login(self, *, email: str, password: str) -> Session:
        async with self._sessions() as session:
            user = await self._users.by_email(session, normalize_email(email))
        matches = await asyncio.to_thread(verify_password, user.password_hash if user else None, password)
        if user is None or not matches:
            raise LoginFailed
        return self._session(user)

    async def dev_token(self, *, email: str, role: str, full_name: str | None = None) -> Session:
        """A token for ``email``, creating the account (without a password) if needed."""
        problems: list[Problem] = email_problems(email.strip())
        if role not in ("student", "instructor", "admin"):
            problems.append(Problem("role", "must be one of student, instructor, admin"))
        name = full_name or email.split("@", 1)[0]
        problems += display_name_problems(name)
        if problems:
            raise AccountRejected(problems)
        key = normalize_email(email)
        async with self._sessions() as session, session.begin():
            user = await self._users.by_email(session, key)
            if user is None:
                user = User(uuid4(), email.strip(), None, role, " ".join(name.split()), "UTC", _now())
                await self._users.add(session, user, key)
        return self._session(user)

    async def me(self, user_id: UUID) -> User:
        async with self._sessions() as session:
            user = await self._users.by_id(session, user_id)
        if user is None:
            raise NotFound(f"account {user_id} not found")
        return user

    async def display_name(self, user_id: UUID) -> str | None:
        """The name others see, or None once the account is erased (or unknown)."""
        async with self._sessions() as session:
            user = await self._users.by_id(session, user_id)
        return user.display_name if user is not None else None

    async def current_role(self, user_id: UUID) -> str | None:
        """The account's role now, or None if it is gone or erased (cached for a few seconds)."""
        now = time.monotonic()
        cached = self._roles.get(user_id)
        if cached is not None and cached[1] > now:
            return cached[0]
        async with self._sessions() as session:
            role = await self._users.role_of(session, user_id)
        if len(self._roles) > 50_000:
            self._roles = {k: v for k, v in self._roles.items() if v[1] > now}
        self._roles[user_id] = (role, now + ROLE_CACHE_SECONDS)
        return role

    async def change_profile(
        self, user_id: UUID, *, full_name: str | None = None, timezone: str | None = None
    ) -> User:
        """Change the display name and/or time zone; ``UserProfileChanged`` names what changed."""
        problems: list[Problem] = []
        if full_name is not None:
            full_name = " ".join(full_name.split())
            problems += display_name_problems(full_name)
        if timezone is not None:
            problems += timezone_problems(timezone)
        if problems:
            raise AccountRejected(problems)
        async with self._sessions() as session, session.begin():
            user = await self._users.by_id(session, user_id, lock=True)
            if user is None:
                raise NotFound(f"account {user_id} not found")
            changed_name = full_name if full_name not in (None, user.display_name) else None
            changed_zone = timezone if timezone not in (None, user.timezone) else None
            if changed_name is None and changed_zone is None:
                return user
            event = UserProfileChanged(
                user_id=user_id,
                display_name=changed_name,
                timezone=changed_zone,
                actor_id=user_id,
                occurred_at=_now(),
            )
            await self._users.change_profile(session, user, event)
            user = await self._users.by_id(session, user_id)
        assert user is not None
        return user

    async def erase(self, user_id: UUID) -> tuple[UUID, datetime]:
        """Forget the account and ask every context to erase the learner; the request's id and time."""
        async with self._sessions() as session, session.begin():
            user = await self._users.by_id(session, user_id, lock=True)
            if user is None:
                raise NotFound(f"account {user_id} not found")
            event = LearnerErasureRequested(
                user_id=user_id, request_id=uuid4(), actor_id=user_id, occurred_at=_now()
            )
            if self._vault is not None:
                # first the key: once it is gone, every sealed copy of the learner's personal
                # fields (event stores, topics) is unreadable. Should the request fail after
                # this, the learner asks again and the rest is erased then.
                await self._vault.shred(str(user_id))
            await self._users.erase(session, user, event)
        self._roles[user_id] = (None, time.monotonic() + ROLE_CACHE_SECONDS)
        return event.request_id, event.occurred_at


def _now() -> datetime:
    now = datetime.now(UTC)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)

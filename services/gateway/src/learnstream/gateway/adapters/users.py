"""The accounts table and the identity events written with it, in one transaction."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from learnstream.events.identity import LearnerErasureRequested, UserProfileChanged, UserRegistered
from learnstream.runtime.eventstore import EventStore, violates


class EmailTaken(Exception):
    """Another account already uses this email."""


@dataclass(frozen=True)
class User:
    user_id: UUID
    email: str | None
    password_hash: str | None
    role: str
    display_name: str
    timezone: str
    created_at: datetime


_COLUMNS = "user_id, email, password_hash, role, display_name, timezone, created_at"
_ACTIVE = "erased_at IS NULL"


def _user(row: object) -> User:
    return User(*row)  # type: ignore[misc]


class UserRepository:
    def __init__(self, store: EventStore) -> None:
        self._store = store

    async def add(self, session: AsyncSession, user: User, email_key: str) -> None:
        """Store a new account and its ``UserRegistered`` event; :class:`EmailTaken` if in use."""
        try:
            async with session.begin_nested():
                await session.execute(
                    text(
                        "INSERT INTO users (user_id, email, email_key, password_hash, role, display_name,"
                        " timezone, created_at) VALUES (:id, :email, :key, :hash, :role, :name, :tz, :at)"
                    ),
                    {
                        "id": user.user_id,
                        "email": user.email,
                        "key": email_key,
                        "hash": user.password_hash,
                        "role": user.role,
                        "name": user.display_name,
                        "tz": user.timezone,
                        "at": user.created_at,
                    },
                )
        except IntegrityError as exc:
            if violates(exc, "users_email_key_unique"):
                raise EmailTaken(user.email) from exc
            raise
        event = UserRegistered(
            user_id=user.user_id,
            role=user.role,
            display_name=user.display_name,
            timezone=user.timezone,
            actor_id=user.user_id,
            occurred_at=user.created_at,
        )
        await self._store.append(session, f"user-{user.user_id}", 0, [event])

    async def by_email(self, session: AsyncSession, email_key: str) -> User | None:
        row = (
            await session.execute(
                text(f"SELECT {_COLUMNS} FROM users WHERE email_key = :k AND {_ACTIVE}"), {"k": email_key}
            )
        ).first()
        return _user(row) if row else None

    async def by_id(self, session: AsyncSession, user_id: UUID, *, lock: bool = False) -> User | None:
        """The account if it exists and is not erased (``lock``: ``FOR UPDATE``)."""
        sql = f"SELECT {_COLUMNS} FROM users WHERE user_id = :u AND {_ACTIVE}"
        row = (await session.execute(text(sql + (" FOR UPDATE" if lock else "")), {"u": user_id})).first()
        return _user(row) if row else None

    async def role_of(self, session: AsyncSession, user_id: UUID) -> str | None:
        """The account's current role, or None when it does not exist or is erased."""
        sql = f"SELECT role FROM users WHERE user_id = :u AND {_ACTIVE}"
        return (await session.execute(text(sql), {"u": user_id})).scalar_one_or_none()

    async def change_profile(self, session: AsyncSession, user: User, event: UserProfileChanged) -> None:
        """Apply a profile change (the caller locked the row) and record its event."""
        await session.execute(
            text(
                "UPDATE users SET display_name = coalesce(:name, display_name),"
                " timezone = coalesce(:tz, timezone), role = coalesce(:role, role), updated_at = now()"
                " WHERE user_id = :u"
            ),
            {"name": event.display_name, "tz": event.timezone, "role": event.role, "u": user.user_id},
        )
        stream = f"user-{user.user_id}"
        await self._store.append(session, stream, await self._store.version(session, stream), [event])

    async def erase(self, session: AsyncSession, user: User, event: LearnerErasureRequested) -> None:
        """Remove every personal field of the account, and record the request and its event.

        The row stays (its id is what other contexts erase by) with nothing that
        identifies a person; its email can be registered again.
        """
        await session.execute(
            text(
                "UPDATE users SET email = NULL, email_key = NULL, password_hash = NULL,"
                " display_name = 'Erased user', timezone = 'UTC', erased_at = :at, updated_at = :at"
                " WHERE user_id = :u"
            ),
            {"u": user.user_id, "at": event.occurred_at},
        )
        await session.execute(
            text("INSERT INTO erasure_requests (request_id, user_id, requested_at) VALUES (:r, :u, :at)"),
            {"r": event.request_id, "u": user.user_id, "at": event.occurred_at},
        )
        stream = f"user-{user.user_id}"
        await self._store.append(session, stream, await self._store.version(session, stream), [event])

"""The accounts table and the identity events written with it, in one transaction."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from learnstream.events.identity import UserRegistered
from learnstream.runtime.eventstore import EventStore, violates


class EmailTaken(Exception):
    """Another account already uses this email."""


@dataclass(frozen=True)
class User:
    user_id: UUID
    email: str
    password_hash: str | None
    role: str
    display_name: str
    timezone: str
    created_at: datetime


_COLUMNS = "user_id, email, password_hash, role, display_name, timezone, created_at"


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
                text(f"SELECT {_COLUMNS} FROM users WHERE email_key = :k"), {"k": email_key}
            )
        ).first()
        return _user(row) if row else None

    async def by_id(self, session: AsyncSession, user_id: UUID) -> User | None:
        row = (
            await session.execute(text(f"SELECT {_COLUMNS} FROM users WHERE user_id = :u"), {"u": user_id})
        ).first()
        return _user(row) if row else None

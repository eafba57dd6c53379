"""Events of the identity context, published by the gateway to ``learnstream.identity``."""

from __future__ import annotations

from typing import ClassVar, Literal
from uuid import UUID

from pydantic import Field

from learnstream.events.base import PII, DomainEvent

Role = Literal["student", "instructor", "admin"]


class IdentityEvent(DomainEvent):
    """An event about one user account, keyed by the user id."""

    context: ClassVar[str] = "identity"
    key_field: ClassVar[str] = "user_id"

    user_id: UUID = Field(description="The user the event is about.")


class UserRegistered(IdentityEvent):
    """A user account was created."""

    role: Role = Field(description="The user's role.", examples=["student"])
    display_name: str = Field(
        description="Name shown to instructors and on leaderboards. Personal: sealed on the bus.",
        examples=["Ada Lovelace"],
        json_schema_extra=PII,
    )
    timezone: str = Field(
        description="IANA time zone; streaks and local-time achievements use it.",
        examples=["Europe/Berlin"],
    )


class UserProfileChanged(IdentityEvent):
    """A user changed their profile; only the changed fields are set."""

    display_name: str | None = Field(
        default=None,
        description="The new display name, if changed. Personal: sealed on the bus.",
        json_schema_extra=PII,
    )
    timezone: str | None = Field(default=None, description="The new IANA time zone, if changed.")
    role: Role | None = Field(default=None, description="The new role, if an admin changed it.")


class LearnerErasureRequested(IdentityEvent):
    """A learner asked to be forgotten; every context erases or anonymises their data."""

    request_id: UUID = Field(description="Id of the erasure request; confirmations refer to it.")


EVENTS: tuple[type[DomainEvent], ...] = (
    UserRegistered,
    UserProfileChanged,
    LearnerErasureRequested,
)
"""The events this context publishes, in catalog order."""

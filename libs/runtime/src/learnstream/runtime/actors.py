"""Who is calling an internal API: the user the gateway authenticated, and their role.

Only the gateway talks to clients. It checks their token and passes the user on to
a service in the ``X-Actor-Id`` and ``X-Actor-Role`` headers, next to its own
service credential (``X-Service-Token``); a service trusts the actor headers only
together with that credential.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from typing import Annotated, Any, Literal
from uuid import UUID

from fastapi import Depends, Header

from learnstream.runtime.problems import Problem

Role = Literal["student", "instructor", "admin"]
ROLES: tuple[Role, ...] = ("student", "instructor", "admin")


@dataclass(frozen=True)
class Actor:
    """An authenticated user acting through the gateway."""

    user_id: UUID
    role: Role

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"

    @property
    def can_teach(self) -> bool:
        return self.role in ("instructor", "admin")

    def owns(self, owner_id: UUID) -> bool:
        """Whether the actor may manage an object owned by ``owner_id`` (admins may manage all)."""
        return self.is_admin or self.user_id == owner_id


def require_service_token(expected: str) -> Any:
    """A dependency guarding internal APIs: callers must present the service credential."""

    async def check(
        x_service_token: Annotated[
            str | None, Header(description="The calling service's credential.")
        ] = None,
    ) -> None:
        if x_service_token is None or not hmac.compare_digest(x_service_token, expected):
            raise Problem(
                401,
                "Service credential required",
                "Internal APIs need the X-Service-Token header of a Learnstream service.",
            )

    return Depends(check)


def actor_dependency(service_token: str) -> Any:
    """A FastAPI dependency giving the calling :class:`Actor`, 401 without a valid credential."""

    async def actor(
        _credential: None = require_service_token(service_token),
        x_actor_id: Annotated[str | None, Header(description="The authenticated user's id.")] = None,
        x_actor_role: Annotated[str | None, Header(description="student, instructor or admin.")] = None,
    ) -> Actor:
        if x_actor_id is None or x_actor_role is None:
            raise Problem(401, "Actor required", "Send X-Actor-Id and X-Actor-Role for the user you act for.")
        try:
            user_id = UUID(x_actor_id)
        except ValueError:
            raise Problem(400, "Invalid actor", f"X-Actor-Id {x_actor_id!r} is not a UUID.") from None
        if x_actor_role not in ROLES:
            raise Problem(400, "Invalid actor", f"X-Actor-Role must be one of {', '.join(ROLES)}.")
        return Actor(user_id, x_actor_role)

    return Depends(actor)

"""HTTP routes of the gateway: identity (register, log in, dev token, me).

Every route the public API adds takes the caller from ``Authorization: Bearer <token>``.
"""

from datetime import datetime
from typing import Annotated, Any, Literal
from uuid import UUID

from fastapi import APIRouter, Depends, FastAPI, Header, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from learnstream.gateway.adapters.services import ContextServices
from learnstream.gateway.adapters.tokens import InvalidToken, Tokens
from learnstream.gateway.adapters.users import EmailTaken, User
from learnstream.gateway.domain.accounts import AccountRejected
from learnstream.gateway.entrypoints.routes import build_forwarding_router
from learnstream.gateway.service_layer.identity import IdentityService, LoginFailed, NotFound, Session
from learnstream.runtime.actors import Actor
from learnstream.runtime.problems import Problem, problem_response


class CamelModel(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")


class RegisterIn(CamelModel):
    email: str = Field(max_length=254, examples=["ada@example.com"])
    password: str = Field(max_length=1024, examples=["correct horse battery"])
    full_name: str = Field(max_length=200, examples=["Ada Lovelace"])
    role: Literal["student", "instructor"] = "student"
    timezone: str = Field(default="UTC", max_length=64, examples=["Europe/London"])


class LoginIn(CamelModel):
    email: str = Field(max_length=254)
    password: str = Field(max_length=1024)


class DevTokenIn(CamelModel):
    email: str = Field(max_length=254, examples=["demo-learner@learnstream.dev"])
    role: Literal["student", "instructor", "admin"]
    full_name: str | None = Field(default=None, max_length=200)


class UserOut(CamelModel):
    id: UUID
    email: str
    full_name: str
    role: str
    timezone: str
    created_at: datetime


class SessionOut(CamelModel):
    access_token: str
    token_type: Literal["Bearer"] = "Bearer"  # noqa: S105 - the OAuth token type, not a secret
    expires_at: datetime
    user: UserOut


def _user_out(user: User) -> UserOut:
    return UserOut(
        id=user.user_id,
        email=user.email,
        full_name=user.display_name,
        role=user.role,
        timezone=user.timezone,
        created_at=user.created_at,
    )


def _session_out(session: Session) -> dict[str, Any]:
    out = SessionOut(
        access_token=session.access_token, expires_at=session.expires_at, user=_user_out(session.user)
    )
    return out.model_dump(by_alias=True, mode="json")


def bearer_actor(tokens: Tokens) -> Any:
    """The caller named by the request's access token; 401 without a valid one."""

    async def actor(
        authorization: Annotated[str | None, Header(description="Bearer <access token>")] = None,
    ) -> Actor:
        scheme, _, token = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not token:
            raise Problem(401, "Authentication required", "Send Authorization: Bearer <access token>.")
        try:
            claims = tokens.check(token.strip())
        except InvalidToken as exc:
            raise Problem(401, "Invalid access token", str(exc)) from exc
        return Actor(claims.user_id, claims.role)  # type: ignore[arg-type]

    return Depends(actor)


def build_router(
    identity: IdentityService, tokens: Tokens, services: ContextServices, *, dev: bool
) -> APIRouter:
    router = APIRouter(tags=["identity"])
    current_actor = bearer_actor(tokens)
    CurrentActor = Annotated[Actor, current_actor]

    @router.post("/api/auth/register", status_code=201)
    async def register(body: RegisterIn) -> dict[str, Any]:
        """Create an account (student or instructor) and log it in."""
        session = await identity.register(
            email=body.email,
            password=body.password,
            full_name=body.full_name,
            role=body.role,
            timezone=body.timezone,
        )
        return _session_out(session)

    @router.post("/api/auth/login")
    async def login(body: LoginIn) -> dict[str, Any]:
        """Exchange an email and password for an access token."""
        return _session_out(await identity.login(email=body.email, password=body.password))

    @router.post("/api/auth/dev-token", include_in_schema=dev)
    async def dev_token(body: DevTokenIn) -> dict[str, Any]:
        """Dev mode only: a token for any email and role, creating the account if needed
        (an existing account keeps its role)."""
        if not dev:
            raise NotFound("not found")
        return _session_out(
            await identity.dev_token(email=body.email, role=body.role, full_name=body.full_name)
        )

    @router.get("/api/me")
    async def me(actor: CurrentActor) -> dict[str, Any]:
        """The caller's account."""
        return _user_out(await identity.me(actor.user_id)).model_dump(by_alias=True, mode="json")

    router.include_router(build_forwarding_router(services, current_actor))
    return router


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(AccountRejected)
    async def rejected(request: Request, exc: AccountRejected) -> JSONResponse:
        errors = [{"field": p.field, "message": p.message} for p in exc.problems]
        return problem_response(422, "Invalid request", str(exc), instance=request.url.path, errors=errors)

    @app.exception_handler(EmailTaken)
    async def taken(request: Request, exc: EmailTaken) -> JSONResponse:
        return problem_response(
            409,
            "Email already registered",
            "An account with this email exists; log in instead.",
            instance=request.url.path,
        )

    @app.exception_handler(LoginFailed)
    async def login_failed(request: Request, exc: LoginFailed) -> JSONResponse:
        return problem_response(
            401, "Login failed", "The email or the password is wrong.", instance=request.url.path
        )

    @app.exception_handler(NotFound)
    async def not_found(request: Request, exc: NotFound) -> JSONResponse:
        return problem_response(404, "Not found", str(exc), instance=request.url.path)

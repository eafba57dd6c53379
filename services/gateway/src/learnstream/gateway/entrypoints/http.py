"""HTTP routes of the gateway: identity (register, log in, dev token, me, erasure), and the
composed, live and forwarded routes of the public API.

Every route but register, login, the dev token and an erasure's status takes the caller
from ``Authorization: Bearer <token>`` and counts against the caller's rate limit.
"""

from datetime import datetime
from typing import Annotated, Any, Literal
from uuid import UUID

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse
from pydantic import Field

from learnstream.gateway.adapters.live import LiveHub
from learnstream.gateway.adapters.services import ContextServices
from learnstream.gateway.adapters.users import EmailTaken, User
from learnstream.gateway.domain.accounts import AccountRejected
from learnstream.gateway.entrypoints.pages import build_pages_router
from learnstream.gateway.entrypoints.routes import build_forwarding_router
from learnstream.gateway.entrypoints.security import Guard
from learnstream.gateway.entrypoints.stream import build_stream_router
from learnstream.gateway.service_layer.composition import Composer
from learnstream.gateway.service_layer.erasure import ErasureTracker
from learnstream.gateway.service_layer.identity import IdentityService, LoginFailed, NotFound, Session
from learnstream.runtime.actors import Actor, require_service_token
from learnstream.runtime.problems import problem_response
from learnstream.runtime.schemas import CamelModel


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
    email: str | None
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


def _session_out(session: Session) -> SessionOut:
    return SessionOut(
        access_token=session.access_token, expires_at=session.expires_at, user=_user_out(session.user)
    )


class ProfileIn(CamelModel):
    full_name: str | None = Field(default=None, max_length=200, examples=["Ada King"])
    timezone: str | None = Field(default=None, max_length=64, examples=["Asia/Tokyo"])


class ContextErasureOut(CamelModel):
    status: Literal["pending", "confirmed"]
    confirmed_at: datetime | None = None


class ErasureOut(CamelModel):
    request_id: UUID
    status: Literal["pending", "completed"]
    requested_at: datetime
    completed_at: datetime | None
    contexts: dict[str, ContextErasureOut] = Field(
        description="progress, chat, achievements, analytics and exports: each pending until it confirms."
    )
    status_url: str = Field(description="Where to follow the request (no token needed; the id is the key).")


def build_router(
    identity: IdentityService,
    guard: Guard,
    services: ContextServices,
    composer: Composer,
    live: LiveHub,
    erasures: ErasureTracker,
    *,
    dev: bool,
    service_token: str,
) -> APIRouter:
    router = APIRouter(tags=["identity"])
    reads = guard.user(guard.limits.reads)
    Reader = Annotated[Actor, reads]
    by_address = [guard.address(guard.limits.auth)]

    @router.post(
        "/api/auth/register",
        status_code=201,
        dependencies=by_address,
        summary="Create an account (student or instructor) and log it in",
        responses={409: {"description": "The email is registered already."}},
    )
    async def register(body: RegisterIn) -> SessionOut:
        """Passwords: at least 10 characters, 4 different ones, not the email's name. Every broken
        rule is listed in ``errors``."""
        session = await identity.register(
            email=body.email,
            password=body.password,
            full_name=body.full_name,
            role=body.role,
            timezone=body.timezone,
        )
        return _session_out(session)

    @router.post(
        "/api/auth/login",
        dependencies=by_address,
        summary="Exchange an email and password for an access token",
        responses={401: {"description": "The email or the password is wrong (never saying which)."}},
    )
    async def login(body: LoginIn) -> SessionOut:
        """The token is valid for an hour; send it as ``Authorization: Bearer <token>``."""
        return _session_out(await identity.login(email=body.email, password=body.password))

    @router.post(
        "/api/auth/dev-token",
        include_in_schema=dev,
        summary="Dev mode only: a token for any email and role",
    )
    async def dev_token(body: DevTokenIn) -> SessionOut:
        """Creates the account (without a password) if needed; an existing account keeps its role.
        Not rate limited; 404 outside dev mode."""
        if not dev:
            raise NotFound("not found")
        return _session_out(
            await identity.dev_token(email=body.email, role=body.role, full_name=body.full_name)
        )

    @router.get("/api/me", summary="The caller's account")
    async def me(actor: Reader) -> UserOut:
        """Email, name, role and time zone."""
        return _user_out(await identity.me(actor.user_id))

    @router.patch(
        "/api/me",
        summary="Change the caller's display name or time zone",
    )
    async def change_profile(body: ProfileIn, actor: Reader) -> UserOut:
        """Only the fields sent change; ``UserProfileChanged`` tells the other contexts."""
        return _user_out(
            await identity.change_profile(actor.user_id, full_name=body.full_name, timezone=body.timezone)
        )

    @router.delete(
        "/api/me",
        status_code=202,
        summary="Erase the caller's account and ask every context to erase their data",
    )
    async def erase(actor: Reader, request: Request) -> ErasureOut:
        """The account is gone at once (its tokens stop working); ``statusUrl`` shows which
        contexts have confirmed erasing the learner's data."""
        request_id, _ = await identity.erase(actor.user_id)
        await live.forget(actor.user_id)
        return await _erasure(request_id, request)

    @router.get(
        "/api/erasures/{request_id}",
        dependencies=[guard.address(guard.limits.reads)],
        summary="Which contexts have confirmed an erasure request",
        responses={404: {"description": "No such request."}},
    )
    async def erasure_status(request_id: UUID, request: Request) -> ErasureOut:
        """Needs no token (the account is gone); the unguessable request id is the key."""
        return await _erasure(request_id, request)

    async def _erasure(request_id: UUID, request: Request) -> ErasureOut:
        state = await erasures.status(request_id)
        if state is None:
            raise NotFound(f"erasure request {request_id} not found")
        return ErasureOut.model_validate(
            {**state, "statusUrl": str(request.url_for("erasure_status", request_id=request_id))}
        )

    @router.get(
        "/internal/users/{user_id}",
        dependencies=[require_service_token(service_token)],
        include_in_schema=False,
    )
    async def internal_account(user_id: UUID) -> UserOut:
        """One account for another service (the exports service mails instructors' digests)."""
        return _user_out(await identity.me(user_id))

    async def account(user_id: UUID) -> dict[str, Any]:
        return _user_out(await identity.me(user_id)).model_dump(by_alias=True, mode="json")

    router.include_router(build_pages_router(composer, reads, account))
    router.include_router(build_stream_router(live, reads, identity.display_name))
    router.include_router(
        build_forwarding_router(
            services,
            {
                "reads": reads,
                "tracking": guard.user(guard.limits.tracking),
                "public": guard.address(guard.limits.reads),
            },
        )
    )
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

"""Access tokens: JWTs signed with HS256, algorithm pinned, ``exp``, ``iss`` and ``aud`` required.

A token names the user (``sub``) and their role; the gateway trusts nothing else in it.
A token that passed once is remembered until it expires, so a client's next requests skip
decoding and the HMAC (the account and its role are still looked up on every request).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from uuid import UUID, uuid4

import jwt

ALGORITHM = "HS256"
ISSUER = "learnstream-gateway"
AUDIENCE = "learnstream-api"
ROLES = ("student", "instructor", "admin")
LEEWAY = timedelta(seconds=5)
EXPIRED = "the access token has expired; log in again"


class InvalidToken(Exception):
    """The token is missing, malformed, forged, expired or meant for someone else."""


@dataclass(frozen=True)
class Claims:
    user_id: UUID
    role: str
    expires_at: datetime


class Tokens:
    """Issues and checks access tokens with one secret."""

    def __init__(
        self, secret: str, *, lifetime: timedelta = timedelta(hours=1), remembered: int = 10_000
    ) -> None:
        if len(secret.encode()) < 32:
            raise ValueError("the JWT secret must be at least 32 bytes (HS256 needs a 256-bit key)")
        self._secret = secret
        self.lifetime = lifetime
        self._remembered = remembered
        self._verified: dict[str, Claims] = {}

    def issue(self, user_id: UUID, role: str, *, now: datetime | None = None) -> tuple[str, datetime]:
        now = now or datetime.now(UTC)
        expires = now + self.lifetime
        claims = {
            "sub": str(user_id),
            "role": role,
            "iss": ISSUER,
            "aud": AUDIENCE,
            "iat": int(now.timestamp()),
            "nbf": int(now.timestamp()) - 5,
            "exp": int(expires.timestamp()),
            "jti": uuid4().hex,
        }
        return jwt.encode(claims, self._secret, algorithm=ALGORITHM), expires

    def check(self, token: str, *, now: datetime | None = None) -> Claims:
        """The token's claims, or :class:`InvalidToken` saying why not (never which secret)."""
        known = self._verified.get(token)
        if known is not None:
            if (now or datetime.now(UTC)) < known.expires_at + LEEWAY:
                return known
            del self._verified[token]
            raise InvalidToken(EXPIRED)
        claims = self._verify(token)
        if len(self._verified) >= self._remembered:
            # the oldest remembered token goes first (dicts keep insertion order)
            del self._verified[next(iter(self._verified))]
        self._verified[token] = claims
        return claims

    def _verify(self, token: str) -> Claims:
        try:
            claims = jwt.decode(
                token,
                self._secret,
                algorithms=[ALGORITHM],
                audience=AUDIENCE,
                issuer=ISSUER,
                options={"require": ["exp", "iss", "aud", "sub"]},
                leeway=LEEWAY,
            )
            user_id = UUID(claims["sub"])
        except jwt.ExpiredSignatureError as exc:
            raise InvalidToken(EXPIRED) from exc
        except (jwt.InvalidTokenError, ValueError, TypeError, KeyError) as exc:
            raise InvalidToken("the access token is not valid") from exc
        role = claims.get("role")
        if role not in ROLES:
            raise InvalidToken("the access token is not valid")
        return Claims(user_id, role, datetime.fromtimestamp(claims["exp"], UTC))

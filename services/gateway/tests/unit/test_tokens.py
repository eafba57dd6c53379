"""Access tokens: only tokens this gateway signed, unexpired, for this audience, pass."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta
from uuid import uuid4

import jwt
import pytest

from learnstream.gateway.adapters.tokens import ALGORITHM, AUDIENCE, ISSUER, InvalidToken, Tokens

SECRET = "a-test-secret-that-is-long-enough-0123456789"


def test_a_token_names_its_user_and_role() -> None:
    tokens = Tokens(SECRET)
    user = uuid4()
    token, expires = tokens.issue(user, "instructor")
    claims = tokens.check(token)
    assert (claims.user_id, claims.role) == (user, "instructor")
    assert claims.expires_at == expires.replace(microsecond=0)


def _forge(claims: dict[str, object], header: dict[str, object]) -> str:
    def part(data: dict[str, object]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()

    return f"{part(header)}.{part(claims)}."


def _claims(**changes: object) -> dict[str, object]:
    now = datetime.now(UTC)
    claims: dict[str, object] = {
        "sub": str(uuid4()),
        "role": "admin",
        "iss": ISSUER,
        "aud": AUDIENCE,
        "exp": int((now + timedelta(minutes=5)).timestamp()),
    }
    claims.update(changes)
    return {k: v for k, v in claims.items() if v is not None}


@pytest.mark.parametrize(
    "token",
    [
        pytest.param(_forge(_claims(), {"alg": "none", "typ": "JWT"}), id="alg-none"),
        pytest.param(
            jwt.encode(_claims(), "another-secret-that-is-also-long-enough-1234", algorithm=ALGORITHM),
            id="other-key",
        ),
        pytest.param(
            jwt.encode(_claims(exp=int(datetime.now(UTC).timestamp()) - 60), SECRET, algorithm=ALGORITHM),
            id="expired",
        ),
        pytest.param(
            jwt.encode(_claims(aud="someone-else"), SECRET, algorithm=ALGORITHM), id="wrong-audience"
        ),
        pytest.param(jwt.encode(_claims(iss="someone-else"), SECRET, algorithm=ALGORITHM), id="wrong-issuer"),
        pytest.param(jwt.encode(_claims(exp=None), SECRET, algorithm=ALGORITHM), id="no-expiry"),
        pytest.param(jwt.encode(_claims(role="root"), SECRET, algorithm=ALGORITHM), id="unknown-role"),
        pytest.param(jwt.encode(_claims(sub="not-a-uuid"), SECRET, algorithm=ALGORITHM), id="bad-subject"),
        pytest.param(jwt.encode(_claims(), SECRET * 2, algorithm="HS512"), id="other-algorithm"),
        pytest.param("garbage", id="garbage"),
        pytest.param("", id="empty"),
    ],
)
def test_forged_expired_and_foreign_tokens_are_refused(token: str) -> None:
    with pytest.raises(InvalidToken):
        Tokens(SECRET).check(token)


def test_a_tampered_payload_breaks_the_signature() -> None:
    tokens = Tokens(SECRET)
    token, _ = tokens.issue(uuid4(), "student")
    header, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["role"] = "admin"
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    with pytest.raises(InvalidToken):
        tokens.check(f"{header}.{forged}.{signature}")


def test_a_short_secret_is_refused() -> None:
    with pytest.raises(ValueError, match="32 bytes"):
        Tokens("short")


def test_a_remembered_token_still_expires() -> None:
    tokens = Tokens(SECRET)
    token, expires = tokens.issue(uuid4(), "student")
    first = tokens.check(token)
    assert tokens.check(token, now=expires) is first
    with pytest.raises(InvalidToken, match="expired"):
        tokens.check(token, now=expires + timedelta(seconds=6))


def test_only_so_many_tokens_are_remembered_and_a_forgotten_one_is_verified_again() -> None:
    tokens = Tokens(SECRET, remembered=2)
    issued = [tokens.issue(uuid4(), "student")[0] for _ in range(3)]
    claims = [tokens.check(token) for token in issued]
    # the first was forgotten to make room: checking it again decodes it afresh
    assert tokens.check(issued[0]) == claims[0]
    assert tokens.check(issued[0]) is not claims[0]
    assert tokens.check(issued[2]) is claims[2]
    # a token that never passed is not remembered as passing
    with pytest.raises(InvalidToken):
        tokens.check(issued[1][:-2] + "xx")

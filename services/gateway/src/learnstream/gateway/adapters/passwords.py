"""Password hashing with Argon2id (argon2-cffi's defaults, RFC 9106's second recommendation).

Verification always spends the same work, also for unknown emails (against a dummy
hash), so response times do not tell which emails are registered.
"""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

_HASHER = PasswordHasher()
_DUMMY = _HASHER.hash("not a real password, only spends the same time")


def hash_password(password: str) -> str:
    return _HASHER.hash(password)


def verify_password(stored_hash: str | None, password: str) -> bool:
    """Whether ``password`` matches ``stored_hash`` (``None``: no such account, still hashed)."""
    try:
        return _HASHER.verify(stored_hash or _DUMMY, password) and stored_hash is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def needs_rehash(stored_hash: str) -> bool:
    """Whether the hash was made with weaker parameters than today's (rehash at next login)."""
    return _HASHER.check_needs_rehash(stored_hash)

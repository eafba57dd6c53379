"""Crypto-shredding: the personal fields of events are encrypted with a key per person.

Events are kept for good: in each service's event store (the outbox, replayed after a
broker loss) and on the topics (replayed by every consumer that rebuilds). Deleting a
person's events from all of them is not possible on Kafka and would break the stores'
streams, so the fields that identify or quote a person (marked ``x-pii`` in the event
catalog: display names, questions to the assistant and its replies, conversation titles)
never leave a service in clear. :meth:`KeyVault.seal` encrypts them with AES-256-GCM
under the key of the person the event is about (its Kafka key); erasure deletes that key
(:meth:`KeyVault.shred`), after which every copy anywhere is unreadable, and stays so when
the topics are replayed or the projections rebuilt.

The keys live in their own PostgreSQL database (``LEARNSTREAM_VAULT_URL``; in production a
KMS-backed store would hold them the same way), shared by the services that write or read
personal fields. A sealed value is the text ``pii:v1:`` followed by base64url of the
12-byte nonce and the ciphertext; the associated data binds it to its person and field, so
a value copied into another person's event does not decrypt. Values without the prefix
(events from before sealing, or a deployment without a vault) are read as they are.

Consumers see the clear text: the runtime's consumer and projection reveal each batch
before handing it on, and a field whose key has been shredded reads as ``[erased]``.
"""

from __future__ import annotations

import base64
import binascii
import logging
import os
import time
from collections.abc import Iterable, Sequence
from functools import cache
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from learnstream.events import DomainEvent

log = logging.getLogger(__name__)

PREFIX = "pii:v1:"
ERASED = "[erased]"
"""What a personal field reads as once its person's key has been shredded."""

KEY_BYTES = 32
NONCE_BYTES = 12
_LOCK_ID = 0x1EA5_5AFE
"""Advisory lock taken while creating the vault's table (every service starts at once)."""

SCHEMA = """
CREATE TABLE IF NOT EXISTS pii_keys (
    subject_id  text PRIMARY KEY,
    key         bytea,
    created_at  timestamptz NOT NULL DEFAULT now(),
    shredded_at timestamptz,
    CONSTRAINT pii_keys_key_or_shredded CHECK ((key IS NULL) = (shredded_at IS NOT NULL))
)
"""


@cache
def personal_fields(model: type[DomainEvent]) -> tuple[str, ...]:
    """The fields of ``model`` marked ``x-pii`` in the catalog."""
    return tuple(
        name
        for name, info in model.model_fields.items()
        if isinstance(info.json_schema_extra, dict) and info.json_schema_extra.get("x-pii")
    )


def is_sealed(value: object) -> bool:
    return isinstance(value, str) and value.startswith(PREFIX)


def _aad(subject: str, field: str) -> bytes:
    return f"{subject}/{field}".encode()


def seal_value(key: bytes, subject: str, field: str, value: str) -> str:
    """``value`` encrypted under ``key`` for ``subject``'s ``field``."""
    nonce = os.urandom(NONCE_BYTES)
    sealed = AESGCM(key).encrypt(nonce, value.encode(), _aad(subject, field))
    return PREFIX + base64.urlsafe_b64encode(nonce + sealed).decode().rstrip("=")


def open_value(key: bytes | None, subject: str, field: str, value: str) -> str:
    """The clear text of a sealed ``value``; :data:`ERASED` without a key or if it does not decrypt."""
    if key is None:
        return ERASED
    body = value[len(PREFIX) :]
    try:
        raw = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
        return AESGCM(key).decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], _aad(subject, field)).decode()
    except (InvalidTag, ValueError, binascii.Error):
        log.warning("a sealed %s of %s does not decrypt; read as erased", field, subject)
        return ERASED


class KeyMissing(ConnectionError):
    """A sealed value's person has no row in the vault: not shredded (that leaves a row), so the
    vault is not the one the value was sealed with (a wrong URL, a restore from before). The
    event waits, as for a store out of reach, rather than be read as erased."""


class KeyVault:
    """Per-person keys in the vault database, with a short-lived cache in the process.

    A key found is kept for ``cache_seconds``; a shredded one is remembered for good. The
    process that shreds a key forgets it at once; every consumer of the erasure announcement
    forgets it as it reads it (one replica per partition of the identity topic); any other
    replica may go on using a cached key for at most ``cache_seconds``: new values it seals
    then are unreadable once the cache ends, like everything sealed before.
    """

    def __init__(self, engine: AsyncEngine, *, cache_seconds: float = 60.0, cache_size: int = 50_000) -> None:
        self.engine = engine
        self._cache_seconds = cache_seconds
        self._cache_size = cache_size
        self._keys: dict[str, tuple[bytes | None, float]] = {}

    async def create(self) -> None:
        """Create the key table if it is not there (idempotent; safe from every service at once)."""
        async with self.engine.begin() as conn:
            await conn.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": _LOCK_ID})
            await conn.execute(text(SCHEMA))

    async def close(self) -> None:
        await self.engine.dispose()

    async def check(self) -> None:
        async with self.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))

    # -- keys ------------------------------------------------------------------------------

    def _cached(self, subject: str, now: float) -> tuple[bool, bytes | None]:
        hit = self._keys.get(subject)
        if hit is None:
            return False, None
        key, until = hit
        if key is not None and until < now:
            del self._keys[subject]
            return False, None
        return True, key

    def _keep(self, subject: str, key: bytes | None, now: float) -> None:
        if len(self._keys) >= self._cache_size:
            # drop the oldest half; shredded subjects are re-read from the vault if needed
            for old in list(self._keys)[: self._cache_size // 2]:
                del self._keys[old]
        self._keys[subject] = (key, now + self._cache_seconds)

    async def keys(self, subjects: Iterable[str], *, create: bool) -> dict[str, bytes | None]:
        """Each subject's key (``None`` once shredded); one with no row (never made, when not
        ``create``) is left out."""
        now = time.monotonic()
        found: dict[str, bytes | None] = {}
        missing: list[str] = []
        for subject in dict.fromkeys(subjects):
            hit, key = self._cached(subject, now)
            if hit:
                found[subject] = key
            else:
                missing.append(subject)
        if not missing:
            return found
        async with self.engine.begin() as conn:
            if create:
                await conn.execute(
                    text(
                        "INSERT INTO pii_keys (subject_id, key)"
                        " SELECT * FROM unnest(CAST(:s AS text[]), CAST(:k AS bytea[]))"
                        " ON CONFLICT (subject_id) DO NOTHING"
                    ),
                    {"s": missing, "k": [os.urandom(KEY_BYTES) for _ in missing]},
                )
            rows = await conn.execute(
                text("SELECT subject_id, key FROM pii_keys WHERE subject_id = ANY(CAST(:s AS text[]))"),
                {"s": missing},
            )
            stored = {subject: key for subject, key in rows}
        for subject, key in stored.items():
            found[subject] = key
            self._keep(subject, bytes(key) if key is not None else None, now)
        return {subject: bytes(key) if key is not None else None for subject, key in found.items()}

    async def shred(self, subject: str) -> None:
        """Delete ``subject``'s key for good: everything sealed with it becomes unreadable, and
        anything sealed for them later is sealed with a key that is never kept."""
        async with self.engine.begin() as conn:
            await conn.execute(
                text(
                    "INSERT INTO pii_keys (subject_id, key, shredded_at) VALUES (:s, NULL, now())"
                    " ON CONFLICT (subject_id) DO UPDATE SET key = NULL,"
                    " shredded_at = coalesce(pii_keys.shredded_at, now())"
                ),
                {"s": subject},
            )
        self._keys[subject] = (None, float("inf"))

    def forget(self, subject: str) -> None:
        """Drop ``subject``'s cached key (their erasure was announced)."""
        self._keys.pop(subject, None)

    # -- events ----------------------------------------------------------------------------

    async def seal(self, events: Sequence[DomainEvent]) -> list[dict[str, Any]]:
        """Each event's JSON data with its personal fields sealed under its subject's key."""
        subjects = [event.key() for event in events if _has_personal_data(event)]
        keys = await self.keys(subjects, create=True) if subjects else {}
        sealed: list[dict[str, Any]] = []
        for event in events:
            data = event.to_json_data()
            if _has_personal_data(event):
                subject = event.key()
                # a shredded person: seal with a key nobody keeps, so the value is never readable
                key = keys.get(subject) or os.urandom(KEY_BYTES)
                for name in personal_fields(type(event)):
                    value = data.get(name)
                    # every string, even one that looks sealed: a person may type "pii:v1:"
                    if isinstance(value, str):
                        data[name] = seal_value(key, subject, name, value)
            sealed.append(data)
        return sealed

    async def reveal(self, events: Sequence[DomainEvent]) -> list[DomainEvent]:
        """The events with their sealed fields in clear text (:data:`ERASED` once shredded)."""
        sealed = [event for event in events if _sealed_fields(event)]
        if not sealed:
            return list(events)
        subjects = {event.key() for event in sealed}
        keys = await self.keys(subjects, create=False)
        if missing := sorted(subjects - keys.keys()):
            raise KeyMissing(f"no key in the vault for {len(missing)} people, e.g. {missing[0]}")
        return [self._opened(event, keys) if _sealed_fields(event) else event for event in events]

    @staticmethod
    def _opened(event: DomainEvent, keys: dict[str, bytes | None]) -> DomainEvent:
        subject = event.key()
        key = keys.get(subject)
        update = {
            name: open_value(key, subject, name, getattr(event, name)) for name in _sealed_fields(event)
        }
        return event.model_copy(update=update)


def _has_personal_data(event: DomainEvent) -> bool:
    return any(isinstance(getattr(event, name), str) for name in personal_fields(type(event)))


def _sealed_fields(event: DomainEvent) -> list[str]:
    return [name for name in personal_fields(type(event)) if is_sealed(getattr(event, name))]

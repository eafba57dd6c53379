"""The async SQLAlchemy engine of a service's own database, and its migrations.

Migrations are ordered SQL files shipped inside each package (``<pkg>/migrations``),
applied once each and recorded in ``schema_migrations``. A hand-written runner
rather than Alembic because every service needs the same few lines, the files read
as plain SQL, and an advisory lock makes concurrent replicas start safely.
"""

from __future__ import annotations

import hashlib
import importlib.resources
import logging
import re
from dataclasses import dataclass
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, InterfaceError, InvalidatePoolError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

log = logging.getLogger(__name__)

_MIGRATION_LOCK = 7_340_001  # advisory lock id for "migrations running"


def create_engine(url: str, *, pool_size: int = 10, custom_plans: bool = False) -> AsyncEngine:
    """An asyncpg engine whose pool hands out no connection the server has closed, so a
    restarted PostgreSQL is survived.

    A pooled connection is checked when it is taken: if its socket was closed (a server
    that stops or restarts ends every session, and asyncpg sees the socket close), the
    pool drops it and every connection opened before it, and opens a new one. SQLAlchemy's
    ``pool_pre_ping`` does the same by asking the server (``BEGIN``, an empty query,
    ``ROLLBACK`` with asyncpg): three round trips on every checkout, 7 % of the chat
    service's CPU for a sidebar page in a profile.

    Statement parameters are kept out of error messages: they hold learners' data, and
    errors end up in logs and dead-letter headers that erasure cannot reach.

    ``custom_plans`` plans every execution of a prepared statement for its parameters.
    PostgreSQL otherwise switches to one generic plan after five executions, which for a
    full-text search cannot know whether a word is rare or common (measured: twice as slow).
    """
    connect_args = {"server_settings": {"plan_cache_mode": "force_custom_plan"}} if custom_plans else {}
    engine = create_async_engine(
        url,
        pool_size=pool_size,
        max_overflow=pool_size,
        hide_parameters=True,
        connect_args=connect_args,
    )
    event.listen(engine.sync_engine.pool, "checkout", _refuse_closed_connection)
    return engine


def _refuse_closed_connection(dbapi_connection: Any, _record: object, _proxy: object) -> None:
    if dbapi_connection.driver_connection.is_closed():
        # raised in a checkout listener, this makes the pool invalidate and reconnect
        raise InvalidatePoolError("the server closed this pooled connection")


def session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


@dataclass(frozen=True)
class Migration:
    """One SQL file: ``<package>:<file name>`` is its identity."""

    package: str
    name: str
    sql: str

    @property
    def key(self) -> str:
        return f"{self.package}:{self.name}"

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()


def package_migrations(package: str) -> list[Migration]:
    """The ``*.sql`` files in ``<package>/migrations``, sorted by name (none if no folder)."""
    folder = importlib.resources.files(package).joinpath("migrations")
    if not folder.is_dir():
        return []
    files = sorted((entry for entry in folder.iterdir() if entry.name.endswith(".sql")), key=lambda e: e.name)
    return [Migration(package, entry.name, entry.read_text()) for entry in files]


async def migrate(engine: AsyncEngine, migrations: list[Migration]) -> list[str]:
    """Apply the migrations not applied yet, in order; return the keys applied now.

    A migration that was applied with different content is refused: edit by adding
    a new file, never by changing an applied one.
    """
    applied_now: list[str] = []
    async with engine.begin() as conn:
        await conn.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": _MIGRATION_LOCK})
        await conn.execute(
            text(
                "CREATE TABLE IF NOT EXISTS schema_migrations ("
                " key text PRIMARY KEY, checksum text NOT NULL,"
                " applied_at timestamptz NOT NULL DEFAULT now())"
            )
        )
        rows = await conn.execute(text("SELECT key, checksum FROM schema_migrations"))
        done = {key: checksum for key, checksum in rows}
        for migration in migrations:
            if migration.key in done:
                if done[migration.key] != migration.checksum:
                    raise RuntimeError(f"applied migration {migration.key} was changed afterwards")
                continue
            raw = await conn.get_raw_connection()
            # asyncpg's simple-query protocol runs a whole multi-statement file at once
            await raw.driver_connection.execute(migration.sql)  # type: ignore[union-attr]
            await conn.execute(
                text("INSERT INTO schema_migrations (key, checksum) VALUES (:key, :checksum)"),
                {"key": migration.key, "checksum": migration.checksum},
            )
            applied_now.append(migration.key)
    if applied_now:
        log.info("migrations applied", extra={"migrations": applied_now})
    return applied_now


async def ensure_database(url: str) -> bool:
    """Create the database named in ``url`` if it does not exist; True if created.

    Used by the embedded stack and tests, where one server holds every service's
    database. Production databases are provisioned by the platform.
    """
    target = make_url(url)
    if not re.fullmatch(r"[a-z][a-z0-9_]*", target.database or ""):
        raise ValueError(f"refusing to create database {target.database!r}: use [a-z][a-z0-9_]*")
    admin = create_async_engine(target.set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        async with admin.connect() as conn:
            exists = await conn.scalar(
                text("SELECT 1 FROM pg_database WHERE datname = :name"), {"name": target.database}
            )
            if exists:
                return False
            await conn.exec_driver_sql(f'CREATE DATABASE "{target.database}"')
            return True
    finally:
        await admin.dispose()


_TRANSIENT_SQLSTATES = {"40001", "40P01", "57P01", "57P03", "08000", "08003", "08006", "53300"}


_TRANSIENT = (OperationalError, InterfaceError, PoolTimeout, ConnectionError, TimeoutError, OSError)
STORE_ERRORS: tuple[type[Exception], ...] = (*_TRANSIENT, DBAPIError)
"""The exceptions a store raises: :func:`is_transient` and :func:`is_unstorable_text` sort them."""


def is_transient(error: BaseException) -> bool:
    """Whether ``error`` says the store is (briefly) unusable or busy, rather than the work bad."""
    if isinstance(error, _TRANSIENT):
        return True
    if isinstance(error, DBAPIError):
        if error.connection_invalidated:
            return True
        sqlstate = getattr(error.orig, "sqlstate", None) or getattr(error.orig, "pgcode", None)
        return sqlstate in _TRANSIENT_SQLSTATES
    return False


_UNSTORABLE_TEXT_SQLSTATES = {"22021", "22P05"}
"""character_not_in_repertoire (a NUL in text) and untranslatable_character."""


def is_unstorable_text(error: BaseException) -> bool:
    """Whether PostgreSQL refused a value of the request itself: text it cannot store (NUL)."""
    if isinstance(error, DBAPIError):
        sqlstate = getattr(error.orig, "sqlstate", None) or getattr(error.orig, "pgcode", None)
        return sqlstate in _UNSTORABLE_TEXT_SQLSTATES
    return False

"""The engine's pool survives a PostgreSQL that ended its sessions (a restart ends all)."""

from __future__ import annotations

import asyncio

import asyncpg
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine


async def _terminate(database_url: str, pids: list[int]) -> None:
    url = make_url(database_url)
    admin = await asyncpg.connect(
        host=url.host, port=url.port, user=url.username, password=url.password, database=url.database
    )
    try:
        await admin.execute("SELECT pg_terminate_backend(pid) FROM unnest($1::int[]) AS pid", pids)
    finally:
        await admin.close()


async def test_connections_the_server_closed_are_replaced_when_taken(
    engine: AsyncEngine, database_url: str
) -> None:
    async def backend_pid() -> int:
        async with engine.connect() as conn:
            pid = await conn.scalar(text("SELECT pg_backend_pid()"))
            await asyncio.sleep(0.05)  # held together, so the pool keeps two connections
            return int(pid)

    before = await asyncio.gather(backend_pid(), backend_pid())
    assert len(set(before)) == 2
    await _terminate(database_url, before)
    await asyncio.sleep(0.2)  # the pooled sockets see the server close them

    after = await asyncio.gather(backend_pid(), backend_pid())

    assert not set(after) & set(before)

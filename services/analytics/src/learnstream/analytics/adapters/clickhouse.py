"""The ClickHouse connection: chDB in-process in the embedded stack, HTTP in production.

clickhouse-connect's async client does not support chDB, so the sync client runs
in a one-thread executor: one thread also serialises access to the embedded
engine, which allows one process per data directory anyway.

A ClickHouse server out of reach (connection refused or reset, no answer in time, a proxy's
503 after the client's retries) surfaces from clickhouse-connect as an ``OperationalError``
without a ClickHouse error code; every call raises it as :class:`ClickHouseUnavailable`,
which is also a ``ConnectionError``: the store is down, the request was fine, so the
service's problem handlers answer 503 (``learnstream.runtime.db.is_transient``).

The embedded engine cannot be stopped from outside, so the fault suite makes it unreachable
with the failpoint ``clickhouse.unavailable``: while it is armed (``learnstream.runtime
.failpoints.failing``), every call fails as a call to a stopped server would.
"""

from __future__ import annotations

import asyncio
import errno
import functools
import re
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import clickhouse_connect
from clickhouse_connect.driver.client import Client
from clickhouse_connect.driver.exceptions import OperationalError

from learnstream.runtime import failpoints

T = TypeVar("T")

UNAVAILABLE = "clickhouse.unavailable"
"""The failpoint that makes ClickHouse unreachable while it is armed."""


class ClickHouseUnavailable(OperationalError, ConnectionError):
    """ClickHouse could not be reached, or gave no answer: the store is down, not the query wrong."""


def _unreachable() -> OperationalError:
    """What clickhouse-connect raises when nothing listens at the server's address."""
    refused = ConnectionRefusedError(errno.ECONNREFUSED, "Connection refused")
    error = OperationalError(f"Error {refused} executing HTTP request attempt 1")
    error.__cause__ = refused
    return error


def _call(func: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """``func`` on the client's thread; a failure to reach the server as :class:`ClickHouseUnavailable`."""
    try:
        if failpoints.failing(UNAVAILABLE):
            raise _unreachable()
        return func(*args, **kwargs)
    except ClickHouseUnavailable:
        raise
    except OperationalError as exc:
        if exc.code is not None:  # the engine answered with an error of its own
            raise
        raise ClickHouseUnavailable(str(exc)) from exc


class ClickHouse:
    """A ClickHouse client usable from async code."""

    def __init__(self, url: str, database: str, cluster: str = "") -> None:
        for what, name in (("database", database), ("cluster", cluster)):
            if name and not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
                raise ValueError(f"ClickHouse {what} name {name!r} must match [A-Za-z_][A-Za-z0-9_]*")
        self._url = url
        self.database = database
        self.cluster = cluster
        self._client: Client | None = None
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="clickhouse")

    @property
    def embedded(self) -> bool:
        return self._url.startswith("chdb:")

    def _open(self) -> Client:
        if self.embedded:
            path = self._url.removeprefix("chdb://")
            if path.startswith("/"):
                Path(path).mkdir(parents=True, exist_ok=True)
        return clickhouse_connect.get_client(dsn=self._url)

    async def _run(self, func: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, functools.partial(_call, func, *args, **kwargs))

    async def connect(self) -> None:
        """Open the connection and create the database (on the cluster when one is named)."""

        def open_and_create() -> None:
            self._client = self._open()
            on_cluster = f" ON CLUSTER '{self.cluster}'" if self.cluster else ""
            self._client.command(f"CREATE DATABASE IF NOT EXISTS `{self.database}`{on_cluster}")

        await self._run(open_and_create)

    def _require(self) -> Client:
        if self._client is None:
            raise ConnectionError("ClickHouse is not connected")
        return self._client

    async def command(self, sql: str, parameters: dict[str, Any] | None = None) -> Any:
        client = self._require()
        return await self._run(client.command, sql, parameters=parameters)

    async def query_rows(self, sql: str, parameters: dict[str, Any] | None = None) -> Sequence[Sequence[Any]]:
        client = self._require()
        result = await self._run(client.query, sql, parameters=parameters)
        return result.result_rows

    async def insert(self, table: str, rows: Sequence[Sequence[Any]], column_names: Sequence[str]) -> None:
        """Insert ``rows`` (one sequence of values per row, in ``column_names`` order) into ``table``."""
        client = self._require()
        await self._run(client.insert, table, rows, column_names=list(column_names), database=self.database)

    async def raw_query(
        self,
        sql: str,
        *,
        fmt: str | None = None,
        parameters: dict[str, Any] | None = None,
        settings: dict[str, Any] | None = None,
    ) -> bytes:
        """Run ``sql`` and return ClickHouse's answer as bytes in format ``fmt`` (or the query's own).

        ``settings`` are applied with ``SET`` around the query on the embedded engine, so a
        setting that forbids changing settings afterwards (``readonly``) must go in the
        query's own ``SETTINGS`` clause instead.
        """
        client = self._require()
        return await self._run(client.raw_query, sql, parameters=parameters, settings=settings, fmt=fmt)

    async def ping(self) -> None:
        rows = await self.query_rows("SELECT 1")
        if rows != [(1,)]:
            raise ConnectionError(f"ClickHouse answered {rows!r} to SELECT 1")

    async def close(self) -> None:
        if self._client is not None:
            # closing sends nothing to the server: no failpoint, and nothing to be unavailable
            loop = asyncio.get_running_loop()
            await loop.run_in_executor(self._executor, self._client.close)
            self._client = None
        self._executor.shutdown(wait=False)

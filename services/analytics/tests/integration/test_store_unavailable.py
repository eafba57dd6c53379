"""ClickHouse out of reach, as the analytics service sees it: a server nobody answers at, and
the embedded engine made unreachable with the ``clickhouse.unavailable`` failpoint (what the
fault suite arms). Either way every call raises :class:`ClickHouseUnavailable`, which the
runtime counts as a store outage: a request answers 503 problem+json (not 500), and the
connection it came on stays usable."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from clickhouse_connect.driver.exceptions import OperationalError
from fastapi import FastAPI

from learnstream.analytics.adapters.clickhouse import UNAVAILABLE, ClickHouse, ClickHouseUnavailable
from learnstream.devstack.servers import free_port
from learnstream.runtime import failpoints
from learnstream.runtime.db import is_transient
from learnstream.runtime.problems import install_problem_handlers

pytestmark = pytest.mark.integration

SERVICE = "analytics"


@pytest.fixture
def failpoint_dir(tmp_path: Path) -> Iterator[Path]:
    """Failpoints of this process looked for in a directory of the test's own (off after)."""
    failpoints.configure(str(tmp_path), SERVICE)
    try:
        yield tmp_path
    finally:
        failpoints.configure("", "")


@pytest.fixture
async def clickhouse(clickhouse_url: str) -> AsyncIterator[ClickHouse]:
    connected = ClickHouse(clickhouse_url, f"t_{uuid.uuid4().hex[:12]}")
    await connected.connect()
    await connected.command(f"CREATE TABLE `{connected.database}`.t (x UInt8) ENGINE = MergeTree ORDER BY x")
    try:
        yield connected
    finally:
        await connected.close()


def refused(error: BaseException) -> bool:
    """Whether ``error`` was caused, somewhere down its chain, by a refused connection."""
    seen: BaseException | None = error
    while seen is not None:
        if isinstance(seen, ConnectionRefusedError) or "Connection refused" in str(seen):
            return True
        seen = seen.__cause__
    return False


async def test_a_server_nobody_answers_at_is_unavailable() -> None:
    nowhere = ClickHouse(f"http://127.0.0.1:{free_port()}/", "analytics")
    try:
        with pytest.raises(ClickHouseUnavailable) as raised:
            await nowhere.connect()
    finally:
        await nowhere.close()
    assert isinstance(raised.value, OperationalError)  # still what clickhouse-connect callers catch
    assert is_transient(raised.value)
    assert refused(raised.value)


async def test_while_the_failpoint_is_armed_every_call_fails_as_an_unreachable_server(
    clickhouse: ClickHouse, failpoint_dir: Path
) -> None:
    armed = failpoints.arm(failpoint_dir, UNAVAILABLE, SERVICE)
    calls = {
        "command": lambda: clickhouse.command("SELECT 1"),
        "query_rows": lambda: clickhouse.query_rows("SELECT 1"),
        "insert": lambda: clickhouse.insert("t", [[1]], ["x"]),
        "raw_query": lambda: clickhouse.raw_query("SELECT 1"),
        "ping": clickhouse.ping,
    }
    for name, call in calls.items():
        with pytest.raises(ClickHouseUnavailable) as raised:
            await call()
        assert is_transient(raised.value), name
        assert refused(raised.value), name
    assert armed.exists()  # a condition, not a one-off: reaching it does not disarm it
    failpoints.disarm(failpoint_dir, UNAVAILABLE, SERVICE)
    assert await clickhouse.query_rows("SELECT 1") == [(1,)]
    await clickhouse.insert("t", [[1]], ["x"])  # nothing of the outage stays behind
    count = f"SELECT count() FROM `{clickhouse.database}`.t"  # noqa: S608 (a name of ours)
    assert await clickhouse.query_rows(count) == [(1,)]


async def test_a_failpoint_of_another_service_does_not_hold_here(
    clickhouse: ClickHouse, failpoint_dir: Path
) -> None:
    failpoints.arm(failpoint_dir, UNAVAILABLE, "achievements")
    assert await clickhouse.query_rows("SELECT 1") == [(1,)]


async def test_a_request_while_clickhouse_is_unreachable_answers_503_and_keeps_its_connection(
    clickhouse: ClickHouse, failpoint_dir: Path
) -> None:
    app = FastAPI()
    install_problem_handlers(app)

    @app.get("/report")
    async def a_report() -> dict[str, int]:
        [(one,)] = await clickhouse.query_rows("SELECT 1")
        return {"one": one}

    failpoints.arm(failpoint_dir, UNAVAILABLE, SERVICE)
    # raise_app_exceptions: an error only the catch-all handler answered is raised again by
    # Starlette, which is what makes uvicorn drop the connection after the 500
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=True)
    async with httpx.AsyncClient(transport=transport, base_url="http://analytics") as http:
        answer = await http.get("/report")
        assert answer.status_code == 503, answer.text
        assert answer.headers["content-type"].startswith("application/problem+json")
        assert answer.json()["status"] == 503
        assert answer.headers["retry-after"] == "2"
        failpoints.disarm(failpoint_dir, UNAVAILABLE, SERVICE)
        answer = await http.get("/report")
        assert answer.status_code == 200, answer.text
        assert answer.json() == {"one": 1}

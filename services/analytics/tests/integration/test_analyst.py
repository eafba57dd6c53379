"""The analyst endpoint driven by the real clickhouse-connect HTTP client, over the embedded chDB.

Each test serves the endpoint on a free port over a database of its own, fills a table
through the service's adapter, and connects as an analyst would:
``clickhouse_connect.get_client(host="127.0.0.1", port=...)``.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import clickhouse_connect
import httpx
import pytest
from clickhouse_connect.driver.client import Client
from clickhouse_connect.driver.exceptions import DatabaseError, ProgrammingError

from learnstream.analytics.adapters.clickhouse import ClickHouse
from learnstream.analytics.entrypoints.analyst import build_analyst_app, serve_analyst
from learnstream.devstack.servers import free_port, port_is_open, wait_for_port

pytestmark = pytest.mark.integration

COLUMNS = ["id", "learner", "name", "at", "tags", "score"]
ALICE, BOB = uuid4(), uuid4()
ROWS: list[list[Any]] = [
    [
        1,
        ALICE,
        "tab\there 'quoted' back\\slash",
        datetime(2026, 3, 1, 8, 30, 15, 250000),
        ["python", "sql"],
        None,
    ],
    [2, BOB, "Zoë", datetime(2026, 3, 2, 9, 0), [], 87.5],
]


@dataclass
class Analyst:
    """The endpoint on a port, the adapter under it, and a way to connect as an analyst."""

    port: int
    clickhouse: ClickHouse

    @property
    def database(self) -> str:
        return self.clickhouse.database

    async def client(self, **options: Any) -> Client:
        return await asyncio.to_thread(
            clickhouse_connect.get_client, host="127.0.0.1", port=self.port, database=self.database, **options
        )

    async def count(self) -> int:
        rows = await self.clickhouse.query_rows(
            "SELECT count() FROM {db:Identifier}.events", parameters={"db": self.database}
        )
        return int(rows[0][0])


@pytest.fixture
async def clickhouse(clickhouse_url: str, clickhouse_database: str) -> AsyncIterator[ClickHouse]:
    adapter = ClickHouse(clickhouse_url, clickhouse_database)
    await adapter.connect()
    await adapter.command(
        f"CREATE TABLE `{clickhouse_database}`.events (id UInt32, learner UUID, name String,"
        " at DateTime64(3), tags Array(String), score Nullable(Float64)) ENGINE = MergeTree ORDER BY id"
    )
    await adapter.insert("events", ROWS, COLUMNS)
    yield adapter
    await adapter.close()


async def serve(clickhouse: ClickHouse, **limits: int) -> tuple[int, asyncio.Task[None]]:
    port = free_port()
    task = asyncio.create_task(serve_analyst(build_analyst_app(clickhouse, **limits), "127.0.0.1", port))
    await wait_for_port("127.0.0.1", port, timeout=10, what="the analyst endpoint")
    return port, task


async def stop(task: asyncio.Task[None]) -> None:
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


@pytest.fixture
async def analyst(clickhouse: ClickHouse) -> AsyncIterator[Analyst]:
    port, task = await serve(clickhouse)
    yield Analyst(port, clickhouse)
    await stop(task)


async def test_an_analyst_reads_rows_of_every_type(analyst: Analyst) -> None:
    client = await analyst.client()

    result = await asyncio.to_thread(client.query, "SELECT * FROM events ORDER BY id")

    assert result.column_names == tuple(COLUMNS)
    assert [list(row) for row in result.result_rows] == ROWS
    assert isinstance(result.result_rows[0][1], UUID)


async def test_server_side_parameters_bind_exactly_what_the_analyst_sent(analyst: Analyst) -> None:
    client = await analyst.client()
    tricky = ROWS[0][2]

    by_name = await asyncio.to_thread(
        client.query, "SELECT id FROM events WHERE name = {name:String}", parameters={"name": tricky}
    )
    by_values = await asyncio.to_thread(
        client.query,
        "SELECT id FROM events WHERE id IN {ids:Array(UInt32)} AND learner = {learner:UUID}"
        " AND at > {after:DateTime64(3)} ORDER BY id",
        parameters={"ids": [1, 2], "learner": BOB, "after": datetime(2026, 3, 1)},
    )
    echoed = await asyncio.to_thread(
        client.query,
        "SELECT {text:String}, {missing:Nullable(String)}",
        parameters={"text": tricky, "missing": None},
    )

    assert by_name.result_rows == [(1,)]
    assert by_values.result_rows == [(2,)]
    assert echoed.result_rows == [(tricky, None)]


async def test_long_parameters_arrive_in_a_multipart_form(analyst: Analyst) -> None:
    client = await analyst.client(form_encode_query_params=True)
    long_text = "é" * 5000 + "\t'\\"

    result = await asyncio.to_thread(
        client.query,
        "SELECT {text:String} = repeat('é', 5000) || '\t\\'\\\\'",
        parameters={"text": long_text},
    )

    assert result.result_rows == [(True,)]


async def test_an_analyst_explores_the_schema(analyst: Analyst) -> None:
    client = await analyst.client()

    described = await asyncio.to_thread(client.query, "DESCRIBE TABLE events")
    tables = await asyncio.to_thread(client.query, "SHOW TABLES")
    exists = await asyncio.to_thread(client.command, "EXISTS TABLE events")
    one = await asyncio.to_thread(client.command, "SELECT 1")
    json_lines = await asyncio.to_thread(
        client.raw_query, "SELECT id FROM events ORDER BY id FORMAT JSONEachRow"
    )
    plan = await asyncio.to_thread(client.query, "EXPLAIN indexes = 1 SELECT name FROM events WHERE id = 1")

    assert [(row[0], row[1]) for row in described.result_rows] == [
        ("id", "UInt32"),
        ("learner", "UUID"),
        ("name", "String"),
        ("at", "DateTime64(3)"),
        ("tags", "Array(String)"),
        ("score", "Nullable(Float64)"),
    ]
    assert tables.result_rows == [("events",)]
    assert exists == 1
    assert one == 1
    assert json_lines == b'{"id":1}\n{"id":2}\n'
    assert any("ReadFromMergeTree" in row[0] for row in plan.result_rows)


async def test_unions_with_clauses_and_a_statements_own_settings_run(analyst: Analyst) -> None:
    client = await analyst.client()

    union = await asyncio.to_thread(
        client.query,
        "WITH 10 AS shift SELECT id + shift FROM events UNION ALL SELECT 100 ORDER BY 1 SETTINGS max_threads = 1",
    )
    own_settings = await asyncio.to_thread(
        client.query, "SELECT getSetting('max_block_size') SETTINGS max_block_size = 77, log_comment = 'a, b'"
    )
    client_settings = await asyncio.to_thread(
        client.query, "SELECT getSetting('max_block_size')", settings={"max_block_size": 1234}
    )
    frame = await asyncio.to_thread(client.query_df, "SELECT id, name FROM events ORDER BY id")

    assert sorted(union.result_rows) == [(11,), (12,), (100,)]
    assert own_settings.result_rows == [(77,)]
    assert client_settings.result_rows == [(1234,)]
    assert frame["id"].tolist() == [1, 2]


async def test_the_analyst_cannot_lift_the_time_limit(clickhouse: ClickHouse) -> None:
    port, task = await serve(clickhouse, max_execution_seconds=1)
    client = await Analyst(port, clickhouse).client()
    try:
        granted = await asyncio.to_thread(
            client.query, "SELECT getSetting('max_execution_time')", settings={"max_execution_time": 3600}
        )
        with pytest.raises(DatabaseError) as slow:
            await asyncio.to_thread(
                client.query, "SELECT sleep(1) FROM numbers(3) SETTINGS max_block_size = 1"
            )
    finally:
        await stop(task)

    assert granted.result_rows == [(1,)]
    assert slow.value.code == 159


@pytest.mark.parametrize(
    "statement",
    [
        pytest.param("INSERT INTO events (id, name) VALUES (3, 'mallory')", id="insert"),
        pytest.param("INSERT INTO events (id) SELECT number FROM numbers(5)", id="insert-select"),
        pytest.param("DROP TABLE events", id="drop"),
        pytest.param("CREATE TABLE copy (id UInt32) ENGINE = Memory", id="create"),
        pytest.param("ALTER TABLE events DELETE WHERE 1", id="alter"),
        pytest.param("TRUNCATE TABLE events", id="truncate"),
        pytest.param("DELETE FROM events WHERE 1", id="delete"),
        pytest.param("SYSTEM DROP MARK CACHE", id="system"),
        pytest.param("OPTIMIZE TABLE events FINAL", id="optimize"),
        pytest.param("SET max_threads = 1", id="set"),
        pytest.param("SELECT * FROM file('/etc/passwd', 'LineAsString')", id="file-table-function"),
        pytest.param("SELECT * FROM url('http://127.0.0.1:9/', 'LineAsString')", id="url-table-function"),
        pytest.param("DESCRIBE TABLE file('/etc/passwd', 'CSVWithNames')", id="describe-file"),
        pytest.param("SELECT file('/etc/hostname')", id="file-function"),
        pytest.param("SELECT 1; DROP TABLE events", id="multi-statement"),
        pytest.param("EXPLAIN PIPELINE INSERT INTO events (id) SELECT 1", id="explain-insert"),
        pytest.param("SELECT * FROM events INTO OUTFILE '{tmp}/out.tsv'", id="into-outfile"),
    ],
)
async def test_statements_that_write_or_reach_outside_are_refused(
    analyst: Analyst, statement: str, tmp_path: Path
) -> None:
    client = await analyst.client()

    with pytest.raises(DatabaseError) as refused:
        await asyncio.to_thread(client.command, statement.format(tmp=tmp_path))

    assert refused.value.code == 164
    assert re.search(r"read-?only", str(refused.value))
    assert await analyst.count() == len(ROWS)
    assert not (tmp_path / "out.tsv").exists()
    await analyst.clickhouse.insert("events", [[3, ALICE, "later", datetime(2026, 3, 3), [], 1.0]], COLUMNS)
    assert await analyst.count() == len(ROWS) + 1


async def test_a_refusal_is_logged_by_kind_without_its_parameters(
    analyst: Analyst, caplog: pytest.LogCaptureFixture
) -> None:
    client = await analyst.client()
    caplog.set_level(logging.INFO, logger="learnstream.analytics.entrypoints.analyst")

    with pytest.raises(DatabaseError):
        await asyncio.to_thread(
            client.command,
            "INSERT INTO events (name) SELECT {secret:String}",
            parameters={"secret": "hunter2"},
        )

    assert "Analyst endpoint refused InsertQuery" in caplog.text
    assert "hunter2" not in caplog.text


async def test_the_client_cannot_switch_read_only_off(analyst: Analyst) -> None:
    client = await analyst.client()

    with pytest.raises(ProgrammingError, match="readonly"):
        await asyncio.to_thread(client.query, "SELECT 1", settings={"readonly": 0})
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{analyst.port}") as http:
        sent_anyway = await http.post("/", params={"readonly": "0"}, content=b"SELECT 1")

    assert sent_anyway.headers["X-ClickHouse-Exception-Code"] == "164"
    assert "Cannot modify 'readonly' setting in readonly mode" in sent_anyway.text


async def test_a_parameter_is_never_pasted_into_the_sql(analyst: Analyst, tmp_path) -> None:  # type: ignore[no-untyped-def]
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET-LINE\n")
    attacks = [
        # a placeholder-looking client setting once made clickhouse-connect format the SQL
        # client-side, pasting the parameter's text into a statement the check never saw
        {"log_comment": "{x:", "param_x": f"' || file('{secret}') || '"},
        {"log_comment": "{x:", "param_x": "' AS v) SETTINGS readonly = 0 --"},
    ]
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{analyst.port}") as http:
        for attack in attacks:
            answer = await http.get("/", params={"query": "SELECT '%(x)s' AS v", **attack})
            assert "TOP-SECRET" not in answer.text
            assert answer.status_code == 200, answer.text
            assert answer.text == "%(x)s\n"


async def test_errors_are_answered_the_way_clickhouse_answers_them(analyst: Analyst) -> None:
    client = await analyst.client()

    with pytest.raises(DatabaseError) as syntax:
        await asyncio.to_thread(client.query, "SELEC id FROM events")
    with pytest.raises(DatabaseError) as unknown:
        await asyncio.to_thread(client.query, "SELECT * FROM no_such_table")
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{analyst.port}") as http:
        ping = await http.get("/ping")
        over_get = await http.get(
            "/", params={"query": "SELECT count() FROM events", "database": analyst.database}
        )
        refused = await http.post("/", content=b"DROP TABLE events")
        broken = await http.post("/", content=b"SELECT (")

    assert syntax.value.code == 62
    assert "Syntax error" in str(syntax.value)
    assert unknown.value.code == 60
    assert (ping.status_code, ping.text) == (200, "Ok.\n")
    assert (over_get.status_code, over_get.text) == (200, "2\n")
    assert over_get.headers["X-ClickHouse-Format"] == "TabSeparated"
    assert over_get.headers["X-ClickHouse-Query-Id"]
    assert refused.status_code == 500
    assert refused.headers["X-ClickHouse-Exception-Code"] == "164"
    assert refused.text.startswith("Code: 164. DB::Exception: ")
    assert "(READONLY)" in refused.text
    assert broken.status_code == 400
    assert broken.headers["X-ClickHouse-Exception-Code"] == "62"


async def test_cancelling_the_server_task_closes_the_port(clickhouse: ClickHouse) -> None:
    port, task = await serve(clickhouse)

    await stop(task)

    assert not port_is_open("127.0.0.1", port)

"""A read-only ClickHouse HTTP endpoint for data analysts, served by the analytics service.

In the embedded stack the ClickHouse data lives in chDB inside this process, and chDB lets
one process open a data directory, so analysts cannot open it themselves. This endpoint
speaks enough of ClickHouse's HTTP interface for clickhouse-connect, curl and BI tools:
``GET /ping``, ``GET /?query=...`` and ``POST /`` with the query in the body, the ``query``
URL parameter or a multipart form; ``param_<name>`` values for ``{name:Type}``
placeholders; the ``database`` and ``default_format`` parameters; other URL parameters as
query settings; answers in any output format with ClickHouse's ``X-ClickHouse-*`` headers,
and errors as ``Code: N. DB::Exception: ...`` bodies with ``X-ClickHouse-Exception-Code``.
Responses are never compressed (the client reads the absent ``Content-Encoding``).

It is written by hand because no library serves ClickHouse's HTTP protocol. How reads stay
reads, in order:

1. ClickHouse itself parses the request text (``formatQuerySingleLine``, the text bound as
   a parameter, never spliced): that refuses multi-statement input and yields one
   canonical statement without comments, which alone is ever put into SQL text.
2. ``EXPLAIN AST`` of that statement must be a read kind (SELECT, SHOW, DESCRIBE, EXISTS),
   without ``INTO OUTFILE``, table functions other than generators and views of tables
   (no ``file``, ``url``, ``remote``, chDB's ``python``...), and without the ``file()``
   scalar function, which reads files even in read-only mode.
3. The statement runs with a SETTINGS clause this module writes last:
   ``readonly = 1`` (the engine refuses writes and table functions that read files or
   URLs) plus caps on execution time and result size. A SELECT becomes the subquery of
   ``SELECT * FROM (...)`` so the clause covers every part of a UNION. The statement's own
   trailing SETTINGS and the client's setting parameters go before ours: settings in a
   clause apply in order and the last one wins, so nothing the client sends can undo ours.

``readonly = 1`` also marks every setting read-only in ``system.settings``, where
clickhouse-connect learns which settings it may send; a SELECT that reads that table and
nothing else therefore runs with ``readonly = 2`` (settings changeable, data not), so the
listing says what this endpoint honours.
"""

from __future__ import annotations

import asyncio
import contextlib
import email.parser
import email.policy
import json
import logging
import re
import socket
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import uvicorn
from clickhouse_connect.driver.exceptions import DatabaseError, ProgrammingError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from learnstream.analytics.adapters.clickhouse import ClickHouse, ClickHouseUnavailable

logger = logging.getLogger(__name__)

MAX_REQUEST_BYTES = 1 << 20
DEFAULT_FORMAT = "TabSeparated"

# EXPLAIN AST's name for each statement kind this endpoint runs
READ_STATEMENT_KINDS = frozenset(
    {
        "SelectWithUnionQuery",
        "ShowTables",
        "ShowColumns",
        "DescribeQuery",
        "ExistsTableQuery",
        "ExistsDatabaseQuery",
        "ExistsViewQuery",
        "ExistsDictionaryQuery",
        "ShowCreateTableQuery",
        "ShowCreateViewQuery",
        "ShowCreateDatabaseQuery",
        "ShowCreateDictionaryQuery",
        "Explain",
    }
)
# Table functions that generate rows or read tables already in the engine; every other one
# reaches outside it (files, URLs, other servers, the Python process)
ALLOWED_TABLE_FUNCTIONS = frozenset(
    {"numbers", "numbers_mt", "zeros", "zeros_mt", "generate_series", "generateseries", "generaterandom"}
    | {"values", "null", "primes", "view", "merge"}
)
# Functions with effects outside the query that readonly does not stop
REFUSED_FUNCTIONS = frozenset({"file", "generateserialid"})
# Output formats that read a schema file from the server's disk
REFUSED_FORMATS = frozenset(
    {"template", "templateignorespaces", "protobuf", "protobufsingle", "protobuflist", "capnproto"}
)
# URL parameters of ClickHouse's HTTP interface that are not query settings; sessions,
# progress headers, compression and cancellation on disconnect are not offered, and
# answering without them is what ClickHouse does when they are off
TRANSPORT_PARAMETERS = frozenset(
    {
        "query",
        "database",
        "default_format",
        "query_id",
        "session_id",
        "session_timeout",
        "session_check",
        "user",
        "password",
        "quota_key",
        "role",
        "buffer_size",
        "wait_end_of_query",
        "http_wait_end_of_query",
        "send_progress_in_http_headers",
        "http_headers_progress_interval_ms",
        "enable_http_compression",
        "http_zlib_compression_level",
        "cancel_http_readonly_queries_on_client_close",
        "client_protocol_version",
        "add_http_cors_header",
    }
)
SETTINGS_ONLY_TABLE = "system.settings"

_NAME = r"[A-Za-z_][A-Za-z0-9_]*"
_NAME_RE = re.compile(_NAME)
_STRING = r"'(?:[^'\\]|\\.)*'"
_LITERAL = rf"(?:{_STRING}|\{{(?:{_STRING}|[^'{{}}])*\}}|\[(?:{_STRING}|[^'\[\]])*\]|[-+]?[A-Za-z0-9_.+-]+)"
_SETTING_RE = re.compile(rf"({_NAME}) = ({_LITERAL})")
_FORMAT_SUFFIX_RE = re.compile(rf" FORMAT ({_NAME})\Z")
_SETTINGS_KEYWORD = " SETTINGS "
_SCOPE_OF_PARSE_RE = re.compile(r": In scope SELECT formatQuerySingleLine\(.*\)(?=\. \([A-Z_]+\)\s*\Z)", re.S)
_ERROR_RE = re.compile(r"Code: (\d+)\.")
_ERROR_NAME_RE = re.compile(r"\(([A-Z][A-Z0-9_]+)\)")

_BAD_REQUEST_ERRORS = (
    "BAD_ARGUMENTS",
    "CANNOT_COMPILE_REGEXP",
    "CANNOT_PARSE_TEXT",
    "CANNOT_PARSE_ESCAPE_SEQUENCE",
    "CANNOT_PARSE_QUOTED_STRING",
    "CANNOT_PARSE_DATE",
    "CANNOT_PARSE_DATETIME",
    "CANNOT_PARSE_NUMBER",
    "CANNOT_PARSE_DOMAIN_VALUE_FROM_STRING",
    "CANNOT_PARSE_IPV4",
    "CANNOT_PARSE_IPV6",
    "CANNOT_PARSE_INPUT_ASSERTION_FAILED",
    "CANNOT_PARSE_UUID",
    "DUPLICATE_COLUMN",
    "ILLEGAL_COLUMN",
    "UNKNOWN_ELEMENT_IN_AST",
    "UNKNOWN_TYPE_OF_AST_NODE",
    "THERE_IS_NO_COLUMN",
    "TOO_DEEP_AST",
    "TOO_BIG_AST",
    "UNEXPECTED_AST_STRUCTURE",
    "SYNTAX_ERROR",
    "INCORRECT_DATA",
    "TYPE_MISMATCH",
    "VALUE_IS_OUT_OF_RANGE_OF_DATA_TYPE",
)
_NOT_FOUND_ERRORS = (
    "UNKNOWN_TABLE",
    "UNKNOWN_FUNCTION",
    "UNKNOWN_IDENTIFIER",
    "UNKNOWN_TYPE",
    "UNKNOWN_STORAGE",
    "UNKNOWN_DATABASE",
    "UNKNOWN_SETTING",
    "UNKNOWN_DIRECTION_OF_SORTING",
    "UNKNOWN_AGGREGATE_FUNCTION",
    "UNKNOWN_FORMAT",
    "UNKNOWN_DATABASE_ENGINE",
    "UNKNOWN_TYPE_OF_QUERY",
    "UNKNOWN_ROLE",
)
# ClickHouse's HTTP status for each error (any other is 500); clients retry on 503 only
_HTTP_STATUS_BY_ERROR = {
    **dict.fromkeys(_BAD_REQUEST_ERRORS, 400),
    **dict.fromkeys(_NOT_FOUND_ERRORS, 404),
    **dict.fromkeys(("UNKNOWN_USER", "WRONG_PASSWORD", "AUTHENTICATION_FAILED", "ACCESS_DENIED"), 403),
    "REQUIRED_PASSWORD": 401,
    "QUERY_IS_TOO_LARGE": 413,
    "NOT_IMPLEMENTED": 501,
    "TIMEOUT_EXCEEDED": 408,
    "UNSUPPORTED_MEDIA_TYPE": 415,
    # the store out of reach: ClickHouse's own name for it, and the status clients retry
    "NETWORK_ERROR": 503,
}


class ClickHouseError(Exception):
    """An error as ClickHouse reports it: a numeric code, a symbolic name and its text.

    ``refused`` names what a read-only refusal turned away, for the log.
    """

    def __init__(self, code: int, name: str, text: str, refused: str = "") -> None:
        super().__init__(text)
        self.code = code
        self.name = name
        self.text = text
        self.refused = refused

    @classmethod
    def new(cls, code: int, name: str, message: str) -> ClickHouseError:
        return cls(code, name, f"Code: {code}. DB::Exception: {message}. ({name})")

    @classmethod
    def from_engine(cls, exc: Exception) -> ClickHouseError:
        """Keep the engine's text, minus the scope of this module's own parse query."""
        text = _SCOPE_OF_PARSE_RE.sub("", str(exc)).strip()
        if isinstance(exc, ClickHouseUnavailable):
            return cls.new(210, "NETWORK_ERROR", "the analytics store is out of reach; try again shortly")
        if isinstance(exc, ProgrammingError):
            return cls.new(36, "BAD_ARGUMENTS", text)
        code_match = _ERROR_RE.search(text)
        names = _ERROR_NAME_RE.findall(text)
        if not isinstance(exc, DatabaseError) or code_match is None:
            return cls.new(1002, "UNKNOWN_EXCEPTION", text or type(exc).__name__)
        return cls(int(code_match.group(1)), names[-1] if names else "UNKNOWN_EXCEPTION", text)

    @property
    def http_status(self) -> int:
        return _HTTP_STATUS_BY_ERROR.get(self.name, 500)


def read_only_refusal(what: str, refused: str) -> ClickHouseError:
    """The READONLY error a read-only ClickHouse user would get, for ``refused`` (a statement kind)."""
    error = ClickHouseError.new(164, "READONLY", f"{what}: the analyst endpoint is read-only")
    error.refused = refused
    return error


@dataclass(frozen=True)
class Statement:
    """A canonical statement cut into its body, trailing SETTINGS (from how many clauses) and FORMAT."""

    body: str
    settings: tuple[tuple[str, str], ...] = ()
    output_format: str | None = None
    settings_clauses: int = 0


def parse_settings_list(text: str) -> tuple[tuple[str, str], ...] | None:
    """``a = 1, b = 'x'`` as ClickHouse's formatter prints it, or None if ``text`` is not exactly that."""
    pairs: list[tuple[str, str]] = []
    position = 0
    while True:
        match = _SETTING_RE.match(text, position)
        if match is None:
            return None
        pairs.append((match.group(1), match.group(2)))
        position = match.end()
        if position == len(text):
            return tuple(pairs)
        if not text.startswith(", ", position):
            return None
        position += 2


def _cut_settings(text: str) -> tuple[str, tuple[tuple[str, str], ...]]:
    start = text.find(_SETTINGS_KEYWORD)
    while start != -1:
        settings = parse_settings_list(text[start + len(_SETTINGS_KEYWORD) :])
        if settings is not None:
            return text[:start], settings
        start = text.find(_SETTINGS_KEYWORD, start + 1)
    return text, ()


def split_statement(canonical: str) -> Statement:
    """Cut ``body [SETTINGS ...] [FORMAT f] [SETTINGS ...]`` as ``formatQuerySingleLine`` prints it.

    A cut inside a string literal would leave the body unbalanced; the caller checks that the
    body reformats to itself before using a cut that moved settings.
    """
    body, settings_after_format = _cut_settings(canonical)
    format_match = _FORMAT_SUFFIX_RE.search(body)
    if format_match is None:
        return Statement(body, settings_after_format, None, int(bool(settings_after_format)))
    body = body[: format_match.start()]
    body, settings_before_format = _cut_settings(body)
    clauses = int(bool(settings_before_format)) + int(bool(settings_after_format))
    return Statement(body, settings_before_format + settings_after_format, format_match.group(1), clauses)


@dataclass(frozen=True)
class AstNode:
    """One line of ``EXPLAIN AST``: its depth, node kind and first argument (a name)."""

    depth: int
    kind: str
    argument: str
    parent: int | None


def parse_explain_ast(text: str) -> list[AstNode]:
    """The tree ``EXPLAIN AST`` prints, one space of indent per level, as nodes with parent indexes."""
    nodes: list[AstNode] = []
    open_at_depth: list[int] = []
    for line in text.splitlines():
        label = line.lstrip(" ")
        if not label:
            continue
        depth = len(line) - len(label)
        del open_at_depth[depth:]
        parent = open_at_depth[-1] if open_at_depth else None
        words = label.split()
        nodes.append(AstNode(depth, words[0], words[1] if len(words) > 1 else "", parent))
        open_at_depth.append(len(nodes) - 1)
    return nodes


@dataclass(frozen=True)
class Verdict:
    """What the AST allows: whether to run it, why not, and how strict ``readonly`` must be."""

    refusal: ClickHouseError | None
    reads_only_settings_table: bool = False


def judge(nodes: Sequence[AstNode], settings_clauses: int) -> Verdict:
    """Allow a read statement that touches neither files, URLs nor other servers.

    ``nodes`` is the whole statement's tree; ``settings_clauses`` says how many of its own
    SETTINGS clauses were cut from its end to be applied to the whole query: one left
    elsewhere would be silently ignored inside the subquery, so it is refused instead.
    """
    if not nodes:
        return Verdict(ClickHouseError.new(62, "SYNTAX_ERROR", "Empty query"))
    kind = nodes[0].kind
    if kind not in READ_STATEMENT_KINDS:
        return Verdict(read_only_refusal(f"Cannot execute {kind}", kind))
    explained = _explained_query(nodes) if kind == "Explain" else 0
    if explained is None:
        return Verdict(read_only_refusal("Only a SELECT can be explained", kind))
    tables: set[str] = set()
    table_functions = 0
    statement_settings = 0
    for index, node in enumerate(nodes):
        parent = nodes[node.parent] if node.parent is not None else None
        if node.depth == 1 and node.kind == "Literal":
            return Verdict(read_only_refusal("INTO OUTFILE writes a file", f"{kind} INTO OUTFILE"))
        if node.kind == "Set" and parent is not None and _holds_statement_settings(parent, explained, index):
            statement_settings += 1
        if node.kind == "TableIdentifier":
            tables.add(node.argument)
        if node.kind != "Function":
            continue
        name = node.argument.lower()
        if parent is not None and parent.kind == "TableExpression":
            table_functions += 1
            if name not in ALLOWED_TABLE_FUNCTIONS:
                what = f"Table function {node.argument}() reads outside the database"
                return Verdict(read_only_refusal(what, f"{kind} with table function {node.argument}"))
        elif name in REFUSED_FUNCTIONS:
            what = f"Function {node.argument}() reaches outside the database"
            return Verdict(read_only_refusal(what, f"{kind} with function {node.argument}"))
    if statement_settings != settings_clauses:
        message = (
            "SETTINGS apply here only at the end of the statement;"
            " move them there or send them as URL parameters"
        )
        return Verdict(ClickHouseError.new(36, "BAD_ARGUMENTS", message))
    only_settings = (
        kind == "SelectWithUnionQuery" and table_functions == 0 and tables == {SETTINGS_ONLY_TABLE}
    )
    return Verdict(None, reads_only_settings_table=only_settings)


def _explained_query(nodes: Sequence[AstNode]) -> int | None:
    """The index of the SELECT an EXPLAIN explains, or None when it explains anything else."""
    queries = [
        index
        for index, node in enumerate(nodes)
        if node.depth == 1 and node.kind not in {"Set", "Identifier", "Literal"}
    ]
    if len(queries) == 1 and nodes[queries[0]].kind == "SelectWithUnionQuery":
        return queries[0]
    return None


def _holds_statement_settings(node: AstNode, explained: int, set_index: int) -> bool:
    """Whether a ``Set`` under ``node`` is the statement's own SETTINGS clause.

    Those hang on the root (after FORMAT) or on a SELECT of the statement's union; under an
    EXPLAIN the statement is the explained SELECT at index ``explained`` (0 for any other
    statement), and a ``Set`` on the root before it holds EXPLAIN's own options instead.
    """
    if node.parent is None:
        return set_index > explained
    return node.kind == "SelectQuery" and node.depth == (3 if explained else 2)


def quote_string(value: str) -> str:
    escaped = value.replace("\\", "\\\\").replace("'", "\\'")
    return f"'{escaped}'"


def _unquote(literal: str) -> str:
    if len(literal) >= 2 and literal[0] == literal[-1] == "'":
        return re.sub(r"\\(.)", r"\1", literal[1:-1])
    return literal


@dataclass(frozen=True)
class Limits:
    """The caps every query runs under, whatever the client asks for."""

    max_execution_seconds: int
    max_result_bytes: int


def effective_settings(
    database: str,
    requested: Sequence[tuple[str, str]],
    limits: Limits,
    *,
    readonly: int,
) -> list[tuple[str, str]]:
    """The SETTINGS clause: the client's settings in order, then the caps and ``readonly`` last.

    Settings in one clause apply in order and the last wins, so nothing before ours can
    lift them; a client's lower time or size limit is kept by taking the smaller one.
    """
    time_limit: float = limits.max_execution_seconds
    size_limit = limits.max_result_bytes
    kept: list[tuple[str, str]] = [("database", quote_string(database))]
    for name, literal in requested:
        value = _unquote(literal)
        if name == "readonly":
            if value != "1":
                raise read_only_refusal(
                    "Cannot modify 'readonly' setting in readonly mode", "readonly setting"
                )
        elif name == "max_execution_time":
            asked = _number(name, value, float)
            time_limit = min(time_limit, asked) if asked > 0 else time_limit
        elif name == "max_result_bytes":
            asked_bytes = int(_number(name, value, int))
            size_limit = min(size_limit, asked_bytes) if asked_bytes > 0 else size_limit
        else:
            kept.append((name, literal))
    return [
        *kept,
        ("max_execution_time", f"{time_limit:g}"),
        ("max_result_bytes", str(size_limit)),
        ("readonly", str(readonly)),
    ]


def _number(name: str, value: str, kind: type[float] | type[int]) -> float:
    try:
        return kind(value)
    except ValueError:
        raise ClickHouseError.new(
            36, "BAD_ARGUMENTS", f"Setting {name} must be a number, not {value!r}"
        ) from None


def executable_sql(
    statement: Statement, kind: str, settings: Sequence[tuple[str, str]], output_format: str
) -> str:
    """The statement with our SETTINGS clause; a SELECT as a subquery so the clause covers all of it."""
    clause = ", ".join(f"{name} = {literal}" for name, literal in settings)
    # the body is ClickHouse's own rendering of one parsed statement, not the client's text
    body = f"SELECT * FROM ({statement.body})" if kind == "SelectWithUnionQuery" else statement.body  # noqa: S608
    return f"{body} SETTINGS {clause} FORMAT {output_format}"


def content_type(output_format: str) -> str:
    """The Content-Type ClickHouse sends with ``output_format``."""
    name = output_format.lower()
    if name.startswith("json"):
        return "application/json; charset=UTF-8"
    if name.startswith(("tabseparated", "tsv")):
        return "text/tab-separated-values; charset=UTF-8"
    if name.startswith("csv"):
        return "text/csv; charset=UTF-8"
    if name in {"native", "parquet", "arrow", "arrowstream", "orc", "avro", "msgpack", "npy", "bsoneachrow"}:
        return "application/octet-stream"
    if name.startswith("rowbinary"):
        return "application/octet-stream"
    if name == "xml":
        return "application/xml; charset=UTF-8"
    return "text/plain; charset=UTF-8"


class EscapedParameter:
    """A ``param_<name>`` value as the HTTP interface receives it: already in ClickHouse's escaped form.

    clickhouse-connect formats values of types it does not know with ``str()``, so the text
    reaches the engine as the client sent it instead of being escaped a second time.
    """

    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        self.text = text

    def __str__(self) -> str:
        return self.text


@dataclass
class _Request:
    sql: str
    parameters: dict[str, str]
    settings: list[tuple[str, str]]
    database: str | None
    default_format: str


async def _read_request(request: Request) -> _Request:
    if request.headers.get("content-encoding", "identity").lower() not in {"identity", ""}:
        raise ClickHouseError.new(
            89, "UNKNOWN_COMPRESSION_METHOD", "Compressed request bodies are not supported"
        )
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_REQUEST_BYTES:
            raise ClickHouseError.new(
                229, "QUERY_IS_TOO_LARGE", f"Requests are limited to {MAX_REQUEST_BYTES} bytes"
            )
    fields = dict(request.query_params)
    text = bytes(body)
    content = request.headers.get("content-type", "")
    if content.startswith("multipart/form-data"):
        fields.update(_form_fields(content, text))
        text = b""
    sql = "\n".join(part for part in (fields.get("query", ""), text.decode("utf-8", "replace")) if part)
    parameters: dict[str, str] = {}
    settings: list[tuple[str, str]] = []
    for name, value in fields.items():
        if name.startswith("param_"):
            parameters[name.removeprefix("param_")] = value
        elif name not in TRANSPORT_PARAMETERS:
            settings.append((name, quote_string(value)))
    for name in (*parameters, *(name for name, _ in settings)):
        if not _NAME_RE.fullmatch(name):
            raise ClickHouseError.new(36, "BAD_ARGUMENTS", f"Invalid parameter or setting name {name!r}")
    return _Request(
        sql=sql,
        parameters=parameters,
        settings=settings,
        database=fields.get("database") or None,
        default_format=fields.get("default_format") or DEFAULT_FORMAT,
    )


def _form_fields(content: str, body: bytes) -> dict[str, str]:
    """The text fields of a multipart form, which clickhouse-connect sends when parameters are long."""
    parser = email.parser.BytesParser(policy=email.policy.HTTP)
    message = parser.parsebytes(f"Content-Type: {content}\r\n\r\n".encode() + body)
    fields: dict[str, str] = {}
    for part in message.iter_parts():
        if part.get_filename() is not None:
            raise ClickHouseError.new(48, "NOT_IMPLEMENTED", "External data is not supported")
        name = part.get_param("name", header="content-disposition")
        payload = part.get_payload(decode=True)
        if isinstance(name, str) and isinstance(payload, bytes):
            fields[name] = payload.decode("utf-8", "replace")
    return fields


def _placeholders_in(sql: str, parameters: dict[str, str]) -> dict[str, Any] | None:
    """The parameters ``sql`` has a ``{name:Type}`` placeholder for, wrapped to be bound as sent."""
    used = {name: EscapedParameter(value) for name, value in parameters.items() if f"{{{name}:" in sql}
    return dict(used) or None


class AnalystEndpoint:
    """Runs one analyst request against ClickHouse, read-only, and answers as ClickHouse would."""

    def __init__(self, clickhouse: ClickHouse, limits: Limits) -> None:
        self._clickhouse = clickhouse
        self._limits = limits
        self._display_name = socket.gethostname()
        self._server: tuple[str, str] | None = None

    async def ping(self, request: Request) -> Response:
        """ClickHouse's health check."""
        return PlainTextResponse("Ok.\n")

    async def query(self, request: Request) -> Response:
        """Run the request's statement, read-only."""
        if request.method == "GET" and "query" not in request.query_params:
            return PlainTextResponse("Ok.\n")
        query_id = request.query_params.get("query_id") or str(uuid.uuid4())
        started = time.monotonic()
        try:
            _, timezone = await self._version_and_timezone()
            incoming = await _read_request(request)
            output_format, result, settings = await self._run(incoming)
        except ClickHouseError as error:
            if error.code == 164:
                logger.info("Analyst endpoint refused %s", error.refused or "a write the engine caught")
            return self._error(error, query_id)
        session_timezone = next((_unquote(v) for n, v in reversed(settings) if n == "session_timezone"), "")
        summary = {
            "result_bytes": str(len(result)),
            "elapsed_ns": str(int((time.monotonic() - started) * 1e9)),
        }
        headers = {
            **self._common_headers(query_id),
            "X-ClickHouse-Format": output_format,
            "X-ClickHouse-Timezone": session_timezone or timezone,
            "X-ClickHouse-Summary": json.dumps(summary, separators=(",", ":")),
        }
        return Response(result, headers=headers, media_type=content_type(output_format))

    async def _run(self, incoming: _Request) -> tuple[str, bytes, list[tuple[str, str]]]:
        canonical = await self._canonical(incoming.sql)
        statement = split_statement(canonical)
        # the parameters are those the checked statement has placeholders for, bound the same way
        # in the check and in the run: never decided on text the check did not see (client
        # settings), which would let clickhouse-connect paste a value into the SQL instead
        bound = _placeholders_in(canonical, incoming.parameters) or {}
        explained = await self._engine(f"EXPLAIN AST {canonical}", {}, bound)
        nodes = parse_explain_ast(explained.decode())
        verdict = judge(nodes, statement.settings_clauses)
        if verdict.refusal is not None:
            raise verdict.refusal
        if statement.settings:
            await self._check_cut(statement)
        output_format = statement.output_format or incoming.default_format
        if not _NAME_RE.fullmatch(output_format):
            raise ClickHouseError.new(73, "UNKNOWN_FORMAT", f"Unknown format {output_format!r}")
        if output_format.lower() in REFUSED_FORMATS:
            what = f"Format {output_format} reads a schema file from the server"
            raise read_only_refusal(what, f"{nodes[0].kind} in format {output_format}")
        requested = [*incoming.settings, *statement.settings]
        settings = effective_settings(
            incoming.database or self._clickhouse.database,
            requested,
            self._limits,
            readonly=2 if verdict.reads_only_settings_table else 1,
        )
        sql = executable_sql(statement, nodes[0].kind, settings, output_format)
        return output_format, await self._engine(sql, {}, bound), requested

    async def _canonical(self, sql: str) -> str:
        """ClickHouse's own single-line rendering of ``sql``, which must be exactly one statement."""
        try:
            canonical = await self._clickhouse.raw_query(
                "SELECT formatQuerySingleLine({sql:String}) FORMAT RawBLOB", parameters={"sql": sql}
            )
        except Exception as exc:
            if "Multi-statements are not allowed" in str(exc):
                what = "Multi-statement input is refused, one statement runs per request"
                raise read_only_refusal(what, "multi-statement input") from exc
            raise ClickHouseError.from_engine(exc) from exc
        return canonical.decode()

    async def _check_cut(self, statement: Statement) -> None:
        """Moving SETTINGS out is safe only if both the body and the settings reformat to themselves."""
        probe = "SELECT 1 SETTINGS " + ", ".join(
            f"{name} = {literal}" for name, literal in statement.settings
        )
        checks = (
            "formatQuerySingleLine({body:String}) = {body:String}"
            " AND formatQuerySingleLine({probe:String}) = {probe:String}"
        )
        answer = await self._engine(
            f"SELECT {checks} FORMAT TSV", {}, {"body": statement.body, "probe": probe}
        )
        if answer.strip() != b"1":
            raise ClickHouseError.new(
                36,
                "BAD_ARGUMENTS",
                "Could not apply the statement's SETTINGS clause; send the settings as URL parameters",
            )

    async def _engine(
        self, sql: str, escaped_parameters: dict[str, str], parameters: dict[str, Any] | None = None
    ) -> bytes:
        bound = parameters if parameters is not None else _placeholders_in(sql, escaped_parameters)
        try:
            return await self._clickhouse.raw_query(sql, parameters=bound or None)
        except Exception as exc:
            raise ClickHouseError.from_engine(exc) from exc

    async def _version_and_timezone(self) -> tuple[str, str]:
        if self._server is None:
            answer = await self._engine("SELECT version(), timezone() FORMAT TSV", {})
            version, timezone = answer.decode().strip().split("\t")
            self._server = (version, timezone)
        return self._server

    def _common_headers(self, query_id: str) -> dict[str, str]:
        return {"X-ClickHouse-Server-Display-Name": self._display_name, "X-ClickHouse-Query-Id": query_id}

    def _error(self, error: ClickHouseError, query_id: str) -> Response:
        version = self._server[0] if self._server is not None else "unknown"
        text = error.text if "(version " in error.text else f"{error.text} (version {version})"
        headers = {**self._common_headers(query_id), "X-ClickHouse-Exception-Code": str(error.code)}
        return PlainTextResponse(f"{text}\n", status_code=error.http_status, headers=headers)


def build_analyst_app(
    clickhouse: ClickHouse, *, max_execution_seconds: int = 30, max_result_bytes: int = 100_000_000
) -> Starlette:
    """The read-only ClickHouse HTTP endpoint over ``clickhouse`` (its database is the default one)."""
    endpoint = AnalystEndpoint(clickhouse, Limits(max_execution_seconds, max_result_bytes))
    return Starlette(
        routes=[
            Route("/", endpoint.query, methods=["GET", "POST"]),
            Route("/ping", endpoint.ping, methods=["GET", "HEAD"]),
        ]
    )


class _EmbeddedServer(uvicorn.Server):
    """A uvicorn server that leaves signal handling to the process it runs in."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


async def serve_analyst(app: Starlette, host: str, port: int) -> None:
    """Serve ``app`` on ``host:port`` until cancelled, then stop accepting and finish open requests.

    The socket is bound here so a port in use raises OSError instead of uvicorn's ``sys.exit``.
    """
    sock = socket.create_server((host, port))
    server = _EmbeddedServer(uvicorn.Config(app, log_config=None, access_log=False, lifespan="off"))
    serving = asyncio.ensure_future(server.serve(sockets=[sock]))
    try:
        await asyncio.shield(serving)
    except asyncio.CancelledError:
        server.should_exit = True
        await serving
        raise
    finally:
        sock.close()

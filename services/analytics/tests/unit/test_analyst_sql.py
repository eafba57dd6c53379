"""The analyst endpoint's pure parts: cutting a canonical statement, judging its AST, writing the SETTINGS."""

from __future__ import annotations

import pytest
from clickhouse_connect.driver.binding import bind_query
from clickhouse_connect.driver.exceptions import DatabaseError, ProgrammingError

from learnstream.analytics.adapters.clickhouse import ClickHouseUnavailable
from learnstream.analytics.entrypoints.analyst import (
    ClickHouseError,
    EscapedParameter,
    Limits,
    Statement,
    content_type,
    effective_settings,
    executable_sql,
    judge,
    parse_explain_ast,
    parse_settings_list,
    split_statement,
)

LIMITS = Limits(max_execution_seconds=30, max_result_bytes=1000)


def explained(*lines: str) -> str:
    """``EXPLAIN AST`` output written with two spaces per level, printed with one."""
    return "\n".join(" " * ((len(line) - len(line.lstrip())) // 2) + line.strip() for line in lines)


SELECT_FROM_EVENTS = explained(
    "SelectWithUnionQuery (children 1)",
    "  ExpressionList (children 1)",
    "    SelectQuery (children 2)",
    "      ExpressionList (children 1)",
    "        Function count (children 1)",
    "      TablesInSelectQuery (children 1)",
    "        TablesInSelectQueryElement (children 1)",
    "          TableExpression (children 1)",
    "            TableIdentifier t_1.events (alias e)",
)


def select_from_table_function(name: str) -> str:
    return explained(
        "SelectWithUnionQuery (children 1)",
        "  ExpressionList (children 1)",
        "    SelectQuery (children 2)",
        "      ExpressionList (children 1)",
        "        Asterisk",
        "      TablesInSelectQuery (children 1)",
        "        TablesInSelectQueryElement (children 1)",
        "          TableExpression (children 1)",
        f"            Function {name} (children 1)",
        "              ExpressionList (children 1)",
        "                Literal UInt64_3",
    )


@pytest.mark.parametrize(
    ("canonical", "expected"),
    [
        ("SELECT 1", Statement("SELECT 1")),
        ("SELECT a FROM t FORMAT Native", Statement("SELECT a FROM t", (), "Native")),
        (
            "SELECT a FROM t SETTINGS max_threads = 1 FORMAT JSON SETTINGS max_block_size = 10",
            Statement("SELECT a FROM t", (("max_threads", "1"), ("max_block_size", "10")), "JSON", 2),
        ),
        (
            "DESCRIBE TABLE t SETTINGS log_comment = 'x, SETTINGS y = 2', c = -1500.",
            Statement("DESCRIBE TABLE t", (("log_comment", "'x, SETTINGS y = 2'"), ("c", "-1500.")), None, 1),
        ),
        ("SELECT 'no FORMAT JSON'", Statement("SELECT 'no FORMAT JSON'")),
        ("SELECT x AS `y SETTINGS a = 1`", Statement("SELECT x AS `y SETTINGS a = 1`")),
    ],
)
def test_a_canonical_statement_is_cut_into_body_settings_and_format(
    canonical: str, expected: Statement
) -> None:
    assert split_statement(canonical) == expected


def test_settings_literals_as_the_formatter_prints_them_are_read() -> None:
    text = "a = {'t':'x > 1'}, b = 'auto(3)', c = true, d = NULL, e = DEFAULT, f = [1, 2], g = 'it\\'s'"

    assert parse_settings_list(text) == (
        ("a", "{'t':'x > 1'}"),
        ("b", "'auto(3)'"),
        ("c", "true"),
        ("d", "NULL"),
        ("e", "DEFAULT"),
        ("f", "[1, 2]"),
        ("g", "'it\\'s'"),
    )
    assert parse_settings_list("a = 1 AND b = 2") is None
    assert parse_settings_list("a = 'unterminated") is None


def test_the_ast_is_read_as_a_tree() -> None:
    nodes = parse_explain_ast(SELECT_FROM_EVENTS)

    table = nodes[-1]
    assert (table.kind, table.argument, table.depth) == ("TableIdentifier", "t_1.events", 6)
    assert table.parent is not None
    assert nodes[table.parent].kind == "TableExpression"


def test_a_select_from_a_table_runs_with_readonly_1() -> None:
    verdict = judge(parse_explain_ast(SELECT_FROM_EVENTS), settings_clauses=0)

    assert verdict.refusal is None
    assert not verdict.reads_only_settings_table


def test_a_select_from_system_settings_alone_may_show_which_settings_can_change() -> None:
    ast = SELECT_FROM_EVENTS.replace("t_1.events (alias e)", "system.settings")

    assert judge(parse_explain_ast(ast), settings_clauses=0).reads_only_settings_table


@pytest.mark.parametrize(
    ("ast", "refused"),
    [
        (explained("InsertQuery   (children 1)", "  Identifier events"), "InsertQuery"),
        (explained("DropQuery  events (children 1)", "  Identifier events"), "DropQuery"),
        (explained("Set"), "Set"),
        (select_from_table_function("file"), "SelectWithUnionQuery with table function file"),
        (select_from_table_function("python"), "SelectWithUnionQuery with table function python"),
        (
            SELECT_FROM_EVENTS.replace("Function count", "Function FILE"),
            "SelectWithUnionQuery with function FILE",
        ),
        (SELECT_FROM_EVENTS + "\n Literal \\'/tmp/out.tsv\\'", "SelectWithUnionQuery INTO OUTFILE"),
    ],
)
def test_writes_and_reads_outside_the_database_are_refused(ast: str, refused: str) -> None:
    verdict = judge(parse_explain_ast(ast), settings_clauses=0)

    assert verdict.refusal is not None
    assert verdict.refusal.code == 164
    assert verdict.refusal.refused == refused
    assert "the analyst endpoint is read-only. (READONLY)" in verdict.refusal.text


def test_generators_and_views_of_tables_are_allowed() -> None:
    for name in ("numbers", "generateRandom", "values", "merge", "view"):
        assert judge(parse_explain_ast(select_from_table_function(name)), settings_clauses=0).refusal is None


def test_settings_left_in_the_statement_are_refused_rather_than_ignored() -> None:
    union_member_with_settings = explained(
        "SelectWithUnionQuery (children 1)",
        "  ExpressionList (children 2)",
        "    SelectQuery (children 2)",
        "      ExpressionList (children 1)",
        "        Literal UInt64_1",
        "      Set",
        "    SelectQuery (children 1)",
        "      ExpressionList (children 1)",
        "        Literal UInt64_2",
    )

    verdict = judge(parse_explain_ast(union_member_with_settings), settings_clauses=0)

    assert verdict.refusal is not None
    assert verdict.refusal.name == "BAD_ARGUMENTS"
    assert judge(parse_explain_ast(union_member_with_settings), settings_clauses=1).refusal is None


def test_an_explain_of_a_select_runs_and_its_options_are_not_settings() -> None:
    explain = explained(
        "Explain EXPLAIN (children 4)",
        "  Set",
        "  SelectWithUnionQuery (children 1)",
        "    ExpressionList (children 1)",
        "      SelectQuery (children 2)",
        "        ExpressionList (children 1)",
        "          Literal UInt64_1",
        "        Set",
        "  Identifier TSV",
        "  Set",
    )
    explain_insert = explained(
        "Explain EXPLAIN PIPELINE (children 1)",
        "  InsertQuery   (children 2)",
        "    Identifier events",
    )

    assert judge(parse_explain_ast(explain), settings_clauses=2).refusal is None
    assert judge(parse_explain_ast(explain), settings_clauses=1).refusal is not None
    refusal = judge(parse_explain_ast(explain_insert), settings_clauses=0).refusal
    assert refusal is not None
    assert refusal.code == 164


def test_our_settings_come_last_so_nothing_the_client_sends_lifts_them() -> None:
    settings = effective_settings(
        "t_1",
        [
            ("max_threads", "'2'"),
            ("max_execution_time", "'3600'"),
            ("readonly", "'1'"),
            ("database", "'system'"),
        ],
        LIMITS,
        readonly=1,
    )

    assert settings == [
        ("database", "'t_1'"),
        ("max_threads", "'2'"),
        ("database", "'system'"),
        ("max_execution_time", "30"),
        ("max_result_bytes", "1000"),
        ("readonly", "1"),
    ]


def test_a_lower_limit_from_the_client_is_kept() -> None:
    settings = effective_settings(
        "d", [("max_execution_time", "0.5"), ("max_result_bytes", "'10'")], LIMITS, readonly=1
    )

    assert ("max_execution_time", "0.5") in settings
    assert ("max_result_bytes", "10") in settings


@pytest.mark.parametrize(
    "requested", [("readonly", "'0'"), ("readonly", "2"), ("max_result_bytes", "'lots'")]
)
def test_switching_readonly_off_or_garbled_limits_are_refused(requested: tuple[str, str]) -> None:
    with pytest.raises(ClickHouseError) as refused:
        effective_settings("d", [requested], LIMITS, readonly=1)

    assert refused.value.name in {"READONLY", "BAD_ARGUMENTS"}


def test_a_select_runs_as_a_subquery_under_our_settings() -> None:
    settings = [("database", "'d'"), ("readonly", "1")]

    select = executable_sql(
        Statement("SELECT 1 UNION ALL SELECT 2"), "SelectWithUnionQuery", settings, "Native"
    )
    describe = executable_sql(Statement("DESCRIBE TABLE t"), "DescribeQuery", settings, "TSV")

    assert (
        select
        == "SELECT * FROM (SELECT 1 UNION ALL SELECT 2) SETTINGS database = 'd', readonly = 1 FORMAT Native"
    )
    assert describe == "DESCRIBE TABLE t SETTINGS database = 'd', readonly = 1 FORMAT TSV"


def test_engine_errors_keep_their_code_without_the_parse_query_around_them() -> None:
    engine = DatabaseError(
        "Code: 62. DB::Exception: Syntax error: failed at position 1 (SELEC): SELEC 1."
        " : In scope SELECT formatQuerySingleLine('SELEC 1'). (SYNTAX_ERROR)"
    )

    error = ClickHouseError.from_engine(engine)

    assert (error.code, error.name, error.http_status) == (62, "SYNTAX_ERROR", 400)
    assert "formatQuerySingleLine" not in error.text
    assert error.text.endswith("(SYNTAX_ERROR)")
    assert ClickHouseError.from_engine(ProgrammingError("bad binding")).http_status == 400
    assert ClickHouseError.new(164, "READONLY", "no").http_status == 500
    assert ClickHouseError.new(159, "TIMEOUT_EXCEEDED", "slow").http_status == 408
    down = ClickHouseError.from_engine(ClickHouseUnavailable("Error executing HTTP request attempt 1"))
    assert (down.code, down.name, down.http_status) == (210, "NETWORK_ERROR", 503)


def test_parameters_reach_the_engine_as_the_client_escaped_them() -> None:
    _, bound = bind_query(
        "SELECT {s:String}, {n:Nullable(UInt8)}",
        {"s": EscapedParameter("a\\tb\\'c"), "n": EscapedParameter("\\N")},
    )

    assert bound == {"param_s": "a\\tb\\'c", "param_n": "\\N"}


def test_each_format_gets_the_content_type_clickhouse_sends() -> None:
    assert content_type("Native") == "application/octet-stream"
    assert content_type("RowBinaryWithNamesAndTypes") == "application/octet-stream"
    assert content_type("JSONEachRow").startswith("application/json")
    assert content_type("TabSeparatedWithNames").startswith("text/tab-separated-values")
    assert content_type("CSV").startswith("text/csv")
    assert content_type("PrettyCompact").startswith("text/plain")

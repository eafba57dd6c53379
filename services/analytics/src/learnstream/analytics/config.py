"""Settings of the analytics service; the only place it reads the environment."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from learnstream.runtime.settings import SERVICE_PORTS, ServiceSettings


class Settings(ServiceSettings):
    """``LEARNSTREAM_*`` variables of the analytics service (see the README's table)."""

    service_name: str = Field(default="analytics", description="This service's name.")
    http_port: int = Field(default=SERVICE_PORTS["analytics"], description="Port of the HTTP server.")
    clickhouse_url: str = Field(
        default_factory=lambda: f"chdb://{Path('.learnstream/clickhouse').absolute()}",
        description=(
            "ClickHouse DSN: chdb:///<dir> for the embedded engine (one process per directory),"
            " http(s)://user:password@host:8123/<database> for a server."
        ),
    )
    clickhouse_database: str = Field(default="learnstream", description="ClickHouse database.")
    clickhouse_cluster: str = Field(
        default="",
        description="Cluster name: when set, DDL runs ON CLUSTER with replicated tables.",
    )
    projection_max_records: int = Field(
        default=5000, ge=1, description="Most events the projection writes to ClickHouse at once."
    )
    projection_max_wait_ms: int = Field(
        default=100, ge=1, description="Longest the projection waits to fill a batch, milliseconds."
    )
    analyst_http_host: str = Field(
        default="127.0.0.1", description="Interface of the read-only ClickHouse HTTP endpoint for analysts."
    )
    analyst_http_port: int = Field(
        default=0,
        ge=0,
        description="Port of the analysts' read-only endpoint (make run: 8123); 0 (default) is off.",
    )
    analyst_max_execution_seconds: int = Field(
        default=30, ge=1, description="Longest an analyst's query may run."
    )
    answer_max_age_seconds: float = Field(
        default=30,
        ge=0,
        description=(
            "Longest a kept answer of a course report about now is used while the course's data"
            " is unchanged, seconds (any write to the course ends it at once); 0 keeps none."
        ),
    )
    inactive_days: int = Field(default=7, ge=1, description="At risk: no activity for this many days.")
    stuck_days: int = Field(
        default=14, ge=1, description="At risk: no lesson completed for this many days while not complete."
    )
    struggling_quiz_failures: int = Field(
        default=3, ge=1, description="At risk: this many failed attempts at one quiz without a pass since."
    )
    struggling_questions: int = Field(
        default=5, ge=1, description="At risk: this many assistant questions about one lesson ..."
    )
    struggling_window_days: int = Field(default=14, ge=1, description="... within this many days.")

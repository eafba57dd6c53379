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

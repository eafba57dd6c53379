"""Settings every Learnstream service shares, read from ``LEARNSTREAM_*`` variables.

Each service's ``config.py`` subclasses :class:`ServiceSettings`, adding its own
fields; nothing else in a service reads the environment. Outside dev mode the
settings refuse the well-known dev secrets, so a production deployment cannot run
with them by accident.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEV_SERVICE_TOKEN = "dev-service-token-not-for-production"  # noqa: S105 - dev-only placeholder

SERVICE_PORTS: dict[str, int] = {
    "gateway": 8000,
    "progress": 8001,
    "chat": 8002,
    "achievements": 8003,
    "analytics": 8004,
    "exports": 8005,
}
"""The loopback port of each service in the embedded stack (and its container port)."""


class ServiceSettings(BaseSettings):
    """What every service needs: who it is, where it listens, its store and the bus."""

    model_config = SettingsConfigDict(env_prefix="LEARNSTREAM_", extra="ignore")

    env: Literal["dev", "test", "prod"] = Field(
        default="prod",
        description="dev enables demo conveniences (dev tokens); prod refuses dev secrets.",
    )
    service_name: str = Field(description="Which service this process is, e.g. progress.")
    http_host: str = Field(default="127.0.0.1", description="Interface the HTTP server binds to.")
    http_port: int = Field(default=8000, description="Port of the HTTP server.")
    database_url: str = Field(
        default="postgresql+asyncpg://postgres@127.0.0.1:55432/learnstream",
        description="SQLAlchemy URL of this service's own PostgreSQL database.",
    )
    vault_url: str = Field(
        default="",
        description=(
            "SQLAlchemy URL of the key vault's PostgreSQL database (per-person keys that seal"
            " personal fields of events: learnstream.runtime.vault), shared by every service."
            " Empty: events carry personal fields in clear (tests of one service); required"
            " outside dev."
        ),
    )
    database_pool_size: int = Field(default=10, ge=1, description="Connections kept per process.")
    kafka_bootstrap_servers: str = Field(
        default="127.0.0.1:9092", description="Kafka bootstrap servers, comma separated."
    )
    kafka_idempotent_producer: bool = Field(
        default=False,
        description="Enable idempotent producing (real Kafka); the embedded Tansu broker refuses it.",
    )
    service_token: SecretStr = Field(
        default=SecretStr(DEV_SERVICE_TOKEN),
        description="Credential services present to each other's internal APIs.",
    )
    max_body_bytes: int = Field(
        default=1_048_576, ge=1024, description="Largest request body accepted (413 above it)."
    )
    max_head_bytes: int = Field(
        default=32_768,
        ge=4096,
        description="Largest request line and headers accepted (431 and the connection closed above it).",
    )
    request_header_timeout_seconds: float = Field(
        default=15.0,
        gt=0,
        description=(
            "Longest a client may take to send a request's line and headers, from when the connection"
            " opened or its last answer went out (408 and the connection closed after it)."
        ),
    )
    request_body_timeout_seconds: float = Field(
        default=15.0,
        gt=0,
        description=(
            "Longest a request body may take to start arriving; each request_body_min_bytes_per_second"
            " bytes received earn a second more (408 and the connection closed after it)."
        ),
    )
    request_body_min_bytes_per_second: int = Field(
        default=500, ge=1, description="The rate that keeps a slow request body within its time."
    )
    max_concurrent_requests: int = Field(
        default=32,
        ge=1,
        description=(
            "Requests a service process works on at once; others wait for a place (up to"
            " admission_wait_seconds, then 503 with Retry-After)."
        ),
    )
    admission_wait_seconds: float = Field(
        default=1.0, gt=0, description="Longest a request waits for a place before it is answered 503."
    )
    log_level: str = Field(default="INFO", description="Python log level.")
    log_format: Literal["console", "json"] = Field(
        default="console", description="console for people, json for log collectors."
    )
    outbox_poll_interval_seconds: float = Field(
        default=0.1,
        gt=0,
        description="How often the outbox relay looks again while committed events wait to go out.",
    )
    failpoint_dir: str = Field(
        default="",
        description=(
            "Directory of armed failpoints (learnstream.runtime.failpoints): the embedded stack"
            " sets it for the fault suite; empty (default) turns failpoints off."
        ),
    )
    outbox_idle_poll_seconds: float = Field(
        default=2.0,
        gt=0,
        description=(
            "Longest the idle outbox relay sleeps: a commit in the same process wakes it at "
            "once; this picks up events other processes wrote."
        ),
    )
    outbox_batch_size: int = Field(default=500, ge=1, description="Events the relay sends at once.")
    consumer_max_attempts: int = Field(
        default=5, ge=1, description="Tries of a failing event before it goes to the DLQ."
    )
    consumer_batch_size: int = Field(
        default=200,
        ge=1,
        description="Most events a consumer applies in one transaction (a backlog is read in batches).",
    )
    consumer_backoff_seconds: float = Field(
        default=0.2, ge=0, description="First retry delay; doubles on each try (capped at 5 s)."
    )

    @property
    def source(self) -> str:
        """The CloudEvents ``source`` of events this service publishes."""
        return f"/learnstream/{self.service_name}"

    @property
    def is_dev(self) -> bool:
        return self.env in ("dev", "test")

    @model_validator(mode="after")
    def _no_dev_secrets_in_production(self) -> ServiceSettings:
        if not self.is_dev and self.service_token.get_secret_value() == DEV_SERVICE_TOKEN:
            raise ValueError(
                "LEARNSTREAM_SERVICE_TOKEN is the dev placeholder; set a real secret outside dev"
            )
        if not self.is_dev and not self.vault_url:
            raise ValueError(
                "LEARNSTREAM_VAULT_URL is not set; outside dev, personal fields of events must be"
                " sealed with keys that erasure can shred"
            )
        return self

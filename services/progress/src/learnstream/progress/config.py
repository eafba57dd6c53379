"""Settings of the progress service; the only place it reads the environment."""

from __future__ import annotations

from pydantic import Field

from learnstream.runtime.settings import SERVICE_PORTS, ServiceSettings


class Settings(ServiceSettings):
    """``LEARNSTREAM_*`` variables of the progress service (see the README's table)."""

    service_name: str = Field(default="progress", description="This service's name.")
    http_port: int = Field(default=SERVICE_PORTS["progress"], description="Port of the HTTP server.")
    max_view_seconds: int = Field(
        default=12 * 3600,
        ge=60,
        description="Longest a single lesson view may last; reports claiming more are rejected.",
    )
    offline_max_age_days: int = Field(
        default=30, ge=1, description="Oldest an offline client's report (occurredAt) may be."
    )

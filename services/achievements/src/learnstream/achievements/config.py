"""Settings of the achievements service; the only place it reads the environment."""

from __future__ import annotations

from pydantic import Field

from learnstream.runtime.settings import SERVICE_PORTS, ServiceSettings


class Settings(ServiceSettings):
    """``LEARNSTREAM_*`` variables of the achievements service (see the README's table)."""

    service_name: str = Field(default="achievements", description="This service's name.")
    http_port: int = Field(default=SERVICE_PORTS["achievements"], description="Port of the HTTP server.")
    redis_url: str = Field(
        default="redis://127.0.0.1:56379/0",
        description="Redis holding the leaderboards (rebuilt from the ledger).",
    )
    leaderboard_key_prefix: str = Field(
        default="learnstream:leaderboard",
        min_length=1,
        description="Prefix of the leaderboards' Redis keys.",
    )
    maintenance_interval_seconds: float = Field(
        default=300.0,
        gt=0,
        description="How often the service ends broken streaks and checks Redis still has the leaderboards.",
    )

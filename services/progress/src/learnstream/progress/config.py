"""Settings of the progress service; the only place it reads the environment."""

from __future__ import annotations

from pydantic import Field

from learnstream.runtime.settings import SERVICE_PORTS, ServiceSettings


class Settings(ServiceSettings):
    """``LEARNSTREAM_*`` variables of the progress service (see the README's table)."""

    service_name: str = Field(default="progress", description="This service's name.")
    http_port: int = Field(default=SERVICE_PORTS["progress"], description="Port of the HTTP server.")

"""Settings of the chat service; the only place it reads the environment."""

from __future__ import annotations

from pydantic import Field

from learnstream.runtime.settings import SERVICE_PORTS, ServiceSettings


class Settings(ServiceSettings):
    """``LEARNSTREAM_*`` variables of the chat service (see the README's table)."""

    service_name: str = Field(default="chat", description="This service's name.")
    http_port: int = Field(default=SERVICE_PORTS["chat"], description="Port of the HTTP server.")

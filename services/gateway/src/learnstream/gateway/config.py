"""Settings of the gateway; the only place it reads the environment."""

from __future__ import annotations

from pydantic import Field, SecretStr, model_validator

from learnstream.runtime.settings import SERVICE_PORTS, ServiceSettings

DEV_JWT_SECRET = "dev-jwt-secret-not-for-production-0123456789"  # noqa: S105 - dev-only placeholder


def _local(service: str) -> str:
    return f"http://127.0.0.1:{SERVICE_PORTS[service]}"


class Settings(ServiceSettings):
    """``LEARNSTREAM_*`` variables of the gateway (see the README's table)."""

    service_name: str = Field(default="gateway", description="This service's name.")
    http_port: int = Field(default=SERVICE_PORTS["gateway"], description="Port of the HTTP server.")
    redis_url: str = Field(
        default="redis://127.0.0.1:56379/0", description="Redis for rate limits and live updates."
    )
    jwt_secret: SecretStr = Field(
        default=SecretStr(DEV_JWT_SECRET), description="HMAC key signing access tokens."
    )
    progress_url: str = Field(default=_local("progress"), description="Progress service base URL.")
    chat_url: str = Field(default=_local("chat"), description="Chat service base URL.")
    achievements_url: str = Field(
        default=_local("achievements"), description="Achievements service base URL."
    )
    analytics_url: str = Field(default=_local("analytics"), description="Analytics service base URL.")
    exports_url: str = Field(default=_local("exports"), description="Exports service base URL.")
    upstream_timeout_seconds: float = Field(
        default=3.0, gt=0, description="How long the gateway waits for a context service."
    )

    def service_urls(self) -> dict[str, str]:
        return {
            "progress": self.progress_url,
            "chat": self.chat_url,
            "achievements": self.achievements_url,
            "analytics": self.analytics_url,
            "exports": self.exports_url,
        }

    @model_validator(mode="after")
    def _no_dev_jwt_secret_in_production(self) -> Settings:
        if not self.is_dev and self.jwt_secret.get_secret_value() == DEV_JWT_SECRET:
            raise ValueError("LEARNSTREAM_JWT_SECRET is the dev placeholder; set a real secret outside dev")
        return self

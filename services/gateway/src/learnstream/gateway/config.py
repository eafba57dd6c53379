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
    max_concurrent_requests: int = Field(
        default=256,
        ge=1,
        description=(
            "Requests the gateway works on at once (most of their time is spent waiting on a context,"
            " which sheds its own excess); others wait up to admission_wait_seconds, then 503."
        ),
    )
    compose_timeout_seconds: float = Field(
        default=2.0, gt=0, description="Deadline of each section of a composed page (dashboards)."
    )
    rate_limit_reads_per_minute: int = Field(
        default=300, ge=1, description="Requests per minute one user may make (all but tracking)."
    )
    rate_limit_tracking_per_minute: int = Field(
        default=1200, ge=1, description="Tracking requests (track-lesson, track-batch) per minute per user."
    )
    rate_limit_auth_per_minute: int = Field(
        default=30, ge=1, description="Login and register requests per minute per client address."
    )
    trust_forwarded_for: bool = Field(
        default=False,
        description="Take the client address from X-Forwarded-For (only behind a proxy that sets it).",
    )
    cors_origins: list[str] = Field(
        default_factory=list,
        description="Origins of web and mobile clients allowed to call the API from a browser "
        '(JSON list, e.g. ["https://app.example.com", "capacitor://localhost"]); dev mode adds localhost.',
    )
    max_streams_per_user: int = Field(default=5, ge=1, description="Open /api/stream connections per user.")

    def allowed_origins(self) -> list[str]:
        dev = (
            ["http://localhost:3000", "http://127.0.0.1:3000", "http://localhost:5173"] if self.is_dev else []
        )
        return [*self.cors_origins, *dev]

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

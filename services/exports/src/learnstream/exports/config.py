"""Settings of the exports service; the only place it reads the environment."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr, field_validator, model_validator

from learnstream.runtime.settings import SERVICE_PORTS, ServiceSettings

DEV_SIGNING_KEY = "dev-export-signing-key-not-for-production"


def _local(service: str) -> str:
    return f"http://127.0.0.1:{SERVICE_PORTS[service]}"


class Settings(ServiceSettings):
    """``LEARNSTREAM_*`` variables of the exports service (see the README's table)."""

    service_name: str = Field(default="exports", description="This service's name.")
    http_port: int = Field(default=SERVICE_PORTS["exports"], description="Port of the HTTP server.")
    analytics_url: str = Field(
        default=_local("analytics"), description="Analytics service base URL (the exports' data)."
    )
    public_base_url: str = Field(
        default=_local("gateway"),
        description="Where clients reach the gateway; download links start with it.",
    )
    export_storage_dir: Path = Field(
        default=Path(".learnstream/exports"), description="Directory the produced files are kept in."
    )
    export_s3_bucket: str | None = Field(
        default=None, description="Keep files in this S3-compatible bucket instead of the directory."
    )
    export_s3_prefix: str = Field(default="exports/", description="Key prefix of the files in the bucket.")
    export_s3_endpoint_url: str | None = Field(
        default=None, description="Endpoint of an S3-compatible store (MinIO, Ceph…); unset: AWS."
    )
    export_s3_region: str | None = Field(default=None, description="Region of the bucket.")
    export_s3_access_key: SecretStr | None = Field(
        default=None, description="Access key id; unset: the default AWS credential chain."
    )
    export_s3_secret_key: SecretStr | None = Field(default=None, description="Secret access key.")
    export_signing_key: SecretStr = Field(
        default=SecretStr(DEV_SIGNING_KEY), description="HMAC key that signs download links."
    )
    export_link_ttl_hours: float = Field(
        default=24.0, gt=0, le=24 * 30, description="How long a download link (and its file) lives."
    )
    export_cleanup_interval_seconds: float = Field(
        default=300.0, gt=0, description="How often expired files are deleted."
    )
    export_fetch_timeout_seconds: float = Field(
        default=60.0, gt=0, description="How long one data request to analytics may take."
    )
    gateway_url: str = Field(
        default=_local("gateway"), description="Gateway base URL (instructors' e-mail addresses for digests)."
    )
    digest_enabled: bool = Field(default=True, description="Send every instructor a weekly digest.")
    digest_weekday: int = Field(default=0, ge=0, le=6, description="Day the digest goes out (0 = Monday).")
    digest_hour: int = Field(default=7, ge=0, le=23, description="UTC hour of that day it goes out.")
    digest_check_interval_seconds: float = Field(
        default=300.0, gt=0, description="How often the digest job looks for digests that are due."
    )
    mail_from: str = Field(default="Learnstream <no-reply@learnstream.local>", description="Sender of mail.")
    mail_outbox_dir: Path = Field(
        default=Path(".learnstream/outbox"),
        description="Where the default mail adapter writes messages (one .eml file each).",
    )

    @field_validator(
        "export_s3_bucket",
        "export_s3_endpoint_url",
        "export_s3_region",
        "export_s3_access_key",
        "export_s3_secret_key",
        mode="before",
    )
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        return None if value == "" else value

    @model_validator(mode="after")
    def _no_dev_key_in_production(self) -> Settings:
        if not self.is_dev and self.export_signing_key.get_secret_value() == DEV_SIGNING_KEY:
            raise ValueError(
                "LEARNSTREAM_EXPORT_SIGNING_KEY is the dev placeholder; set a real secret outside dev"
            )
        return self

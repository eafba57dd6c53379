"""Settings of the chat service; the only place it reads the environment."""

from __future__ import annotations

from pydantic import Field, SecretStr, field_validator

from learnstream.runtime.settings import SERVICE_PORTS, ServiceSettings


class Settings(ServiceSettings):
    """``LEARNSTREAM_*`` variables of the chat service (see the README's table)."""

    service_name: str = Field(default="chat", description="This service's name.")
    http_port: int = Field(default=SERVICE_PORTS["chat"], description="Port of the HTTP server.")
    max_concurrent_requests: int = Field(
        default=128,
        ge=1,
        description=(
            "Requests chat works on at once (a question asked without streaming holds its place while"
            " the model answers); others wait up to admission_wait_seconds, then 503."
        ),
    )
    openai_base_url: str | None = Field(
        default=None,
        description="OpenAI-compatible endpoint; unset (or empty) uses the offline course-notes responder.",
    )
    openai_api_key: SecretStr | None = Field(default=None, description="Key for that endpoint.")
    openai_model: str = Field(default="gpt-4o-mini", min_length=1, description="Model the assistant asks.")
    openai_timeout_seconds: float = Field(
        default=30.0, gt=0, description="How long one request to the model may take (each chunk, streamed)."
    )
    openai_max_retries: int = Field(
        default=2, ge=0, le=5, description="Retries of a failed model request (connection, 429, 5xx)."
    )
    chat_messages_per_minute: int = Field(
        default=30, ge=1, description="Questions one learner may send a minute (429 above it)."
    )
    assistant_prompt_token_budget: int = Field(
        default=3_000, ge=500, description="Tokens of course material and history the prompt may carry."
    )

    @field_validator("openai_base_url", "openai_api_key", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        return None if value == "" else value

"""Runtime configuration, read once from the environment (CLI flags win over it)."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from urllib.parse import urlsplit

from pydantic import AliasChoices, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from sinks.trends import SpikeRule
from transforms.queries import DEFAULT_TEMPLATE, check_template

_LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "::1"}


class Settings(SpikeRule, BaseSettings):
    """Everything appbuzz reads from the environment; secrets stay `SecretStr`.

    The spike thresholds (`APPBUZZ_SPIKE_*`, `APPBUZZ_TREND_WINDOW_NIGHTS`) come from `SpikeRule`,
    which the API reads on its own.
    """

    # empty means unset: compose passes `X_BEARER_TOKEN=` on as "" when .env leaves it empty
    model_config = SettingsConfigDict(env_prefix="APPBUZZ_", extra="ignore", env_ignore_empty=True)

    database_url: SecretStr = SecretStr("sqlite:///data/appbuzz.db")
    out_dir: Path = Path("out")
    max_reject_share: float = Field(default=0.01, ge=0.0, le=1.0)
    # where task results (the mention counts) persist, so that a retried flow run resumes: every
    # worker that may pick up a retry must see it. Unset: Prefect's own local storage path.
    results_dir: Path | None = None

    x_bearer_token: SecretStr | None = Field(
        default=None,
        validation_alias=AliasChoices("X_BEARER_TOKEN", "TWITTER_BEARER_TOKEN"),
    )
    x_api_base_url: str = Field(
        default="https://api.x.com", validation_alias=AliasChoices("X_API_BASE_URL")
    )
    x_max_concurrency: int = Field(default=5, ge=1, le=100)
    # a Prefect global concurrency limit of this name, when the server has one, also applies
    x_concurrency_limit: str = "x-api"
    x_query_template: str = DEFAULT_TEMPLATE
    x_timeout_seconds: float = Field(default=30.0, gt=0)
    # 5xx, timeouts, dropped connections and malformed replies: retried here, not by Prefect
    x_max_retries: int = Field(default=4, ge=0, le=20)
    x_retry_base_seconds: float = Field(default=1.0, ge=0)
    # the longest wait for a rate-limit window to reset before the app is marked failed
    x_max_rate_wait_seconds: float = Field(default=960.0, ge=0)
    # sent this long after the reset second has passed, for clock skew between us and X
    x_rate_limit_margin_seconds: float = Field(default=0.25, ge=0, le=60)
    # pay-per-use prices (USD): per counts/recent request answered, per post search returns
    x_price_per_request_usd: Decimal = Field(default=Decimal("0.005"), ge=0)
    x_price_per_post_usd: Decimal = Field(default=Decimal("0.005"), ge=0)
    # no request is sent whose worst case would take the run's spend past this (USD)
    x_max_spend_usd: Decimal = Field(default=Decimal("1"), ge=0)

    @field_validator("x_bearer_token")
    @classmethod
    def _token(cls, value: SecretStr | None) -> SecretStr | None:
        """An empty token is no token: the run skips enrichment instead of sending `Bearer `."""
        if value is None or not value.get_secret_value().strip():
            return None
        return SecretStr(value.get_secret_value().strip())

    @field_validator("x_query_template")
    @classmethod
    def _template(cls, value: str) -> str:
        return check_template(value)

    @field_validator("x_api_base_url")
    @classmethod
    def _base_url(cls, value: str) -> str:
        """https, or plain http to this machine only: the bearer token travels with each request."""
        parts = urlsplit(value)
        if parts.scheme == "https" and parts.hostname:
            return value.rstrip("/")
        if parts.scheme == "http" and parts.hostname in _LOOPBACK_HOSTS:
            return value.rstrip("/")
        raise ValueError(
            "expected an https:// URL (or http:// to 127.0.0.1/localhost), "
            f"got {parts.scheme or 'no scheme'}://{parts.hostname or ''}"
        )


def get_settings() -> Settings:
    return Settings()
